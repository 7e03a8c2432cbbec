package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

const controlledPolicy = `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: controlled}
spec:
  mode: enforce
  images: ["registry.example/acme/**"]
  signers:
    - name: release-workflow
      keyless:
        identities: [{issuer: "https://token.actions.githubusercontent.com", subjectRegExp: '^https://github\.com/acme/payments/\.github/workflows/release\.yml@refs/tags/v.+$'}]
  rules:
    - name: controlled-build
      attestation:
        predicateType: slsaprovenance1
        signers: [release-workflow]
        builderIDs: ["https://github.com/acme/payments/.github/workflows/release.yml@refs/tags/v1.2.0"]
        refs: ["refs/heads/main", "refs/tags/v*"]
        triggers: [push, release, workflow_dispatch]
        workflowAudit: {failOn: medium}
`

// The controlled build path: the provenance's builder, a protected ref, a
// trusted trigger, and the attested audit of the workflow at the built
// commit; each failure named.
func TestControlledBuild(t *testing.T) {
	docs, err := Parse("controlled.yaml", []byte(controlledPolicy), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	signed := now.Add(-time.Hour)
	keyless := evidence.Signer{Identity: release, Issuer: ghIssuer}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	evidenceWith := func(ref, trigger string, audit *evidence.WorkflowAudit) *evidence.Collected {
		ev := &evidence.Collected{Subject: payments, Attestations: []evidence.Attestation{{Subject: payments, PredicateType: evidence.PredicateSLSA1,
			Predicate: json.RawMessage(`{}`), Verification: evidence.Verification{Signer: keyless, SigningTime: &signed, StoredAt: "sha256:cccc"},
			Provenance: &evidence.Provenance{BuilderID: release, SourceRepository: "https://github.com/acme/payments", Commit: commit, Ref: ref, Trigger: trigger}}}}
		if audit != nil {
			doc, _ := json.Marshal(audit)
			ev.Attestations = append(ev.Attestations, evidence.Attestation{Subject: payments, PredicateType: evidence.PredicateWorkflowAudit, Predicate: doc,
				Verification: evidence.Verification{Signer: keyless, SigningTime: &signed, StoredAt: "sha256:dddd"}})
		}
		return ev
	}
	clean := &evidence.WorkflowAudit{Commit: commit, Workflow: ".github/workflows/release.yml", Findings: []evidence.WorkflowFinding{
		{Rule: "permissions-missing", Severity: "low", File: ".github/workflows/release.yml", Line: 3}}}
	unpinned := &evidence.WorkflowAudit{Commit: commit, Workflow: ".github/workflows/release.yml", Findings: []evidence.WorkflowFinding{
		{Rule: "unpinned-uses", Severity: "high", File: ".github/workflows/release.yml", Line: 12, Message: "docker/login-action is pinned to \"v3\""},
		{Rule: "container-by-tag", Severity: "medium", File: ".github/workflows/release.yml", Line: 9, Message: "waived", Waiver: "node-image"}}}
	otherCommit := *unpinned
	otherCommit.Commit = strings.Repeat("f", 40)
	for _, c := range []struct {
		name, ref, trigger string
		audit              *evidence.WorkflowAudit
		allowed            bool
		reason             string
	}{
		{"tag push, clean audit", "refs/tags/v1.2.0", "push", clean, true, ""},
		{"main, no audit (not required)", "refs/heads/main", "workflow_dispatch", nil, true, ""},
		{"a pull_request_target run", "refs/heads/main", "pull_request_target", clean, false, "built by a pull_request_target run, but the policy requires"},
		{"an unprotected branch", "refs/heads/feature/x", "push", clean, false, `built from ref "refs/heads/feature/x", not a protected one`},
		{"no ref in the provenance", "", "push", clean, false, "its provenance names no ref"},
		{"audit finds an unpinned action", "refs/tags/v1.2.0", "push", unpinned, false, "workflow .github/workflows/release.yml at commit 0123456789ab has 1 audit findings at or above medium: unpinned-uses at .github/workflows/release.yml:12"},
		{"audit of another commit does not count", "refs/tags/v1.2.0", "push", &otherCommit, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Evaluate(set, evidenceWith(c.ref, c.trigger, c.audit), now)
			r := rule(t, d, "controlled-build")
			if d.Allowed != c.allowed || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("allowed %v (want %v): %s", d.Allowed, c.allowed, r.Reason)
			}
		})
	}
	// a required audit
	required := strings.Replace(controlledPolicy, "workflowAudit: {failOn: medium}", "workflowAudit: {failOn: medium, required: true}", 1)
	docs, err = Parse("controlled.yaml", []byte(required), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := Evaluate(&Set{Policies: docs.Policies}, evidenceWith("refs/heads/main", "push", nil), now)
	if d.Allowed || !strings.Contains(rule(t, d, "controlled-build").Reason, "no audit of the workflow at commit 0123456789ab") {
		t.Errorf("a required audit missing: %+v", d.Rules)
	}
	if n := (&Set{Policies: docs.Policies}).Needs(evidenceWith("", "", nil)); !strings.Contains(strings.Join(n.PredicateTypes, " "), evidence.PredicateWorkflowAudit) {
		t.Errorf("the audit attestation is not gathered: %+v", n)
	}
	for name, bad := range map[string]string{
		"a pull request trigger": strings.Replace(controlledPolicy, "[push, release, workflow_dispatch]", "[push, pull_request_target]", 1),
		"a bad severity":         strings.Replace(controlledPolicy, "{failOn: medium}", "{failOn: severe}", 1),
		"on an SBOM":             strings.Replace(controlledPolicy, "predicateType: slsaprovenance1", "predicateType: cyclonedx", 1),
	} {
		if _, err := Parse("controlled.yaml", []byte(bad), LoadOptions{}); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}

// A dossier policy's identity regexp matches the whole identity, whatever
// anchors it writes: an alternation cannot reopen a match anywhere.
func TestNativeRegexpsMatchWholeIdentities(t *testing.T) {
	doc := strings.Replace(controlledPolicy, `'^https://github\.com/acme/payments/\.github/workflows/release\.yml@refs/tags/v.+$'`, `'^https://github\.com/acme/payments/\.github/workflows/release\.yml@refs/tags/v1$|release\.yml$'`, 1)
	docs, err := Parse("controlled.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signer := docs.Policies[0].Rules[0].Attestation.Signers[0]
	for identity, want := range map[string]bool{
		"https://github.com/acme/payments/.github/workflows/release.yml@refs/tags/v1": true,
		"release.yml": true,
		"https://github.com/attacker/fork/.github/workflows/release.yml":                   false,
		"https://github.com/acme/payments/.github/workflows/release.yml@refs/tags/v1-evil": false,
	} {
		if got := signer.Matches(evidence.Signer{Identity: identity, Issuer: ghIssuer}); got != want {
			t.Errorf("%s: matched %v, want %v", identity, got, want)
		}
	}
}
