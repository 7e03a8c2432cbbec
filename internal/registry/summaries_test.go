package registry

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

// The quarantine publishes what it allows: an image pushed unsigned gets
// no summary; once signed by the release key, the registry attaches one
// verification summary signed with its own key — one, though attaching it
// queued another verify job — and a cluster policy that accepts the
// registry's summaries admits the image on it alone.
func TestQuarantinePublishesSummaries(t *testing.T) {
	ctx := context.Background()
	release, set := signedByRelease(t)
	gate, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	const verifier = "https://registry.example/dossier/quarantine"
	s := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=release", Repositories: team, Rules: func() (*policy.Set, string) { return set, "v1" }}}
		o.Summaries = &Summaries{Key: gate, VerifierID: verifier, Version: "test"}
	})
	workCtx, stop := context.WithCancel(ctx)
	wait := s.reg.RunWorkers(workCtx, 1, time.Second, recordingSignatures(t, s.st, set, time.Now))
	defer func() { stop(); wait() }()
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	digest := digestOfImage(t, img)
	allDone := func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			if j.State != store.JobDone {
				return false
			}
		}
		return len(jobs) > 0
	}
	waitJobs(t, s.st, allDone)
	repo, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	gateTrust, err := sign.NewTrust([]crypto.PublicKey{gate.Public()}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	summaries := func() []evidence.Attestation {
		t.Helper()
		found, _, err := attest.Verify(ctx, repo, desc, evidence.PredicateVSA, gateTrust)
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if found := summaries(); len(found) != 0 {
		t.Fatalf("an unsigned (denied) image has %d summaries", len(found))
	}

	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(release, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(summaries()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	waitJobs(t, s.st, allDone) // the verify job the summary's push queued
	found := summaries()
	if len(found) != 1 {
		t.Fatalf("%d summaries after the signature, want 1", len(found))
	}
	var vsa struct {
		Verifier struct {
			ID string `json:"id"`
		} `json:"verifier"`
		ResourceURI        string   `json:"resourceUri"`
		VerificationResult string   `json:"verificationResult"`
		VerifiedLevels     []string `json:"verifiedLevels"`
	}
	if err := json.Unmarshal(found[0].Predicate, &vsa); err != nil {
		t.Fatal(err)
	}
	if vsa.Verifier.ID != verifier || vsa.ResourceURI != s.host+"/team/app@"+digest || vsa.VerificationResult != "PASSED" || strings.Join(vsa.VerifiedLevels, ",") != "DOSSIER_RELEASE_SIGNED" {
		t.Errorf("summary %+v", vsa)
	}

	// a cluster that trusts the registry's summaries, not the release key
	gatePEM, err := gate.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	releasePEM, err := release.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Parse("cluster.yaml", []byte(fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: cluster}
spec:
  images: ["**"]
  signers:
    - {name: release, key: {data: %q}}
    - {name: registry, key: {data: %q}}
  rules:
    - name: signed
      signature: {signers: [release]}
  verificationSummaries:
    - {verifier: %s, signers: [registry], maxAge: 1h, levels: [DOSSIER_RELEASE_SIGNED], rules: [signed]}
`, releasePEM, gatePEM, verifier)), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cluster := &policy.Set{Policies: docs.Policies}
	trust, err := collect.TrustFor(cluster, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: s.host + "/team/app@" + digest, Reference: s.host + "/team/app@" + digest}, oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	ev := collect.Collect(ctx, cluster, art, art.Subject.String(), collect.Options{Trust: trust, Timeout: 10 * time.Second})
	if d := policy.Evaluate(cluster, ev, time.Now()); !d.Allowed || !d.Rules[0].BySummary || len(ev.Signatures) != 0 {
		t.Errorf("the cluster's decision on the registry's summary: %+v (signatures read: %d)", d.Rules, len(ev.Signatures))
	}
}
