package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// The image of one commit is the same image every time, runs as the
// unprivileged user, and its binary runs and says which dossier it is.
func TestImage(t *testing.T) {
	ctx := context.Background()
	o := options{Root: filepath.Join("..", ".."), Version: "v0.0.0-test", Commit: "0123456789abcdef0123456789abcdef01234567",
		Created: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), CACertificates: "/etc/ssl/certs/ca-certificates.crt",
		Platforms: []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}}
	if _, err := os.Stat(o.CACertificates); err != nil {
		testutil.Missing(t, "no CA bundle at %s: %v", o.CACertificates, err)
	}
	first, err := build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	if d1 != d2 {
		t.Errorf("two builds of one commit differ: %s and %s", d1, d2)
	}
	manifest, err := first.IndexManifest()
	if err != nil || len(manifest.Manifests) != 1 || manifest.Manifests[0].Platform.Architecture != runtime.GOARCH {
		t.Fatalf("index: %+v %v", manifest, err)
	}
	img, err := first.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/usr/local/bin/dossier" ||
		cfg.Config.Labels["org.opencontainers.image.revision"] != o.Commit || !cfg.Created.Time.Equal(o.Created) {
		t.Errorf("config: %+v", cfg.Config)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := filepath.Join(t.TempDir(), "dossier")
	owners := map[string]int{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		owners[h.Name] = h.Uid
		if h.Name == "usr/local/bin/dossier" {
			if h.Mode&0o111 == 0 {
				t.Errorf("the binary is not executable: %o", h.Mode)
			}
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(f, tr)
			f.Close()
		}
	}
	if owners["var/lib/dossier/"] != uid || owners["home/nonroot/"] != uid || owners["usr/local/bin/dossier"] != 0 {
		t.Errorf("owners: %v", owners)
	}
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	var info struct{ Version, Commit string }
	if err != nil || json.Unmarshal(out, &info) != nil || info.Version != o.Version || info.Commit != o.Commit {
		t.Errorf("the image's dossier says %s (%v)", out, err)
	}
}
