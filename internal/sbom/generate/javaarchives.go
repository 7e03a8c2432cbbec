package generate

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/pkg"
	"github.com/anchore/syft/syft/sbom"
)

// javaArchiveWitness is a cataloguer that finds no packages: it records
// the Java archives inside the artifact that syft's Java cataloguer may
// not read, so that one it did not read fails the catalogue instead of
// vanishing from it. syft reads archives by name (.jar, .war, …) and by
// their first bytes, while a JVM loads a jar of any name (Spring Boot
// every file under BOOT-INF/lib/) and reads a zip from its end, so a
// log4j-core renamed a.bin, or behind a tar header, would otherwise be
// catalogued as nothing at all. It records
//   - every archive syft's archive task unpacked that carries Java package
//     metadata (Maven's pom.properties, or a manifest naming a title,
//     version or bundle), whatever it is named;
//   - every file named as a Java archive or under BOOT-INF/lib/ or
//     WEB-INF/lib/ that is a zip behind other leading bytes, holding such
//     metadata.
//
// It runs inside syft's archive task too, so it sees archives in archives.
type javaArchiveWitness struct {
	mu       sync.Mutex
	archives map[string]bool // full nested path, "/app/app.jar!/BOOT-INF/lib/a.bin"
}

func newJavaArchiveWitness() *javaArchiveWitness {
	return &javaArchiveWitness{archives: map[string]bool{}}
}

func (w *javaArchiveWitness) Name() string { return "dossier-java-archive-witness" }

func (w *javaArchiveWitness) Catalog(_ context.Context, resolver file.Resolver) ([]pkg.Package, []artifact.Relationship, error) {
	metadata, err := resolver.FilesByGlob("**/META-INF/maven/**/pom.properties", "**/META-INF/MANIFEST.MF")
	if err != nil {
		return nil, nil, err
	}
	for _, l := range metadata {
		full := l.FullNestedPath()
		i := strings.LastIndex(full, "!/META-INF/")
		if i < 0 {
			continue // a directory, not an archive: the Java cataloguers read those where they are
		}
		if strings.HasSuffix(full, "/MANIFEST.MF") {
			content, err := resolver.FileContentsByLocation(l)
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s: %w", full, err)
			}
			identifies := manifestIdentifies(io.LimitReader(content, 1<<20))
			content.Close()
			if !identifies {
				continue // a manifest naming nothing (a signed APK's, say)
			}
		}
		w.saw(full[:i])
	}
	candidates, err := resolver.FilesByGlob(append(javaArchiveGlobs, "**/BOOT-INF/lib/?*", "**/WEB-INF/lib/?*")...)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range candidates {
		hidden, err := zipBehindOtherBytes(resolver, l)
		if err != nil {
			return nil, nil, err
		}
		if hidden {
			w.saw(l.FullNestedPath())
		}
	}
	return nil, nil, nil
}

func (w *javaArchiveWitness) saw(archive string) {
	w.mu.Lock()
	w.archives[archive] = true
	w.mu.Unlock()
}

// javaArchiveGlobs are the names syft's Java cataloguer reads.
var javaArchiveGlobs = []string{"**/*.jar", "**/*.war", "**/*.ear", "**/*.par", "**/*.sar", "**/*.nar", "**/*.jpi", "**/*.hpi", "**/*.kar", "**/*.lpkg"}

// zipBehindOtherBytes says a file is a zip that does not start as one (a
// JVM reads it from its end, syft from its start) and holds Java package
// metadata. A file that starts as a zip is syft's to read.
func zipBehindOtherBytes(resolver file.Resolver, l file.Location) (bool, error) {
	content, err := resolver.FileContentsByLocation(l)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", l.FullNestedPath(), err)
	}
	defer content.Close()
	head := make([]byte, 4)
	if n, _ := io.ReadFull(content, head); n < 4 || string(head) == "PK\x03\x04" || string(head) == "PK\x05\x06" {
		return false, nil
	}
	data, err := io.ReadAll(io.LimitReader(content, maxArchiveMemoryBytes+1))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", l.FullNestedPath(), err)
	}
	if len(data) > maxArchiveMemoryBytes {
		return false, fmt.Errorf("%s does not start as a zip and is larger than the %d MiB dossier reads to see whether one hides behind its first bytes", l.FullNestedPath(), maxArchiveMemoryBytes>>20)
	}
	data = append(head, data...)
	archive, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return false, nil // not a zip: no JVM loads it either
	}
	for _, f := range archive.File {
		name := strings.TrimPrefix(f.Name, "/")
		if strings.HasPrefix(name, "META-INF/maven/") && strings.HasSuffix(name, "/pom.properties") {
			return true, nil
		}
		if name == "META-INF/MANIFEST.MF" {
			manifest, err := f.Open()
			if err != nil {
				continue
			}
			identifies := manifestIdentifies(io.LimitReader(manifest, 1<<20))
			manifest.Close()
			if identifies {
				return true, nil
			}
		}
	}
	return false, nil
}

// identifyingAttributes are the manifest attributes a Java cataloguer
// names a package by.
var identifyingAttributes = []string{"implementation-title", "implementation-version", "specification-title", "specification-version",
	"bundle-symbolicname", "bundle-version", "automatic-module-name"}

// manifestIdentifies says a Java manifest names a package syft would
// catalogue: an identifying attribute, and no Weave-Classes (New Relic's
// instrumentation jars, which syft leaves out on purpose).
func manifestIdentifies(manifest io.Reader) bool {
	identifies := false
	lines := bufio.NewScanner(manifest)
	lines.Buffer(make([]byte, 0, 64<<10), 1<<20) // a long line must not end the reading early
	for lines.Scan() {
		name, _, ok := strings.Cut(lines.Text(), ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "weave-classes" {
			return false
		}
		identifies = identifies || slices.Contains(identifyingAttributes, name)
	}
	return identifies
}

// uncatalogued lists, sorted, the Java archives the witness saw that no
// Java package of the SBOM was found in.
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
