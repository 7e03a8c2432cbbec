package oci

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/dossier-dev/dossier/internal/testutil"
)

func resolveInput(t *testing.T, input string) (*Artifact, error) {
	t.Helper()
	src, err := ParseSource(input)
	if err != nil {
		return nil, err
	}
	return Resolve(context.Background(), src, RegistryOptions{Retries: 1})
}

func layoutDigest(t *testing.T, sample string) string {
	t.Helper()
	_, desc := testutil.SampleTagged(t, sample)
	return desc.Digest.String()
}

func TestResolveRegistryTagToDigest(t *testing.T) {
	host := testutil.Registry(t)
	want := testutil.PushSample(t, "npm-app", host+"/samples/npm-app:1.0")
	a, err := resolveInput(t, host+"/samples/npm-app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if a.Subject.Digest != want || a.Subject.Repository != host+"/samples/npm-app" || a.Tag != "1.0" {
		t.Fatalf("resolved %+v tag %q, want digest %s", a.Subject, a.Tag, want)
	}
	if a.IsIndex() || a.MediaType != "application/vnd.oci.image.manifest.v1+json" || a.Size == 0 {
		t.Fatalf("unexpected descriptor: %+v", a)
	}
	// the same content by digest resolves to the same subject
	b, err := resolveInput(t, a.Subject.String())
	if err != nil || b.Subject != a.Subject {
		t.Fatalf("by digest: %+v, %v", b, err)
	}
}

func TestResolveRegistryIndexAndPlatforms(t *testing.T) {
	host := testutil.Registry(t)
	indexDigest := testutil.PushSample(t, "go-app", host+"/samples/go-app:latest")
	a, err := resolveInput(t, host+"/samples/go-app:latest")
	if err != nil {
		t.Fatal(err)
	}
	if !a.IsIndex() || a.Subject.Digest != indexDigest {
		t.Fatalf("want index %s, got %+v", indexDigest, a.Subject)
	}
	if len(a.Platforms) != 2 || a.Platforms[0].Platform != "linux/amd64" || a.Platforms[1].Platform != "linux/arm64" {
		t.Fatalf("platforms = %+v", a.Platforms)
	}
	arm, err := a.PlatformDigest(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil || arm != a.Platforms[1].Digest || arm == indexDigest {
		t.Fatalf("arm64 digest %q, %v", arm, err)
	}
	img, subject, err := a.Image(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if subject.Digest != a.Platforms[0].Digest || d.String() != subject.Digest {
		t.Fatalf("default platform: subject %s, image %s, want %s", subject.Digest, d, a.Platforms[0].Digest)
	}
	if _, err := a.PlatformDigest(v1.Platform{OS: "windows", Architecture: "amd64"}); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Fatalf("missing platform: %v", err)
	}
}

func TestResolveLayoutMatchesRegistry(t *testing.T) {
	for _, s := range testutil.Samples {
		a, err := resolveInput(t, "oci-layout:"+testutil.SampleLayout(s)+":latest")
		if err != nil {
			t.Fatal(err)
		}
		if want := layoutDigest(t, s); a.Subject.Digest != want {
			t.Errorf("%s: %s, want %s", s, a.Subject.Digest, want)
		}
		if !strings.HasPrefix(a.Subject.Repository, "oci-layout:/") {
			t.Errorf("%s: repository %q is not an absolute layout path", s, a.Subject.Repository)
		}
	}
}

// TestResolveDockerArchive checks the digest of a docker archive against
// a Docker schema-2 manifest built here from the archive's own bytes
// (config and layer blobs as stored), independently of the code under test.
func TestResolveDockerArchive(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "npm.tar")
	writeDockerArchive(t, "npm-app", tarPath)
	a, err := resolveInput(t, "docker-archive:"+tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := archiveManifestDigest(t, tarPath); a.Subject.Digest != want {
		t.Fatalf("digest %s, want %s", a.Subject.Digest, want)
	}
}

// archiveManifestDigest reads a docker archive with archive/tar and hashes
// the schema-2 manifest its manifest.json describes.
func archiveManifestDigest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	blob := func(name, mediaType string) string {
		data, ok := files[name]
		if !ok {
			t.Fatalf("archive has no %s", name)
		}
		return fmt.Sprintf(`{"mediaType":%q,"size":%d,"digest":"sha256:%x"}`, mediaType, len(data), sha256.Sum256(data))
	}
	var layers []string
	for _, l := range manifest[0].Layers {
		layers = append(layers, blob(l, "application/vnd.docker.image.rootfs.diff.tar.gzip"))
	}
	schema2 := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":%s,"layers":[%s]}`,
		blob(manifest[0].Config, "application/vnd.docker.container.image.v1+json"), strings.Join(layers, ","))
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(schema2)))
}

func TestResolveFileDigest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := resolveInput(t, "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	// sha256 of "hello\n", as printed by sha256sum
	if a.Subject.Digest != "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" {
		t.Fatalf("digest %s", a.Subject.Digest)
	}
}

func TestResolveBadInput(t *testing.T) {
	dir := t.TempDir()
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/samples/npm-app:1.0")

	// a layout whose index.json is not JSON
	corrupt := filepath.Join(dir, "corrupt")
	mustWrite(t, filepath.Join(corrupt, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	mustWrite(t, filepath.Join(corrupt, "index.json"), `{"manifests": [`)
	// a layout whose manifest is of an unknown media type
	unknown := filepath.Join(dir, "unknown")
	mustWrite(t, filepath.Join(unknown, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	mustWrite(t, filepath.Join(unknown, "index.json"), `{"schemaVersion":2,"manifests":[{"mediaType":"application/x-strange","digest":"sha256:`+strings.Repeat("0", 64)+`","size":2}]}`)
	// a truncated docker archive
	full := filepath.Join(dir, "full.tar")
	writeDockerArchive(t, "npm-app", full)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.tar")
	mustWrite(t, truncated, string(data[:len(data)/3]))
	// a port nothing listens on
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()

	tests := []struct{ input, want string }{
		{"oci-layout:" + filepath.Join(dir, "missing"), "not an OCI layout"},
		{"oci-layout:" + corrupt, "index.json"},
		{"oci-layout:" + unknown, "unsupported media type"},
		{"oci-layout:" + testutil.SampleLayout("npm-app") + ":nope", `unknown tag "nope"`},
		{"docker-archive:" + truncated, "docker archive"},
		{host + "/samples/npm-app:nope", "no such tag"},
		{down + "/samples/npm-app:1.0", "registry unreachable"},
	}
	for _, tt := range tests {
		_, err := resolveInput(t, tt.input)
		if err == nil {
			t.Errorf("%s: want an error", tt.input)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.input) {
			t.Errorf("%s: error %q should name the input and say %q", tt.input, err, tt.want)
		}
	}
}

func TestPlainHTTPOnlyForLoopbackOrListed(t *testing.T) {
	// 10.255.255.1 is never contacted: the transport refuses before dialing.
	src, err := ParseSource("10.255.255.1:5000/app:1")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(src.Reference)
	var o RegistryOptions
	if !IsLoopbackHost("127.0.0.1:5000") || !IsLoopbackHost("localhost") || !IsLoopbackHost("[::1]:80") || IsLoopbackHost("10.0.0.1") {
		t.Fatal("IsLoopbackHost misclassifies")
	}
	if o.allowsHTTP(ref.Context().RegistryStr()) {
		t.Fatal("a private-range registry must not get plain HTTP by default")
	}
	guard := httpsOnly{allowed: o.allowsHTTP, next: failingTransport{}}
	req, _ := httpNewRequest("http://10.255.255.1:5000/v2/")
	if _, err := guard.RoundTrip(req); err == nil || !errors.Is(err, ErrPlainHTTPRefused) {
		t.Fatalf("plain HTTP to a private host: %v", err)
	}
	o.InsecureRegistries = []string{"10.255.255.1:5000"}
	guard = httpsOnly{allowed: o.allowsHTTP, next: failingTransport{}}
	if _, err := guard.RoundTrip(req); !errors.Is(err, errDialed) {
		t.Fatalf("listed insecure registry should be dialed, got %v", err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeDockerArchive saves a sample image as `docker save` would.
func writeDockerArchive(t *testing.T, sample, path string) {
	t.Helper()
	idx, desc := testutil.SampleTagged(t, sample)
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("dossier.test/" + sample + ":latest")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
}
