package generate

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// helloClass is org/apache/logging/log4j/core/Hello.class (javac 17): its
// main prints where it was loaded from, so a JVM proves it loaded the jar.
const helloClass = "yv66vgAAAD0ARgoAAgADBwAEDAAFAAYBABBqYXZhL2xhbmcvT2JqZWN0AQAGPGluaXQ+AQADKClWCQAIAAkHAAoMAAsADAEAEGphdmEvbGFuZy9TeXN0ZW0BAANvdXQBABVMamF2YS9pby9QcmludFN0cmVhbTsHAA4BACNvcmcvYXBhY2hlL2xvZ2dpbmcvbG9nNGovY29yZS9IZWxsbwoAEAARBwASDAATABQBAA9qYXZhL2xhbmcvQ2xhc3MBABNnZXRQcm90ZWN0aW9uRG9tYWluAQAiKClMamF2YS9zZWN1cml0eS9Qcm90ZWN0aW9uRG9tYWluOwoAFgAXBwAYDAAZABoBAB5qYXZhL3NlY3VyaXR5L1Byb3RlY3Rpb25Eb21haW4BAA1nZXRDb2RlU291cmNlAQAcKClMamF2YS9zZWN1cml0eS9Db2RlU291cmNlOwoAHAAdBwAeDAAfACABABhqYXZhL3NlY3VyaXR5L0NvZGVTb3VyY2UBAAtnZXRMb2NhdGlvbgEAECgpTGphdmEvbmV0L1VSTDsKACIAIwcAJAwAJQAmAQAQamF2YS9sYW5nL1N0cmluZwEAB3ZhbHVlT2YBACYoTGphdmEvbGFuZy9PYmplY3Q7KUxqYXZhL2xhbmcvU3RyaW5nOxIAAAAoDAApACoBABdtYWtlQ29uY2F0V2l0aENvbnN0YW50cwEAJihMamF2YS9sYW5nL1N0cmluZzspTGphdmEvbGFuZy9TdHJpbmc7CgAsAC0HAC4MAC8AMAEAE2phdmEvaW8vUHJpbnRTdHJlYW0BAAdwcmludGxuAQAVKExqYXZhL2xhbmcvU3RyaW5nOylWAQAEQ29kZQEAD0xpbmVOdW1iZXJUYWJsZQEABG1haW4BABYoW0xqYXZhL2xhbmcvU3RyaW5nOylWAQAKU291cmNlRmlsZQEACkhlbGxvLmphdmEBABBCb290c3RyYXBNZXRob2RzDwYAOQoAOgA7BwA8DAApAD0BACRqYXZhL2xhbmcvaW52b2tlL1N0cmluZ0NvbmNhdEZhY3RvcnkBAJgoTGphdmEvbGFuZy9pbnZva2UvTWV0aG9kSGFuZGxlcyRMb29rdXA7TGphdmEvbGFuZy9TdHJpbmc7TGphdmEvbGFuZy9pbnZva2UvTWV0aG9kVHlwZTtMamF2YS9sYW5nL1N0cmluZztbTGphdmEvbGFuZy9PYmplY3Q7KUxqYXZhL2xhbmcvaW52b2tlL0NhbGxTaXRlOwgAPwEAHmxvZzRqLWNvcmUgY2xhc3MgbG9hZGVkIGZyb20gAQEADElubmVyQ2xhc3NlcwcAQgEAJWphdmEvbGFuZy9pbnZva2UvTWV0aG9kSGFuZGxlcyRMb29rdXAHAEQBAB5qYXZhL2xhbmcvaW52b2tlL01ldGhvZEhhbmRsZXMBAAZMb29rdXAAIQANAAIAAAAAAAIAAQAFAAYAAQAxAAAAHQABAAEAAAAFKrcAAbEAAAABADIAAAAGAAEAAAACAAkAMwA0AAEAMQAAADIAAgABAAAAGrIABxINtgAPtgAVtgAbuAAhugAnAAC2ACuxAAAAAQAyAAAABgABAAAAAgADADUAAAACADYANwAAAAgAAQA4AAEAPgBAAAAACgABAEEAQwBFABk="

func runnableLog4j(t *testing.T) []byte {
	t.Helper()
	class, err := base64.StdEncoding.DecodeString(helloClass)
	if err != nil {
		t.Fatal(err)
	}
	return rawZip(t, log4jManifest, log4jPOM, [2]string{"org/apache/logging/log4j/core/Hello.class", string(class)})
}

// fakeEndRecord is a zip end-of-central-directory record whose comment
// length runs past the end of the file. Appended after a jar's real end
// record: Go's archive/zip (and klauspost/compress/zip, which syft reads
// jars with) stops at the last end signature and, finding its comment
// truncated, calls the file not a zip; the JVM (ZipFile.Source.findEND)
// checks that the central directory and local header the record points
// to exist, skips it when they do not, and reads the real one before it.
func fakeEndRecord() []byte {
	fake := make([]byte, 22)
	copy(fake, "PK\x05\x06")
	binary.LittleEndian.PutUint16(fake[20:], 0xffff)
	return fake
}

// jvmLoads runs every JVM it finds with the jar on its class path, and
// fails unless the log4j-core class loads from it.
func jvmLoads(t *testing.T, jar []byte) {
	t.Helper()
	jvms, _ := filepath.Glob("/usr/lib/jvm/*/bin/java")
	if len(jvms) == 0 {
		if j, err := exec.LookPath("java"); err == nil {
			jvms = []string{j}
		}
	}
	if len(jvms) == 0 {
		testutil.Missing(t, "no JVM here to prove the jar loads (apt-get install -y default-jre-headless)")
	}
	path := filepath.Join(t.TempDir(), "log4j-core-2.14.1.jar")
	if err := os.WriteFile(path, jar, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, jvm := range jvms {
		out, err := exec.Command(jvm, "-cp", path, "org.apache.logging.log4j.core.Hello").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "log4j-core class loaded") {
			t.Fatalf("%s did not load the jar: %v %s", jvm, err, out)
		}
		t.Logf("%s: %s", jvm, strings.TrimSpace(string(out)))
	}
}

// entryCount changes the entry counts of a zip's end record (the last
// 22 bytes of a zip with no comment) by delta. Go's zip reader refuses a
// count that is not the central directory's; the JVM counts the central
// directory's headers itself (ZipFile.Source.initCEN, countCENHeaders).
func entryCount(jar []byte, delta int) []byte {
	j := bytes.Clone(jar)
	end := len(j) - 22
	for _, off := range []int{8, 10} {
		n := binary.LittleEndian.Uint16(j[end+off:])
		binary.LittleEndian.PutUint16(j[end+off:], uint16(int(n)+delta))
	}
	return j
}

// log4jFoundOrRefused checks a jar a JVM loads log4j-core 2.14.1 from
// (every JVM here is run to prove it), placed at each path of an image:
// cataloguing it finds log4j-core or refuses the image, never neither.
func log4jFoundOrRefused(t *testing.T, jar []byte, paths ...string) {
	t.Helper()
	jvmLoads(t, jar)
	for _, path := range paths {
		doc, err := Document(context.Background(), layoutOf(t, testutil.FileImage(t, path, jar)), Options{Created: created})
		var notCatalogued *ErrArchiveNotCatalogued
		if errors.As(err, &notCatalogued) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range doc.Components {
			found = found || strings.HasSuffix(c.PURL, "/log4j-core@2.14.1")
		}
		if !found {
			t.Errorf("/%s: a JVM loads log4j-core 2.14.1 from it; neither catalogued nor refused: %+v", path, doc.Components)
		}
	}
}

// A log4j-core jar whose end is spelled so that Go's zip reader (and
// syft's) refuses it while every JVM here loads it — a bogus end record
// after the real one, an entry count off by one — is found or refused,
// never missing.
func TestJavaArchivesSpelledForTheJVM(t *testing.T) {
	plain := runnableLog4j(t)
	for shape, jar := range map[string][]byte{
		"a bogus end record after the real one": append(bytes.Clone(plain), fakeEndRecord()...),
		"an entry count one too many":           entryCount(plain, +1),
		"an entry count one too few":            entryCount(plain, -1),
		"behind a tar header, with a bogus end": append(tarHeaded(t, plain), fakeEndRecord()...),
	} {
		t.Run(shape, func(t *testing.T) {
			t.Parallel() // each shape a catalogue of its own
			if _, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar))); err == nil {
				t.Fatal("Go's zip reader reads it: the shape tests nothing")
			}
			log4jFoundOrRefused(t, jar, "app/lib/log4j-core-2.14.1.jar", "app/lib/a.bin")
		})
	}
}

// manifestBomb is a zip of n central directory entries, all named
// META-INF/MANIFEST.MF and all pointing at one local entry: a manifest of
// 1 MiB of lines naming nothing, deflated to a kilobyte or so. The zip is
// some 70 bytes an entry; the witness inflates and scans the whole
// manifest once per entry, since none identifies.
func manifestBomb(t *testing.T, n int) []byte {
	t.Helper()
	one := rawZip(t, [2]string{"META-INF/MANIFEST.MF", strings.Repeat("X-A: b\n", (1<<20)/7)})
	end := len(one) - 22
	cdSize := int(binary.LittleEndian.Uint32(one[end+12:]))
	cdOffset := int(binary.LittleEndian.Uint32(one[end+16:]))
	cen := one[cdOffset : cdOffset+cdSize]
	out := bytes.Clone(one[:cdOffset])
	for range n {
		out = append(out, cen...)
	}
	eocd := bytes.Clone(one[end:])
	binary.LittleEndian.PutUint16(eocd[8:], uint16(n))
	binary.LittleEndian.PutUint16(eocd[10:], uint16(n))
	binary.LittleEndian.PutUint32(eocd[12:], uint32(n*cdSize))
	// behind a line of text, so that nothing but the witness, which reads
	// every file from its end, takes it for an archive
	return append(append([]byte("just some text, not an archive\n"), out...), eocd...)
}

// A small file of thousands of manifests costs the witness two manifests'
// reading, not thousands.
func TestWitnessReadsTwoManifestsAtMost(t *testing.T) {
	bomb := manifestBomb(t, 2000)
	start := time.Now()
	if _, err := Document(context.Background(), layoutOf(t, testutil.FileImage(t, "app/a.bin", bomb)), Options{Created: created}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a %d KiB file of 2,000 manifests took %v to catalogue (17 s when each was read)", len(bomb)>>10, took)
	}
}

// A catalogue its deadline cut short is an error, never an SBOM of what
// was found before it.
func TestDeadlineFailsTheCatalogue(t *testing.T) {
	jar := testutil.MavenJar(t, "org.apache.logging.log4j", "log4j-core", "2.14.1", nil)
	img, err := mutate.AppendLayers(empty.Image, testutil.FileLayer(t, "app/lib/log4j-core-2.14.1.jar", bytes.NewReader(jar), int64(len(jar))))
	if err != nil {
		t.Fatal(err)
	}
	a := layoutOf(t, img)
	for _, wait := range []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		doc, err := Document(ctx, a, Options{Created: created})
		cancel()
		if err == nil && ctx.Err() != nil {
			t.Errorf("cut short after %v: an SBOM of %d components and no error", wait, len(doc.Components))
		}
	}
}
