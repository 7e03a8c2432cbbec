package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Evidence collected from the sample images by internal/collect's tests
// (signed, attested, scanned for real; regenerate with
// `go test ./internal/collect -update`), decided here with the policy it was
// collected for.
func loadCaptured(t *testing.T, name string) (*evidence.Collected, time.Time) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "captured", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		CapturedAt time.Time          `json:"capturedAt"`
		Evidence   evidence.Collected `json:"evidence"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return &c.Evidence, c.CapturedAt
}

func TestDecisionsOnCapturedEvidence(t *testing.T) {
	set := loadSet(t, "testdata/captured/policy.yaml", "testdata/captured/exceptions.yaml")
	type want struct{ rule, outcome, reason string }
	cases := []struct {
		evidence string
		after    time.Duration
		allowed  bool
		want     []want
	}{
		{"npm-app-key-signed", time.Hour, false, []want{
			{"signed", evidence.OutcomePass, "trusted signer release-key"},
			{"sbom", evidence.OutcomeFail, "no cyclonedx attestation by"},
			{"provenance", evidence.OutcomeFail, "no slsaprovenance attestation"},
			{"no-high", evidence.OutcomeWaived, "waived by npm-app-lodash-minimist (owner web-platform"},
		}},
		{"npm-app-unsigned", time.Hour, false, []want{
			{"signed", evidence.OutcomeFail, "exception unsigned-hotfix (owner sre-oncall) expired 2026-11-01T00:00:00Z and no longer applies"},
			{"no-high", evidence.OutcomeWaived, "npm-app-lodash-minimist"},
		}},
		{"go-app-keyless", time.Hour, false, []want{
			{"signed", evidence.OutcomePass, "signed by " + "https://github.com/acme/samples/.github/workflows/release.yml@refs/tags/v1.2.0"},
			{"sbom", evidence.OutcomePass, "trusted signer github-release"},
			{"provenance", evidence.OutcomePass, "slsaprovenance attestation by"},
			// the Go database rates nothing: unknown severities fail closed
			{"no-high", evidence.OutcomeFail, "(unknown, golang.org/x/net v0.0.0-20210226172049-e18ecbb05110)"},
		}},
		{"go-app-keyless", 100 * time.Hour, false, []want{
			{"no-high", evidence.OutcomeFail, "the policy allows at most 72h0m0s"},
			{"sbom", evidence.OutcomePass, ""},
		}},
		{"go-app-keyless", 800 * time.Hour, false, []want{
			{"sbom", evidence.OutcomeFail, "the policy allows at most 720h0m0s"},
		}},
		{"debian-lookalike", time.Hour, false, []want{
			{"signed", evidence.OutcomeFail, "signed by https://github.com/acme-evil/samples/.github/workflows/release.yml@refs/tags/v1.2.0 (issuer https://token.actions.githubusercontent.com), but the policy requires"},
			{"sbom", evidence.OutcomeFail, "cyclonedx attestation signed by https://github.com/acme-evil/"},
			{"no-high", evidence.OutcomePass, "no findings at or above high"},
		}},
		{"go-app-wrong-key", time.Hour, false, []want{
			{"signed", evidence.OutcomeFail, "found but not verified: untrusted-key"},
		}},
		{"npm-app-registry-down", time.Hour, false, []want{
			{"signed", evidence.OutcomeFail, "signatures could not be read"},
			{"sbom", evidence.OutcomeFail, "cyclonedx attestations could not be read"},
			{"no-high", evidence.OutcomeFail, "vulnerabilities could not be scanned"},
		}},
	}
	for _, c := range cases {
		ev, at := loadCaptured(t, c.evidence)
		d := Evaluate(set, ev, at.Add(c.after))
		if d.Allowed != c.allowed {
			t.Errorf("%s +%s: allowed %v, want %v: %+v", c.evidence, c.after, d.Allowed, c.allowed, d.Rules)
		}
		for _, w := range c.want {
			r := rule(t, d, w.rule)
			if r.Outcome != w.outcome || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("%s +%s: %s is %s: %s\nwant %s containing %q", c.evidence, c.after, w.rule, r.Outcome, r.Reason, w.outcome, w.reason)
			}
		}
	}
}

// The go-app exception names lodash for the go-app digest only: the
// npm-app, which has lodash, is not covered by it.
func TestCapturedExceptionForAnotherDigest(t *testing.T) {
	docs, err := Load("testdata/captured/policy.yaml", "testdata/captured/exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var goOnly []evidence.Exception
	for _, e := range docs.Exceptions {
		if e.Name == "go-app-text" {
			goOnly = append(goOnly, e)
		}
	}
	set := &Set{Policies: docs.Policies, Exceptions: goOnly}
	ev, at := loadCaptured(t, "npm-app-key-signed")
	r := rule(t, Evaluate(set, ev, at), "no-high")
	if r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, "GHSA-35jh-r3h4-6jhm") {
		t.Errorf("an exception for the go-app digest waived npm-app's finding: %+v", r)
	}
}
