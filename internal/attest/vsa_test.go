package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

func TestVerificationSummary(t *testing.T) {
	d := evidence.Decision{
		Subject:     evidence.Subject{Repository: "registry.example/team/app", Digest: "sha256:" + strings.Repeat("a", 64)},
		Allowed:     true,
		EvaluatedAt: time.Date(2026, 12, 7, 6, 30, 0, 0, time.FixedZone("CET", 3600)),
		Policies:    []string{"require-signed", "no-critical"},
		Rules: []evidence.RuleResult{
			{Policy: "require-signed", Rule: "signed by release", Outcome: evidence.OutcomePass},
			{Policy: "no-critical", Rule: "vulnerabilities", Outcome: evidence.OutcomeWaived},
			{Policy: "no-critical", Rule: "provenance", Mode: "audit", Outcome: evidence.OutcomeFail},
		},
	}
	opts := SummaryOptions{VerifierID: "https://ci.example/gate", Version: "v1.2.3",
		Policies: []SummaryPolicy{{Name: "no-critical", Digest: "sha256:1"}, {Name: "require-signed", Digest: "sha256:2"}, {Name: "unrelated", Digest: "sha256:3"}}}
	raw, err := VerificationSummary(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"verifier":{"id":"https://ci.example/gate","version":{"dossier":"v1.2.3"}},"timeVerified":"2026-12-07T05:30:00Z",` +
		`"resourceUri":"registry.example/team/app@sha256:` + strings.Repeat("a", 64) + `",` +
		`"policy":{"uri":"urn:dossier:policies:no-critical,require-signed","digest":{"sha256":"` + policyDigest("no-critical sha256:1\nrequire-signed sha256:2\n") + `"}},` +
		`"verificationResult":"PASSED","verifiedLevels":["DOSSIER_REQUIRE_SIGNED_SIGNED_BY_RELEASE"],"slsaVersion":"1.0"}`
	if string(raw) != want {
		t.Errorf("summary\n %s\nwant\n %s", raw, want)
	}
	// the policies' digests change the summary's policy digest
	opts.Policies[0].Digest = "sha256:changed"
	other, _ := VerificationSummary(d, opts)
	if string(other) == string(raw) {
		t.Error("a changed policy left the summary's policy digest as it was")
	}

	for name, c := range map[string]struct {
		d    evidence.Decision
		opts SummaryOptions
		want string
	}{
		"denied":               {evidence.Decision{Subject: d.Subject, Policies: d.Policies}, opts, "was denied"},
		"allowed by no policy": {evidence.Decision{Subject: d.Subject, Allowed: true}, opts, "no policy"},
		"verifier not a URI":   {d, SummaryOptions{VerifierID: "gate", Policies: opts.Policies}, `verifier id "gate"`},
		"policy digest missing": {d, SummaryOptions{VerifierID: "https://ci.example/gate",
			Policies: []SummaryPolicy{{Name: "no-critical", Digest: "sha256:1"}}}, "policy require-signed"},
	} {
		if _, err := VerificationSummary(c.d, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func policyDigest(lines string) string {
	sum := sha256.Sum256([]byte(lines))
	return hex.EncodeToString(sum[:])
}
