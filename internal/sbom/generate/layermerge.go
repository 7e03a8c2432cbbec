package generate

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/format/syftjson/model"
	"github.com/anchore/syft/syft/linux"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/bmatcuk/doublestar/v4"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// joinCataloguers pair files across the filesystem before parsing any
// (a .deps.json with the assemblies beside it, a Nix store with its
// database, a kernel with its modules, a Perl .packlist with its
// distribution, a PHP interpreter with its extensions): catalogued layer
// by layer they see only the layer's half of a pair. An image where one
// of them found packages in more than one layer is catalogued whole.
var joinCataloguers = []string{"dotnet-deps", "dotnet-portable-executable", "nix-", "linux-kernel", "perl-cpan-installed", "php-interpreter"}

// dpkgStatusDir holds distroless images' per-package status files, which
// syft's dpkg cataloguer merges across files.
const dpkgStatusDir = "/var/lib/dpkg/status.d/"

// ownershipForbidden are the paths syft never counts as owned by a
// package (package databases, copyright files).
var ownershipForbidden = []string{pkg.ApkDBGlob, pkg.DpkgDBGlob, pkg.RpmDBGlob, "**/rpm/{Packages,Packages.db,rpmdb.sqlite}", "/usr/share/doc/**/copyright"}

// forbiddenFilters are what every path an ownershipForbidden pattern
// matches holds: its literal start (after a leading "**/", anywhere) and,
// where the last segment stands alone, a name matching it.
var forbiddenFilters = sync.OnceValue(func() []forbiddenFilter {
	var out []forbiddenFilter
	for _, g := range ownershipForbidden {
		rest, anywhere := strings.CutPrefix(g, "**/")
		f := forbiddenFilter{glob: g, anywhere: anywhere, literal: rest[:strings.IndexAny(rest+"*", `*?[{\`)]}
		if seg := lastSegment(g); seg != "" && strings.Count(seg, "{") == strings.Count(seg, "}") {
			f.name = seg
		}
		out = append(out, f)
	}
	return out
})

type forbiddenFilter struct {
	glob, literal, name string
	anywhere            bool
}

// ownershipForbiddenAt says syft never counts p as owned.
func ownershipForbiddenAt(p string) bool {
	for _, f := range forbiddenFilters() {
		if f.anywhere && !strings.Contains(p, f.literal) || !f.anywhere && !strings.HasPrefix(p, f.literal) {
			continue
		}
		if f.name != "" && !matchName(f.name, path.Base(p)) {
			continue
		}
		if ok, _ := doublestar.Match(f.glob, p); ok {
			return true
		}
	}
	return false
}

// mergeLayers is the image's catalogue from its layers' analyses (one per
// layer, bottom first): a package found in a layer is kept when every
// file it was found from is, in the image's squash, still that layer's
// file; relationships and file records are kept when what they name is
// kept; packages owned across layers are related and binary packages
// evident by files another package owns are excluded, as syft does. why
// says what the merge cannot vouch for (the image is then catalogued
// whole).
func mergeLayers(sv *squashView, analyses []*layerAnalysis, desc source.Description) (s *syftsbom.SBOM, why string) {
	alive := func(c file.Coordinates) bool {
		k, _, ok := sv.provider(c.RealPath)
		return ok && sv.diffIDs[k] == c.FileSystemID
	}
	if why := joinedAcrossLayers(analyses); why != "" {
		return nil, why
	}

	kept := pkg.NewCollection()
	runOf := map[artifact.ID]int{}
	for k, an := range analyses {
		for _, p := range an.packages {
			locations := p.Locations.ToSlice()
			if len(locations) == 0 {
				return nil, fmt.Sprintf("package %s %s of layer %s names no file it was found from", p.Name, p.Version, an.DiffID)
			}
			if !slices.ContainsFunc(locations, func(l file.Location) bool { return !alive(l.Coordinates) }) {
				if _, seen := runOf[p.ID()]; !seen {
					runOf[p.ID()] = k
					kept.Add(p)
				}
			}
		}
	}

	final := source.FromDescription(desc)
	sourceOf := map[artifact.ID]bool{}
	for _, an := range analyses {
		sourceOf[artifact.ID(an.sbom.Source.ID)] = true
	}
	endpoint := func(e artifact.Identifiable) (artifact.Identifiable, bool) {
		switch v := e.(type) {
		case pkg.Package:
			// runOf holds the kept packages (the collection's Package
			// deep-copies one, file list and all)
			_, ok := runOf[v.ID()]
			return v, ok
		case file.Coordinates:
			return v, alive(v)
		}
		if sourceOf[e.ID()] {
			return final, true
		}
		return e, false
	}
	var relationships []artifact.Relationship
	seen := map[string]bool{}
	for _, an := range analyses {
		for _, r := range an.sbom.Relationships {
			from, ok := endpoint(r.From)
			if !ok {
				continue
			}
			to, ok := endpoint(r.To)
			if !ok {
				continue
			}
			// the layers' relationships to their own sources become the
			// image's, once each
			if from == final && r.Type == artifact.ContainsRelationship {
				continue
			}
			r.From, r.To = from, to
			k := relationshipKey(r)
			if !seen[k] {
				seen[k] = true
				relationships = append(relationships, r)
			}
		}
	}
	// the collection's Sorted deep-copies every package, file list and
	// all: once
	sorted := kept.Sorted()
	relationships = append(relationships, ownedAcrossLayers(sv, kept, sorted, runOf)...)
	relationships, removed := excludeOwnedBinaries(kept, sorted, relationships)
	sorted = slices.DeleteFunc(sorted, func(p pkg.Package) bool { return removed[p.ID()] })
	for _, p := range sorted {
		relationships = append(relationships, artifact.Relationship{From: final, To: p, Type: artifact.ContainsRelationship})
	}

	s = &syftsbom.SBOM{
		Artifacts: syftsbom.Artifacts{
			Packages:          kept,
			FileMetadata:      map[file.Coordinates]file.Metadata{},
			FileDigests:       map[file.Coordinates][]file.Digest{},
			FileContents:      map[file.Coordinates]string{},
			FileLicenses:      map[file.Coordinates][]file.License{},
			Executables:       map[file.Coordinates]file.Executable{},
			Unknowns:          map[file.Coordinates][]string{},
			LinuxDistribution: linuxRelease(analyses),
		},
		Relationships: relationships,
		Source:        desc,
	}
	named := map[file.Coordinates]bool{}
	for _, p := range sorted {
		for _, l := range p.Locations.ToSlice() {
			named[l.Coordinates] = true
		}
	}
	for _, r := range relationships {
		for _, e := range []artifact.Identifiable{r.From, r.To} {
			if c, ok := e.(file.Coordinates); ok {
				named[c] = true
			}
		}
	}
	keep := func(c file.Coordinates) bool { return named[c] && alive(c) }
	for _, an := range analyses {
		a := an.sbom.Artifacts
		copyKept(s.Artifacts.FileMetadata, a.FileMetadata, keep)
		copyKept(s.Artifacts.FileDigests, a.FileDigests, keep)
		copyKept(s.Artifacts.FileContents, a.FileContents, keep)
		copyKept(s.Artifacts.FileLicenses, a.FileLicenses, keep)
		copyKept(s.Artifacts.Executables, a.Executables, keep)
		copyKept(s.Artifacts.Unknowns, a.Unknowns, alive)
	}
	if why := descriptorOf(analyses, s); why != "" {
		return nil, why
	}
	return s, ""
}

func copyKept[V any](dst, src map[file.Coordinates]V, keep func(file.Coordinates) bool) {
	for c, v := range src {
		if keep(c) {
			dst[c] = v
		}
	}
}

func relationshipKey(r artifact.Relationship) string {
	return string(r.From.ID()) + "\x00" + string(r.To.ID()) + "\x00" + string(r.Type)
}

// joinedAcrossLayers names a join cataloguer that found packages in more
// than one layer.
func joinedAcrossLayers(analyses []*layerAnalysis) string {
	layersOf := map[string]map[string]bool{}
	note := func(what, diffID string) {
		if layersOf[what] == nil {
			layersOf[what] = map[string]bool{}
		}
		layersOf[what][diffID] = true
	}
	for _, an := range analyses {
		for _, p := range an.packages {
			for _, prefix := range joinCataloguers {
				if strings.HasPrefix(p.FoundBy, prefix) {
					note(p.FoundBy, an.DiffID)
				}
			}
			for _, l := range p.Locations.ToSlice() {
				if p.Type == pkg.DebPkg && strings.HasPrefix(l.RealPath, dpkgStatusDir) {
					note(dpkgStatusDir, an.DiffID)
				}
			}
		}
	}
	for _, what := range slices.Sorted(maps.Keys(layersOf)) {
		if len(layersOf[what]) > 1 {
			return fmt.Sprintf("%s pairs files across layers (it found packages in %d of them)", what, len(layersOf[what]))
		}
	}
	return ""
}

// ownershipData is how syft records the files of an ownership overlap.
type ownershipData struct {
	Files []string `json:"files"`
}

// ownedAcrossLayers relates packages owning files (a dpkg or apk
// package's file list) to packages of other layers found from those
// files, as syft relates them in one image (within a layer, syft's own
// cataloguing of the layer did).
func ownedAcrossLayers(sv *squashView, kept *pkg.Collection, sorted []pkg.Package, runOf map[artifact.ID]int) []artifact.Relationship {
	direct := map[pkg.Type]map[string]bool{}
	ownedBy := map[artifact.ID][]string{}
	for _, p := range sorted {
		if owner, ok := p.Metadata.(pkg.FileOwner); ok && !withinArchive(p) {
			if direct[p.Type] == nil {
				direct[p.Type] = map[string]bool{}
			}
			ownedBy[p.ID()] = owner.OwnedFiles()
			for _, f := range ownedBy[p.ID()] {
				direct[p.Type][f] = true
			}
		}
	}
	var out []artifact.Relationship
	for _, parent := range sorted {
		ownedFiles, ok := ownedBy[parent.ID()]
		if !ok {
			continue
		}
		files := map[artifact.ID][]string{}
		children := map[artifact.ID]pkg.Package{}
		for _, owned := range ownedFiles {
			if owned == "" {
				continue
			}
			paths := []string{owned}
			if sv.mayResolveElsewhere(owned) {
				if real, k, ok := sv.resolve(owned); ok && k >= 0 && real != owned {
					if _, ch, _ := sv.provider(real); ch.kind == kindFile {
						paths = append(paths, real)
					}
				}
			}
			for _, p := range paths {
				if ownershipForbiddenAt(p) {
					continue
				}
				if p != owned && direct[parent.Type][p] {
					continue
				}
				for _, child := range kept.PackagesByPath(p) {
					if child.ID() == parent.ID() || runOf[child.ID()] == runOf[parent.ID()] {
						continue
					}
					if !slices.Contains(files[child.ID()], p) {
						files[child.ID()] = append(files[child.ID()], p)
						children[child.ID()] = child
					}
				}
			}
		}
		for _, childID := range slices.Sorted(maps.Keys(files)) {
			slices.Sort(files[childID])
			out = append(out, artifact.Relationship{From: parent, To: children[childID], Type: artifact.OwnershipByFileOverlapRelationship, Data: ownershipData{Files: files[childID]}})
		}
	}
	return out
}

// withinArchive says every location of p is inside an archive: its owned
// files are paths in the archive, not the image's.
func withinArchive(p pkg.Package) bool {
	locations := p.Locations.ToSlice()
	return len(locations) > 0 && !slices.ContainsFunc(locations, func(l file.Location) bool { return l.FullPath == "" })
}

var (
	osPackageTypes     = []pkg.Type{pkg.AlpmPkg, pkg.ApkPkg, pkg.DebPkg, pkg.NixPkg, pkg.PortagePkg, pkg.RpmPkg}
	binaryMetadataType = []reflect.Type{reflect.TypeFor[pkg.ELFBinaryPackageNoteJSONPayload](), reflect.TypeFor[pkg.BinarySignature](), reflect.TypeFor[pkg.JavaVMInstallation]()}
)

// excludeOwnedBinaries removes binary packages evident by files an OS or
// Bitnami package owns, and the binary package beside a JVM installation,
// by syft's rules, with their relationships.
func excludeOwnedBinaries(kept *pkg.Collection, sorted []pkg.Package, relationships []artifact.Relationship) ([]artifact.Relationship, map[artifact.ID]bool) {
	binaryMetadata := func(p *pkg.Package) bool {
		return p.Metadata != nil && slices.Contains(binaryMetadataType, reflect.TypeOf(p.Metadata))
	}
	removed := map[artifact.ID]bool{}
	byID := map[artifact.ID]*pkg.Package{}
	for _, p := range sorted {
		byID[p.ID()] = &p
	}
	for _, r := range relationships {
		if r.Type != artifact.OwnershipByFileOverlapRelationship {
			continue
		}
		parent, child := byID[r.From.ID()], byID[r.To.ID()]
		if parent == nil || child == nil {
			continue
		}
		var remove artifact.ID
		switch {
		case slices.Contains(osPackageTypes, parent.Type) || parent.Type == pkg.BitnamiPkg:
			if child.Type == pkg.BinaryPkg || binaryMetadata(child) {
				remove = child.ID()
			}
		case parent.Type == pkg.BinaryPkg && child.Type == pkg.BinaryPkg && child.Metadata != nil:
			_, parentJVM := parent.Metadata.(pkg.JavaVMInstallation)
			_, childJVM := child.Metadata.(pkg.JavaVMInstallation)
			switch {
			case parentJVM && !childJVM:
				remove = child.ID()
			case childJVM && !parentJVM:
				remove = parent.ID()
			}
		}
		if remove != "" {
			kept.Delete(remove)
			delete(byID, remove)
			removed[remove] = true
		}
	}
	return slices.DeleteFunc(relationships, func(r artifact.Relationship) bool {
		return removed[r.From.ID()] || removed[r.To.ID()]
	}), removed
}

// linuxRelease is the release the layers' cataloguing identified (each
// asked the image's squash for the same files).
func linuxRelease(analyses []*layerAnalysis) *linux.Release {
	for i := len(analyses) - 1; i >= 0; i-- {
		if r := analyses[i].sbom.Artifacts.LinuxDistribution; r != nil {
			return r
		}
	}
	return nil
}

// descriptorOf records the configuration syft records for an image
// catalogued whole.
func descriptorOf(analyses []*layerAnalysis, s *syftsbom.SBOM) string {
	var d model.Descriptor
	if err := json.Unmarshal(analyses[len(analyses)-1].Descriptor, &d); err != nil {
		return fmt.Sprintf("the recorded configuration cannot be read: %v", err)
	}
	s.Descriptor = syftsbom.Descriptor{Name: d.Name, Version: d.Version, Configuration: d.Configuration}
	return ""
}

func matchName(pattern, name string) bool {
	ok, err := doublestar.Match(pattern, name)
	return ok || err != nil
}

// describe is the source description syft gives an image it read, made
// from the image's manifest and config and the layers' sizes the
// analyses recorded, without reading a layer.
func (res *Result) describe(img v1.Image, meta []image.AdditionalMetadata, analyses []*layerAnalysis) (source.Description, error) {
	id, err := img.ConfigName()
	if err != nil {
		return source.Description{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return source.Description{}, err
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return source.Description{}, err
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return source.Description{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return source.Description{}, err
	}
	described := &image.Image{Metadata: image.Metadata{ID: id.String(), Config: *cfg, MediaType: mediaType, RawConfig: rawConfig,
		OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}}
	for i, l := range layers {
		layerType, err := l.MediaType()
		if err != nil {
			return source.Description{}, err
		}
		described.Layers = append(described.Layers, &image.Layer{Metadata: image.LayerMetadata{Index: uint(i), Digest: analyses[i].DiffID, MediaType: layerType, Size: analyses[i].Size}})
		described.Metadata.Size += analyses[i].Size
	}
	for _, m := range meta {
		if err := m(described); err != nil {
			return source.Description{}, err
		}
	}
	return res.stereoscopeSource(described).Describe(), nil
}

// emptyImage is an image of one empty layer, read.
func emptyImage(ctx context.Context) (*image.Image, func(), error) {
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).Close(); err != nil {
		return nil, nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		return nil, nil, err
	}
	tmp := stereofile.NewTempDirGenerator("dossier")
	dir, err := tmp.NewDirectory("empty")
	if err != nil {
		return nil, nil, errors.Join(err, tmp.Cleanup())
	}
	simg := image.New(img, tmp, dir)
	if err := simg.Read(ctx); err != nil {
		return nil, nil, errors.Join(err, simg.Cleanup(), tmp.Cleanup())
	}
	return simg, func() { _ = simg.Cleanup(); _ = tmp.Cleanup() }, nil
}

func stereoscopeSourceOf(simg *image.Image) source.Source {
	return stereoscopesource.New(simg, stereoscopesource.ImageConfig{Reference: "empty"})
}
