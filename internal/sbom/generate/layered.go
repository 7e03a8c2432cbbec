package generate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"

	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/oci"
)

// LayerCache keeps what cataloguing found in image layers, keyed by the
// cataloguer configuration and the layer's diff ID, for every image that
// holds the layer (the evidence store is one: shared by replicas,
// bounded, checksummed). Entries are opaque to it.
type LayerCache interface {
	// LayerAnalyses returns the stored analyses of a layer whose checksum
	// holds; corrupt counts those refused (and removed).
	LayerAnalyses(ctx context.Context, configKey, diffID string, at time.Time) (entries [][]byte, corrupt int, err error)
	// PutLayerAnalysis stores one, unless the same variant is there.
	PutLayerAnalysis(ctx context.Context, configKey, diffID, variant string, entry []byte, at time.Time) error
}

// LayerReport says how an image's catalogue was made with the layer cache.
type LayerReport struct {
	Layers int `json:"layers"`
	// Cached layers' analyses came from the cache; Analysed ones were
	// catalogued now.
	Cached   int `json:"cached"`
	Analysed int `json:"analysed"`
	// Corrupt stored analyses were refused (and recomputed).
	Corrupt int `json:"corrupt,omitempty"`
	// Whole, when set, says why the image was catalogued whole — syft on
	// its squash — instead of as the merge of its layers.
	Whole string `json:"whole,omitempty"`
	// Unstored says why analyses were not kept ("" when all were).
	Unstored string `json:"unstored,omitempty"`
}

func (r *LayerReport) String() string {
	s := fmt.Sprintf("%d layers: %d from the layer cache, %d catalogued", r.Layers, r.Cached, r.Analysed)
	if r.Corrupt > 0 {
		s += fmt.Sprintf(", %d corrupt cache entries refused", r.Corrupt)
	}
	if r.Whole != "" {
		s += "; catalogued whole: " + r.Whole
	}
	if r.Unstored != "" {
		s += "; not cached: " + r.Unstored
	}
	return s
}

// layerFormat versions what a layer analysis holds and how it is stored
// and merged (layerformat.go): a change to either makes new keys, never a
// misread entry.
const layerFormat = 2

// layerAnalysis is what cataloguing one layer found, and what it depends
// on beyond the layer's own content.
type layerAnalysis struct {
	Format int
	Config string
	DiffID string
	// Size is the bytes of the layer's files, as stereoscope counts them.
	Size int64
	// Changes are the layer's entries, whiteouts and opaque directories.
	Changes []string
	// Paths are the paths cataloguing asked of the image's squash, sorted;
	// PathsSignature sums up their squash signatures in the image
	// analysed.
	Paths          []string
	PathsSignature string
	// Names are patterns of searches beyond discovery that found nothing
	// in other layers: no other layer may hold a match.
	Names []string
	// Globs are searches beyond discovery within one directory, sorted;
	// GlobsSignature sums up what decided their matches.
	Globs          []string
	GlobsSignature string
	// Catalogue is what syft found, as syft JSON, the packages' file lists
	// in FileLists; Descriptor is the configuration syft records (JSON)
	// for an image catalogued whole.
	Catalogue  []byte
	FileLists  []fileList
	Descriptor []byte

	changes *layerChanges
	sbom    *syftsbom.SBOM
	// packages are the catalogue's, sorted
	packages []pkg.Package
	// specific says why the analysis holds for the image analysed only
	specific string
}

// variant names what an analysis depends on beyond its layer.
func (a *layerAnalysis) variant() string {
	var w recordWriter
	w.list(a.Paths)
	w.string(a.PathsSignature)
	w.list(a.Names)
	w.list(a.Globs)
	w.string(a.GlobsSignature)
	sum := sha256.Sum256(w.buf)
	return hex.EncodeToString(sum[:])
}

// holds says whether the analysis holds in the image sv describes: every
// path it asked is answered alike there, and no other layer holds a file
// a search beyond discovery would have found.
func (a *layerAnalysis) holds(sv *squashView) bool {
	if sv.signatures(a.Paths) != a.PathsSignature || sv.globSignatures(a.Globs) != a.GlobsSignature {
		return false
	}
	for _, pattern := range a.Names {
		if sv.mayMatchOutside(a.DiffID, pattern) {
			return false
		}
	}
	return true
}

// layerConfigKey names the cataloguing an analysis was made with: the
// format and the cataloguing. "" when the cataloguing is not known (no
// analysis is then shared).
func layerConfigKey(res *Result, opts Options) string {
	c, ok := cataloguingOf(res.Tool.Syft, opts)
	if !ok {
		return ""
	}
	data, err := json.Marshal(struct {
		Format int
		cataloguing
	}{layerFormat, c})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// cataloguing is what a catalogue depends on besides the artifact:
// syft's and stereoscope's versions and dossier's settings. A binary that
// does not record its modules' versions (a test binary) names them by its
// own digest: its catalogues are alike with no other build's.
type cataloguing struct {
	Syft, Stereoscope    string
	Archives             cataloging.ArchiveSearchConfig
	MaxLayer, MaxImage   int64
	JavaArchiveWitness   bool
	ExcludeOwnedBinaries string
}

// cataloguingOf is the cataloguing of this binary with opts (false when
// neither the versions nor the binary are known).
func cataloguingOf(syftVersion string, opts Options) (cataloguing, bool) {
	stereoscope := moduleVersion("github.com/anchore/stereoscope")
	if syftVersion == "" || stereoscope == "" {
		if syftVersion, stereoscope = executableDigest(), ""; syftVersion == "" {
			return cataloguing{}, false
		}
	}
	maxLayer, maxImage := opts.MaxLayerBytes, opts.MaxImageBytes
	if maxLayer <= 0 {
		maxLayer = DefaultMaxLayerBytes
	}
	if maxImage <= 0 {
		maxImage = DefaultMaxImageBytes
	}
	return cataloguing{Syft: syftVersion, Stereoscope: stereoscope, Archives: archiveBounds(opts.MaxArchiveBytes), MaxLayer: maxLayer, MaxImage: maxImage,
		JavaArchiveWitness: true, ExcludeOwnedBinaries: "at the merge"}, true
}

// Cataloguer names the cataloguer of this binary with opts: syft's and
// stereoscope's versions and a digest of dossier's settings, recorded
// with each SBOM dossier makes so that an upgrade finds the SBOMs to make
// again. "" when it is not known.
func Cataloguer(opts Options) string {
	c, ok := cataloguingOf(buildinfo.Read().Syft, opts)
	if !ok {
		return ""
	}
	data, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	name := "syft " + c.Syft
	if c.Stereoscope != "" {
		name += ", stereoscope " + c.Stereoscope
	}
	return name + ", settings sha256:" + hex.EncodeToString(sum[:8])
}

func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Path + "@" + d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

// executableDigest is the SHA-256 of the running binary, "" when it
// cannot be read.
var executableDigest = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "binary sha256:" + hex.EncodeToString(h.Sum(nil))
})

// layerFlights makes concurrent catalogues of images sharing a layer
// analyse it once in this process.
var layerFlights singleflight.Group

// catalogueLayers catalogues an image as the merge of its layers'
// analyses, taken from the cache where they hold for this image and made
// (and stored) where not; an image the merge cannot vouch for is
// catalogued whole, and the report says why.
func (res *Result) catalogueLayers(ctx context.Context, a *oci.Artifact, opts Options) (*syftsbom.SBOM, error) {
	img, meta, err := res.openImage(ctx, a, opts)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the layers of %s: %w", res.Subject.Digest, err)
	}
	rep := &LayerReport{Layers: len(layers)}
	res.Layers = rep
	key := layerConfigKey(res, opts)
	diffIDs := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		diffIDs[i] = d.String()
	}
	if key == "" || len(diffIDs) != len(layers) || len(layers) == 0 {
		rep.Whole = "the layers cannot be keyed: the image config lists a diff ID per layer, and the cataloguer's version is known"
		return res.catalogueRead(ctx, a, img, meta, opts)
	}

	stored := map[string][]*layerAnalysis{}
	for _, d := range slices.Compact(slices.Sorted(slices.Values(diffIDs))) {
		entries, corrupt, err := opts.Cache.LayerAnalyses(ctx, key, d, now())
		if err != nil {
			return nil, fmt.Errorf("reading the layer cache: %w", err)
		}
		rep.Corrupt += corrupt
		for _, e := range entries {
			an, err := decodeAnalysis(e, key, d)
			if err != nil {
				rep.Corrupt++
				continue
			}
			stored[d] = append(stored[d], an)
		}
	}

	// every layer analysed before: merge without reading a layer
	if warm := res.holdingAnalyses(diffIDs, stored); warm != nil {
		rep.Cached = len(layers)
		desc, err := res.describe(img, meta, warm.analyses)
		if err != nil {
			return nil, err
		}
		s, why := mergeLayers(warm.view, warm.analyses, desc)
		if why == "" {
			res.recordTool(s)
			return s, nil
		}
		rep.Cached = 0
		rep.Whole = why
		return res.catalogueRead(ctx, a, img, meta, opts)
	}

	simg, cleanup, err := res.readImage(ctx, a, img, meta, opts)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	src := res.stereoscopeSource(simg)
	s, err := res.analyseAndMerge(ctx, simg, src, diffIDs, stored, key, opts, now)
	if err != nil {
		return nil, err
	}
	if s != nil {
		res.recordTool(s)
		return s, nil
	}
	return res.catalogueWhole(ctx, src, opts)
}

// recordTool names this dossier as the tool of a merged catalogue (the
// analyses may have been made by another version with the same syft).
func (res *Result) recordTool(s *syftsbom.SBOM) {
	s.Descriptor.Name, s.Descriptor.Version = "dossier", res.Tool.Version
}

// catalogueRead reads the image and catalogues it whole.
func (res *Result) catalogueRead(ctx context.Context, a *oci.Artifact, img v1.Image, meta []image.AdditionalMetadata, opts Options) (*syftsbom.SBOM, error) {
	simg, cleanup, err := res.readImage(ctx, a, img, meta, opts)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return res.catalogueWhole(ctx, res.stereoscopeSource(simg), opts)
}

type holding struct {
	view     *squashView
	analyses []*layerAnalysis
}

// holdingAnalyses picks, for each layer, a stored analysis that holds in
// this image; nil when a layer has none.
func (res *Result) holdingAnalyses(diffIDs []string, stored map[string][]*layerAnalysis) *holding {
	sv := &squashView{diffIDs: diffIDs}
	for _, d := range diffIDs {
		if len(stored[d]) == 0 {
			return nil
		}
		sv.layers = append(sv.layers, stored[d][0].changes)
	}
	h := &holding{view: sv}
	for _, d := range diffIDs {
		i := slices.IndexFunc(stored[d], func(an *layerAnalysis) bool { return an.holds(sv) })
		if i < 0 {
			return nil
		}
		h.analyses = append(h.analyses, stored[d][i])
	}
	return h
}

// analyseAndMerge analyses the layers of a read image that no stored
// analysis holds for, stores what may be shared, and merges: nil when the
// merge cannot vouch for the image (the report says why).
func (res *Result) analyseAndMerge(ctx context.Context, simg *image.Image, src source.Source, diffIDs []string, stored map[string][]*layerAnalysis,
	key string, opts Options, now func() time.Time) (*syftsbom.SBOM, error) {
	rep := res.Layers
	sv := &squashView{diffIDs: diffIDs}
	for _, l := range simg.Layers {
		c, err := changesOf(l)
		if err != nil {
			return nil, fmt.Errorf("reading the entries of layer %s: %w", l.Metadata.Digest, err)
		}
		sv.layers = append(sv.layers, c)
	}
	squash, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		return nil, err
	}
	// the license scanner is made once for every layer's cataloguing
	ctx, err = syft.SetContextLicenseScanner(ctx, cataloging.DefaultLicenseConfig())
	if err != nil {
		return nil, err
	}
	disc, err := res.discovery(ctx, key, opts)
	if err != nil {
		return nil, fmt.Errorf("learning what cataloguing searches for: %w", err)
	}

	analyses := make([]*layerAnalysis, len(diffIDs))
	byDiffID := map[string]*layerAnalysis{}
	for i, d := range diffIDs {
		if an := byDiffID[d]; an != nil {
			analyses[i] = an
			continue
		}
		if j := slices.IndexFunc(stored[d], func(an *layerAnalysis) bool { return an.holds(sv) }); j >= 0 {
			analyses[i], byDiffID[d] = stored[d][j], stored[d][j]
			rep.Cached++
			continue
		}
		an, err := res.analyseShared(ctx, simg, i, squash, sv, key, disc, opts)
		if err != nil {
			rep.Whole = fmt.Sprintf("layer %s could not be catalogued on its own: %v", d, err)
			return nil, nil
		}
		rep.Analysed++
		analyses[i], byDiffID[d] = an, an
		if an.specific != "" {
			rep.Unstored = fmt.Sprintf("layer %s: %s", d, an.specific)
			continue
		}
		entry, err := an.encode()
		if err == nil {
			err = opts.Cache.PutLayerAnalysis(ctx, key, d, an.variant(), entry, now())
		}
		if err != nil {
			rep.Unstored = fmt.Sprintf("layer %s: %v", d, err)
		}
	}
	s, why := mergeLayers(sv, analyses, res.stereoscopeSource(simg).Describe())
	if why != "" {
		rep.Whole = why
		return nil, nil
	}
	return s, nil
}

// analyseShared analyses a layer once however many catalogues in this
// process need it at the same time; one whose analysis does not hold in
// its own image analyses the layer itself.
func (res *Result) analyseShared(ctx context.Context, simg *image.Image, index int, squash file.Resolver, sv *squashView, key string, disc *discovered, opts Options) (*layerAnalysis, error) {
	mine := false
	v, err, _ := layerFlights.Do(key+" "+sv.diffIDs[index], func() (any, error) {
		mine = true
		return res.analyseLayer(ctx, simg, index, squash, sv, key, disc, opts)
	})
	if err != nil {
		if mine {
			return nil, err
		}
		return res.analyseLayer(ctx, simg, index, squash, sv, key, disc, opts)
	}
	an := v.(*layerAnalysis)
	if mine || (an.specific == "" && an.holds(sv)) {
		return an, nil
	}
	return res.analyseLayer(ctx, simg, index, squash, sv, key, disc, opts)
}

// analyseLayer catalogues one layer of a read image: its own files, the
// rest of the image answering what cataloguing asks beyond them. Binary
// packages evident by files another package owns are excluded at the
// merge, where every layer's owners are known.
func (res *Result) analyseLayer(ctx context.Context, simg *image.Image, index int, squash file.Resolver, sv *squashView, key string, disc *discovered, opts Options) (*layerAnalysis, error) {
	src, err := newLayerSource(simg, index, squash, disc.searches)
	if err != nil {
		return nil, err
	}
	witness := newJavaArchiveWitness()
	cfg := res.syftConfig(opts, witness).WithRelationshipsConfig(cataloging.DefaultRelationshipsConfig().WithExcludeBinaryPackagesWithFileOwnershipOverlap(false))
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if err := archivesCatalogued(s, witness); err != nil {
		return nil, err
	}
	r := src.resolver
	an := &layerAnalysis{Format: layerFormat, Config: key, DiffID: sv.diffIDs[index], Size: simg.Layers[index].Metadata.Size,
		Changes: sv.layers[index].encode(), Descriptor: disc.descriptor, changes: sv.layers[index], specific: r.specific}
	an.Paths = slices.Sorted(maps.Keys(r.paths))
	an.PathsSignature = sv.signatures(an.Paths)
	an.Names = slices.Sorted(maps.Keys(r.names))
	an.Globs = slices.Sorted(maps.Keys(r.globs))
	an.GlobsSignature = sv.globSignatures(an.Globs)
	// the image the layer was read in and the configuration of this
	// cataloguing are not the layer's: the merge records the image's
	s.Source = source.Description{ID: s.Source.ID}
	s.Descriptor = syftsbom.Descriptor{}
	if an.Catalogue, an.FileLists, err = encodeCatalogue(s); err != nil {
		return nil, err
	}
	// the merge reads what the cache would give back, so that a catalogue
	// made now and one made from the cache are the same
	if an.sbom, err = decodeCatalogue(an.Catalogue, an.FileLists); err != nil {
		return nil, err
	}
	an.packages = an.sbom.Artifacts.Packages.Sorted()
	return an, nil
}

// discovered is what cataloguing an empty filesystem shows: the searches
// cataloguers make before reading any file, and the configuration syft
// records.
type discovered struct {
	searches   map[string]bool
	descriptor json.RawMessage
}

var discoveries sync.Map // configuration key → *discovered

func (res *Result) discovery(ctx context.Context, key string, opts Options) (*discovered, error) {
	if d, ok := discoveries.Load(key); ok {
		return d.(*discovered), nil
	}
	d, err := res.discover(ctx, opts)
	if err != nil {
		return nil, err
	}
	discoveries.Store(key, d)
	return d, nil
}

func (res *Result) discover(ctx context.Context, opts Options) (*discovered, error) {
	simg, cleanup, err := emptyImage(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	whole := stereoscopeSourceOf(simg)
	squash, err := whole.FileResolver(source.SquashedScope)
	if err != nil {
		return nil, err
	}
	src, err := newLayerSource(simg, 0, squash, nil)
	if err != nil {
		return nil, err
	}
	witness := newJavaArchiveWitness()
	s, err := syft.CreateSBOM(ctx, src, res.syftConfig(opts, witness))
	if err != nil {
		return nil, err
	}
	descriptor, err := json.Marshal(syftjson.ToFormatModel(*s, syftjson.DefaultEncoderConfig()).Descriptor)
	if err != nil {
		return nil, err
	}
	src.resolver.mu.Lock()
	defer src.resolver.mu.Unlock()
	return &discovered{searches: maps.Clone(src.resolver.searches), descriptor: descriptor}, nil
}
