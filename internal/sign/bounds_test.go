package sign

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/oci"
)

// A pusher cannot make a verifier read without end: referrers whose
// bundles add up to more than oci.MaxAttachedBytes are refused before any
// bundle is read, and so are legacy manifests with too many layers or
// bytes.
func TestAttachedReadsAreBounded(t *testing.T) {
	ctx := context.Background()
	repo, subject := pushed(t, "npm-app", "team/flooded")
	config := []byte("{}")
	cd := oci.Descriptor(emptyJSONMediaType, config)
	if err := repo.Push(ctx, cd, config); err != nil {
		t.Fatal(err)
	}
	// bundles claiming 60 MiB each (never pushed: nothing may be read)
	for i := range oci.MaxAttachedBytes/(60<<20) + 1 {
		layer := v1.Descriptor{MediaType: BundleMediaType, Size: 60 << 20, Digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", i+1)}}
		raw, _ := json.Marshal(struct {
			v1.Manifest
			ArtifactType string `json:"artifactType"`
		}{Manifest: v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{layer},
			Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}, ArtifactType: BundleMediaType})
		if err := repo.Push(ctx, oci.Descriptor(types.OCIManifestSchema1, raw), raw); err != nil {
			t.Fatal(err)
		}
	}
	if found, _, err := FindBundles(ctx, repo, subject, ""); err == nil || !strings.Contains(err.Error(), "more than 256 MiB") {
		t.Errorf("bundles of 300 MiB: %d found, %v", len(found), err)
	}

	many := &v1.Manifest{Layers: make([]v1.Descriptor, oci.MaxReferrers+1)}
	if err := CheckLegacyManifest(many, "team/app:sha256-x.sig"); err == nil || !strings.Contains(err.Error(), "more than the 500") {
		t.Errorf("a legacy manifest of %d layers: %v", len(many.Layers), err)
	}
	big := &v1.Manifest{Layers: []v1.Descriptor{{Size: 200 << 20}, {Size: 60 << 20}}}
	if err := CheckLegacyManifest(big, "team/app:sha256-x.att"); err == nil || !strings.Contains(err.Error(), "more than 256 MiB") {
		t.Errorf("a legacy manifest of 260 MiB: %v", err)
	}
	negative := &v1.Manifest{Layers: []v1.Descriptor{{Size: 200 << 20}, {Size: -(200 << 20)}, {Size: 200 << 20}}}
	if err := CheckLegacyManifest(negative, "team/app:sha256-x.att"); err == nil {
		t.Errorf("a legacy manifest with a negative size passed")
	}
	fine := &v1.Manifest{Layers: []v1.Descriptor{{Size: 1 << 20}, {Size: 2 << 20}}}
	if err := CheckLegacyManifest(fine, "team/app:sha256-x.sig"); err != nil {
		t.Errorf("a small legacy manifest: %v", err)
	}
}
