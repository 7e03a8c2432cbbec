package generate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// rawZip writes entries in order with the given names (no sorting), so
// odd names can be placed.
func rawZip(t *testing.T, entries [][2]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e[1])
	}
	zw.Close()
	return buf.Bytes()
}

func log4jEntries() [][2]string {
	return [][2]string{
		{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n"},
		{"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties", "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"},
	}
}

func tarOf(t *testing.T, name, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	io.WriteString(tw, content)
	tw.Close()
	return buf.Bytes()
}

// Each case nests a log4j-core 2.14.1 jar in a fat jar in some shape a
// JVM (Spring Boot's loader) would still load; cataloguing must either
// find log4j-core or fail.
func TestAttackHideNestedLog4j(t *testing.T) {
	log4j := rawZip(t, log4jEntries())
	cases := map[string]struct {
		name  string
		inner []byte
	}{
		"baseline":           {"BOOT-INF/lib/log4j-core-2.14.1.jar", log4j},
		"renamed jar":        {"BOOT-INF/lib/a.jar", log4j},
		"no extension":       {"BOOT-INF/lib/log4j", log4j},
		"bin extension":      {"BOOT-INF/lib/a.bin", log4j},
		"tar+zip polyglot":   {"BOOT-INF/lib/a.jar", append(tarOf(t, "README", "hello"), log4j...)},
		"traversal entry":    {"BOOT-INF/lib/a.jar", rawZip(t, append([][2]string{{"../../../../x", "x"}}, log4jEntries()...))},
		"abs entry":          {"BOOT-INF/lib/a.jar", rawZip(t, append([][2]string{{"/etc/x", "x"}}, log4jEntries()...))},
		"dup entry":          {"BOOT-INF/lib/a.jar", rawZip(t, append([][2]string{{"META-INF/MANIFEST.MF", "x"}}, log4jEntries()...))},
		"backslash entry":    {"BOOT-INF/lib/a.jar", rawZip(t, append([][2]string{{"..\\..\\x", "x"}}, log4jEntries()...))},
		"dir-file clash":     {"BOOT-INF/lib/a.jar", rawZip(t, append([][2]string{{"META-INF", "x"}}, log4jEntries()...))},
		"gzip head polyglot": {"BOOT-INF/lib/a.jar", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, log4j...)},
	}
	for label, c := range cases {
		t.Run(label, func(t *testing.T) {
			outer := testutil.MavenJar(t, "org.example", "app", "1.0.0", map[string]io.Reader{c.name: bytes.NewReader(c.inner)}, c.name)
			res, err := Generate(context.Background(), jarImage(t, outer), Options{Created: created})
			if err != nil {
				t.Logf("failed (fine): %v", err)
				return
			}
			found := false
			var purls []string
			for p := range res.sbom.Artifacts.Packages.Enumerate() {
				purls = append(purls, p.PURL)
				if strings.Contains(p.PURL, "log4j-core") {
					found = true
				}
			}
			if !found {
				t.Errorf("HIDDEN: log4j-core not catalogued and no error; packages %v; unknowns %v", purls, res.sbom.Artifacts.Unknowns)
			}
		})
	}
}

// The same shapes as files of the image itself (a classpath entry
// /app/lib/x names any file; `java -cp /app/lib/log4j.bin` opens it as a jar).
func TestAttackHideTopLevelLog4j(t *testing.T) {
	log4j := rawZip(t, log4jEntries())
	cases := map[string]struct {
		name    string
		content []byte
	}{
		"baseline":         {"app/lib/log4j-core-2.14.1.jar", log4j},
		"bin extension":    {"app/lib/a.bin", log4j},
		"tar+zip polyglot": {"app/lib/a.jar", append(tarOf(t, "README", "hello"), log4j...)},
	}
	for label, c := range cases {
		t.Run(label, func(t *testing.T) {
			res, err := Generate(context.Background(), layoutOf(t, testutil.FileImage(t, c.name, c.content)), Options{Created: created})
			if err != nil {
				t.Logf("failed (fine): %v", err)
				return
			}
			found := false
			var purls []string
			for p := range res.sbom.Artifacts.Packages.Enumerate() {
				purls = append(purls, p.PURL)
				if strings.Contains(p.PURL, "log4j-core") {
					found = true
				}
			}
			if !found {
				t.Errorf("HIDDEN: log4j-core not catalogued and no error; packages %v; unknowns %v", purls, res.sbom.Artifacts.Unknowns)
			}
		})
	}
}
