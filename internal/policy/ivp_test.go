package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// ivpHeader is an ImageValidatingPolicy up to its attestors: the rest of
// spec is appended.
const ivpHeader = `apiVersion: policies.kyverno.io/v1
kind: ImageValidatingPolicy
metadata: {name: ivp}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}]
  matchImageReferences: [{glob: "registry.example/*"}]
`

// keyAttestor is an attestor of the PEM public key in path, named name,
// as a flow mapping.
func keyAttestor(t *testing.T, name, path string) string {
	return fmt.Sprintf("{name: %s, cosign: {key: {data: %q}, ctlog: {insecureIgnoreTlog: true}}}", name, strings.ReplaceAll(pemOf(t, path), "\n              ", "\n"))
}

// newKey makes a public key PEM and the signer its signatures verify as.
func newKey(t *testing.T) (string, evidence.Signer) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), evidence.Signer{KeyFingerprint: evidence.KeyFingerprint(der)}
}

func parseIVP(t *testing.T, doc string) *Set {
	t.Helper()
	docs, err := Parse("ivp.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
}

// ruleNamed is the result of the rule of that name in d.
func ruleNamed(t *testing.T, d evidence.Decision, name string) evidence.RuleResult {
	t.Helper()
	for _, r := range d.Rules {
		if r.Rule == name {
			return r
		}
	}
	t.Fatalf("no rule %s in %+v", name, d.Rules)
	return evidence.RuleResult{}
}

// Kyverno's own keyed policy decides as Kyverno does: a signature by its
// key passes, another key's or none fails with the policy's message, an
// image outside its glob is not its to judge; signatures that could not
// be read fail the rule, never pass it.
func TestIVPCheckSigned(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/ivp-check-signed.yaml")
	p := set.Policies[0]
	if p.Kind != KindImageValidatingPolicy || p.Mode != evidence.ModeEnforce || len(p.Rules) != 2 || p.Rules[0].Name != "validation-0" || p.Rules[1].Name != "required" {
		t.Fatalf("policy %+v", p)
	}
	if !slices.ContainsFunc(p.Explanation, func(l string) bool { return strings.Contains(l, "attestor cosign: key cosign (sha256:") }) ||
		!slices.ContainsFunc(p.Explanation, func(l string) bool { return strings.HasPrefix(l, "images: those matching glob registry.example/*") }) {
		t.Errorf("explanation %q", p.Explanation)
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "ctlog.insecureIgnoreTlog is not true") }) {
		t.Errorf("warnings %q", p.Warnings)
	}
	release, other := keySigner(t, "testdata/release.pub"), keySigner(t, "testdata/other.pub")
	for _, tc := range []struct {
		name, ref   string
		sigs        []evidence.VerifiedSignature
		unavailable map[string]string
		allowed     bool
		reason      string
	}{
		{"signed by the key", "registry.example/acme/payments:v1", signedBy(release), nil, true, "true: attestor cosign: signed by key " + release.KeyFingerprint},
		{"another key", "registry.example/acme/payments:v1", signedBy(other), nil, false, "images must be signed by the platform cosign key (attestor cosign: no signature by key cosign"},
		{"unsigned", "registry.example/acme/payments:v1", nil, nil, false, "images must be signed by the platform cosign key"},
		{"unreadable", "registry.example/acme/payments:v1", nil, map[string]string{evidence.NeedSignatures: "registry timed out"}, false, "the expression failed, so the validation fails: signatures could not be read: registry timed out"},
		{"not matched", "other.example/acme/payments:v1", signedBy(release), nil, false, "no policy matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := kyvernoEvidence(tc.ref, tc.sigs, nil)
			ev.Subject.Repository = evidence.ImageRepository(tc.ref)
			ev.Unavailable = tc.unavailable
			d := Evaluate(set, ev, now)
			if d.Allowed != tc.allowed || !strings.Contains(d.Rules[0].Reason, tc.reason) {
				t.Fatalf("allowed %v, %+v", d.Allowed, d.Rules)
			}
		})
	}
	// the required check follows the verify function's finding
	d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", signedBy(other), nil), now)
	if r := ruleNamed(t, d, "required"); r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, "failed signature or attestation verification") {
		t.Errorf("required: %+v", r)
	}
	if fix := ruleNamed(t, d, "validation-0").Fix; !strings.Contains(fix, "dossier sign "+payments.String()+" --key <private key of signer cosign>") {
		t.Errorf("fix %q", fix)
	}
	d = Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", signedBy(release), nil), now)
	if r := ruleNamed(t, d, "required"); r.Outcome != evidence.OutcomePass || !strings.Contains(r.Reason, "policy check-signed") {
		t.Errorf("required: %+v", r)
	}
}

// Audit and Warn report a failed validation without denying; Deny with
// Audit denies.
func TestIVPValidationActions(t *testing.T) {
	for _, tc := range []struct {
		actions string
		allowed bool
	}{{"[Audit]", true}, {"[Warn]", true}, {"[Audit, Deny]", false}, {"[]", false}} {
		doc := ivpHeader + "  validationActions: " + tc.actions + "\n  attestors: [" + keyAttestor(t, "cosign", "testdata/release.pub") + "]\n" +
			"  validations: [{expression: \"images.containers.all(i, verifyImageSignatures(i, [attestors.cosign]) > 0)\"}]\n"
		d := Evaluate(parseIVP(t, doc), kyvernoEvidence("registry.example/acme/payments:v1", nil, nil), now)
		if d.Allowed != tc.allowed || d.Violations != 2 {
			t.Errorf("%s: allowed %v, %d violations: %+v", tc.actions, d.Allowed, d.Violations, d.Rules)
		}
		if r := ruleNamed(t, d, "validation-0"); r.Reason != "CEL expression validation failed at index 0 (attestor cosign: no signature by key cosign ("+keySigner(t, "testdata/release.pub").KeyFingerprint+"))" {
			t.Errorf("%s: reason %q", tc.actions, r.Reason)
		}
	}
}

// N of M, written as Kyverno users write it: a count over the attestors,
// or the attestors that verified filtered and counted.
func TestIVPNOfM(t *testing.T) {
	pems := make([]string, 3)
	signers := make([]evidence.Signer, 3)
	for i := range pems {
		pems[i], signers[i] = newKey(t)
	}
	attestors := ""
	for i, p := range pems {
		attestors += fmt.Sprintf("    - {name: k%d, cosign: {key: {data: %q}, ctlog: {insecureIgnoreTlog: true}}}\n", i, p)
	}
	for _, expr := range []string{
		"images.containers.map(image, verifyImageSignatures(image, [attestors.k0, attestors.k1, attestors.k2])).all(e, e >= 2)",
		"images.containers.all(image, [attestors.k0, attestors.k1, attestors.k2].filter(a, verifyImageSignatures(image, [a]) > 0).size() >= 2)",
	} {
		set := parseIVP(t, ivpHeader+"  attestors:\n"+attestors+"  validations:\n    - expression: "+fmt.Sprintf("%q", expr)+"\n      message: two of three must sign\n")
		for _, tc := range []struct {
			name    string
			by      []int
			allowed bool
		}{{"none", nil, false}, {"one", []int{1}, false}, {"two", []int{0, 2}, true}, {"three", []int{0, 1, 2}, true}} {
			var sigs []evidence.VerifiedSignature
			for _, i := range tc.by {
				sigs = append(sigs, signedBy(signers[i])...)
			}
			d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", sigs, nil), now)
			if d.Allowed != tc.allowed {
				t.Errorf("%s, signed by %s: allowed %v, %+v", expr, tc.name, d.Allowed, d.Rules)
			}
			if !tc.allowed && !strings.HasPrefix(ruleNamed(t, d, "validation-0").Reason, "two of three must sign") {
				t.Errorf("%s, %s: %+v", expr, tc.name, d.Rules)
			}
		}
	}
}

func slsa1(signer evidence.Signer, storedAt string, predicate json.RawMessage, signed time.Time) evidence.Attestation {
	return evidence.Attestation{Subject: payments, PredicateType: evidence.PredicateSLSA1, Predicate: predicate,
		Verification: evidence.Verification{Signer: signer, SigningTime: &signed, StoredAt: storedAt, Layout: evidence.LayoutReferrer}}
}

// Kyverno's keyless SLSA policy: the attestation must be signed by the
// workflow, and its payload (the in-toto statement) must have a build
// definition; a condition on the payload decides true or false.
func TestIVPAttestationPayload(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/ivp-slsa.yaml")
	p := set.Policies[0]
	if len(p.Rules) != 2 || !slices.ContainsFunc(p.Warnings, func(w string) bool {
		return strings.Contains(w, "certificates no certificate-transparency log has seen are accepted")
	}) {
		t.Fatalf("policy %+v", p)
	}
	workflow := evidence.Signer{Identity: release, Issuer: ghIssuer}
	lookalike := evidence.Signer{Identity: "https://github.com/acme/payments-fork/.github/workflows/release.yml@refs/tags/v1.2.0", Issuer: ghIssuer}
	good := slsa1(workflow, "sha256:cccc", provenancePredicate(release, "https://github.com/acme/payments"), now.Add(-time.Hour))
	for _, tc := range []struct {
		name    string
		atts    []evidence.Attestation
		allowed bool
		reasons []string
	}{
		{"signed by the workflow", []evidence.Attestation{good}, true, []string{"true: attestor cosign: slsa attestation by " + release, "true: payload of slsa read from sha256:cccc"}},
		{"no build definition", []evidence.Attestation{slsa1(workflow, "sha256:dddd", json.RawMessage(`{"runDetails":{}}`), now)}, false,
			[]string{"true", "failed to extract SLSA intoto attestation payload after verification"}},
		{"signed by a look-alike", []evidence.Attestation{slsa1(lookalike, "sha256:eeee", provenancePredicate(release, "https://github.com/acme/payments"), now)}, false,
			[]string{"failed to verify SLSA intoto attestation with Cosign keyless (attestor cosign: no slsa attestation", "the payload of attestation slsa cannot be read before it is verified"}},
		{"none", nil, false, []string{"failed to verify SLSA intoto attestation with Cosign keyless", "cannot be read before it is verified"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", nil, tc.atts), now)
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed %v, %+v", d.Allowed, d.Rules)
			}
			for i, want := range tc.reasons {
				if !strings.Contains(d.Rules[i].Reason, want) {
					t.Errorf("rule %d: want %q, got %q", i, want, d.Rules[i].Reason)
				}
			}
		})
	}

	// a condition on the predicate, true and false; of two verified
	// statements the one signed last is read
	doc := strings.Replace(readFile(t, "testdata/kyverno/ivp-slsa.yaml"), "has(extractPayload(image, attestations.slsa).predicate.buildDefinition)",
		"extractPayload(image, attestations.slsa).predicate.runDetails.builder.id == '"+release+"' && extractPayload(image, attestations.slsa).subject[0].digest.sha256 == '"+strings.TrimPrefix(payments.Digest, "sha256:")+"'", 1)
	set = parseIVP(t, doc)
	other := slsa1(workflow, "sha256:ffff", provenancePredicate("https://builder.example/other", "https://github.com/acme/payments"), now.Add(-2*time.Hour))
	if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", nil, []evidence.Attestation{other, good}), now); !d.Allowed {
		t.Errorf("latest statement by the builder: %+v", d.Rules)
	}
	later := other
	later.SigningTime = new(now.Add(-time.Minute))
	if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", nil, []evidence.Attestation{good, later}), now); d.Allowed || !strings.Contains(d.Rules[1].Reason, "payload of slsa read from sha256:ffff") {
		t.Errorf("latest statement by another builder: %+v", d.Rules)
	}
}

// A Notary attestor is a CA: Notation signatures verified under its trust
// configuration pass, others fail; what could not be verified fails.
func TestIVPNotary(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/ivp-notary.yaml")
	p := set.Policies[0]
	if len(p.Rules) != 1 || p.ivp == nil || p.ivp.attestors[0].signer.Notation == nil {
		t.Fatalf("policy %+v", p)
	}
	cfg := p.ivp.attestors[0].signer.Notation
	tp := cfg.Policy().TrustPolicies
	if len(tp) != 1 || !slices.Equal(tp[0].TrustStores, []string{"ca:kyverno"}) || !slices.Equal(tp[0].TrustedIdentities, []string{"*"}) || tp[0].SignatureVerification.VerificationLevel != "strict" {
		t.Errorf("trust policy %+v", tp)
	}
	ev := kyvernoEvidence("registry.example/acme/payments:v1", nil, nil)
	if n := set.Needs(ev); n.Signatures || len(n.Notation) != 1 || n.Notation[0].Digest() != cfg.Digest() {
		t.Errorf("needs %+v", n)
	}
	notarySig := func(trustDigest string) []evidence.VerifiedSignature {
		return signedBy(evidence.Signer{CertificateSubject: "CN=release,O=Acme", NotationTrust: trustDigest})
	}
	if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", notarySig(cfg.Digest()), nil), now); !d.Allowed || !strings.Contains(d.Rules[0].Reason, `attestor notary: signed by x509 subject "CN=release,O=Acme" (Notation)`) {
		t.Errorf("under the CA: %+v", d.Rules)
	}
	if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", notarySig("sha256:other"), nil), now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "no signature by Notation signer notary") {
		t.Errorf("under another trust: %+v", d.Rules)
	}
	ev = kyvernoEvidence("registry.example/acme/payments:v1", nil, nil)
	ev.Unavailable = map[string]string{evidence.NeedNotation(cfg.Digest()): "revocation check timed out"}
	if d := Evaluate(set, ev, now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "Notation signatures for attestor notary could not be verified: revocation check timed out") {
		t.Errorf("unverifiable: %+v", d.Rules)
	}
	// tsaCerts become the TSA trust store beside the CA
	root := strings.ReplaceAll(pemOf(t, "testdata/notation/truststore/x509/ca/acme/root.crt"), "\n              ", "\n")
	doc := ivpHeader + fmt.Sprintf("  attestors: [{name: notary, notary: {certs: {value: %q}, tsaCerts: {value: %q}}}]\n", root, root) +
		"  validations: [{expression: \"images.containers.all(i, verifyImageSignatures(i, [attestors.notary]) > 0)\"}]\n"
	s := parseIVP(t, doc).Policies[0].ivp.attestors[0].signer
	if got := s.Notation.Policy().TrustPolicies[0].TrustStores; !slices.Equal(got, []string{"ca:kyverno", "tsa:kyverno"}) {
		t.Errorf("trust stores %q", got)
	}
}

// An expression that fails fails its validation: never a pass, whatever
// the expression would have made of a missing answer.
func TestIVPExpressionErrorsFailClosed(t *testing.T) {
	release := keySigner(t, "testdata/release.pub")
	for _, tc := range []struct{ expr, want string }{
		// a negated count: "signed by nobody bad" cannot pass on unread signatures
		{"images.containers.all(i, verifyImageSignatures(i, [attestors.cosign]) == 0)", "signatures could not be read"},
		{"images.containers.all(i, extractPayload(i, attestations.sbom).predicate.bomFormat == 'CycloneDX')", "cannot be read before it is verified"},
		{"verifyImageSignatures('other.example/x:1', [attestors.cosign]) > 0", `has evidence about registry.example/acme/payments:v1, not "other.example/x:1"`},
		{"images.containers.size() / 0 == 1", "division by zero"},
		{"variables.name", "not a bool"},
		{"variables.broken", "variable broken:"},
		{"lists.range(2000).map(x, lists.range(2000).map(y, x * y)).size() > 0", "cost limit exceeded"},
		{"images.foo.size() == 0", "no such key: foo"},
	} {
		doc := ivpHeader + "  attestors: [" + keyAttestor(t, "cosign", "testdata/release.pub") + "]\n" +
			"  attestations: [{name: sbom, intoto: {type: https://cyclonedx.org/bom}}]\n" +
			"  variables: [{name: name, expression: \"'x'\"}, {name: broken, expression: \"[1][3] == 1\"}]\n" +
			"  validations: [{expression: " + fmt.Sprintf("%q", tc.expr) + "}]\n"
		ev := kyvernoEvidence("registry.example/acme/payments:v1", signedBy(release), nil)
		ev.Unavailable = map[string]string{evidence.NeedSignatures: "registry timed out"}
		d := Evaluate(parseIVP(t, doc), ev, now)
		if r := ruleNamed(t, d, "validation-0"); d.Allowed || r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, tc.want) {
			t.Errorf("%s: want failure %q, got %+v", tc.expr, tc.want, d.Rules)
		}
	}
}

// matchImageReferences expressions judge ref; one that fails makes the
// policy apply and fail rather than let the image through unjudged.
func TestIVPMatchExpressions(t *testing.T) {
	policy := func(expr string) *Set {
		doc := strings.Replace(ivpHeader, `[{glob: "registry.example/*"}]`, "[{expression: "+fmt.Sprintf("%q", expr)+"}]", 1) +
			"  validationConfigurations: {required: false}\n  validations: [{expression: \"true\"}]\n"
		return parseIVP(t, doc)
	}
	ev := kyvernoEvidence("registry.example/acme/payments:v1", nil, nil)
	if d := Evaluate(policy("ref.startsWith('registry.example/acme/')"), ev, now); !d.Allowed || len(d.Policies) != 1 {
		t.Errorf("matching: %+v", d)
	}
	if d := Evaluate(policy("ref.startsWith('other.example/')"), ev, now); d.Allowed || d.Rules[0].Rule != "no-policy" {
		t.Errorf("not matching: %+v", d)
	}
	if d := Evaluate(policy("ref.size() / 0 == 1"), ev, now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "division by zero") {
		t.Errorf("failing: %+v", d)
	}
	// Kyverno's globs cross "/" and have classes and alternatives
	for _, tc := range []struct {
		glob    string
		matches bool
	}{{"registry.example/*", true}, {"registry.example/acme/{payments,billing}:v?", true}, {"registry.example/acme/[!p]*", false}, {"docker.io/*", false}} {
		doc := strings.Replace(ivpHeader, `registry.example/*`, tc.glob, 1) + "  validationConfigurations: {required: false}\n  validations: [{expression: \"true\"}]\n"
		if got := parseIVP(t, doc).Policies[0].Matches(ev); got != tc.matches {
			t.Errorf("glob %s: matches %v", tc.glob, got)
		}
	}
}

// verifyDigest without mutateDigest requires a digest; required is
// satisfied by a verification in another matching policy, as Kyverno
// shares them across a request's policies.
func TestIVPDigestAndRequired(t *testing.T) {
	release := keySigner(t, "testdata/release.pub")
	catchAll := strings.Replace(ivpHeader, "name: ivp", "name: catch-all", 1) + "  validationConfigurations: {mutateDigest: false}\n  validations: [{expression: \"true\"}]\n"
	signed := "---\n" + ivpHeader + "  validationConfigurations: {required: false}\n  attestors: [" + keyAttestor(t, "cosign", "testdata/release.pub") + "]\n" +
		"  validations: [{expression: \"images.containers.all(i, verifyImageSignatures(i, [attestors.cosign]) > 0)\"}]\n"
	set := parseIVP(t, catchAll+signed)
	if names := []string{set.Policies[0].Rules[0].Name, set.Policies[0].Rules[2].Name}; !slices.Equal(names, []string{"digest", "required"}) {
		t.Fatalf("rules %+v", set.Policies[0].Rules)
	}
	byDigest := "registry.example/acme/payments@" + payments.Digest
	d := Evaluate(set, kyvernoEvidence(byDigest, signedBy(release), nil), now)
	if !d.Allowed || !strings.Contains(ruleNamed(t, d, "required").Reason, "policy ivp") {
		t.Errorf("by digest, signed: %+v", d.Rules)
	}
	d = Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", signedBy(release), nil), now)
	if d.Allowed || !strings.Contains(ruleNamed(t, d, "digest").Reason, "missing digest for registry.example/acme/payments:v1") {
		t.Errorf("by tag: %+v", d.Rules)
	}
	alone := parseIVP(t, catchAll)
	d = Evaluate(alone, kyvernoEvidence(byDigest, signedBy(release), nil), now)
	if r := ruleNamed(t, d, "required"); d.Allowed || !strings.Contains(r.Reason, "no ImageValidatingPolicy performed a signature or attestation check on it") {
		t.Errorf("nothing verified: %+v", d.Rules)
	}
}

// Variables are evaluated in order, each seeing those before it.
func TestIVPVariables(t *testing.T) {
	doc := ivpHeader + "  attestors: [" + keyAttestor(t, "cosign", "testdata/release.pub") + "]\n" +
		"  variables:\n    - {name: image, expression: \"images.containers[0]\"}\n    - {name: signers, expression: \"verifyImageSignatures(variables.image, [attestors.cosign])\"}\n" +
		"  validations: [{expression: \"variables.signers > 0\", messageExpression: \"'unsigned: ' + variables.image\"}]\n"
	set := parseIVP(t, doc)
	if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", signedBy(keySigner(t, "testdata/release.pub")), nil), now); !d.Allowed {
		t.Errorf("signed: %+v", d.Rules)
	}
	if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", nil, nil), now); d.Allowed || !strings.HasPrefix(d.Rules[0].Reason, "unsigned: registry.example/acme/payments:v1 (attestor cosign: no signature by key cosign") {
		t.Errorf("unsigned: %+v", d.Rules)
	}
}

// A NamespacedImageValidatingPolicy applies in its own namespace only.
func TestIVPNamespaced(t *testing.T) {
	doc := strings.Replace(ivpHeader, "kind: ImageValidatingPolicy\nmetadata: {name: ivp}", "kind: NamespacedImageValidatingPolicy\nmetadata: {name: ivp, namespace: payments}", 1) +
		"  validationConfigurations: {required: false}\n  validations: [{expression: \"true\"}]\n"
	p := parseIVP(t, doc).Policies[0]
	ev := kyvernoEvidence("registry.example/acme/payments:v1", nil, nil)
	if !p.Matches(ev) || p.Kind != KindNamespacedImageValidatingPolicy {
		t.Errorf("outside admission it applies: %+v", p)
	}
	ev.Namespace = "billing"
	if p.Matches(ev) {
		t.Error("applies in another namespace")
	}
	ev.Namespace = "payments"
	if !p.Matches(ev) {
		t.Error("does not apply in its namespace")
	}
}

// The collector is told what the policy names: signatures for Cosign
// attestors, attestations of the types named, and the trusted signers.
func TestIVPNeeds(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/ivp-slsa.yaml")
	n := set.Needs(kyvernoEvidence("registry.example/acme/payments:v1", nil, nil))
	if !n.Signatures || !slices.Equal(n.PredicateTypes, []string{evidence.PredicateSLSA1}) || n.Vulnerabilities || len(n.Notation) != 0 {
		t.Errorf("needs %+v", n)
	}
	if n := set.Needs(kyvernoEvidence("other.example/x:v1", nil, nil)); n.Signatures || len(n.PredicateTypes) != 0 {
		t.Errorf("needs of an image no policy matches: %+v", n)
	}
	signers := set.Signers()
	if len(signers) != 1 || !signers[0].Keyless() || !signers[0].InsecureIgnoreSCT || signers[0].Identities[0].Subject != release {
		t.Errorf("signers %+v", signers)
	}
}

// Everything dossier cannot honour is refused by name, with the file and
// line where it has one, and the path.
func TestIVPRefusals(t *testing.T) {
	key := keyAttestor(t, "cosign", "testdata/release.pub")
	base := ivpHeader + "  attestors: [" + key + "]\n"
	valid := "  validations: [{expression: \"images.containers.all(i, verifyImageSignatures(i, [attestors.cosign]) > 0)\"}]\n"
	with := func(extra string) string { return base + extra + valid }
	attestor := func(a string) string { return ivpHeader + "  attestors: [" + a + "]\n" + valid }
	for _, tc := range []struct{ doc, want string }{
		{with("  matchConditions: [{name: prod, expression: \"object.metadata.labels.prod == 'true'\"}]\n"), "ivp.yaml:9: spec.matchConditions: match conditions over the admission request"},
		{with("  auditAnnotations: [{key: k, valueExpression: \"'v'\"}]\n"), "ivp.yaml:9: spec.auditAnnotations: audit annotations"},
		{with("  credentials: {secrets: [regcred]}\n"), "ivp.yaml:9: spec.credentials: registry credentials named by a policy"},
		{with("  images: [{name: bar, expression: \"[object.spec.image]\"}]\n"), "ivp.yaml:9: spec.images: custom image extractors"},
		{with("  failurePolicy: Ignore\n"), "spec.failurePolicy: \"Ignore\": dossier denies when evidence cannot be read or an expression fails (Fail); Ignore is not supported"},
		{with("  evaluation: {mode: JSON}\n"), "spec.evaluation.mode: \"JSON\""},
		{with("  evaluation: {admission: {enabled: false}}\n"), "spec.evaluation.admission.enabled: false"},
		{with("  validationActions: [Deny, Warn]\n"), "Deny and Warn may not be used together"},
		{with("  validationActions: [Reject]\n"), "spec.validationActions[0]: \"Reject\""},
		{base + "  validations: [{expression: \"object.metadata.name == 'x'\"}]\n", "ivp.yaml:9: spec.validations[0].expression: object (the admitted object) is not supported by dossier"},
		{base + "  validations: [{expression: \"request.userInfo.username == 'x'\"}]\n", "request (the admission request) is not supported by dossier"},
		{base + "  validations: [{expression: \"namespaceObject.metadata.name == 'x'\"}]\n", "namespaceObject (the namespace object) is not supported"},
		{base + "  validations: [{expression: \"authorizer.group('').resource('pods').check('get').allowed()\"}]\n", "authorizer (the API server's authorizer) is not supported"},
		{base + "  validations: [{expression: \"http.Get('https://x.example/').ok\"}]\n", "http (HTTP calls) is not supported"},
		{base + "  validations: [{expression: \"resource.Get('v1', 'configmaps', 'ns', 'x').data.k == 'v'\"}]\n", "resource (reading Kubernetes resources) is not supported"},
		{base + "  validations: [{expression: \"getImageData(images.containers[0]).config.architecture == 'amd64'\"}]\n", "getImageData (image data from the registry) is not supported"},
		{base + "  validations: [{expression: \"images.containers.size()\"}]\n", "spec.validations[0].expression: gives int, want bool"},
		{base + "  validations: [{expression: \"true\", messageExpression: \"1\"}]\n", "spec.validations[0].messageExpression: gives int, want string"},
		{base + "  validations: [{expression: \"" + strings.Repeat("true && ", 1300) + "true\"}]\n", "longer than 10000 characters"},
		{base + "  validations: []\n", "spec.validations: a policy needs at least one validation"},
		{strings.Replace(base, "  matchConstraints:\n    resourceRules: [{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}]\n", "", 1) + valid, "spec.matchConstraints: a matchConstraints with at least one resource rule is required"},
		{strings.Replace(base, "resources: [pods]", "resources: [configmaps]", 1) + valid, "spec.matchConstraints.resourceRules[0].resources[0]: \"configmaps\": dossier judges the images of workloads"},
		{strings.Replace(base, "operations: [CREATE, UPDATE]", "operations: [DELETE]", 1) + valid, "operations[0]: \"DELETE\": images are judged when workloads are created or updated"},
		{strings.Replace(base, "resources: [pods]", "resources: [pods], resourceNames: [web]", 1) + valid, "spec.matchConstraints.resourceRules[0].resourceNames: matching workloads by name is not supported"},
		{strings.Replace(base, "  matchConstraints:\n", "  matchConstraints:\n    objectSelector: {matchLabels: {app: x}}\n", 1) + valid, "spec.matchConstraints.objectSelector: matching workloads by their labels is not supported"},
		{strings.Replace(base, "  matchConstraints:\n", "  matchConstraints:\n    excludeResourceRules: [{resources: [pods]}]\n", 1) + valid, "spec.matchConstraints.excludeResourceRules: excluding resources is not supported"},
		{strings.Replace(base, "  matchConstraints:\n", "  matchConstraints:\n    namespaceSelector: {matchExpressions: [{key: a, operator: Exists}]}\n", 1) + valid, "namespaceSelector.matchExpressions: namespace selection by expressions"},
		{strings.Replace(base, `[{glob: "registry.example/*"}]`, `[{glob: "registry.example/[a"}]`, 1) + valid, "spec.matchImageReferences[0].glob: \"registry.example/[a\""},
		{strings.Replace(base, `[{glob: "registry.example/*"}]`, `[{glob: "a", expression: "true"}]`, 1) + valid, "give glob or expression, not both"},
		{strings.Replace(base, `[{glob: "registry.example/*"}]`, `[{expression: "object.x == 1"}]`, 1) + valid, "spec.matchImageReferences[0].expression: object (the admitted object) is not supported"},
		{strings.Replace(base, "kind: ImageValidatingPolicy\nmetadata: {name: ivp}", "kind: NamespacedImageValidatingPolicy\nmetadata: {name: ivp}", 1) + valid, "metadata.namespace: a NamespacedImageValidatingPolicy applies in its own namespace"},
		{strings.Replace(base, "policies.kyverno.io/v1", "kyverno.io/v1", 1) + valid, "apiVersion: \"kyverno.io/v1\": Kyverno's ImageValidatingPolicy is read as policies.kyverno.io/v1"},
		{attestor("{name: k, cosign: {key: {kms: \"gcpkms://x\"}}}"), "ivp.yaml:8: spec.attestors[0].cosign.key.kms: a KMS key is not supported"},
		{attestor("{name: k, cosign: {key: {expression: \"variables.key\"}}}"), "spec.attestors[0].cosign.key.expression: a key computed by a CEL expression is not supported"},
		{attestor("{name: k, cosign: {key: {data: x, hashAlgorithm: sha512}}}"), "spec.attestors[0].cosign.key.hashAlgorithm: \"sha512\": only sha256 is supported"},
		{attestor("{name: k, cosign: {key: {data: notakey}}}"), "spec.attestors[0].cosign.key.data: not a PEM public key"},
		{attestor("{name: k, cosign: {certificate: {cert: {value: x}, certChain: {value: y}}}}"), "spec.attestors[0].cosign.certificate.certChain: verifying a Cosign signing certificate against a chain is not supported"},
		{attestor("{name: k, cosign: {certificate: {cert: {expression: x}}}}"), "certificate.cert.expression: a certificate computed by a CEL expression is not supported"},
		{attestor("{name: k, cosign: {certificate: {cert: {value: x}}}}"), "spec.attestors[0].cosign.certificate.cert.value: not a PEM certificate"},
		{attestor("{name: k, cosign: {keyless: {identities: [{issuer: i, subject: s}]}, source: {repository: x}}}"), "spec.attestors[0].cosign.source: reading signatures from another repository or with pull secrets is not supported"},
		{attestor("{name: k, cosign: {keyless: {identities: [{issuer: i, subject: s}]}, annotations: {a: b}}}"), "spec.attestors[0].cosign.annotations: signature annotations is not supported"},
		{attestor("{name: k, cosign: {keyless: {identities: [{issuer: i, subject: s}]}, trustedRoot: {expression: x}}}"), "trustedRoot.expression: a trusted root computed by a CEL expression is not supported"},
		{attestor("{name: k, cosign: {keyless: {identities: [{issuer: i, subject: s}], additionalExtensions: {a: b}}}}"), "keyless.additionalExtensions: certificate extensions is not supported"},
		{attestor("{name: k, cosign: {keyless: {identities: [{issuer: i}]}}}"), "subject (or subjectRegExp) is required: an identity that accepts any subject accepts anyone"},
		{attestor("{name: k, cosign: {keyless: {identities: []}}}"), "keyless.identities: list at least one identity"},
		{attestor("{name: k, cosign: {keyless: {identities: [{issuer: i, subjectRegExp: \"(\"}]}}}"), "subjectRegExp: \"(\" does not compile"},
		{attestor("{name: k, cosign: {}}"), "a cosign attestor has exactly one of key, keyless or certificate"},
		{attestor("{name: k}"), "an attestor has exactly one of cosign or notary"},
		{attestor("{name: k, notary: {certs: {expression: x}}}"), "spec.attestors[0].notary.certs.expression: certificates computed by a CEL expression is not supported"},
		{attestor("{name: k, notary: {}}"), "spec.attestors[0].notary.certs.value: give the PEM certificate(s)"},
		{attestor("{name: k, notary: {certs: {value: x}}}"), "spec.attestors[0].notary.certs.value: not PEM certificates"},
		{attestor(key + ", " + key), "spec.attestors[1].name: \"cosign\" is given twice"},
		{attestor(keyAttestor(t, "a-b", "testdata/release.pub") + ", " + keyAttestor(t, "a-b", "testdata/other.pub")), "spec.attestors[1].name: \"a-b\" is given twice"},
		{with("  attestations: [{name: sbom, referrer: {type: sbom/cyclone-dx}}]\n"), "ivp.yaml:9: spec.attestations[0].referrer: referrer attestations (OCI 1.1 artifacts verified with Notation) is not supported"},
		{with("  attestations: [{name: sbom, intoto: {type: not-a-type}}]\n"), "spec.attestations[0].intoto.type: predicate type \"not-a-type\""},
		{with("  variables: [{name: v, expression: \"oldObject.x\"}]\n"), "spec.variables[0].expression: oldObject (the admitted object) is not supported"},
		{with("  unknownField: 1\n"), "spec.unknownField: unknown field"},
	} {
		_, err := Parse("ivp.yaml", []byte(tc.doc), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v\n%s", tc.want, err, tc.doc)
		}
	}
}

// Decisions run concurrently on one loaded set (the webhook and the CI
// gate decide many images at once): each has its own evaluation.
func TestIVPConcurrentDecisions(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/ivp-check-signed.yaml", "testdata/kyverno/ivp-slsa.yaml")
	key := keySigner(t, "testdata/release.pub")
	provenance := []evidence.Attestation{slsa1(evidence.Signer{Identity: release, Issuer: ghIssuer}, "sha256:cccc", provenancePredicate(release, "https://github.com/acme/payments"), now)}
	done := make(chan error)
	for i := range 8 {
		go func() {
			var sigs []evidence.VerifiedSignature
			if i%2 == 0 {
				sigs = signedBy(key)
			}
			for range 50 {
				if d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", sigs, provenance), now); d.Allowed != (i%2 == 0) || len(d.Rules) != 4 {
					done <- fmt.Errorf("decision %d: allowed %v, %+v", i, d.Allowed, d.Rules)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
