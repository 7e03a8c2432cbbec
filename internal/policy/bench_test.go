package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// BenchmarkEvaluate decides with 10 rules (signatures, attestations with
// conditions, vulnerability gates) over 1,000 findings.
func BenchmarkEvaluate(b *testing.B) {
	var rules strings.Builder
	for i := range 3 {
		fmt.Fprintf(&rules, "    - name: signed-%d\n      signature: {}\n", i)
	}
	for i, pt := range []string{"cyclonedx", "spdxjson", "openvex", "vuln"} {
		fmt.Fprintf(&rules, "    - name: att-%d\n      attestation: {predicateType: %s, maxAge: 720h}\n", i, pt)
	}
	rules.WriteString("    - name: prov\n      attestation: {predicateType: slsaprovenance1, builderIDs: [b], sourceRepositories: [s]}\n")
	for i, sev := range []string{"high", "critical"} {
		fmt.Fprintf(&rules, "    - name: vulns-%d\n      vulnerabilities: {failOn: %s, ignoreUnfixed: true, maxDatabaseAge: 72h}\n", i, sev)
	}
	doc := policyHeader + "spec:\n  images: [\"registry.example/**\"]\n" + keylessSigner + "  rules:\n" + rules.String()
	docs, err := Parse("bench.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(docs.Policies[0].Rules); n != 10 {
		b.Fatalf("%d rules", n)
	}
	set := &Set{Policies: docs.Policies, Exceptions: []evidence.Exception{{Name: "x", Owner: "o", Subject: payments, ExpiresAt: now.Add(time.Hour), Vulnerabilities: []string{"CVE-0-7"}}}}
	signer := evidence.Signer{Identity: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", Issuer: "https://issuer.example"}
	signed := now.Add(-time.Hour)
	ev := &evidence.Collected{Subject: payments, Signatures: []evidence.VerifiedSignature{{Verification: evidence.Verification{Signer: signer}}}}
	for _, pt := range []string{evidence.PredicateCycloneDX, evidence.PredicateSPDX, evidence.PredicateOpenVEX, evidence.PredicateVuln, evidence.PredicateSLSA1} {
		ev.Attestations = append(ev.Attestations, evidence.Attestation{PredicateType: pt, Verification: evidence.Verification{Signer: signer, SigningTime: &signed}, Provenance: &evidence.Provenance{BuilderID: "b", SourceRepository: "s"}})
	}
	ev.Vulnerabilities = &evidence.VulnerabilityEvidence{DatabaseUpdated: signed, Source: "local-database"}
	severities := []string{"low", "medium", "high", "critical", "unknown"}
	fix := []string{evidence.FixFixed, evidence.FixNotFixed, evidence.FixUnknown}
	for i := range 1000 {
		ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, evidence.Finding{
			ID: fmt.Sprintf("GHSA-%d", i), Aliases: []string{fmt.Sprintf("CVE-0-%d", i)},
			Severity: evidence.Severity{Rating: severities[i%5]}, FixState: fix[i%3],
			Component: evidence.Component{Name: fmt.Sprintf("pkg%d", i%50), Version: "1.0.0"},
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := Evaluate(set, ev, now); d.Allowed {
			b.Fatal("expected a denial")
		}
	}
}
