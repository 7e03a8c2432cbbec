package oci

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// Every image a runtime could pick from an index read from a registry:
// a declared platform, an entry naming none (its config's platform), a
// nested index's image; not a build attestation marked unknown/unknown.
func TestRunnableImages(t *testing.T) {
	host := testutil.Registry(t)
	image := func(os, arch string) v1.Image {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigFile()
		cfg.OS, cfg.Architecture = os, arch
		img, err = mutate.ConfigFile(img, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	declared, platformless, nested, attestation := image("linux", "amd64"), image("linux", "arm64"), image("linux", "s390x"), image("", "")
	index := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: declared, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: platformless},
		mutate.IndexAddendum{Add: mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: nested, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}})},
		mutate.IndexAddendum{Add: attestation, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	ref, err := name.ParseReference(host + "/team/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, index); err != nil {
		t.Fatal(err)
	}
	a, err := resolveInput(t, host+"/team/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.RunnableImages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, r := range got {
		d, _ := r.Artifact.image.Digest()
		if d.String() != r.Digest || r.Artifact.Subject.Digest != r.Digest {
			t.Errorf("image %s read as %s", r.Digest, d)
		}
		have = append(have, r.Platform)
	}
	if strings.Join(have, " ") != "linux/amd64 linux/arm64 linux/s390x" {
		t.Errorf("runnable images: %v", have)
	}

	// an image that cannot be read is an error, never a skip
	missing, _ := platformless.Digest()
	if err := remote.Delete(ref.Context().Digest(missing.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RunnableImages(context.Background()); err == nil || !strings.Contains(err.Error(), missing.String()) {
		t.Errorf("an unreadable image of the index: %v", err)
	}
}
