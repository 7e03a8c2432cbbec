package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

const summaryPolicy = `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: cluster-admission}
spec:
  images: ["registry.example/acme/**"]
  signers:
    - name: release
      key: {file: release.pub}
    - name: gate
      key: {file: other.pub}
  rules:
    - name: signed
      signature: {signers: [release]}
    - name: sbom
      attestation: {predicateType: cyclonedx, signers: [release]}
  verificationSummaries:
    - verifier: https://ci.example/gates/release
      signers: [gate]
      maxAge: 24h
      levels: [DOSSIER_RELEASE_SIGNED, DOSSIER_RELEASE_SBOM]
      rules: [signed, sbom]
`

func summaryAttestation(t *testing.T, signer evidence.Signer, predicate string) evidence.Attestation {
	return evidence.Attestation{Subject: payments, PredicateType: evidence.PredicateVSA, Predicate: json.RawMessage(predicate),
		Verification: evidence.Verification{Signer: signer, StoredAt: "sha256:vsa"}}
}

func vsa(verifier, result, resource string, verified time.Time, levels ...string) string {
	l, _ := json.Marshal(levels)
	return fmt.Sprintf(`{"verifier":{"id":%q},"timeVerified":%q,"resourceUri":%q,"policy":{"uri":"urn:dossier:policies:release","digest":{"sha256":"00"}},"verificationResult":%q,"verifiedLevels":%s,"slsaVersion":"1.0"}`,
		verifier, verified.UTC().Format(time.RFC3339), resource, result, l)
}

// A cluster policy accepts the release gate's verification summary in
// place of the signature and SBOM it would otherwise verify; a summary by
// another verifier or signer, for another digest, FAILED, too old, from the
// future or missing a level is not accepted, and the denial says why.
func TestVerificationSummariesSatisfyRules(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"release.pub", "other.pub"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(summaryPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	set := loadSet(t, path)
	gate := keySigner(t, filepath.Join(dir, "other.pub"))
	rel := keySigner(t, filepath.Join(dir, "release.pub"))
	resource := payments.Repository + "@" + payments.Digest
	levels := []string{"DOSSIER_RELEASE_SIGNED", "DOSSIER_RELEASE_SBOM"}
	good := vsa("https://ci.example/gates/release", "PASSED", resource, now.Add(-time.Hour), levels...)

	if n := set.Needs(&evidence.Collected{Subject: payments}); !strings.Contains(strings.Join(n.PredicateTypes, " "), evidence.PredicateVSA) {
		t.Fatalf("the summaries are not gathered: %+v", n)
	}
	ev := &evidence.Collected{Subject: payments, Attestations: []evidence.Attestation{summaryAttestation(t, gate, good)}}
	d := Evaluate(set, ev, now)
	if !d.Allowed {
		t.Fatalf("a good summary was not accepted: %+v", d.Rules)
	}
	for _, r := range d.Rules {
		if !strings.Contains(r.Reason, "verified by https://ci.example/gates/release at") || !strings.Contains(r.Reason, "trusted signer gate") {
			t.Errorf("%s: %s", r.Rule, r.Reason)
		}
	}
	// the summary read first, nothing else is gathered
	if !set.AcceptsSummaries(ev) {
		t.Error("the policy accepting summaries is not seen")
	}
	if n := set.NeedsBeyondSummaries(ev, now); n.Signatures || len(n.PredicateTypes) > 0 || n.Vulnerabilities || len(n.Notation) > 0 {
		t.Errorf("a decision the summary settles still gathers %+v", n)
	}

	for name, c := range map[string]struct {
		signer    evidence.Signer
		predicate string
		want      string
	}{
		"another verifier": {gate, vsa("https://ci.example/gates/nightly", "PASSED", resource, now.Add(-time.Hour), levels...), "is not by https://ci.example/gates/release"},
		"another signer":   {rel, good, "no verification summary by https://ci.example/gates/release signed by key gate"},
		"another digest":   {gate, vsa("https://ci.example/gates/release", "PASSED", otherImage.Repository+"@"+otherImage.Digest, now.Add(-time.Hour), levels...), "is about"},
		"failed":           {gate, vsa("https://ci.example/gates/release", "FAILED", resource, now.Add(-time.Hour), levels...), `says "FAILED"`},
		"too old":          {gate, vsa("https://ci.example/gates/release", "PASSED", resource, now.Add(-25*time.Hour), levels...), "accepts 24h0m0s at most"},
		"from the future":  {gate, vsa("https://ci.example/gates/release", "PASSED", resource, now.Add(time.Hour), levels...), "in the future"},
		"a level missing":  {gate, vsa("https://ci.example/gates/release", "PASSED", resource, now.Add(-time.Hour), levels[0]), "does not verify DOSSIER_RELEASE_SBOM"},
		"not JSON":         {gate, `"x"`, "does not parse"},
		"too large":        {gate, strings.Replace(good, `"slsaVersion"`, `"padding":"`+strings.Repeat("x", 70<<10)+`","slsaVersion"`, 1), "is larger than 64 KiB"},
	} {
		ev := &evidence.Collected{Subject: payments, Attestations: []evidence.Attestation{summaryAttestation(t, c.signer, c.predicate)}}
		d := Evaluate(set, ev, now)
		if d.Allowed {
			t.Errorf("%s: allowed", name)
			continue
		}
		r := rule(t, d, "sbom")
		if r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, "no cyclonedx attestation by key release") || !strings.Contains(r.Reason, c.want) {
			t.Errorf("%s: %s: %s", name, r.Outcome, r.Reason)
		}
		if n := set.NeedsBeyondSummaries(ev, now); !n.Signatures || strings.Join(n.PredicateTypes, " ") != evidence.PredicateCycloneDX {
			t.Errorf("%s: a summary not accepted leaves %+v to gather, want the signatures and the SBOM attestation", name, n)
		}
	}
	// unreadable summaries say so
	d = Evaluate(set, &evidence.Collected{Subject: payments, Unavailable: map[string]string{evidence.NeedAttestation(evidence.PredicateVSA): "registry timed out"}}, now)
	if r := rule(t, d, "signed"); !strings.Contains(r.Reason, "verification summaries could not be read: registry timed out") {
		t.Errorf("unreadable: %s", r.Reason)
	}
	// the summary's signer is among the set's signers, so that it is verified
	found := false
	for _, s := range set.Signers() {
		found = found || s.Name == "gate"
	}
	if !found {
		t.Error("the summary's signer is not among the signers to verify")
	}
}

func TestVerificationSummaryAcceptanceIsComplete(t *testing.T) {
	for _, c := range []struct{ replace, with, want string }{
		{"verifier: https://ci.example/gates/release", "verifier: release-gate", "want the verifier's URI"},
		{"signers: [gate]\n      maxAge", "signers: []\n      maxAge", "name the signers"},
		{"signers: [gate]\n      maxAge", "signers: [nobody]\n      maxAge", `no signer named "nobody"`},
		{"maxAge: 24h", "maxAge: \"\"", "a judgement does not hold for ever"},
		{"levels: [DOSSIER_RELEASE_SIGNED, DOSSIER_RELEASE_SBOM]", "levels: []", "name the verified levels"},
		{"levels: [DOSSIER_RELEASE_SIGNED, DOSSIER_RELEASE_SBOM]", "levels: [signed]", "spelled ORG_PROPERTY"},
		{"rules: [signed, sbom]", "rules: [signed, provenance]", `no rule named "provenance"`},
		{"rules: [signed, sbom]", "rules: [signed, sbom]\n      extra: 1", "extra"},
	} {
		doc := strings.Replace(summaryPolicy, c.replace, c.with, 1)
		_, err := Parse("policy.yaml", []byte(doc), LoadOptions{BaseDir: "testdata", ReadFile: os.ReadFile})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "spec.verificationSummaries[0]") && c.want != "extra" {
			t.Errorf("%s → %s: %v, want %q", c.replace, c.with, err, c.want)
		}
	}
}
