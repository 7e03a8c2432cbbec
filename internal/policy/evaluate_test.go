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

var (
	now        = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	payments   = evidence.Subject{Repository: "registry.example/acme/payments", Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"}
	otherImage = evidence.Subject{Repository: "registry.example/acme/payments", Digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}
	release    = "https://github.com/acme/payments/.github/workflows/release.yml@refs/tags/v1.2.0"
	ghIssuer   = "https://token.actions.githubusercontent.com"
)

func loadSet(t testing.TB, paths ...string) *Set {
	t.Helper()
	docs, err := Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return &Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
}

func keySigner(t testing.TB, path string) evidence.Signer {
	return evidence.Signer{KeyFingerprint: fingerprintOf(t.(*testing.T), path)}
}

func provenancePredicate(builder, repo string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
 "externalParameters":{"workflow":{"repository":%q,"ref":"refs/tags/v1.2.0","path":".github/workflows/release.yml"}},
 "internalParameters":{"github":{"event_name":"push"}},
 "resolvedDependencies":[{"uri":"git+%s@refs/tags/v1.2.0","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
 "runDetails":{"builder":{"id":%q},"metadata":{"finishedOn":"2026-05-09T10:00:00Z"}}}`, repo, repo, builder))
}

// fullEvidence satisfies every rule of testdata/native.yaml.
func fullEvidence(t *testing.T) *evidence.Collected {
	signed := now.Add(-24 * time.Hour)
	keyless := evidence.Signer{Identity: release, Issuer: ghIssuer}
	prov := provenancePredicate(release, "https://github.com/acme/payments")
	summary := &evidence.Provenance{BuilderID: release, SourceRepository: "https://github.com/acme/payments", Commit: "0123456789abcdef0123456789abcdef01234567", Trigger: "push"}
	return &evidence.Collected{
		Subject: payments, Reference: "registry.example/acme/payments:v1.2.0", Namespace: "production",
		Signatures: []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: keySigner(t, "testdata/release.pub"), StoredAt: "sha256:aaaa", Layout: evidence.LayoutReferrer, TransparencyLogSkipped: true}}},
		Attestations: []evidence.Attestation{
			{Subject: payments, PredicateType: evidence.PredicateCycloneDX, Predicate: json.RawMessage(`{}`), Verification: evidence.Verification{Signer: keyless, SigningTime: &signed, StoredAt: "sha256:bbbb"}},
			{Subject: payments, PredicateType: evidence.PredicateSLSA1, Predicate: prov, Verification: evidence.Verification{Signer: keyless, SigningTime: &signed, StoredAt: "sha256:cccc"}, Provenance: summary},
		},
		Vulnerabilities: &evidence.VulnerabilityEvidence{
			DatabaseUpdated: now.Add(-2 * time.Hour), ScannedAt: now, Source: "local-database",
			Findings: []evidence.Finding{
				{ID: "GHSA-low", Severity: evidence.Severity{Rating: "low"}, FixState: evidence.FixFixed},
				{ID: "GHSA-nofix", Severity: evidence.Severity{Rating: "critical"}, FixState: evidence.FixNotFixed},
				{ID: "GHSA-vex", Severity: evidence.Severity{Rating: "critical"}, FixState: evidence.FixFixed, Suppression: &evidence.Suppression{Kind: "vex", Status: "not_affected"}},
			},
		},
	}
}

func rule(t *testing.T, d evidence.Decision, name string) evidence.RuleResult {
	t.Helper()
	for _, r := range d.Rules {
		if r.Rule == name {
			return r
		}
	}
	t.Fatalf("no rule %s in %+v", name, d.Rules)
	return evidence.RuleResult{}
}

func TestEvaluateNative(t *testing.T) {
	set := loadSet(t, "testdata/native.yaml", "testdata/exceptions.yaml")
	cases := []struct {
		name    string
		change  func(*evidence.Collected)
		allowed bool
		rule    string
		outcome string
		reason  string
	}{
		{"everything present", func(*evidence.Collected) {}, true, "signed", evidence.OutcomePass, "trusted signer release-key"},
		{"unsigned, break-glass exception expired", func(c *evidence.Collected) { c.Signatures = nil }, false, "signed", evidence.OutcomeFail, "exception unsigned-hotfix (owner sre-oncall) expired 2026-05-01T18:00:00Z"},
		{"signed by another key", func(c *evidence.Collected) {
			c.Signatures[0].Signer = keySigner(t, "testdata/other.pub")
		}, false, "signed", evidence.OutcomeFail, "but the policy requires key release-key"},
		{"keyless look-alike identity", func(c *evidence.Collected) {
			c.Signatures[0].Signer = evidence.Signer{Identity: "https://github.com/acme-evil/payments/.github/workflows/release.yml@refs/tags/v1.2.0", Issuer: ghIssuer}
		}, false, "signed", evidence.OutcomeFail, "signed by https://github.com/acme-evil/payments"},
		{"right identity, wrong issuer", func(c *evidence.Collected) {
			c.Signatures[0].Signer = evidence.Signer{Identity: release, Issuer: "https://evil.example"}
		}, false, "signed", evidence.OutcomeFail, "issuer https://evil.example"},
		{"keyless identity of a branch build", func(c *evidence.Collected) {
			c.Signatures[0].Signer = evidence.Signer{Identity: "https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main", Issuer: ghIssuer}
		}, false, "signed", evidence.OutcomeFail, "but the policy requires"},
		{"keyless signature by the release workflow", func(c *evidence.Collected) {
			c.Signatures[0].Signer = evidence.Signer{Identity: release, Issuer: ghIssuer}
		}, true, "signed", evidence.OutcomePass, "trusted signer github-release"},
		{"keyless certificate no CT log has seen", func(c *evidence.Collected) {
			c.Signatures[0].Signer = evidence.Signer{Identity: release, Issuer: ghIssuer}
			c.Signatures[0].NoSCT = true
		}, false, "signed", evidence.OutcomeFail, "carries no SCT from a trusted certificate-transparency log"},
		{"registry down", func(c *evidence.Collected) {
			c.Signatures = nil
			c.Unavailable = map[string]string{evidence.NeedSignatures: "registry unreachable"}
		}, false, "signed", evidence.OutcomeFail, "signatures could not be read: registry unreachable"},
		{"rejected signature named", func(c *evidence.Collected) {
			c.Signatures = nil
			c.Rejected = []evidence.RejectedSignature{{PredicateType: evidence.PredicateSignatures, StoredAt: "sha256:dddd", Kind: evidence.FailureDigestMismatch, Reason: "made for sha256:2222"}}
		}, false, "signed", evidence.OutcomeFail, "digest-mismatch at sha256:dddd"},
		{"sbom too old", func(c *evidence.Collected) {
			old := now.Add(-800 * time.Hour)
			c.Attestations[0].SigningTime = &old
		}, false, "sbom", evidence.OutcomeFail, "the policy allows at most 720h0m0s"},
		{"sbom without any time", func(c *evidence.Collected) { c.Attestations[0].SigningTime = nil }, false, "sbom", evidence.OutcomeFail, "its age cannot be judged"},
		{"sbom dated by its signed predicate", func(c *evidence.Collected) {
			c.Attestations[0].SigningTime = nil
			c.Attestations[0].StatedTime = stated("2026-05-01T00:00:00Z")
		}, true, "sbom", evidence.OutcomePass, "cyclonedx attestation by"},
		{"sbom by the key, not the workflow", func(c *evidence.Collected) {
			c.Attestations[0].Signer = keySigner(t, "testdata/release.pub")
		}, false, "sbom", evidence.OutcomeFail, "cyclonedx attestation signed by key sha256:"},
		{"provenance from a fork", func(c *evidence.Collected) {
			c.Attestations[1].Provenance.SourceRepository = "https://github.com/evil/payments"
		}, false, "provenance", evidence.OutcomeFail, "built from \"https://github.com/evil/payments\""},
		{"provenance by another builder", func(c *evidence.Collected) {
			c.Attestations[1].Provenance.BuilderID = "https://ci.example/builder"
		}, false, "provenance", evidence.OutcomeFail, "built by \"https://ci.example/builder\""},
		{"provenance unreadable", func(c *evidence.Collected) { c.Attestations[1].Provenance = nil }, false, "provenance", evidence.OutcomeFail, "provenance could not be read"},
		{"no provenance", func(c *evidence.Collected) { c.Attestations = c.Attestations[:1] }, false, "provenance", evidence.OutcomeFail, "no slsaprovenance attestation by"},
		{"stale database", func(c *evidence.Collected) { c.Vulnerabilities.DatabaseUpdated = now.Add(-100 * time.Hour) }, false, "no-high", evidence.OutcomeFail, "the policy allows at most 72h0m0s"},
		{"not scanned", func(c *evidence.Collected) {
			c.Vulnerabilities = nil
			c.Unavailable = map[string]string{evidence.NeedVulnerabilities: "no advisory database"}
		}, false, "no-high", evidence.OutcomeFail, "vulnerabilities could not be scanned: no advisory database"},
		{"fixable high finding", func(c *evidence.Collected) {
			c.Vulnerabilities.Findings = append(c.Vulnerabilities.Findings, evidence.Finding{ID: "CVE-2024-1", Severity: evidence.Severity{Rating: "high"}, FixState: evidence.FixFixed, Component: evidence.Component{Name: "lodash", Version: "4.17.20"}})
		}, false, "no-high", evidence.OutcomeFail, "1 findings at or above high"},
		{"unknown severity fails closed", func(c *evidence.Collected) {
			c.Vulnerabilities.Findings = append(c.Vulnerabilities.Findings, evidence.Finding{ID: "GO-2024-1", Severity: evidence.Severity{Rating: "unknown"}, FixState: evidence.FixUnknown})
		}, false, "no-high", evidence.OutcomeFail, "GO-2024-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := fullEvidence(t)
			c.change(ev)
			d := Evaluate(set, ev, now)
			r := rule(t, d, c.rule)
			if d.Allowed != c.allowed || r.Outcome != c.outcome || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("allowed %v (want %v), %s %s (want %s): %s\nwant reason containing %q", d.Allowed, c.allowed, c.rule, r.Outcome, c.outcome, r.Reason, c.reason)
			}
			if r.Outcome == evidence.OutcomeFail && r.Fix == "" {
				t.Errorf("a failed rule must say how to fix it: %+v", r)
			}
			if d.Mode != evidence.ModeEnforce {
				t.Errorf("mode %s", d.Mode)
			}
		})
	}
}

// A signer that waives certificate transparency accepts a certificate
// without an SCT; the loader names the opt-out.
func TestInsecureIgnoreSCT(t *testing.T) {
	doc := policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: ci\n      keyless:\n        insecureIgnoreSCT: true\n        identities: [{issuer: https://issuer.example, subject: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main}]\n  rules: [{signature: {}}]\n"
	docs, err := Parse("p.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs.Warnings) != 1 || !strings.Contains(docs.Warnings[0], "insecureIgnoreSCT") {
		t.Errorf("warnings: %v", docs.Warnings)
	}
	ev := &evidence.Collected{Subject: payments, Signatures: []evidence.VerifiedSignature{{Verification: evidence.Verification{
		Signer: evidence.Signer{Identity: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", Issuer: "https://issuer.example"}, NoSCT: true}}}}
	if d := Evaluate(&Set{Policies: docs.Policies}, ev, now); !d.Allowed {
		t.Errorf("waived SCT: %+v", d.Rules)
	}
	docs.Policies[0].Rules[0].Signature.Signers[0].InsecureIgnoreSCT = false
	if d := Evaluate(&Set{Policies: docs.Policies}, ev, now); d.Allowed {
		t.Errorf("an SCT is required unless waived: %+v", d.Rules)
	}
}

func TestExceptions(t *testing.T) {
	set := loadSet(t, "testdata/native.yaml", "testdata/exceptions.yaml")
	lodash := evidence.Finding{ID: "GHSA-35jh-r3h4-6jhm", Aliases: []string{"CVE-2021-23337"}, Severity: evidence.Severity{Rating: "high"}, FixState: evidence.FixFixed,
		Component: evidence.Component{Name: "lodash", Version: "4.17.20", PURL: "pkg:npm/lodash@4.17.20"}}
	withLodash := func(t *testing.T, subject evidence.Subject, at time.Time) *evidence.Collected {
		ev := fullEvidence(t)
		ev.Subject = subject
		ev.Vulnerabilities.DatabaseUpdated = at.Add(-time.Hour)
		ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, lodash)
		return ev
	}
	before := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

	d := Evaluate(set, withLodash(t, payments, before), before)
	r := rule(t, d, "no-high")
	if !d.Allowed || r.Outcome != evidence.OutcomeWaived || r.Waiver == nil || r.Waiver.Owner != "payments-platform" || !strings.Contains(r.Reason, "waived by payments-cve-temporary-exception") {
		t.Errorf("an exception in force should waive the finding by alias: %+v", r)
	}

	d = Evaluate(set, withLodash(t, payments, now), now) // 2026-05-10: still in force
	if r := rule(t, d, "no-high"); r.Outcome != evidence.OutcomeWaived {
		t.Errorf("in force until 2026-05-15: %+v", r)
	}
	after := time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)
	d = Evaluate(set, withLodash(t, payments, after), after)
	r = rule(t, d, "no-high")
	if d.Allowed || r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, "expired 2026-05-15T12:00:00Z") {
		t.Errorf("an exception is over at its expiry instant: %+v", r)
	}
	if len(d.ExpiredExceptions) != 2 {
		t.Errorf("expired exceptions: %v", d.ExpiredExceptions)
	}

	d = Evaluate(set, withLodash(t, otherImage, before), before)
	if r := rule(t, d, "no-high"); d.Allowed || r.Outcome != evidence.OutcomeFail {
		t.Errorf("an exception for one digest must not apply to another: %+v", r)
	}

	ev := withLodash(t, payments, before)
	ev.Namespace = "staging"
	set.Policies[0].Namespaces = nil // the policy applies everywhere, the exception only in production
	if r := rule(t, Evaluate(set, ev, before), "no-high"); r.Outcome != evidence.OutcomeFail {
		t.Errorf("a namespaced exception must not apply in another namespace: %+v", r)
	}
	// a judgement for no one namespace (CI, the registry) is made for all
	// of them: one namespace's exception does not open it
	ev.Namespace = ""
	if r := rule(t, Evaluate(set, ev, before), "no-high"); r.Outcome != evidence.OutcomeFail {
		t.Errorf("a namespaced exception must not apply outside a namespace: %+v", r)
	}

	// break-glass: unsigned image inside the window
	ev = fullEvidence(t)
	ev.Signatures = nil
	d = Evaluate(set, ev, before)
	r = rule(t, d, "signed")
	if !d.Allowed || r.Outcome != evidence.OutcomeWaived || r.Waiver.Exception != "unsigned-hotfix" {
		t.Errorf("policy/rule waiver: %+v", r)
	}
}

func TestEvaluateUnmatchedAndAudit(t *testing.T) {
	set := loadSet(t, "testdata/native.yaml")
	ev := &evidence.Collected{Subject: evidence.Subject{Repository: "registry.example/other/app", Digest: payments.Digest}}
	d := Evaluate(set, ev, now)
	if d.Allowed || d.Rules[0].Rule != "no-policy" || !strings.Contains(d.Rules[0].Reason, "no policy matches registry.example/other/app@sha256:") {
		t.Errorf("an image no policy matches is denied by default: %+v", d)
	}
	set.AllowUnmatched = true
	if d := Evaluate(set, ev, now); !d.Allowed || d.Rules[0].Outcome != evidence.OutcomeNotApplicable {
		t.Errorf("AllowUnmatched: %+v", d)
	}

	set = loadSet(t, "testdata/native.yaml")
	set.Policies[0].Mode = evidence.ModeAudit
	ev = fullEvidence(t)
	ev.Signatures = nil
	d = Evaluate(set, ev, now)
	if !d.Allowed || d.Violations != 1 || d.Mode != evidence.ModeAudit {
		t.Errorf("audit mode admits and counts the violation: %+v", d)
	}
}

// A policy with no rules still claims its images: it admits them (an
// allow-list entry), where no policy at all would deny.
func TestEvaluatePolicyWithoutRules(t *testing.T) {
	g, err := CompileGlob("**:trusted-*")
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: []*Policy{{Name: "trusted-tags", Mode: evidence.ModeEnforce, Images: []Glob{g}}}}
	ev := &evidence.Collected{Reference: "127.0.0.1:5000/team/app:trusted-1", Subject: evidence.Subject{Repository: "127.0.0.1:5000/team/app", Digest: payments.Digest}}
	if d := Evaluate(set, ev, now); !d.Allowed || len(d.Policies) != 1 {
		t.Errorf("a rule-less policy claiming the image: %+v", d)
	}
	ev.Reference = "127.0.0.1:5000/team/app:v1"
	if d := Evaluate(set, ev, now); d.Allowed || d.Rules[0].Rule != "no-policy" {
		t.Errorf("an image the rule-less policy does not claim: %+v", d)
	}
}

func TestNamespaceSelector(t *testing.T) {
	set := loadSet(t, "testdata/native.yaml")
	ev := fullEvidence(t)
	ev.Namespace = "staging"
	if d := Evaluate(set, ev, now); len(d.Policies) != 0 {
		t.Errorf("policy for production matched staging: %+v", d.Policies)
	}
	set.Policies[0].Namespaces = &NamespaceSelector{MatchLabels: map[string]string{"tier": "prod"}}
	ev.NamespaceLabels = map[string]string{"tier": "prod"}
	if d := Evaluate(set, ev, now); len(d.Policies) != 1 {
		t.Errorf("label selector did not match: %+v", d.Policies)
	}
	ev.Namespace = ""
	ev.NamespaceLabels = nil
	if d := Evaluate(set, ev, now); len(d.Policies) != 1 {
		t.Errorf("outside admission a namespaced policy still applies: %+v", d.Policies)
	}
}

func TestEvaluateClusterImagePolicy(t *testing.T) {
	set := loadSet(t, "testdata/cip.yaml")
	ev := &evidence.Collected{Subject: payments}
	d := Evaluate(set, ev, now)
	if d.Allowed || !strings.Contains(d.Rules[0].Reason, "authority release-key: no signature") || !strings.Contains(d.Rules[0].Reason, "authority github: no cyclonedx attestation") {
		t.Errorf("unsigned: %+v", d.Rules)
	}
	ev.Signatures = []evidence.VerifiedSignature{{Verification: evidence.Verification{Signer: keySigner(t, "testdata/release.pub"), StoredAt: "sha256-x.sig", Layout: evidence.LayoutLegacyTag}}}
	if d := Evaluate(set, ev, now); !d.Allowed {
		t.Errorf("key authority satisfied: %+v", d.Rules)
	}
	// the keyless authority needs the attestation, a signature alone is not enough
	ev.Signatures = []evidence.VerifiedSignature{{Verification: evidence.Verification{Signer: evidence.Signer{Identity: "https://github.com/acme/app", Issuer: ghIssuer}}}}
	if d := Evaluate(set, ev, now); d.Allowed {
		t.Errorf("keyless authority with attestations passed on a signature: %+v", d.Rules)
	}
	ev.Attestations = []evidence.Attestation{{PredicateType: evidence.PredicateCycloneDX, Verification: evidence.Verification{Signer: evidence.Signer{Identity: "https://github.com/acme/app", Issuer: ghIssuer}}}}
	if d := Evaluate(set, ev, now); !d.Allowed {
		t.Errorf("keyless authority satisfied: %+v", d.Rules)
	}
	// policy-controller's regexps match anywhere: the loader warned about it
	ev.Attestations[0].Signer.Identity = "https://evil.example/?https://github.com/acme/app"
	if d := Evaluate(set, ev, now); !d.Allowed {
		t.Errorf("unanchored CIP regexp should behave as in policy-controller: %+v", d.Rules)
	}
}

func TestEvaluateVulnAttestation(t *testing.T) {
	doc := policyHeader + `spec:
  images: ["**"]
  signers:
    - name: ci
      key:
        data: |
` + indent(readFile(t, "testdata/release.pub"), "          ") + `
  rules:
    - vulnerabilities:
        failOn: critical
        maxDatabaseAge: 48h
        attestation: {maxAge: 24h}
`
	docs, err := Parse("p.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	report := func(dbVersion, finished string, findings string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"scanner":{"uri":"https://github.com/dossier-dev/dossier","db":{"version":%q},"result":{"schemaVersion":"1","findings":[%s],"suppressed":[]}},"metadata":{"scanFinishedOn":%q}}`, dbVersion, findings, finished))
	}
	critical := `{"id":"CVE-1","advisories":["CVE-1"],"component":{"name":"openssl"},"ecosystem":"Debian:12","severity":{"rating":"critical"},"fixState":"fixed"}`
	ev := &evidence.Collected{Subject: payments, Attestations: []evidence.Attestation{{
		PredicateType: evidence.PredicateVuln, Verification: evidence.Verification{Signer: keySigner(t, "testdata/release.pub"), StoredAt: "sha256:eeee"},
		Predicate: report("2026-05-10T00:00:00Z", "2026-05-10T06:00:00Z", ""), StatedTime: stated("2026-05-10T06:00:00Z"),
	}}}
	d := Evaluate(set, ev, now)
	if r := d.Rules[0]; !d.Allowed || !strings.Contains(r.Reason, "vuln attestation sha256:eeee") {
		t.Errorf("clean signed report: %+v", r)
	}
	ev.Attestations[0].Predicate = report("2026-05-10T00:00:00Z", "2026-05-10T06:00:00Z", critical)
	if d := Evaluate(set, ev, now); d.Allowed || d.Rules[0].Findings[0] != "CVE-1" {
		t.Errorf("report with a critical finding: %+v", d.Rules[0])
	}
	ev.Attestations[0].Predicate = report("2026-05-10T00:00:00Z", "2026-05-08T06:00:00Z", "")
	ev.Attestations[0].StatedTime = stated("2026-05-08T06:00:00Z")
	if d := Evaluate(set, ev, now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "the policy allows at most 24h0m0s") {
		t.Errorf("report older than maxAge: %+v", d.Rules[0])
	}
	ev.Attestations[0].Predicate = report("2026-05-01T00:00:00Z", "2026-05-10T06:00:00Z", "")
	ev.Attestations[0].StatedTime = stated("2026-05-10T06:00:00Z")
	if d := Evaluate(set, ev, now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "allows at most 48h0m0s") {
		t.Errorf("report made with stale advisory data: %+v", d.Rules[0])
	}
	ev.Attestations[0].Predicate = report("2026-05-10T00:00:00Z", "2026-05-10T06:00:00Z", "")
	ev.Attestations[0].Signer = keySigner(t, "testdata/other.pub")
	if d := Evaluate(set, ev, now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "is signed by key") {
		t.Errorf("report by an untrusted key: %+v", d.Rules[0])
	}
}

func TestDeterministic(t *testing.T) {
	set := loadSet(t, "testdata/native.yaml", "testdata/exceptions.yaml")
	a, _ := json.Marshal(Evaluate(set, fullEvidence(t), now))
	for range 20 {
		b, _ := json.Marshal(Evaluate(set, fullEvidence(t), now))
		if string(a) != string(b) {
			t.Fatalf("decisions differ:\n%s\n%s", a, b)
		}
	}
}

func stated(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// requireCoverage fails a subject any of whose components was not checked,
// naming them with the reason, and evidence that does not say what it
// checked; a scan that checked everything passes.
func TestEvaluateRequireCoverage(t *testing.T) {
	doc := policyHeader + `spec:
  images: ["**"]
  rules:
    - vulnerabilities: {failOn: critical, requireCoverage: true}
`
	docs, err := Parse("p.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	ubuntu := evidence.Component{Name: "libssl3", Version: "3.0.2-0ubuntu1.10", PURL: "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?distro=ubuntu-22.04"}
	ev := &evidence.Collected{Subject: payments, Vulnerabilities: &evidence.VulnerabilityEvidence{Findings: []evidence.Finding{}, Source: "local-database x",
		DatabaseUpdated: now, Coverage: &evidence.Coverage{Checked: 3, NotChecked: []evidence.NotChecked{{Component: ubuntu, Reason: "no advisory data for Ubuntu:22.04:LTS in the database: import the Ubuntu records"}}}}}
	d := Evaluate(set, ev, now)
	if r := d.Rules[0]; d.Allowed || !strings.Contains(r.Reason, "1 components were not checked") || !strings.Contains(r.Reason, ubuntu.PURL+" (no advisory data for Ubuntu:22.04:LTS") {
		t.Errorf("a component not checked: %+v", r)
	}
	ev.Vulnerabilities.Coverage = nil
	if d := Evaluate(set, ev, now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "does not say which components were checked") {
		t.Errorf("evidence without coverage: %+v", d.Rules[0])
	}
	ev.Vulnerabilities.Coverage = &evidence.Coverage{Checked: 4, NotChecked: []evidence.NotChecked{}}
	if d := Evaluate(set, ev, now); !d.Allowed {
		t.Errorf("every component checked: %+v", d.Rules[0])
	}
	set.Policies[0].EachRule(func(r Rule) { r.Vulnerabilities.RequireCoverage = false })
	ev.Vulnerabilities.Coverage = nil
	if d := Evaluate(set, ev, now); !d.Allowed {
		t.Errorf("coverage not required: %+v", d.Rules[0])
	}
}

// A policy's key is read from a file on dossier's host; decisions are read
// by cluster users (denials, warnings, PolicyReports) and registry clients.
// Every reason and fix names the key by the policy's name for its signer
// and the key's fingerprint, never by the file it came from.
func TestReasonsNeverNameTheKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys", "release.pub")
	pub, err := os.ReadFile("testdata/release.pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "release.yaml")
	if err := os.WriteFile(policyFile, []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: enforce
  images: ["registry.example/acme/**"]
  signers: [{name: release-key, key: {file: keys/release.pub}}]
  rules:
    - name: signed
      signature: {}
    - name: sbom
      attestation: {predicateType: cyclonedx}
    - name: scanned
      vulnerabilities: {failOn: high, attestation: {signers: [release-key]}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	set := loadSet(t, policyFile)
	signer := set.Policies[0].Rules[0].Signature.Signers[0]
	other := evidence.Signer{KeyFingerprint: "sha256:" + strings.Repeat("e", 64)}
	ev := &evidence.Collected{Subject: payments, Reference: "registry.example/acme/payments:v1",
		Signatures:   []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: other, StoredAt: "sha256:aaaa"}}},
		Attestations: []evidence.Attestation{{Subject: payments, PredicateType: evidence.PredicateVuln, Verification: evidence.Verification{Signer: other, StoredAt: "sha256:bbbb"}}},
	}
	d := Evaluate(set, ev, now)
	if len(d.Rules) != 3 || d.Allowed {
		t.Fatalf("want the three rules failed: %+v", d)
	}
	named := "key release-key (" + signer.KeyFingerprint + ")"
	for _, r := range d.Rules {
		text := r.Reason + " " + r.Fix
		if strings.Contains(text, dir) || strings.Contains(text, "release.pub") {
			t.Errorf("rule %s names the key's file: %s", r.Rule, text)
		}
		if !strings.Contains(r.Reason, named) {
			t.Errorf("rule %s does not name the key as %q: %s", r.Rule, named, r.Reason)
		}
	}
	if r := rule(t, d, "signed"); !strings.Contains(r.Fix, "--key <private key of signer release-key>") {
		t.Errorf("the signature's fix: %s", r.Fix)
	}
}
