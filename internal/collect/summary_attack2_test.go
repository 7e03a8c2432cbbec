package collect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// An attacker who can attach attestations to an image, but holds neither
// the release key nor the gate's, tries summaries that should not settle
// anything: whatever is attached, the decision on summary-first
// collection (collect.Collect) must never be more permissive than the
// decision on everything the policies name (policy.Set.Needs, gathered in
// full). Two policies match team/strict/**: one accepts the gate's
// summaries, the other does not.
func TestAttackSummaryFirstIsNeverMorePermissive(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	release, _ := sign.GenerateKeyPair()
	gate, _ := sign.GenerateKeyPair()
	attacker, _ := sign.GenerateKeyPair()
	const verifier = "https://ci.example/gates/release"
	docs, err := policy.Parse("policy.yaml", []byte(fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  images: [%[1]q]
  signers:
    - {name: release, key: {data: "%[2]s"}}
    - {name: gate, key: {data: "%[3]s"}}
  rules:
    - name: signed
      signature: {signers: [release]}
    - name: vulns
      vulnerabilities: {failOn: high}
  verificationSummaries:
    - {verifier: %[4]s, signers: [gate], maxAge: 1h, levels: [DOSSIER_RELEASE_SIGNED, DOSSIER_RELEASE_VULNS], rules: [signed, vulns]}
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: strict}
spec:
  images: [%[5]q]
  signers:
    - {name: release, key: {data: "%[2]s"}}
  rules:
    - name: signed
      signature: {signers: [release]}
`, host+"/team/**", keyData(release), keyData(gate), verifier, host+"/team/strict/**")), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	trust, err := collect.TrustFor(set, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	levels := []string{"DOSSIER_RELEASE_SIGNED", "DOSSIER_RELEASE_VULNS"}
	type summary struct {
		signer   *sign.KeyPair
		verifier string
		// other makes the summary about another digest
		other     bool
		result    string
		verified  time.Time
		levels    []string
		malformed bool
	}
	good := func(edit func(*summary)) *summary {
		s := &summary{signer: gate, verifier: verifier, result: "PASSED", verified: now.Add(-time.Minute), levels: levels}
		if edit != nil {
			edit(s)
		}
		return s
	}
	cases := []struct {
		name, repo string
		signed     bool
		summary    *summary
		// evaluated is how long after collection the decision is made
		evaluated time.Duration
		// summarySettles says the summary is genuine and in force: the
		// image must be allowed (what the attacks are measured against)
		summarySettles bool
	}{
		{name: "no summary, signed", repo: "team/app", signed: true},
		{name: "attacker's key", repo: "team/app", summary: good(func(s *summary) { s.signer = attacker })},
		{name: "gate's summary of another digest", repo: "team/app", summary: good(func(s *summary) { s.other = true })},
		{name: "another verifier", repo: "team/app", summary: good(func(s *summary) { s.verifier = "https://ci.example/gates/other" })},
		{name: "too old", repo: "team/app", summary: good(func(s *summary) { s.verified = now.Add(-2 * time.Hour) })},
		{name: "in the future", repo: "team/app", summary: good(func(s *summary) { s.verified = now.Add(time.Hour) })},
		{name: "FAILED", repo: "team/app", summary: good(func(s *summary) { s.result = "FAILED" })},
		{name: "missing a level", repo: "team/app", summary: good(func(s *summary) { s.levels = levels[:1] })},
		{name: "unreadable", repo: "team/app", summary: good(func(s *summary) { s.malformed = true })},
		{name: "expires between collection and decision", repo: "team/app", signed: true, evaluated: 2 * time.Minute,
			summary: good(func(s *summary) { s.verified = now.Add(-time.Hour + time.Minute) })},
		{name: "genuine, second policy accepts none, unsigned", repo: "team/strict/app", summary: good(nil)},
		{name: "genuine, second policy accepts none, signed", repo: "team/strict/app", signed: true, summary: good(nil), summarySettles: true},
		{name: "genuine", repo: "team/app", summary: good(nil), summarySettles: true},
	}
	for i, c := range cases {
		ref := fmt.Sprintf("%s/%s:case%d", host, c.repo, i)
		art, repo, desc := pushRandom(t, ref)
		if c.signed {
			if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(release, ""), now); err != nil {
				t.Fatal(err)
			}
		}
		if s := c.summary; s != nil {
			uri := art.Subject.Repository + "@" + art.Subject.Digest
			if s.other {
				uri = art.Subject.Repository + "@sha256:" + strings.Repeat("ab", 32)
			}
			pred := map[string]any{"verifier": map[string]any{"id": s.verifier}, "timeVerified": s.verified.UTC().Format(time.RFC3339),
				"resourceUri": uri, "policy": map[string]any{"uri": "urn:dossier:policies:release"}, "verificationResult": s.result,
				"verifiedLevels": s.levels, "slsaVersion": "1.0"}
			if s.malformed {
				pred["verifier"] = "not an object"
			}
			raw, _ := json.Marshal(pred)
			if _, err := attest.Attach(ctx, repo, desc, evidence.PredicateVSA, raw, nil, sign.NewKeySigner(s.signer, ""), now); err != nil {
				t.Fatal(err)
			}
		}
		clock := func() time.Time { return now }
		opts := collect.Options{Trust: trust, NoScanner: "no advisory database", Timeout: 10 * time.Second, Now: clock}
		first := collect.Collect(ctx, set, art, ref, opts)
		all := collectAll(ctx, t, set, art, ref, trust, now)
		at := now.Add(c.evaluated)
		dFirst, dAll := policy.Evaluate(set, first, at), policy.Evaluate(set, all, at)
		t.Logf("%s: summary-first allowed %v (signatures read %d), full allowed %v", c.name, dFirst.Allowed, len(first.Signatures), dAll.Allowed)
		if dFirst.Allowed && !dAll.Allowed {
			t.Errorf("%s: allowed on summary-first collection, denied on full: %+v", c.name, dFirst.Rules)
		}
		passedAll := map[string]bool{}
		for _, r := range dAll.Rules {
			passedAll[r.Policy+"/"+r.Rule] = r.Outcome == evidence.OutcomePass
		}
		for _, r := range dFirst.Rules {
			if r.Outcome == evidence.OutcomePass && !passedAll[r.Policy+"/"+r.Rule] {
				t.Errorf("%s: %s/%s passes on summary-first collection only: %s", c.name, r.Policy, r.Rule, r.Reason)
			}
		}
		if c.summarySettles && !dFirst.Allowed {
			t.Errorf("%s: a genuine summary should settle the release policy: %+v", c.name, dFirst.Rules)
		}
	}
}

// collectAll gathers everything the set's policies name for art, as a
// collection that reads no summary first would.
func collectAll(ctx context.Context, t *testing.T, set *policy.Set, art *oci.Artifact, ref string, trust *sign.Trust, now time.Time) *evidence.Collected {
	t.Helper()
	ev := &evidence.Collected{Subject: art.Subject, Reference: ref, Signatures: []evidence.VerifiedSignature{}, Attestations: []evidence.Attestation{}, Unavailable: map[string]string{}}
	needs := set.Needs(ev)
	repo, err := art.Repository()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := art.SubjectDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	if needs.Signatures {
		sigs, rejected, err := trust.VerifySignatures(ctx, repo, desc)
		if err != nil {
			ev.Unavailable[evidence.NeedSignatures] = err.Error()
		}
		ev.Signatures, ev.Rejected = append(ev.Signatures, sigs...), append(ev.Rejected, rejected...)
	}
	for _, pt := range needs.PredicateTypes {
		atts, rejected, err := attest.Verify(ctx, repo, desc, pt, trust)
		if err != nil {
			ev.Unavailable[evidence.NeedAttestation(pt)] = err.Error()
		}
		ev.Attestations, ev.Rejected = append(ev.Attestations, atts...), append(ev.Rejected, rejected...)
	}
	if needs.Vulnerabilities && set.NeedsLocalScan(ev, now) {
		ev.Unavailable[evidence.NeedVulnerabilities] = "no advisory database"
	}
	return ev
}
