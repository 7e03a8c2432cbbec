package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

func TestParseSource(t *testing.T) {
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "lay")
	plainDir := filepath.Join(dir, "plain")
	for _, d := range []string{layoutDir, plainDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(layoutDir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	plainFile := filepath.Join(dir, "go.mod")
	if err := os.WriteFile(plainFile, []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)

	tests := []struct {
		in                         string
		kind                       Kind
		ref, path, tag, wantDigest string
	}{
		{in: "registry.example/team/app:1.0", kind: KindRegistry, ref: "registry.example/team/app:1.0"},
		{in: "registry:alpine", kind: KindRegistry, ref: "alpine"},
		// a registry host named "registry" with a port is a host, not the scheme
		{in: "registry:5000/team/app:v1", kind: KindRegistry, ref: "registry:5000/team/app:v1"},
		{in: "registry:registry:5000/team/app:v1", kind: KindRegistry, ref: "registry:5000/team/app:v1"},
		{in: "dir:8080/x", kind: KindRegistry, ref: "dir:8080/x"},
		{in: "127.0.0.1:5000/app@" + digest, kind: KindRegistry, ref: "127.0.0.1:5000/app@" + digest},
		{in: "oci-layout:" + layoutDir, kind: KindOCILayout, path: layoutDir},
		{in: "oci-layout:" + layoutDir + ":v1", kind: KindOCILayout, path: layoutDir, tag: "v1"},
		{in: "oci-layout:" + layoutDir + "@" + digest, kind: KindOCILayout, path: layoutDir, wantDigest: digest},
		{in: layoutDir, kind: KindOCILayout, path: layoutDir},
		{in: layoutDir + ":v2", kind: KindOCILayout, path: layoutDir, tag: "v2"},
		{in: plainDir, kind: KindDir, path: plainDir},
		{in: "dir:" + plainDir, kind: KindDir, path: plainDir},
		{in: plainFile, kind: KindFile, path: plainFile},
		{in: "file:" + plainFile, kind: KindFile, path: plainFile},
		{in: "docker-archive:/x/img.tar", kind: KindDockerArchive, path: "/x/img.tar"},
	}
	for _, tt := range tests {
		got, err := ParseSource(tt.in)
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tt.in, err)
			continue
		}
		if got.Kind != tt.kind || got.Reference != tt.ref || got.Path != tt.path || got.Tag != tt.tag || got.Digest != tt.wantDigest {
			t.Errorf("ParseSource(%q) = %+v", tt.in, got)
		}
	}
}

func TestParseSourceDetectsDockerArchive(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	writeDockerArchive(t, "npm-app", tarPath)
	got, err := ParseSource(tarPath)
	if err != nil || got.Kind != KindDockerArchive {
		t.Fatalf("ParseSource(%q) = %+v, %v; want docker-archive", tarPath, got, err)
	}
}

func TestParseSourceErrors(t *testing.T) {
	for _, in := range []string{"", "./does/not/exist", "/no/such/file.tar", "UPPER/Case:tag", "oci-layout:", "registry:bad ref"} {
		if _, err := ParseSource(in); err == nil {
			t.Errorf("ParseSource(%q): want an error", in)
		} else if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("ParseSource(%q): error %q does not name the input", in, err)
		}
	}
}

func TestSamplesAreLayouts(t *testing.T) {
	for _, s := range testutil.Samples {
		src, err := ParseSource(testutil.SampleLayout(s))
		if err != nil || src.Kind != KindOCILayout {
			t.Errorf("sample %s: %+v %v", s, src, err)
		}
	}
}
