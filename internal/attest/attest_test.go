package attest_test

import (
	"context"
	"crypto"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// repositories are the same sample in a registry on 127.0.0.1 and in a
// writable OCI layout: attestation works the same in both.
func repositories(t *testing.T) map[string]func() (oci.Repository, v1.Descriptor) {
	ctx := context.Background()
	return map[string]func() (oci.Repository, v1.Descriptor){
		"registry": func() (oci.Repository, v1.Descriptor) {
			host := testutil.Registry(t)
			testutil.PushSample(t, "npm-app", host+"/team/app:v1")
			repo, err := oci.OpenRegistry(host+"/team/app", oci.RegistryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d, err := repo.Resolve(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			return repo, d
		},
		"layout": func() (oci.Repository, v1.Descriptor) {
			dir := testutil.CopyLayout(t, "npm-app")
			repo, err := oci.OpenLayout(dir)
			if err != nil {
				t.Fatal(err)
			}
			d, err := repo.Resolve(ctx, "latest")
			if err != nil {
				t.Fatal(err)
			}
			return repo, d
		},
	}
}

// trustedProvenance is a key, a trust of it alone, and a SLSA provenance
// predicate of a CI builder.
func trustedProvenance(t *testing.T) (*sign.KeyPair, *sign.Trust, []byte) {
	t.Helper()
	kp, _ := sign.GenerateKeyPair()
	trust, err := sign.NewTrust([]crypto.PublicKey{kp.Public()}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	prov, err := attest.Provenance(map[string]string{}, attest.ProvenanceOptions{BuilderID: "https://ci.example/builder",
		SourceURI: "git+https://example.com/app@refs/heads/main", SourceDigest: "0123456789abcdef0123456789abcdef01234567"})
	if err != nil {
		t.Fatal(err)
	}
	return kp, trust, prov
}

func TestAttachVerifyTree(t *testing.T) {
	ctx := context.Background()
	kp, trust, prov := trustedProvenance(t)
	other, _ := sign.GenerateKeyPair()
	for name, open := range repositories(t) {
		t.Run(name, func(t *testing.T) {
			repo, subject := open()
			signer := sign.NewKeySigner(kp, "")
			if _, err := attest.SignImage(ctx, repo, subject, map[string]any{"team": "web"}, signer, time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := attest.Attach(ctx, repo, subject, evidence.PredicateSLSA1, prov, nil, signer, time.Now()); err != nil {
				t.Fatal(err)
			}
			// an SBOM attestation by a key nobody trusts
			if _, err := attest.Attach(ctx, repo, subject, evidence.PredicateCycloneDX, json.RawMessage(`{"bomFormat":"CycloneDX"}`), nil, sign.NewKeySigner(other, ""), time.Now()); err != nil {
				t.Fatal(err)
			}
			atts, rejected, err := attest.Verify(ctx, repo, subject, evidence.PredicateSLSA1, trust)
			if err != nil || len(atts) != 1 || len(rejected) != 0 {
				t.Fatalf("provenance: %+v %+v %v", atts, rejected, err)
			}
			if p := atts[0].Provenance; p == nil || p.BuilderID != "https://ci.example/builder" || p.SourceRepository != "https://example.com/app" {
				t.Errorf("provenance summary: %+v", atts[0].Provenance)
			}
			// key-based, so no verified signing time: the time the signed
			// predicate states (runDetails.metadata.finishedOn) is read
			if atts[0].SigningTime != nil || atts[0].StatedTime == nil || time.Since(*atts[0].StatedTime) > time.Minute {
				t.Errorf("times: signed %v, stated %v", atts[0].SigningTime, atts[0].StatedTime)
			}
			atts, rejected, _ = attest.Verify(ctx, repo, subject, evidence.PredicateCycloneDX, trust)
			if len(atts) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureUntrustedKey {
				t.Errorf("untrusted sbom: %+v %+v", atts, rejected)
			}
			sigs, _, err := trust.VerifySignatures(ctx, repo, subject)
			if err != nil || len(sigs) != 1 {
				t.Fatalf("signature: %+v %v", sigs, err)
			}
			tree, err := attest.Tree(ctx, repo, subject)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, a := range tree {
				kinds[a.Kind+" "+a.PredicateType]++
			}
			if kinds["signature "+evidence.PredicateSignatures] != 1 || kinds["attestation "+evidence.PredicateSLSA1] != 1 || kinds["attestation "+evidence.PredicateCycloneDX] != 1 || len(tree) != 3 {
				t.Errorf("tree: %+v", tree)
			}
		})
	}
}

// The layout a signature was written into is still a valid layout that
// resolves to the same image.
func TestSignedLayoutStillResolves(t *testing.T) {
	ctx := context.Background()
	dir := testutil.CopyLayout(t, "go-app")
	kp, _ := sign.GenerateKeyPair()
	art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindOCILayout, Input: dir, Path: dir, Tag: "latest"}, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := art.Repository()
	desc, _ := art.SubjectDescriptor()
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	again, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindOCILayout, Input: dir, Path: dir, Tag: "latest"}, oci.RegistryOptions{})
	if err != nil || again.Subject != art.Subject {
		t.Fatalf("after signing: %+v %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
}
