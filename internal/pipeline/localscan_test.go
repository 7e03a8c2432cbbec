package pipeline

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// A vulnerability gate on an index judges every platform: lodash in the
// arm64 image only is found although the default platform (amd64) is
// clean, with the platform in its locations; naming a platform scans that
// one alone.
func TestScanLocallyEveryPlatform(t *testing.T) {
	ctx := context.Background()
	db := database(t, "ghsa/GHSA-35jh-r3h4-6jhm.json")
	idx, desc := testutil.SampleTagged(t, "npm-app")
	vulnerable, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	index := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: clean, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: vulnerable, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(index); err != nil {
		t.Fatal(err)
	}
	src, _ := oci.ParseSource("oci-layout:" + dir)
	art, err := oci.Resolve(ctx, src, oci.RegistryOptions{})
	if err != nil || !art.IsIndex() {
		t.Fatalf("the index: %v", err)
	}
	all, err := ScanLocally(ctx, db, art, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range all.Findings {
		if f.ID == "GHSA-35jh-r3h4-6jhm" {
			found = true
			if len(f.Component.Locations) == 0 || !strings.HasPrefix(f.Component.Locations[0], "linux/arm64 ") {
				t.Errorf("the finding does not name its platform: %v", f.Component.Locations)
			}
		}
	}
	if !found {
		t.Errorf("lodash of the arm64 image not found scanning the index: %+v", all.Findings)
	}
	amd64, err := ScanLocally(ctx, db, art, &v1.Platform{OS: "linux", Architecture: "amd64"}, nil)
	if err != nil || len(amd64.Findings) != 0 {
		t.Errorf("the amd64 image alone: %+v %v", amd64, err)
	}
}
