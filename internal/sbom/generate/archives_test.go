package generate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// jarImage is an image holding one jar, /app/app.jar.
func jarImage(t *testing.T, content []byte) *oci.Artifact {
	t.Helper()
	return layoutOf(t, testutil.FileImage(t, "app/app.jar", content))
}

// A fat jar's nested jars are catalogued: log4j inside a Spring Boot jar
// is found.
func TestNestedJarsCatalogued(t *testing.T) {
	doc, err := Document(context.Background(), jarImage(t, testutil.FatJar(t)), Options{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, c := range doc.Components {
		found[c.PURL] = true
	}
	for _, want := range []string{"pkg:maven/org.example/app@1.0.0", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"} {
		if !found[want] {
			t.Errorf("%s not catalogued: %v", want, found)
		}
	}
}

// A jar of jars of zeros — kilobytes that unpack to far more than the
// bound, each nested jar storing its zeros uncompressed so that unpacking
// the outer jar writes them all — fails cataloguing with the archive
// named, never fills the disk, and leaves nothing behind.
func TestNestedArchivesAreBounded(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const bound = 16 << 20
	bomb := testutil.MavenJar(t, "org.example", "zeros", "1", map[string]io.Reader{"zeros.bin": io.LimitReader(zeros{}, 64<<20)}, "zeros.bin")
	nested := map[string]io.Reader{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		nested["BOOT-INF/lib/"+name+".jar"] = bytes.NewReader(bomb)
	}
	outer := testutil.MavenJar(t, "org.example", "app", "1.0.0", nested)
	a := jarImage(t, outer)

	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, du(tmp))
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	_, err := Generate(context.Background(), a, Options{MaxArchiveBytes: bound})
	close(done)
	wg.Wait()
	var notCatalogued *ErrArchiveNotCatalogued
	if !errors.As(err, &notCatalogued) || notCatalogued.Path != "/app/app.jar" {
		t.Errorf("want app.jar not catalogued, got %v", err)
	}
	if peak > 2*bound {
		t.Errorf("cataloguing a %d KiB jar wrote %d MiB to disk, bound %d MiB", len(outer)>>10, peak>>20, bound>>20)
	}
	if left := du(tmp); left != 0 {
		t.Errorf("%d bytes left behind in the temporary directory", left)
	}
}

// du is the bytes of the regular files under dir.
func du(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// rawZip is a zip of the entries in order, names as given (duplicates
// and odd names included).
func rawZip(t testing.TB, entries ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	log4jManifest = [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n"}
	log4jPOM      = [2]string{"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
		"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"}
)

// tarHeaded is content behind a tar of one file: a JVM reads the zip
// from its end, syft sees a tar.
func tarHeaded(t *testing.T, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "README", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tw, "hello")
	tw.Close()
	return append(buf.Bytes(), content...)
}

// A log4j-core 2.14.1 a JVM would load, in every shape found to slip past
// name-based cataloguing: found, or the catalogue fails naming it — never
// an SBOM without it.
func TestJavaArchivesCannotHide(t *testing.T) {
	log4j := rawZip(t, log4jManifest, log4jPOM)
	bare := [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n"}
	pomXMLOnly := rawZip(t, bare, [2]string{"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.xml",
		`<?xml version="1.0"?><project><modelVersion>4.0.0</modelVersion><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.14.1</version></project>`})
	classesOnly := rawZip(t, bare, [2]string{"org/apache/logging/log4j/core/Logger.class", "x"})
	longLine := rawZip(t, [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nX-Long: " + strings.Repeat("a", 70000) +
		"\r\nImplementation-Title: log4j-core\r\nImplementation-Version: 2.14.1\r\n\r\n"})
	for name, c := range map[string]struct {
		path    string // in the image; "app.jar!/…" nests it in a fat jar
		content []byte
	}{
		"a nested jar":                           {"app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar", log4j},
		"a nested jar renamed":                   {"app.jar!/BOOT-INF/lib/a.jar", log4j},
		"a nested jar with no extension":         {"app.jar!/BOOT-INF/lib/log4j", log4j},
		"a nested jar named .bin":                {"app.jar!/BOOT-INF/lib/a.bin", log4j},
		"a nested jar behind a tar header":       {"app.jar!/BOOT-INF/lib/a.jar", tarHeaded(t, log4j)},
		"a nested .bin behind a tar header":      {"app.jar!/BOOT-INF/lib/a.bin", tarHeaded(t, log4j)},
		"a nested jar behind a gzip header":      {"app.jar!/BOOT-INF/lib/a.jar", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, log4j...)},
		"a nested jar with a traversing entry":   {"app.jar!/BOOT-INF/lib/a.jar", rawZip(t, [2]string{"../../../../x", "x"}, log4jManifest, log4jPOM)},
		"a nested jar with an absolute entry":    {"app.jar!/BOOT-INF/lib/a.jar", rawZip(t, [2]string{"/etc/x", "x"}, log4jManifest, log4jPOM)},
		"a nested jar with two manifests":        {"app.jar!/BOOT-INF/lib/a.jar", rawZip(t, [2]string{"META-INF/MANIFEST.MF", "x"}, log4jManifest, log4jPOM)},
		"a nested jar with a file named a dir":   {"app.jar!/BOOT-INF/lib/a.jar", rawZip(t, [2]string{"META-INF", "x"}, log4jManifest, log4jPOM)},
		"a jar named .bin":                       {"app/lib/a.bin", log4j},
		"a jar behind a tar header":              {"app/lib/a.jar", tarHeaded(t, log4j)},
		"a jar in WEB-INF/lib behind a tar head": {"app/WEB-INF/lib/a", tarHeaded(t, log4j)},
		// a JVM loads a jar of any name and place named on its class path
		"a .bin outside lib directories behind a tar header":  {"app/lib/a.bin", tarHeaded(t, log4j)},
		"a file with no extension behind a tar header":        {"app/classpath/log4j", tarHeaded(t, log4j)},
		"a jar deeper under BOOT-INF/lib behind a tar header": {"app/BOOT-INF/lib/x/a.bin", tarHeaded(t, log4j)},
		// named as syft names it: pom.xml, any *pom.properties, the file name
		"a jar named by pom.xml alone behind a tar header":                {"app/lib/a.jar", tarHeaded(t, pomXMLOnly)},
		"a jar named by a prefixed pom.properties behind a tar header":    {"app/lib/a.jar", tarHeaded(t, rawZip(t, bare, [2]string{"META-INF/maven/org.apache.logging.log4j/log4j-core/log4j-pom.properties", log4jPOM[1]}))},
		"a jar named by a pom.properties at its root behind a tar header": {"app/lib/a.jar", tarHeaded(t, rawZip(t, bare, [2]string{"pom.properties", log4jPOM[1]}))},
		"a jar named by its file name behind a tar header":                {"app/lib/log4j-core-2.14.1.jar", tarHeaded(t, classesOnly)},
		"a .bin named by its file name":                                   {"app/lib/log4j-core-2.14.1.bin", classesOnly},
		"a nested jar named by its file name behind a tar header":         {"app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar", tarHeaded(t, classesOnly)},
		"a nested jar named by pom.xml alone behind a tar header":         {"app.jar!/BOOT-INF/lib/a.jar", tarHeaded(t, pomXMLOnly)},
		"a jar whose manifest has a long line behind a tar header":        {"app/lib/a.jar", tarHeaded(t, longLine)},
		"a jar whose manifest ends lines with CR behind a tar header": {"app/lib/a.jar", tarHeaded(t, rawZip(t, [2]string{"META-INF/MANIFEST.MF",
			"Manifest-Version: 1.0\rImplementation-Title: log4j-core\rImplementation-Version: 2.14.1\r\r"}, [2]string{"org/apache/logging/log4j/core/Logger.class", "x"}))},
		"a jar with a lower-case manifest behind a tar header": {"app/lib/a.jar", tarHeaded(t, rawZip(t, [2]string{"meta-inf/manifest.mf",
			"Manifest-Version: 1.0\r\nImplementation-Title: log4j-core\r\nImplementation-Version: 2.14.1\r\n\r\n"}, [2]string{"org/apache/logging/log4j/core/Logger.class", "x"}))},
		// what syft reads as it is, it catalogues
		"a jar behind a launch script": {"app/app.jar", append([]byte("#!/bin/bash\nexec java -jar \"$0\" \"$@\"\nexit 0\n"), log4j...)},
		"a jar named by pom.xml alone": {"app/lib/a.jar", pomXMLOnly},
		"a jar named by its file name": {"app/lib/log4j-core-2.14.1.jar", classesOnly},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each shape a catalogue of its own
			var img v1.Image
			if outer, inner, nested := strings.Cut(c.path, "!/"); nested {
				fat := testutil.MavenJar(t, "org.example", "app", "1.0.0", map[string]io.Reader{inner: bytes.NewReader(c.content)}, inner)
				img = testutil.FileImage(t, "app/"+outer, fat)
			} else {
				img = testutil.FileImage(t, c.path, c.content)
			}
			doc, err := Document(context.Background(), layoutOf(t, img), Options{Created: created})
			var notCatalogued *ErrArchiveNotCatalogued
			if errors.As(err, &notCatalogued) {
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var purls []string
			for _, comp := range doc.Components {
				purls = append(purls, comp.PURL)
			}
			// the file name alone gives no group: pkg:maven/log4j-core/log4j-core@2.14.1
			if !slices.ContainsFunc(purls, func(p string) bool { return strings.HasSuffix(p, "/log4j-core@2.14.1") }) {
				t.Errorf("log4j-core neither catalogued nor reported: %v", purls)
			}
		})
	}
	// what a JVM names nothing by does not fail the catalogue: a zip with a
	// bare manifest, New Relic's instrumentation jars, signed zips that are
	// no Java archives (an Android APK, a Firefox add-on)
	for name, content := range map[string][]byte{
		"app/app-release-1.4.2.apk": rawZip(t, [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: Android Gradle 8.2.0\r\n\r\n"},
			[2]string{"META-INF/CERT.SF", "Signature-Version: 1.0\r\n\r\n"}, [2]string{"AndroidManifest.xml", "x"}, [2]string{"classes.dex", "dex\n035"}),
		"usr/lib/firefox/distribution/extensions/ublock_origin-1.55.0.xpi": rawZip(t, [2]string{"META-INF/manifest.mf", "Manifest-Version: 1.0\r\n\r\n"},
			[2]string{"META-INF/mozilla.rsa", "x"}, [2]string{"manifest.json", "{}"}),
		"app/newrelic/instrumentation/spring-4.3.0.jar": rawZip(t, [2]string{"META-INF/MANIFEST.MF",
			"Manifest-Version: 1.0\r\nImplementation-Title: com.newrelic.instrumentation.spring-4.3.0\r\nWeave-Classes: x\r\n\r\n"}, [2]string{"com/nr/X.class", "x"}),
		"app/extension.bin": tarHeaded(t, rawZip(t, [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: 1.8\r\n\r\n"})),
		"app/newrelic/instrumentation/spring.jar": rawZip(t, [2]string{"META-INF/MANIFEST.MF",
			"Manifest-Version: 1.0\r\nImplementation-Title: com.newrelic.instrumentation.spring\r\nWeave-Classes: x\r\n\r\n"}),
	} {
		if _, err := Document(context.Background(), layoutOf(t, testutil.FileImage(t, name, content)), Options{Created: created}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
