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
	amd64 := mutate.IndexAddendum{Add: clean, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}}
	for _, tc := range []struct {
		name     string
		index    v1.ImageIndex
		location string // how the finding's location begins
	}{
		{"a platform of its own", mutate.AppendManifests(empty.Index, amd64,
			mutate.IndexAddendum{Add: vulnerable, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}}), "linux/arm64 "},
		// a runtime reads an entry naming no platform and checks its config
		{"an entry naming no platform", mutate.AppendManifests(empty.Index, amd64, mutate.IndexAddendum{Add: vulnerable}), "linux/amd64 " + desc.Digest.String() + " "},
		// a runtime follows nested indexes
		{"a nested index", mutate.AppendManifests(empty.Index, amd64, mutate.IndexAddendum{Add: mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: vulnerable, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}})}), "linux/s390x "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all, err := ScanLocally(ctx, db, layoutIndex(t, tc.index), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range all.Findings {
				if f.ID == "GHSA-35jh-r3h4-6jhm" {
					found = true
					if len(f.Component.Locations) == 0 || !strings.HasPrefix(f.Component.Locations[0], tc.location) {
						t.Errorf("the finding does not name its image as %q: %v", tc.location, f.Component.Locations)
					}
				}
			}
			if !found {
				t.Errorf("lodash of the vulnerable image not found scanning the index: %+v", all.Findings)
			}
		})
	}
	art := layoutIndex(t, mutate.AppendManifests(empty.Index, amd64,
		mutate.IndexAddendum{Add: vulnerable, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}}))
	alone, err := ScanLocally(ctx, db, art, &v1.Platform{OS: "linux", Architecture: "amd64"}, nil)
	if err != nil || len(alone.Findings) != 0 {
		t.Errorf("the amd64 image alone: %+v %v", alone, err)
	}
}

// layoutIndex resolves an index written to an OCI layout.
func layoutIndex(t *testing.T, index v1.ImageIndex) *oci.Artifact {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(index); err != nil {
		t.Fatal(err)
	}
	src, _ := oci.ParseSource("oci-layout:" + dir)
	art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil || !art.IsIndex() {
		t.Fatalf("the index: %v", err)
	}
	return art
}
