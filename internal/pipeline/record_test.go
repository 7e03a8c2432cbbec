package pipeline

import (
	"context"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// An index is judged on its own signatures: a signed platform manifest,
// recorded in the index's dossier, does not make the index signed; once
// the index itself is signed, it is.
func TestIndexJudgedOnItsOwnSignatures(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	testutil.PushSample(t, "go-app", host+"/team/go:v1")
	kp, set, trust := signedBy(t, "**")
	repo, err := oci.OpenRepository(host+"/team/go", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	arm, err := repo.Resolve(ctx, testutil.SampleImageDigest(t, "go-app", "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	signer := sign.NewKeySigner(kp, "")
	if _, err := attest.SignImage(ctx, repo, arm, nil, signer, time.Now()); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, _ := oci.ParseSource(host + "/team/go:v1")
	record := func() *Recorded {
		t.Helper()
		art, err := oci.Resolve(ctx, src, oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// the arm64 platform is catalogued: what is attached to it goes
		// into the index's dossier
		platform := v1.Platform{OS: "linux", Architecture: "arm64"}
		r, err := Record(ctx, st, art, RecordOptions{Trust: trust, Set: set, Platform: &platform, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := record(); r.Decision == nil || r.Decision.Allowed || r.Signatures != 1 {
		t.Errorf("an index whose arm64 manifest alone is signed: %d signatures recorded, decision %+v", r.Signatures, r.Decision)
	}
	index, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, repo, index, nil, signer, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := record(); r.Decision == nil || !r.Decision.Allowed {
		t.Errorf("the index signed itself: decision %+v", r.Decision)
	}
}

// signedBy is a new key pair, a policy on the images glob requiring its
// signature, and the trust that verifies it.
func signedBy(t *testing.T, images string) (*sign.KeyPair, *policy.Set, *sign.Trust) {
	t.Helper()
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Parse("signed.yaml", testutil.KeySignedPolicy("release", images, pub), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	trust, err := collect.TrustFor(set, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return kp, set, trust
}
