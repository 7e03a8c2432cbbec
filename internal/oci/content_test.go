package oci_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestRepositoryBackends runs the same round trip against a registry and
// an OCI layout: resolve, push blobs and a referrer manifest, list
// referrers with and without a filter, tag, fetch with verification.
func TestRepositoryBackends(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	reg, err := oci.OpenRepository(host+"/team/app", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lay, err := oci.OpenRepository("oci-layout:"+testutil.CopyLayout(t, "npm-app"), oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, sampleDesc := testutil.SampleTagged(t, "npm-app")
	for _, tc := range []struct {
		repo oci.Repository
		tag  string
	}{{reg, "v1"}, {lay, "latest"}} {
		repo := tc.repo
		t.Run(repo.Name(), func(t *testing.T) {
			subject, err := repo.Resolve(ctx, tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			if subject.Digest != sampleDesc.Digest {
				t.Fatalf("resolved %s, want %s", subject.Digest, sampleDesc.Digest)
			}
			if byDigest, err := repo.Resolve(ctx, subject.Digest.String()); err != nil || byDigest.Digest != subject.Digest {
				t.Fatalf("resolve by digest: %v %v", byDigest, err)
			}
			if _, err := repo.Resolve(ctx, "no-such-tag"); !errors.Is(err, oci.ErrNotFound) {
				t.Fatalf("unknown tag: %v", err)
			}
			manifest, err := repo.Fetch(ctx, subject)
			if err != nil || !strings.Contains(string(manifest), "layers") {
				t.Fatalf("fetch manifest: %v", err)
			}

			config := []byte("{}")
			payload := []byte(`{"hello":"world"}`)
			cd := oci.Descriptor("application/vnd.oci.empty.v1+json", config)
			pd := oci.Descriptor("application/vnd.example+json", payload)
			for _, b := range []struct {
				d v1.Descriptor
				c []byte
			}{{cd, config}, {pd, payload}} {
				if err := repo.Push(ctx, b.d, b.c); err != nil {
					t.Fatal(err)
				}
			}
			mf := map[string]any{
				"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": "application/vnd.example+json",
				"config": cd, "layers": []v1.Descriptor{pd},
				"subject":     v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
				"annotations": map[string]string{"example": "yes"},
			}
			raw, _ := json.Marshal(mf)
			md := oci.Descriptor(types.OCIManifestSchema1, raw)
			if err := repo.Push(ctx, md, raw); err != nil {
				t.Fatal(err)
			}
			refs, err := repo.Referrers(ctx, subject, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 1 || refs[0].Digest != md.Digest || refs[0].ArtifactType != "application/vnd.example+json" || refs[0].Annotations["example"] != "yes" {
				t.Fatalf("referrers: %+v", refs)
			}
			if refs, err := repo.Referrers(ctx, subject, "application/other"); err != nil || len(refs) != 0 {
				t.Fatalf("filtered referrers: %+v %v", refs, err)
			}
			got, err := repo.Fetch(ctx, pd)
			if err != nil || string(got) != string(payload) {
				t.Fatalf("fetch blob: %q %v", got, err)
			}
			if err := repo.Tag(ctx, md, "attached"); err != nil {
				t.Fatal(err)
			}
			if d, err := repo.Resolve(ctx, "attached"); err != nil || d.Digest != md.Digest {
				t.Fatalf("tagged: %v %v", d, err)
			}
			// a descriptor whose digest does not match the content is refused
			wrong := pd
			wrong.Digest = cd.Digest
			if err := repo.Push(ctx, wrong, payload); err == nil {
				t.Error("pushed content under the wrong digest")
			}
			big := pd
			big.Size = oci.MaxFetchSize + 1
			if _, err := repo.Fetch(ctx, big); err == nil || !strings.Contains(err.Error(), "more than") {
				t.Errorf("oversized fetch: %v", err)
			}
		})
	}
}

func TestLayoutFetchDetectsTampering(t *testing.T) {
	dir := testutil.CopyLayout(t, "npm-app")
	repo, err := oci.OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("signed content")
	d := oci.Descriptor("application/octet-stream", payload)
	if err := repo.Push(context.Background(), d, payload); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "blobs", "sha256", d.Digest.Hex)
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, []byte("tampered, same size"[:len(payload)]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Fetch(context.Background(), d); err == nil || !strings.Contains(err.Error(), "refusing it") {
		t.Fatalf("tampered blob: %v", err)
	}
	if _, err := layout.FromPath(dir); err != nil {
		t.Fatal(err)
	}
}

// A layout resolves the digest of a manifest that an image index in it
// lists (a platform's), not only what index.json lists.
func TestLayoutResolvesPlatformManifests(t *testing.T) {
	ctx := context.Background()
	repo, err := oci.OpenRepository("oci-layout:"+testutil.CopyLayout(t, "go-app"), oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	index, err := repo.Resolve(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	data, err := repo.Fetch(ctx, index)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(data, &m); err != nil || len(m.Manifests) < 2 {
		t.Fatalf("the go-app sample is not a multi-platform index: %v", err)
	}
	for _, want := range m.Manifests {
		got, err := repo.Resolve(ctx, want.Digest.String())
		if err != nil || got.Digest != want.Digest || got.Platform == nil || got.Platform.Architecture != want.Platform.Architecture {
			t.Errorf("platform %s: %+v %v", want.Platform, got, err)
		}
	}
	if _, err := repo.Resolve(ctx, "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("an absent digest: %v", err)
	}
}

// A subject with more referrers than dossier reads cannot be judged: the
// listing fails, naming the count, in both backends.
func TestTooManyReferrers(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/flooded:v1")
	reg, err := oci.OpenRepository(host+"/team/flooded", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lay, err := oci.OpenRepository("oci-layout:"+testutil.CopyLayout(t, "npm-app"), oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		repo oci.Repository
		tag  string
	}{{reg, "v1"}, {lay, "latest"}} {
		t.Run(tc.repo.Name(), func(t *testing.T) {
			subject, err := tc.repo.Resolve(ctx, tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			config := []byte("{}")
			cd := oci.Descriptor("application/vnd.oci.empty.v1+json", config)
			if err := tc.repo.Push(ctx, cd, config); err != nil {
				t.Fatal(err)
			}
			for i := range oci.MaxReferrers + 1 {
				raw, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": "application/x-junk",
					"config": cd, "layers": []v1.Descriptor{cd}, "annotations": map[string]string{"n": fmt.Sprint(i)},
					"subject": v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}})
				d := oci.Descriptor(types.OCIManifestSchema1, raw)
				if err := tc.repo.Push(ctx, d, raw); err != nil {
					t.Fatal(err)
				}
				if i == oci.MaxReferrers-1 {
					if refs, err := tc.repo.Referrers(ctx, subject, ""); err != nil || len(refs) != oci.MaxReferrers {
						t.Fatalf("%d referrers, the most dossier reads: %d listed, %v", oci.MaxReferrers, len(refs), err)
					}
				}
			}
			if refs, err := tc.repo.Referrers(ctx, subject, ""); err == nil || !strings.Contains(err.Error(), "501 referrers, more than the 500") {
				t.Errorf("%d referrers: %d listed, %v", oci.MaxReferrers+1, len(refs), err)
			}
		})
	}
}
