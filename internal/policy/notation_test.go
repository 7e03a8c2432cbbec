package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
)

const notationPolicy = "testdata/notation/policy.yaml"

// notationCopy copies testdata/notation into a temporary directory and
// applies edit (file → new content) to it; it returns the policy file.
func notationCopy(t *testing.T, edit map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	src := "testdata/notation"
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for f, content := range edit {
		if content == "" {
			if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "policy.yaml")
}

func notationSigner(t *testing.T, set *Set) Signer {
	t.Helper()
	s := set.Policies[0].Rules[0].Signature.Signers[0]
	if s.Notation == nil {
		t.Fatalf("signer %+v is not a Notation signer", s)
	}
	return s
}

func TestLoadNotationSigner(t *testing.T) {
	docs, err := Load(notationPolicy)
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	s := notationSigner(t, set)
	if s.Name != "release-notation" || !strings.HasPrefix(s.Notation.Digest(), "sha256:") {
		t.Errorf("signer %+v", s)
	}
	// the sandbox statement skips verification: the loader says so
	if len(docs.Warnings) != 1 || !strings.Contains(docs.Warnings[0], `"sandbox" skips signature verification`) || !strings.Contains(docs.Warnings[0], "spec.signers[0].notation.trustPolicy") {
		t.Errorf("warnings %q", docs.Warnings)
	}
	if n := set.Needs(&evidence.Collected{Subject: payments}); n.Signatures || len(n.Notation) != 1 || n.Notation[0].Digest() != s.Notation.Digest() {
		t.Errorf("needs %+v", n)
	}
	// the same files load to the same trust configuration; another
	// trusted identity is another one
	again := loadSet(t, notationPolicy)
	if notationSigner(t, again).Notation.Digest() != s.Notation.Digest() {
		t.Error("the same trust material has two digests")
	}
	data, _ := os.ReadFile("testdata/notation/trustpolicy.json")
	other := loadSet(t, notationCopy(t, map[string]string{"trustpolicy.json": strings.Replace(string(data), "CN=release", "CN=other", 1)}))
	if notationSigner(t, other).Notation.Digest() == s.Notation.Digest() {
		t.Error("another trusted identity, the same digest")
	}
}

func TestNotationSignerErrors(t *testing.T) {
	policy, _ := os.ReadFile(notationPolicy)
	trustPolicy, _ := os.ReadFile("testdata/notation/trustpolicy.json")
	withSigner := func(signer string) string {
		return strings.Replace(string(policy), `      notation:
        trustPolicy: trustpolicy.json
        trustStore: truststore
`, signer, 1)
	}
	cases := []struct {
		name string
		edit map[string]string
		want string
	}{
		{"no trust policy", map[string]string{"policy.yaml": withSigner("      notation: {trustStore: truststore}\n")},
			"spec.signers[0].notation.trustPolicy: missing"},
		{"no trust store", map[string]string{"policy.yaml": withSigner("      notation: {trustPolicy: trustpolicy.json}\n")},
			"spec.signers[0].notation.trustStore: missing"},
		{"a key too", map[string]string{"policy.yaml": withSigner("      key: {data: x}\n      notation: {trustPolicy: trustpolicy.json, trustStore: truststore}\n")},
			"spec.signers[0]: a signer is a key, keyless identities or notation"},
		{"unknown notation field", map[string]string{"policy.yaml": withSigner("      notation: {trustPolicy: trustpolicy.json, trustStore: truststore, plugin: x}\n")},
			"plugin"},
		{"unknown trust policy field", map[string]string{"trustpolicy.json": strings.Replace(string(trustPolicy), `"registryScopes"`, `"registryScope"`, 1)},
			`spec.signers[0].notation.trustPolicy: ` + "%DIR%" + `/trustpolicy.json: not a trust policy document: json: unknown field "registryScope"`},
		{"invalid level", map[string]string{"trustpolicy.json": strings.Replace(string(trustPolicy), `"strict"`, `"lenient"`, 1)},
			`invalid signature verification level "lenient"`},
		{"missing trust store", map[string]string{"truststore/x509/ca/acme": ""},
			"spec.signers[0].notation.trustStore: trust store ca:acme in"},
		{"no trust policy file", map[string]string{"trustpolicy.json": ""},
			"spec.signers[0].notation.trustPolicy:"},
		{"a Notation signer for attestations", map[string]string{"policy.yaml": strings.Replace(string(policy), "signature: {signers: [release-notation]}", "attestation: {predicateType: cyclonedx, signers: [release-notation]}", 1)},
			`spec.rules[0].attestation.signers: signer "release-notation" verifies Notation signatures of images, not attestations`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := notationCopy(t, c.edit)
			_, err := Load(file)
			want := strings.ReplaceAll(c.want, "%DIR%", filepath.Dir(file))
			if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), file) {
				t.Fatalf("got %v\nwant %s: …%s…", err, file, want)
			}
		})
	}
}

func TestEvaluateNotationSigner(t *testing.T) {
	set := loadSet(t, notationPolicy)
	s := notationSigner(t, set)
	release := evidence.Signer{CertificateSubject: "CN=release,O=Acme,ST=WA,C=US", NotationTrust: s.Notation.Digest()}
	verified := func(signer evidence.Signer, logged ...string) evidence.VerifiedSignature {
		return evidence.VerifiedSignature{Subject: payments, Verification: evidence.Verification{Signer: signer, StoredAt: "sha256:5151", Layout: evidence.LayoutReferrer,
			Notation: &evidence.NotationVerification{Statement: "payments", Level: "strict", EnvelopeType: evidence.NotationCOSE, Logged: logged}}}
	}
	decide := func(ev *evidence.Collected) evidence.RuleResult {
		t.Helper()
		if ev.Subject.Digest == "" {
			ev.Subject = payments
		}
		d := Evaluate(set, ev, now)
		if len(d.Rules) != 1 {
			t.Fatalf("decision %+v", d)
		}
		return d.Rules[0]
	}
	cases := []struct {
		name    string
		ev      *evidence.Collected
		outcome string
		reason  string
	}{
		{"signed", &evidence.Collected{Signatures: []evidence.VerifiedSignature{verified(release)}}, evidence.OutcomePass,
			`signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation) (trusted signer release-notation), stored at sha256:5151; Notation COSE, trust policy statement "payments", level strict`},
		{"signed, a check only logged", &evidence.Collected{Signatures: []evidence.VerifiedSignature{verified(release, "expiry: digital signature has expired")}}, evidence.OutcomePass,
			"failed checks the level only logs: expiry: digital signature has expired"},
		{"verified by another trust configuration", &evidence.Collected{Signatures: []evidence.VerifiedSignature{verified(evidence.Signer{CertificateSubject: "CN=release,O=Acme,ST=WA,C=US", NotationTrust: "sha256:0ther"})}}, evidence.OutcomeFail,
			`signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation), but the policy requires Notation signer release-notation`},
		{"a key signature only", &evidence.Collected{Signatures: []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: evidence.Signer{KeyFingerprint: "sha256:abcd"}}}}}, evidence.OutcomeFail,
			"signed by key sha256:abcd, but the policy requires Notation signer release-notation"},
		{"refused", &evidence.Collected{Rejected: []evidence.RejectedSignature{
			{PredicateType: evidence.PredicateSignatures, StoredAt: "sha256:7777", Kind: evidence.FailureRevoked, Reason: "Notation signature: revocation check failed: signing certificate with subject \"CN=release\" is revoked", NotationTrust: s.Notation.Digest()},
			{PredicateType: evidence.PredicateSignatures, StoredAt: "sha256:8888", Kind: evidence.FailureInvalid, Reason: "refused by another trust configuration", NotationTrust: "sha256:0ther"},
		}}, evidence.OutcomeFail,
			"no signature by Notation signer release-notation (trust policy and store " + s.Notation.Digest() + "); found but not verified: revoked at sha256:7777: Notation signature: revocation check failed"},
		{"unreadable", &evidence.Collected{Unavailable: map[string]string{evidence.NeedNotation(s.Notation.Digest()): "registry.example/acme/payments: listing referrers: timeout"}}, evidence.OutcomeFail,
			"Notation signatures for signer release-notation could not be verified: registry.example/acme/payments: listing referrers: timeout"},
		{"skipped by the trust policy", &evidence.Collected{Subject: evidence.Subject{Repository: "registry.example/acme/sandbox", Digest: payments.Digest}}, evidence.OutcomePass,
			`not verified: the trust policy of Notation signer release-notation skips signature verification for registry.example/acme/sandbox (statement "sandbox", level skip)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := decide(c.ev)
			if r.Outcome != c.outcome || !strings.Contains(r.Reason, c.reason) {
				t.Fatalf("%s: %s\nwant %s: …%s…", r.Outcome, r.Reason, c.outcome, c.reason)
			}
			if c.name == "refused" && strings.Contains(r.Reason, "sha256:8888") {
				t.Errorf("a refusal by another trust configuration is reported: %s", r.Reason)
			}
			if r.Outcome == evidence.OutcomeFail && !strings.Contains(r.Fix, "--notation") {
				t.Errorf("fix %q", r.Fix)
			}
		})
	}
}
