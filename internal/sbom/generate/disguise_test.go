package generate

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// tarThen is a tar of the given entries with content appended after the
// tar's end blocks: a tar to cataloguers, which read a file's head, and
// the appended zip to a JVM, which reads its end.
func tarThen(t *testing.T, content []byte, entries ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e[1])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return append(buf.Bytes(), content...)
}

var (
	harmlessManifest = [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nImplementation-Title: benign\r\nImplementation-Version: 1.0\r\n\r\n"}
	harmlessPOM      = [2]string{"META-INF/maven/com.example/benign/pom.properties", "groupId=com.example\nartifactId=benign\nversion=1.0\n"}
)

// Jars that name themselves but that syft reads as something else
// (helper-11): a Weave-Classes manifest (New Relic's, which syft leaves
// out) on a jar whose pom names log4j-core, and a tar of a harmless jar's
// manifest and pom with log4j-core's jar appended (the cataloguer lists
// the harmless one at the path, which the witness took for the jar). Each
// is found or refused, never missing.
func TestJarsDisguisedFromTheCataloguer(t *testing.T) {
	class, err := base64.StdEncoding.DecodeString(helloClass)
	if err != nil {
		t.Fatal(err)
	}
	hello := [2]string{"org/apache/logging/log4j/core/Hello.class", string(class)}
	weave := [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nWeave-Classes: x\r\n\r\n"}
	for shape, jar := range map[string][]byte{
		"a Weave-Classes manifest":         rawZip(t, weave, log4jPOM, hello),
		"behind a tar of a harmless jar's": tarThen(t, rawZip(t, log4jManifest, log4jPOM, hello), harmlessManifest, harmlessPOM),
	} {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			log4jFoundOrRefused(t, jar, "app/lib/log4j-core-2.14.1.jar", "app/lib/benign-1.0.jar")
		})
	}
	t.Run("nested in a fat jar, behind a tar", func(t *testing.T) {
		t.Parallel()
		inner := "BOOT-INF/lib/benign-1.0.jar"
		disguised := tarThen(t, rawZip(t, log4jManifest, log4jPOM, hello), harmlessManifest, harmlessPOM)
		fat := testutil.MavenJar(t, "org.example", "app", "1.0.0", map[string]io.Reader{inner: bytes.NewReader(disguised)}, inner)
		_, err := Document(context.Background(), layoutOf(t, testutil.FileImage(t, "app/app.jar", fat)), Options{Created: created})
		var notCatalogued *ErrArchiveNotCatalogued
		if !errors.As(err, &notCatalogued) {
			t.Errorf("a fat jar holding a tar-headed log4j-core jar: %v", err)
		}
	})
}
