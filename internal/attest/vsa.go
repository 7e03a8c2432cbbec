package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// SummaryPolicy is a policy a decision was made with: its name and the
// digest of its content.
type SummaryPolicy struct {
	Name   string
	Digest string
}

// SummaryOptions say who verified: VerifierID is the verifier's URI (the
// CI gate's or the registry's), Version dossier's version.
type SummaryOptions struct {
	VerifierID string
	Version    string
	// Policies are the policies the decision names, with their digests.
	Policies []SummaryPolicy
}

// verificationSummary is SLSA's Verification Summary Attestation
// predicate, v1.
type verificationSummary struct {
	Verifier struct {
		ID      string            `json:"id"`
		Version map[string]string `json:"version,omitempty"`
	} `json:"verifier"`
	TimeVerified       string             `json:"timeVerified"`
	ResourceURI        string             `json:"resourceUri"`
	Policy             resourceDescriptor `json:"policy"`
	VerificationResult string             `json:"verificationResult"`
	VerifiedLevels     []string           `json:"verifiedLevels"`
	SLSAVersion        string             `json:"slsaVersion,omitempty"`
}

type resourceDescriptor struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

// VerificationSummary is the predicate of a Verification Summary
// Attestation for an allowed decision: verifier, time, the subject as
// resourceUri (repository@digest), the policies as one descriptor (a URN
// naming them, the sha256 of their names and digests), PASSED, and as
// verified levels one DOSSIER_… property per rule that passed on its own
// evidence (failed audit rules are not among them, nor rules that passed on
// another summary: re-stamping those would extend its maxAge for ever). A
// denied decision has no summary.
func VerificationSummary(d evidence.Decision, o SummaryOptions) (json.RawMessage, error) {
	if !d.Allowed {
		return nil, fmt.Errorf("%s was denied: only an allowed decision is summarised", d.Subject)
	}
	if len(d.Policies) == 0 {
		return nil, fmt.Errorf("%s was allowed by no policy: there is nothing to summarise", d.Subject)
	}
	if u, err := url.Parse(o.VerifierID); err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("verifier id %q: want a URI", o.VerifierID)
	}
	var vsa verificationSummary
	vsa.Verifier.ID = o.VerifierID
	if o.Version != "" {
		vsa.Verifier.Version = map[string]string{"dossier": o.Version}
	}
	vsa.TimeVerified = d.EvaluatedAt.UTC().Format(time.RFC3339)
	vsa.ResourceURI = d.Subject.Repository + "@" + d.Subject.Digest
	digests := map[string]string{}
	for _, p := range o.Policies {
		digests[p.Name] = p.Digest
	}
	names := slices.Clone(d.Policies)
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		digest, ok := digests[n]
		if !ok {
			return nil, fmt.Errorf("policy %s of the decision: its digest is not known", n)
		}
		fmt.Fprintf(h, "%s %s\n", n, digest)
	}
	vsa.Policy = resourceDescriptor{
		URI:    "urn:dossier:policies:" + strings.Join(names, ","),
		Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))},
	}
	vsa.VerificationResult = "PASSED"
	vsa.VerifiedLevels = []string{}
	for _, r := range d.Rules {
		if r.Outcome == evidence.OutcomePass && !r.BySummary {
			level := Level(r.Policy, r.Rule)
			if !slices.Contains(vsa.VerifiedLevels, level) {
				vsa.VerifiedLevels = append(vsa.VerifiedLevels, level)
			}
		}
	}
	vsa.SLSAVersion = "1.0"
	return json.Marshal(vsa)
}

// Level is the verified level of a summary that says rule of policy
// passed: DOSSIER_<POLICY>_<RULE>.
func Level(policy, rule string) string {
	return "DOSSIER_" + levelName(policy) + "_" + levelName(rule)
}

var notLevel = regexp.MustCompile(`[^A-Z0-9]+`)

// levelName spells a policy or rule name as the ORG_PROPERTY levels of a
// verification summary are spelled: upper case, words joined by "_".
func levelName(name string) string {
	return strings.Trim(notLevel.ReplaceAllString(strings.ToUpper(name), "_"), "_")
}
