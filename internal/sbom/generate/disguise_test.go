package generate

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/minio/minlz"
	"github.com/pierrec/lz4/v4"

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

// v7 rewrites a ustar stream's headers as the V7 format's: no magic, the
// checksum recomputed. Go's tar reader, and so cataloguers, still read it.
func v7(t *testing.T, b []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	for off := 0; off+512 <= len(b); {
		h := b[off : off+512]
		if bytes.Equal(h, make([]byte, 512)) {
			break
		}
		size, err := strconv.ParseInt(strings.Trim(string(h[124:136]), " \x00"), 8, 64)
		if err != nil {
			t.Fatal(err)
		}
		clear(h[257:])
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		off += 512 + int((size+511)/512*512)
	}
	return b
}

// A harmless jar's tar before log4j-core's jar in any format cataloguers
// read from a file's head (helper-12: a V7 tar without the ustar magic,
// and the tar compressed with lz4, zlib, MinLZ or snappy, passed a list of
// magic bytes) is found or refused, never missing.
func TestJarsBehindOtherArchiveHeads(t *testing.T) {
	class, err := base64.StdEncoding.DecodeString(helloClass)
	if err != nil {
		t.Fatal(err)
	}
	log4j := rawZip(t, log4jManifest, log4jPOM, [2]string{"org/apache/logging/log4j/core/Hello.class", string(class)})
	harmless := tarThen(t, nil, harmlessManifest, harmlessPOM)
	compressed := func(newWriter func(io.Writer) io.WriteCloser) []byte {
		var buf bytes.Buffer
		w := newWriter(&buf)
		if _, err := w.Write(harmless); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for shape, head := range map[string][]byte{
		"a V7 tar": v7(t, harmless),
		"gzip":     compressed(func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }),
		"zlib":     compressed(func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) }),
		"lz4":      compressed(func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) }),
		"MinLZ":    compressed(func(w io.Writer) io.WriteCloser { return minlz.NewWriter(w) }),
		"snappy":   compressed(func(w io.Writer) io.WriteCloser { return s2.NewWriter(w, s2.WriterSnappyCompat()) }),
		"zstd":     compressed(func(w io.Writer) io.WriteCloser { z, _ := zstd.NewWriter(w); return z }),
	} {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			log4jFoundOrRefused(t, append(bytes.Clone(head), log4j...), "app/lib/benign-1.0.jar")
		})
	}
}
