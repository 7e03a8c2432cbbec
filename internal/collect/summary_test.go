package collect_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
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

// TestSummaryAnswersAlone: a policy that accepts the release gate's
// verification summary for every rule is decided on that summary alone —
// the image's own signature is not read and no local scan is made (there
// is no advisory database here: a scan would fail the vulnerability
// rule). An image without a summary has its evidence gathered as before.
func TestSummaryAnswersAlone(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	release, _ := sign.GenerateKeyPair()
	gate, _ := sign.GenerateKeyPair()
	const verifier = "https://ci.example/gates/release"
	docs, err := policy.Parse("policy.yaml", []byte(fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  images: [%q]
  signers:
    - {name: release, key: {data: "%s"}}
    - {name: gate, key: {data: "%s"}}
  rules:
    - name: signed
      signature: {signers: [release]}
    - name: vulns
      vulnerabilities: {failOn: high}
  verificationSummaries:
    - {verifier: %s, signers: [gate], maxAge: 1h, levels: [DOSSIER_RELEASE_SIGNED, DOSSIER_RELEASE_VULNS], rules: [signed, vulns]}
`, host+"/team/**", keyData(release), keyData(gate), verifier)), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	trust, err := collect.TrustFor(set, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	push := func(tag string, summarised bool) (*oci.Artifact, string) {
		ref := host + "/team/app:" + tag
		art, repo, desc := pushRandom(t, ref)
		if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(release, ""), time.Now()); err != nil {
			t.Fatal(err)
		}
		if summarised {
			passed := evidence.Decision{Subject: art.Subject, Allowed: true, EvaluatedAt: time.Now().Add(-time.Minute), Policies: []string{"release"},
				Rules: []evidence.RuleResult{{Policy: "release", Rule: "signed", Outcome: evidence.OutcomePass}, {Policy: "release", Rule: "vulns", Outcome: evidence.OutcomePass}}}
			predicate, err := attest.VerificationSummary(passed, attest.SummaryOptions{VerifierID: verifier, Policies: []attest.SummaryPolicy{{Name: "release", Digest: "sha256:00"}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := attest.Attach(ctx, repo, desc, evidence.PredicateVSA, predicate, nil, sign.NewKeySigner(gate, ""), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return art, ref
	}

	art, ref := push("summarised", true)
	ev := collect.Collect(ctx, set, art, ref, collect.Options{Trust: trust, NoScanner: "no advisory database", Timeout: 10 * time.Second})
	d := policy.Evaluate(set, ev, time.Now())
	if !d.Allowed || len(ev.Signatures) != 0 || ev.Vulnerabilities != nil || len(ev.Unavailable) != 0 {
		t.Errorf("decided on the summary alone: allowed %v, signatures read %d, scanned %v, unavailable %v: %+v", d.Allowed, len(ev.Signatures), ev.Vulnerabilities != nil, ev.Unavailable, d.Rules)
	}
	for _, r := range d.Rules {
		if !r.BySummary {
			t.Errorf("rule %s not passed by the summary: %s", r.Rule, r.Reason)
		}
	}

	art, ref = push("unsummarised", false)
	ev = collect.Collect(ctx, set, art, ref, collect.Options{Trust: trust, NoScanner: "no advisory database", Timeout: 10 * time.Second})
	d = policy.Evaluate(set, ev, time.Now())
	if d.Allowed || len(ev.Signatures) != 1 || ev.Unavailable[evidence.NeedVulnerabilities] != "no advisory database" {
		t.Errorf("without a summary the evidence is gathered: allowed %v, signatures %d, unavailable %v", d.Allowed, len(ev.Signatures), ev.Unavailable)
	}
}

// keyData is kp's public key as PEM on one line, with \n escapes, for a
// double-quoted YAML string.
func keyData(kp *sign.KeyPair) string {
	der, _ := x509.MarshalPKIXPublicKey(kp.Public())
	return strings.ReplaceAll(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))), "\n", `\n`)
}
