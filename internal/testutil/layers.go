package testutil

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entry is a tar entry of a test layer: a file (Body), a directory (Name
// ending in /) or a symlink (Link).
type Entry struct{ Name, Body, Link string }

// TarLayer is a layer of entries, in order.
func TarLayer(t testing.TB, entries ...Entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.Body))}
		switch {
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Size, h.Mode = tar.TypeSymlink, e.Link, 0, 0o777
		case strings.HasSuffix(e.Name, "/"):
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		case strings.Contains(e.Name, "bin/"):
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// SampleLayers are the layers of a sample's linux image of an
// architecture (its only image when it has one).
func SampleLayers(t testing.TB, sample, arch string) []v1.Layer {
	t.Helper()
	idx, err := SampleIndex(t, sample).ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	// a layout's index may name the image's index
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsIndex() {
		if idx, err = idx.ImageIndex(m.Manifests[0].Digest); err != nil {
			t.Fatal(err)
		}
		if m, err = idx.IndexManifest(); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != arch && len(m.Manifests) > 1 {
			continue
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		return layers
	}
	t.Fatalf("sample %s has no %s image", sample, arch)
	return nil
}

// LinuxImage is a linux/amd64 image of layers, bottom first.
func LinuxImage(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}
