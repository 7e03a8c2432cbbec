package policy

// Attacks on verificationSummaries (b6eb843), each kept as a test: a test
// that fails shows a weakness of the current code, one that passes is a
// regression test of an attack that did not work.

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

const gateVerifier = "https://ci.example/gates/release"

// attackSet loads doc (which may name release.pub and other.pub) from a
// directory of its own, and returns the set with the release and gate
// (other.pub) signers.
func attackSet(t *testing.T, doc string) (set *Set, releaseSigner, gateSigner evidence.Signer) {
	t.Helper()
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
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadSet(t, path), keySigner(t, filepath.Join(dir, "release.pub")), keySigner(t, filepath.Join(dir, "other.pub"))
}

// rawVSA is a summary predicate with timeVerified spelled as given (a JSON
// value: a string with quotes, null, a number) or left out when "".
func rawVSA(resource, timeVerified string, levels ...string) string {
	l, _ := json.Marshal(levels)
	tv := ""
	if timeVerified != "" {
		tv = `"timeVerified":` + timeVerified + `,`
	}
	return fmt.Sprintf(`{"verifier":{"id":%q},%s"resourceUri":%q,"policy":{"uri":"urn:dossier:policies:release","digest":{"sha256":"00"}},"verificationResult":"PASSED","verifiedLevels":%s,"slsaVersion":"1.0"}`,
		gateVerifier, tv, resource, l)
}

var bothLevels = []string{"DOSSIER_RELEASE_SIGNED", "DOSSIER_RELEASE_SBOM"}

func decideOn(set *Set, attestations ...evidence.Attestation) evidence.Decision {
	return Evaluate(set, &evidence.Collected{Subject: payments, Attestations: attestations}, now)
}

// lettered is an image whose digest has letters, for case tricks.
var lettered = evidence.Subject{Repository: payments.Repository, Digest: "sha256:" + strings.Repeat("ab", 32)}

// The resourceUri must end in "@" and this digest, exactly: another
// digest, another algorithm, another case, the digest inside a longer
// string, or followed by anything, is refused. (The statement's subject,
// checked when the summary is verified, binds it to the digest anyway;
// the repository may differ, as documented: a mirror.)
func TestSummaryAttackResourceURI(t *testing.T) {
	set, _, gate := attackSet(t, summaryPolicy)
	hexOf := strings.TrimPrefix(payments.Digest, "sha256:")
	when := fmt.Sprintf("%q", now.Add(-time.Hour).UTC().Format(time.RFC3339))
	for name, resource := range map[string]string{
		"another digest":                     otherImage.Repository + "@" + otherImage.Digest,
		"upper-case algorithm":               payments.Repository + "@SHA256:" + hexOf,
		"another algorithm, same hex":        payments.Repository + "@sha512:" + hexOf,
		"the digest, then a path":            payments.Repository + "@" + payments.Digest + "/x",
		"the digest, then a query":           payments.Repository + "@" + payments.Digest + "?for=" + otherImage.Digest,
		"the digest inside another's":        payments.Repository + "@" + payments.Digest + "@" + otherImage.Digest,
		"the digest without @":               payments.Repository + ":" + payments.Digest,
		"the digest with a trailing space":   payments.Repository + "@" + payments.Digest + " ",
		"the digest with a trailing newline": payments.Repository + "@" + payments.Digest + "\n",
		"the hex without the algorithm":      payments.Repository + "@" + hexOf,
		"empty":                              "",
	} {
		d := decideOn(set, summaryAttestation(t, gate, rawVSA(resource, when, bothLevels...)))
		if d.Allowed {
			t.Errorf("%s (%q): allowed", name, resource)
			continue
		}
		if r := rule(t, d, "signed"); !strings.Contains(r.Reason, "is about") {
			t.Errorf("%s: %s", name, r.Reason)
		}
	}
	// case: a digest with letters, its summary in upper case
	a := summaryAttestation(t, gate, rawVSA(lettered.Repository+"@"+strings.ToUpper(lettered.Digest), when, bothLevels...))
	a.Subject = lettered
	if d := Evaluate(set, &evidence.Collected{Subject: lettered, Attestations: []evidence.Attestation{a}}, now); d.Allowed {
		t.Errorf("upper-case digest: allowed")
	}
	a = summaryAttestation(t, gate, rawVSA(lettered.Repository+"@sha256:"+strings.ToUpper(strings.TrimPrefix(lettered.Digest, "sha256:")), when, bothLevels...))
	a.Subject = lettered
	if d := Evaluate(set, &evidence.Collected{Subject: lettered, Attestations: []evidence.Attestation{a}}, now); d.Allowed {
		t.Errorf("upper-case hex: allowed")
	}
	// documented: the repository may differ (a mirror); the digest decides
	for _, resource := range []string{"mirror.example/x/y@" + payments.Digest, "oci-layout:/tmp/a@" + payments.Digest} {
		if d := decideOn(set, summaryAttestation(t, gate, rawVSA(resource, when, bothLevels...))); !d.Allowed {
			t.Errorf("%s: %+v", resource, d.Rules)
		}
	}
}

// timeVerified: any zone is the same instant; missing, null, zero, a
// number, the distant past or future, and the future beyond the 5 minutes
// of clock skew are refused.
func TestSummaryAttackTimes(t *testing.T) {
	set, _, gate := attackSet(t, summaryPolicy)
	resource := payments.Repository + "@" + payments.Digest
	q := func(tt time.Time, layout string) string { return fmt.Sprintf("%q", tt.Format(layout)) }
	accepted := map[string]string{
		"an hour ago, +14:00":          q(now.Add(-time.Hour).In(time.FixedZone("", 14*3600)), time.RFC3339),
		"an hour ago, -12:00":          q(now.Add(-time.Hour).In(time.FixedZone("", -12*3600)), time.RFC3339),
		"an hour ago, nanoseconds":     q(now.Add(-time.Hour+time.Nanosecond), time.RFC3339Nano),
		"four minutes ahead (skew)":    q(now.Add(4*time.Minute), time.RFC3339),
		"just under maxAge, in a zone": q(now.Add(-24*time.Hour+time.Minute).In(time.FixedZone("", -11*3600)), time.RFC3339),
	}
	for name, tv := range accepted {
		if d := decideOn(set, summaryAttestation(t, gate, rawVSA(resource, tv, bothLevels...))); !d.Allowed {
			t.Errorf("%s (%s): refused: %s", name, tv, rule(t, d, "signed").Reason)
		}
	}
	refused := map[string]struct{ tv, want string }{
		"missing":                         {"", "states no time"},
		"null":                            {"null", "states no time"},
		"empty":                           {`""`, "does not parse"},
		"a number":                        {"1778400000", "does not parse"},
		"no zone":                         {`"2026-05-10T11:00:00"`, "does not parse"},
		"zero":                            {`"0001-01-01T00:00:00Z"`, "states no time"},
		"before zero, by its zone":        {`"0001-01-01T00:00:00+01:00"`, "ago; the policy accepts"},
		"the epoch":                       {`"1970-01-01T00:00:00Z"`, "ago; the policy accepts"},
		"25 hours ago, written as +14:00": {q(now.Add(-25*time.Hour).In(time.FixedZone("", 14*3600)), time.RFC3339), "ago; the policy accepts"},
		"6 minutes ahead":                 {q(now.Add(6*time.Minute), time.RFC3339), "in the future"},
		"ahead, hidden by -12:00":         {q(now.Add(time.Hour).In(time.FixedZone("", -12*3600)), time.RFC3339), "in the future"},
		"the year 9999":                   {`"9999-12-31T23:59:59Z"`, "in the future"},
		"beyond a Duration's reach":       {`"2500-01-01T00:00:00Z"`, "in the future"},
		"long before a Duration's reach":  {`"1500-01-01T00:00:00Z"`, "ago; the policy accepts"},
	}
	for name, c := range refused {
		d := decideOn(set, summaryAttestation(t, gate, rawVSA(resource, c.tv, bothLevels...)))
		if d.Allowed {
			t.Errorf("%s (%s): allowed", name, c.tv)
			continue
		}
		if r := rule(t, d, "signed"); !strings.Contains(r.Reason, c.want) {
			t.Errorf("%s: %s", name, r.Reason)
		}
	}
}

// Levels are compared exactly: another case, a prefix or suffix, padding,
// a level repeated in place of another, a string instead of a list.
func TestSummaryAttackLevels(t *testing.T) {
	set, _, gate := attackSet(t, summaryPolicy)
	resource := payments.Repository + "@" + payments.Digest
	when := fmt.Sprintf("%q", now.Add(-time.Hour).UTC().Format(time.RFC3339))
	for name, levels := range map[string][]string{
		"lower case":            {"dossier_release_signed", "dossier_release_sbom"},
		"suffixed":              {"DOSSIER_RELEASE_SIGNED_X", "DOSSIER_RELEASE_SBOM_X"},
		"prefixed":              {"X_DOSSIER_RELEASE_SIGNED", "X_DOSSIER_RELEASE_SBOM"},
		"padded":                {" DOSSIER_RELEASE_SIGNED", "DOSSIER_RELEASE_SBOM "},
		"one level, repeated":   {"DOSSIER_RELEASE_SIGNED", "DOSSIER_RELEASE_SIGNED", "DOSSIER_RELEASE_SIGNED"},
		"joined in one":         {"DOSSIER_RELEASE_SIGNED,DOSSIER_RELEASE_SBOM"},
		"with a NUL":            {"DOSSIER_RELEASE_SIGNED\x00", "DOSSIER_RELEASE_SBOM\x00"},
		"none":                  {},
		"SLSA's levels instead": {"SLSA_BUILD_LEVEL_3"},
	} {
		d := decideOn(set, summaryAttestation(t, gate, rawVSA(resource, when, levels...)))
		if d.Allowed {
			t.Errorf("%s: allowed", name)
		}
	}
	for name, p := range map[string]string{
		"a string":  strings.Replace(rawVSA(resource, when), `"verifiedLevels":null`, `"verifiedLevels":"DOSSIER_RELEASE_SIGNED DOSSIER_RELEASE_SBOM"`, 1),
		"an object": strings.Replace(rawVSA(resource, when), `"verifiedLevels":null`, `"verifiedLevels":{"DOSSIER_RELEASE_SIGNED":true,"DOSSIER_RELEASE_SBOM":true}`, 1),
	} {
		if d := decideOn(set, summaryAttestation(t, gate, p)); d.Allowed {
			t.Errorf("levels as %s: allowed", name)
		}
	}
}

// An acceptance names rules: a summary carrying every level passes those
// rules only, never another rule of the policy, and never a rule of the
// same name in another policy.
func TestSummaryAttackOtherRules(t *testing.T) {
	doc := strings.Replace(summaryPolicy, "rules: [signed, sbom]", "rules: [sbom]", 1) + `---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: second}
spec:
  images: ["registry.example/acme/**"]
  signers:
    - name: release
      key: {file: release.pub}
    - name: gate
      key: {file: other.pub}
  rules:
    - name: sbom
      attestation: {predicateType: cyclonedx, signers: [release]}
`
	set, _, gate := attackSet(t, doc)
	resource := payments.Repository + "@" + payments.Digest
	good := vsa(gateVerifier, "PASSED", resource, now.Add(-time.Hour), append(bothLevels, "DOSSIER_SECOND_SBOM", "DOSSIER_CLUSTER_ADMISSION_SIGNED")...)
	d := decideOn(set, summaryAttestation(t, gate, good))
	if d.Allowed {
		t.Errorf("allowed: %+v", d.Rules)
	}
	for _, r := range d.Rules {
		passed := r.Outcome == evidence.OutcomePass
		if want := r.Policy == "cluster-admission" && r.Rule == "sbom"; passed != want {
			t.Errorf("%s/%s: %s: %s", r.Policy, r.Rule, r.Outcome, r.Reason)
		}
	}
}

// Summaries by the trusted gate that are each refused cost little and say
// so within bounds: 500 (the most a subject's referrers can hold) for two
// rules; a predicate of a million levels; a predicate nested past the
// decoder's depth.
func TestSummaryAttackCost(t *testing.T) {
	set, _, gate := attackSet(t, summaryPolicy)
	resource := payments.Repository + "@" + payments.Digest
	stale := vsa(gateVerifier, "PASSED", resource, now.Add(-48*time.Hour), bothLevels...)
	var many []evidence.Attestation
	for i := range 500 {
		a := summaryAttestation(t, gate, stale)
		a.StoredAt = fmt.Sprintf("sha256:%064d", i)
		many = append(many, a)
	}
	start := time.Now()
	d := decideOn(set, many...)
	t.Logf("500 stale summaries: %s", time.Since(start))
	if took := time.Since(start); d.Allowed || took > 2*time.Second {
		t.Errorf("500 stale summaries: allowed %v, %s", d.Allowed, took)
	}
	for _, r := range d.Rules {
		t.Logf("%s: reason of %d bytes", r.Rule, len(r.Reason))
	}

	levels := make([]string, 1_000_000)
	for i := range levels {
		levels[i] = fmt.Sprintf("DOSSIER_RELEASE_X%d", i)
	}
	huge := vsa(gateVerifier, "PASSED", resource, now.Add(-time.Hour), levels...)
	t.Logf("a predicate of %d MiB", len(huge)>>20)
	start = time.Now()
	if d := decideOn(set, summaryAttestation(t, gate, huge)); d.Allowed || time.Since(start) > 5*time.Second {
		t.Errorf("a million levels: allowed %v, %s", d.Allowed, time.Since(start))
	}
	t.Logf("a million levels: %s", time.Since(start))

	deep := `{"verifier":{"id":"` + gateVerifier + `"},"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	if d := decideOn(set, summaryAttestation(t, gate, deep)); d.Allowed || !strings.Contains(rule(t, d, "signed").Reason, "does not parse") {
		t.Errorf("deeply nested: %+v", d.Rules)
	}
}

// Summaries that cannot be read never pass a rule, and the rule verified
// as written still passes on its own evidence.
func TestSummaryAttackUnreadable(t *testing.T) {
	set, rel, _ := attackSet(t, summaryPolicy)
	ev := &evidence.Collected{Subject: payments,
		Unavailable: map[string]string{evidence.NeedAttestation(evidence.PredicateVSA): "registry timed out"},
		Signatures:  []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: rel, StoredAt: "sha256:aaaa"}}},
	}
	d := Evaluate(set, ev, now)
	if r := rule(t, d, "signed"); r.Outcome != evidence.OutcomePass {
		t.Errorf("signed on its own evidence: %+v", r)
	}
	if r := rule(t, d, "sbom"); r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, "could not be read") {
		t.Errorf("sbom: %+v", r)
	}
}

// A key a policy names only so that its verification summaries are
// accepted must not become a signer of images: a policy has to list the
// gate in spec.signers for verificationSummaries to name it, and every
// rule that names no signers of its own ("by any signer above") then
// accepts the gate's key too. Whoever holds the gate's key (CI, which
// runs every branch's gate) signs an image with it and passes the
// signature rule that should require the release key.
func TestSummaryAttackSummarySignerSignsImages(t *testing.T) {
	doc := `apiVersion: dossier.dev/v1alpha1
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
      signature: {}
    - name: sbom
      attestation: {predicateType: cyclonedx}
  verificationSummaries:
    - verifier: https://ci.example/gates/release
      signers: [gate]
      maxAge: 24h
      levels: [DOSSIER_RELEASE_SBOM]
      rules: [sbom]
`
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
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := Load(path)
	if err != nil {
		// refused at load, naming the rule that would take the gate: fine
		if !strings.Contains(err.Error(), "spec.rules[0]") {
			t.Errorf("refused, but not for the rule: %v", err)
		}
		return
	}
	set, gate := &Set{Policies: docs.Policies}, keySigner(t, filepath.Join(dir, "other.pub"))
	ev := &evidence.Collected{Subject: payments,
		Signatures: []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: gate, StoredAt: "sha256:aaaa"}}},
		Attestations: []evidence.Attestation{{Subject: payments, PredicateType: evidence.PredicateCycloneDX, Predicate: json.RawMessage(`{}`),
			Verification: evidence.Verification{Signer: gate, StoredAt: "sha256:bbbb"}}},
	}
	d := Evaluate(set, ev, now)
	for _, name := range []string{"signed", "sbom"} {
		if r := rule(t, d, name); r.Outcome == evidence.OutcomePass {
			t.Errorf("%s passes on the summary signer's own signature/attestation: %s", name, r.Reason)
		}
	}
}
