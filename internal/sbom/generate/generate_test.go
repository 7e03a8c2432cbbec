package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/testutil"
)

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func generateSample(t *testing.T, input string, platform *v1.Platform) *Result {
	t.Helper()
	src, err := oci.ParseSource(input)
	if err != nil {
		t.Fatal(err)
	}
	a, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Generate(context.Background(), a, Options{Platform: platform, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func encode(t *testing.T, r *Result, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Encode(&buf, format); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSamplesInEveryFormat(t *testing.T) {
	for _, s := range testutil.Samples {
		t.Run(s, func(t *testing.T) {
			r := generateSample(t, "oci-layout:"+testutil.SampleLayout(s), nil)
			if want := testutil.SampleImageDigest(t, s, "amd64"); r.Subject.Digest != want {
				t.Fatalf("subject %s, want the linux/amd64 manifest %s", r.Subject, want)
			}
			want := testutil.ExpectedPackages(t, s)
			for _, format := range Formats {
				data := encode(t, r, format)
				doc, err := sbom.Decode(bytes.NewReader(data), s+" "+format)
				if err != nil {
					t.Fatal(err)
				}
				if doc.Format != format {
					t.Errorf("%s: decoded as %s", format, doc.Format)
				}
				if doc.Subject == nil || doc.Subject.Digest != r.Subject.Digest {
					t.Errorf("%s: subject %+v, want digest %s", format, doc.Subject, r.Subject.Digest)
				}
				var keys []string
				for _, c := range doc.Components {
					keys = append(keys, testutil.PackageKey(c.PURL))
				}
				for _, w := range want {
					if !slices.Contains(keys, w) {
						t.Errorf("%s: missing %s in %v", format, w, keys)
					}
				}
			}
		})
	}
}

func TestCycloneDXNamesSubjectToolAndTime(t *testing.T) {
	r := generateSample(t, "oci-layout:"+testutil.SampleLayout("go-app")+":latest", nil)
	data := string(encode(t, r, "cyclonedx-json"))
	for _, want := range []string{
		`"specVersion": "1.6"`,
		`"purl": "pkg:oci/go-app@` + strings.Replace(r.Subject.Digest, ":", "%3A", 1) + `?arch=amd64&tag=latest"`,
		`"timestamp": "2026-01-02T03:04:05Z"`,
		`"name": "dossier"`,
		`"name": "syft"`,
	} {
		if !strings.Contains(data, want) {
			t.Errorf("CycloneDX lacks %s", want)
		}
	}
}

func TestSPDXValidatesAndDescribesImage(t *testing.T) {
	r := generateSample(t, "oci-layout:"+testutil.SampleLayout("npm-app"), nil)
	data := encode(t, r, "spdx-json")
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Fatalf("SPDX validation: %v", err)
	}
	ids, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil || len(ids) != 1 {
		t.Fatalf("described packages %v, %v", ids, err)
	}
	if doc.CreationInfo.Created != "2026-01-02T03:04:05Z" || !strings.HasPrefix(doc.DocumentNamespace, "https://github.com/dossier-dev/dossier/spdx/oci-layout/") {
		t.Fatalf("creation info %+v, namespace %s", doc.CreationInfo, doc.DocumentNamespace)
	}
}

func TestOutputIsReproducible(t *testing.T) {
	input := "oci-layout:" + testutil.SampleLayout("debian")
	a, b := generateSample(t, input, nil), generateSample(t, input, nil)
	for _, format := range Formats {
		if !bytes.Equal(encode(t, a, format), encode(t, b, format)) {
			t.Errorf("%s: two runs on the same input differ", format)
		}
	}
}

func TestPlatformSelection(t *testing.T) {
	r := generateSample(t, "oci-layout:"+testutil.SampleLayout("go-app"), &v1.Platform{OS: "linux", Architecture: "arm64"})
	if want := testutil.SampleImageDigest(t, "go-app", "arm64"); r.Subject.Digest != want || r.Platform != "linux/arm64" {
		t.Fatalf("subject %s platform %s, want %s", r.Subject, r.Platform, want)
	}
}

func TestDirectoryAndFileSources(t *testing.T) {
	dir := testutil.RepoRoot() + "/samples/src/npm-app"
	r := generateSample(t, "dir:"+dir, nil)
	doc, err := sbom.Decode(bytes.NewReader(encode(t, r, "cyclonedx-json")), "dir SBOM")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range doc.Components {
		keys = append(keys, testutil.PackageKey(c.PURL))
	}
	for _, w := range testutil.ExpectedPackages(t, "npm-app") {
		if !slices.Contains(keys, w) {
			t.Errorf("dir source: missing %s (lockfile) in %v", w, keys)
		}
	}
	f := generateSample(t, "file:"+dir+"/package-lock.json", nil)
	if !strings.HasPrefix(f.Subject.Digest, "sha256:") {
		t.Fatalf("file subject %s has no digest", f.Subject)
	}
}

// An image whose config names no OS or architecture (what registries'
// conformance data and random test images push) is catalogued, with no
// platform, instead of crashing.
func TestImageWithoutPlatform(t *testing.T) {
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	r := generateSample(t, "oci-layout:"+dir, nil)
	if r.Platform != "" || r.Subject.Digest == "" {
		t.Errorf("platform %q, subject %v", r.Platform, r.Subject)
	}
}

// zerosLayer is a layer holding one file of size zero bytes: a few
// kilobytes compressed.
func zerosLayer(t *testing.T, name string, size int64) v1.Layer {
	t.Helper()
	return testutil.FileLayer(t, name, io.LimitReader(zeros{}, size), size)
}

// layoutOf resolves an image written to an OCI layout.
func layoutOf(t testing.TB, img v1.Image) *oci.Artifact {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	src, _ := oci.ParseSource("oci-layout:" + dir)
	a, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A layer (or an image) that unpacks to more than cataloguing takes — a
// gzip of zeros — fails with a clear error and leaves nothing on disk.
func TestUnpackingIsBounded(t *testing.T) {
	for name, c := range map[string]struct {
		sizes              []int64
		maxLayer, maxImage int64
		want               string
	}{
		"a layer":  {sizes: []int64{48 << 20}, maxLayer: 16 << 20, maxImage: 64 << 20, want: "more than the 16 MiB a layer may have"},
		"an image": {sizes: []int64{12 << 20, 12 << 20}, maxLayer: 16 << 20, maxImage: 16 << 20, want: "more than the 16 MiB an image may have"},
		"within":   {sizes: []int64{4 << 20, 4 << 20}, maxLayer: 16 << 20, maxImage: 16 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			img := empty.Image
			for i, size := range c.sizes {
				var err error
				if img, err = mutate.AppendLayers(img, zerosLayer(t, fmt.Sprintf("zeros-%d", i), size)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Generate(context.Background(), layoutOf(t, img), Options{MaxLayerBytes: c.maxLayer, MaxImageBytes: c.maxImage})
			if c.want == "" {
				if err != nil {
					t.Errorf("within the bounds: %v", err)
				}
				return
			}
			var tooLarge *ErrTooLarge
			if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want %q, got %v", c.want, err)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("left behind in the temporary directory: %v", left)
			}
		})
	}
}
