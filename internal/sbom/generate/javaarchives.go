package generate

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	stereoscopefile "github.com/anchore/stereoscope/pkg/file"

	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/pkg"
	"github.com/anchore/syft/syft/sbom"
)

// javaArchiveWitness is a cataloguer that finds no packages: it records
// the Java archives inside the artifact that syft's Java cataloguer may
// not read, so that one it did not read fails the catalogue instead of
// vanishing from it. syft reads archives by name (.jar, .war, …) and by
// their first bytes, while a JVM loads a jar of any name named on its
// class path (Spring Boot every file under BOOT-INF/lib/) and reads a zip
// from its end, so a log4j-core renamed a.bin, or behind a tar header,
// would otherwise be catalogued as nothing at all.
//
// It opens every regular file from its end, as a JVM does (jvmZip), and
// records each zip that is a Java archive (classes, a Maven pom or a
// manifest naming a package) and names what it is as syft would name it:
// a pom.properties or pom.xml anywhere in it, a manifest naming a title,
// version or bundle, or a file name with a version
// (log4j-core-2.14.1.bin). A zip a JVM opens that dossier cannot read as
// the JVM does fails the catalogue. It runs inside syft's archive task
// too, so it sees archives in archives.
type javaArchiveWitness struct {
	mu       sync.Mutex
	archives map[string]bool   // full nested path, "/app/app.jar!/BOOT-INF/lib/a.bin"
	unread   map[string]string // a zip a JVM opens that dossier cannot read so: why
}

func newJavaArchiveWitness() *javaArchiveWitness {
	return &javaArchiveWitness{archives: map[string]bool{}, unread: map[string]string{}}
}

func (w *javaArchiveWitness) Name() string { return "dossier-java-archive-witness" }

func (w *javaArchiveWitness) Catalog(ctx context.Context, resolver file.Resolver) ([]pkg.Package, []artifact.Relationship, error) {
	for l := range resolver.AllLocations(ctx) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		metadata, err := resolver.FileMetadataByLocation(l)
		if err != nil {
			return nil, nil, fmt.Errorf("reading what %s is: %w", l.FullNestedPath(), err)
		}
		if metadata.Type != stereoscopefile.TypeRegular || metadata.Size() < minZipBytes {
			continue
		}
		identified, err := identifiedJavaArchive(ctx, resolver, l, metadata.Size())
		if errors.Is(err, errUnreadableJavaZip) {
			w.mu.Lock()
			w.unread[l.FullNestedPath()] = err.Error()
			w.mu.Unlock()
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if identified {
			w.saw(l.FullNestedPath())
		}
	}
	return nil, nil, ctx.Err()
}

func (w *javaArchiveWitness) saw(archive string) {
	w.mu.Lock()
	w.archives[archive] = true
	w.mu.Unlock()
}

// minZipBytes is the size of an empty zip: its end record alone.
const minZipBytes = 22

// versionedJavaName is how syft's Java cataloguer finds a version in an
// archive's file name: a name, a dash and a version starting with a digit
// (or build or rc and a digit).
var versionedJavaName = regexp.MustCompile(`(?i)^[[:alpha:]][[:word:].-]*?-(\d|build\d|rc?\d)`)

// identifiedJavaArchive says a file is a zip, read from its end as a JVM
// reads it, that is a Java archive (classes, a Maven pom or a manifest
// naming a package) naming what it is as syft would. Names are compared
// regardless of case, as the JVM finds its manifest; of several
// manifests the first and the last are read (a JVM takes one, a
// cataloguer the other), so a file of a thousand manifests costs two.
func identifiedJavaArchive(ctx context.Context, resolver file.Resolver, l file.Location, size int64) (bool, error) {
	content, err := resolver.FileContentsByLocation(l)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", l.FullNestedPath(), err)
	}
	defer content.Close()
	at, ok := content.(io.ReaderAt)
	if !ok {
		return false, fmt.Errorf("%s cannot be read from its end, where a JVM finds a jar", l.FullNestedPath())
	}
	archive, err := jvmZip(at, size)
	if err != nil {
		return false, err
	}
	if archive == nil {
		return false, nil // no JVM loads it
	}
	classes, poms := false, false
	var manifests []*zip.File
	for _, f := range archive.File {
		name := strings.ToLower(strings.TrimPrefix(f.Name, "/"))
		classes = classes || strings.HasSuffix(name, ".class")
		poms = poms || strings.HasSuffix(name, "pom.properties") || strings.HasSuffix(name, "pom.xml")
		if name == "meta-inf/manifest.mf" {
			manifests = append(manifests, f)
		}
	}
	if len(manifests) > 2 {
		manifests = []*zip.File{manifests[0], manifests[len(manifests)-1]}
	}
	named := false
	for _, f := range manifests {
		manifest, err := f.Open()
		if err != nil {
			continue
		}
		identifies, weave := readManifest(io.LimitReader(manifest, 1<<20))
		manifest.Close()
		if weave && !poms {
			// New Relic's instrumentation, which syft leaves out on
			// purpose; one naming itself by a Maven pom is a library
			// like any other, and refused when syft leaves it out
			return false, nil
		}
		named = named || identifies
	}
	java := classes || poms || named
	identified := java && (poms || named || versionedJavaName.MatchString(path.Base(l.FullNestedPath())))
	// a Java archive that is another archive from its head (a tar, say,
	// of a harmless jar's manifest and pom) is read as that by
	// cataloguers, which identify files by their head: what they find
	// there is not what the JVM loads from the end
	if !identified {
		return false, nil
	}
	if kind := archiveAtHead(ctx, at, size); kind != "" {
		return false, fmt.Errorf("%w: it is a %s from its head and a zip from its end", errUnreadableJavaZip, kind)
	}
	return identified, nil
}

// identifyingAttributes are the manifest attributes a Java cataloguer
// names a package by.
var identifyingAttributes = []string{"implementation-title", "implementation-version", "specification-title", "specification-version",
	"bundle-symbolicname", "bundle-version", "automatic-module-name"}

// readManifest says whether a Java manifest names a package syft would
// catalogue (an identifying attribute), and whether it has Weave-Classes
// (New Relic's instrumentation jars). Lines end at CR, LF or CRLF, as the
// JVM reads them.
func readManifest(manifest io.Reader) (identifies, weave bool) {
	lines := bufio.NewScanner(manifest)
	lines.Buffer(make([]byte, 0, 64<<10), 1<<20) // a long line must not end the reading early
	lines.Split(manifestLines)
	for lines.Scan() {
		name, _, ok := strings.Cut(lines.Text(), ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		weave = weave || name == "weave-classes"
		identifies = identifies || slices.Contains(identifyingAttributes, name)
	}
	return identifies, weave
}

// manifestLines splits at CR, LF or CRLF.
func manifestLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\r' && i+1 == len(data) && !atEOF {
			return 0, nil, nil // a CR at the end of the buffer may be half a CRLF
		}
		next := i + 1
		if data[i] == '\r' && next < len(data) && data[next] == '\n' {
			next++
		}
		return next, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// uncatalogued lists, sorted, the Java archives the witness saw that no
// Java package of the SBOM was found in.
// unreadable is the first zip, by path, a JVM opens that dossier could
// not read as the JVM does, and why; "" when there is none.
func (w *javaArchiveWitness) unreadable() (archive, reason string) {
	if len(w.unread) == 0 {
		return "", ""
	}
	archive = slices.Sorted(maps.Keys(w.unread))[0]
	return archive, w.unread[archive]
}

func (w *javaArchiveWitness) uncatalogued(s *sbom.SBOM) []string {
	catalogued := map[string]bool{}
	for p := range s.Artifacts.Packages.Enumerate(pkg.JavaPkg, pkg.JenkinsPluginPkg) {
		for _, l := range p.Locations.ToSlice() {
			catalogued[l.FullNestedPath()] = true
		}
	}
	var missed []string
	for archive := range w.archives {
		if !catalogued[archive] {
			missed = append(missed, archive)
		}
	}
	slices.Sort(missed)
	return missed
}
