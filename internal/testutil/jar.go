package testutil

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Jar is a zip of the named entries, deflated but for those named stored.
func Jar(t testing.TB, entries map[string]io.Reader, stored ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		method := zip.Deflate
		if slices.Contains(stored, name) {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, entries[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// MavenJar is a jar with Maven's pom.properties for group:artifact:version
// and the more entries given.
func MavenJar(t testing.TB, group, artifact, version string, more map[string]io.Reader, stored ...string) []byte {
	t.Helper()
	entries := map[string]io.Reader{
		"META-INF/MANIFEST.MF": strings.NewReader("Manifest-Version: 1.0\r\n\r\n"),
		"META-INF/maven/" + group + "/" + artifact + "/pom.properties": strings.NewReader(
			"groupId=" + group + "\nartifactId=" + artifact + "\nversion=" + version + "\n"),
	}
	for name, content := range more {
		entries[name] = content
	}
	return Jar(t, entries, stored...)
}

// FatJar is a Spring Boot style jar, org.example:app:1.0.0, holding
// log4j-core 2.14.1 as a nested jar.
func FatJar(t testing.TB) []byte {
	t.Helper()
	inner := MavenJar(t, "org.apache.logging.log4j", "log4j-core", "2.14.1", nil)
	return MavenJar(t, "org.example", "app", "1.0.0", map[string]io.Reader{"BOOT-INF/lib/log4j-core-2.14.1.jar": bytes.NewReader(inner)})
}

// FileImage is an image of one layer holding one file.
func FileImage(t testing.TB, name string, content []byte) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, FileLayer(t, name, bytes.NewReader(content), int64(len(content))))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// FileLayer is a layer holding one file of size bytes read from content.
func FileLayer(t testing.TB, name string, content io.Reader, size int64) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, content, size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return layer
}
