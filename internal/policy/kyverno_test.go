package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

const slsaBuilder = "https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main"

func kyvernoEvidence(ref string, sigs []evidence.VerifiedSignature, atts []evidence.Attestation) *evidence.Collected {
	return &evidence.Collected{Subject: payments, Reference: ref, Signatures: sigs, Attestations: atts}
}

func signedBy(s evidence.Signer) []evidence.VerifiedSignature {
	return []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: s, StoredAt: "sha256:aaaa", Layout: evidence.LayoutReferrer, TransparencyLogSkipped: true}}}
}

func slsa02(signer evidence.Signer, builder string) evidence.Attestation {
	signed := now.Add(-time.Hour)
	return evidence.Attestation{Subject: payments, PredicateType: evidence.PredicateSLSA02,
		Predicate:    json.RawMessage(`{"builder":{"id":"` + builder + `"},"buildType":"https://github.com/slsa-framework/slsa-github-generator/container@v1"}`),
		Verification: evidence.Verification{Signer: signer, SigningTime: &signed, StoredAt: "sha256:cccc", Layout: evidence.LayoutReferrer}}
}

// The classic keyed check-image policy decides as Kyverno does: a
// signature by its key passes; another key's, or none, fails; "*" in its
// image reference crosses "/".
func TestKyvernoCheckImage(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/check-image.yaml")
	p := set.Policies[0]
	if p.Kind != KindKyvernoClusterPolicy || p.Mode != evidence.ModeEnforce || len(p.Explanation) != 1 {
		t.Fatalf("policy %+v", p)
	}
	release, other := keySigner(t, "testdata/release.pub"), keySigner(t, "testdata/other.pub")
	for _, tc := range []struct {
		name, ref string
		sigs      []evidence.VerifiedSignature
		allowed   bool
		reason    string
	}{
		{"signed by the key", "registry.example/acme/payments:v1", signedBy(release), true, "signed by key"},
		{"nested repository", "registry.example/acme/team/payments:v1", signedBy(release), true, "signed by key"},
		{"another key", "registry.example/acme/payments:v1", signedBy(other), false, "signed by key " + other.KeyFingerprint},
		{"unsigned", "registry.example/acme/payments:v1", nil, false, "no signature by key"},
		{"not matched", "registry.example/other/payments:v1", signedBy(release), false, "no policy matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := kyvernoEvidence(tc.ref, tc.sigs, nil)
			ev.Subject.Repository = evidence.ImageRepository(tc.ref)
			d := Evaluate(set, ev, now)
			if d.Allowed != tc.allowed || !strings.Contains(d.Rules[0].Reason, tc.reason) {
				t.Fatalf("allowed %v, %+v", d.Allowed, d.Rules)
			}
		})
	}
}

// The keyless SLSA policy: one of its two identities must have signed a
// provenance whose builder.id the condition accepts, and every such
// provenance must meet it.
func TestKyvernoSLSAAttestation(t *testing.T) {
	set := loadSet(t, "testdata/kyverno/check-slsa-attestations.yaml")
	good := evidence.Signer{Identity: slsaBuilder, Issuer: ghIssuer}
	lookalike := evidence.Signer{Identity: "https://github.com/acme/payments-fork/.github/workflows/release.yml@refs/heads/main", Issuer: ghIssuer}
	for _, tc := range []struct {
		name    string
		atts    []evidence.Attestation
		allowed bool
		reason  string
	}{
		{"builder accepted", []evidence.Attestation{slsa02(good, slsaBuilder)}, true, "slsaprovenance02 attestation by " + slsaBuilder},
		{"builder refused", []evidence.Attestation{slsa02(good, "https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/feature")}, false, "false Equals true does not hold"},
		{"look-alike identity", []evidence.Attestation{slsa02(lookalike, slsaBuilder)}, false, "0 of 1 required attestors"},
		{"one of two provenances refused", []evidence.Attestation{slsa02(good, slsaBuilder), slsa02(good, "https://evil.example/builder")}, false, "every one must"},
		{"none", nil, false, "no slsaprovenance02 attestation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(set, kyvernoEvidence("registry.example/acme/payments:v1", nil, tc.atts), now)
			if d.Allowed != tc.allowed || !strings.Contains(d.Rules[0].Reason, tc.reason) {
				t.Fatalf("allowed %v, %+v", d.Allowed, d.Rules)
			}
		})
	}
}

const kyvernoHeader = `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: k}
spec:
  validationFailureAction: Enforce
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["registry.example/*"]
`

func pemOf(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", "\n              ")
}

// count N of M: two keys in one publicKeys are two entries, and count
// says how many must have signed (at most the entries written, as Kyverno
// validates it).
func TestKyvernoCount(t *testing.T) {
	entry := func(pems ...string) string {
		return "        - keys:\n            rekor: {ignoreTlog: true, url: https://rekor.example}\n            publicKeys: |-\n              " + strings.Join(pems, "\n              ") + "\n"
	}
	doc := func(count string, entries ...string) string {
		return kyvernoHeader + "      attestors:\n      - " + count + "entries:\n" + strings.Join(entries, "")
	}
	release, other := pemOf(t, "testdata/release.pub"), pemOf(t, "testdata/other.pub")
	byRelease, byOther := signedBy(keySigner(t, "testdata/release.pub")), signedBy(keySigner(t, "testdata/other.pub"))
	both := append(append([]evidence.VerifiedSignature{}, byRelease...), byOther...)
	for _, tc := range []struct {
		name    string
		doc     string
		sigs    []evidence.VerifiedSignature
		allowed bool
	}{
		{"one of two keys in one entry", doc("count: 1\n        ", entry(release, other)), byOther, true},
		{"both keys of one entry, no count", doc("", entry(release, other)), byRelease, false},
		{"both keys of one entry, both signed", doc("", entry(release, other)), both, true},
		{"two of two entries, one signed", doc("count: 2\n        ", entry(release), entry(other)), byOther, false},
		{"two of two entries, both signed", doc("count: 2\n        ", entry(release), entry(other)), both, true},
	} {
		docs, err := Parse("k.yaml", []byte(tc.doc), LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		d := Evaluate(&Set{Policies: docs.Policies}, kyvernoEvidence("registry.example/app:v1", tc.sigs, nil), now)
		if d.Allowed != tc.allowed {
			t.Errorf("%s: allowed %v: %+v", tc.name, d.Allowed, d.Rules)
		}
	}
	if _, err := Parse("k.yaml", []byte(doc("count: 2\n        ", entry(release, other))), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "count: 2: want 1 to 1") {
		t.Errorf("count above the entries written: %v", err)
	}
}

// skipImageReferences skip an image (reported, not failed); audit rules
// report and admit; verifyDigest without mutateDigest needs a digest.
func TestKyvernoScopeAndActions(t *testing.T) {
	keyed := "      attestors: [{entries: [{keys: {publicKeys: \"" + strings.ReplaceAll(pemOf(t, "testdata/release.pub"), "\n              ", `\n`) + "\"}}]}]\n"
	docs, err := Parse("k.yaml", []byte(kyvernoHeader+"      skipImageReferences: [\"registry.example/base*\"]\n"+keyed), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	d := Evaluate(set, kyvernoEvidence("registry.example/base:v1", nil, nil), now)
	if !d.Allowed || d.Rules[0].Outcome != evidence.OutcomeNotApplicable || !strings.Contains(d.Rules[0].Reason, "skipped") {
		t.Fatalf("skip: %+v", d)
	}
	audit := strings.Replace(kyvernoHeader, "Enforce", "Audit", 1) + "      mutateDigest: false\n" + keyed
	docs, err = Parse("k.yaml", []byte(audit), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d = Evaluate(&Set{Policies: docs.Policies}, kyvernoEvidence("registry.example/app:v1", nil, nil), now)
	if !d.Allowed || d.Violations != 1 || d.Rules[0].Mode != evidence.ModeAudit {
		t.Fatalf("audit: %+v", d)
	}
	if _, err := Parse("k.yaml", []byte(strings.Replace(kyvernoHeader, "Enforce", "Audit", 1)+keyed), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "mutateDigest must be set to false") {
		t.Fatalf("audit with mutateDigest: %v", err)
	}
	digest := kyvernoHeader + "      mutateDigest: false\n      verifyDigest: true\n" + keyed
	docs, err = Parse("k.yaml", []byte(digest), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set = &Set{Policies: docs.Policies}
	signed := signedBy(keySigner(t, "testdata/release.pub"))
	if d := Evaluate(set, kyvernoEvidence("registry.example/app:v1", signed, nil), now); d.Allowed || !strings.Contains(d.Rules[0].Reason, "missing digest") {
		t.Fatalf("tag: %+v", d.Rules)
	}
	if d := Evaluate(set, kyvernoEvidence("registry.example/app@"+payments.Digest, signed, nil), now); !d.Allowed {
		t.Fatalf("digest: %+v", d.Rules)
	}
}

// Namespaced scoping: match namespaces and namespaceSelector, exclude
// namespaces, and a namespaced Policy's own namespace.
func TestKyvernoNamespaces(t *testing.T) {
	keyed := "      attestors: [{entries: [{keys: {publicKeys: \"" + strings.ReplaceAll(pemOf(t, "testdata/release.pub"), "\n              ", `\n`) + "\"}}]}]\n"
	doc := strings.Replace(kyvernoHeader, "match: {any: [{resources: {kinds: [Pod]}}]}", "match: {any: [{resources: {kinds: [Pod], namespaces: [prod]}}]}\n    exclude: {any: [{resources: {namespaces: [kube-system]}}]}", 1) + keyed
	docs, err := Parse("k.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := docs.Policies[0]
	if !p.CoversNamespace("prod", nil) || p.CoversNamespace("dev", nil) || p.CoversNamespace("kube-system", nil) {
		t.Fatalf("namespaces %+v exclude %v", p.Namespaces, p.ExcludeNamespaces)
	}
	namespaced := strings.Replace(strings.Replace(kyvernoHeader, "kind: ClusterPolicy", "kind: Policy", 1), "metadata: {name: k}", "metadata: {name: k, namespace: team}", 1) + keyed
	docs, err = Parse("k.yaml", []byte(namespaced), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := docs.Policies[0]; !p.CoversNamespace("team", nil) || p.CoversNamespace("prod", nil) {
		t.Fatalf("Policy namespaces %+v", p.Namespaces)
	}
}

// Every field dossier cannot honour is refused by name, at its path (and
// line, for fields refused by their presence).
func TestKyvernoRefusals(t *testing.T) {
	keyed := "      attestors: [{entries: [{keys: {publicKeys: \"" + strings.ReplaceAll(pemOf(t, "testdata/release.pub"), "\n              ", `\n`) + "\"}}]}]\n"
	for _, tc := range []struct{ doc, want string }{
		{kyvernoHeader + keyed + "      repository: registry.example/sigs\n", "k.yaml:12: spec.rules[0].verifyImages[0].repository: reading signatures from another repository is not supported"},
		{kyvernoHeader + "      type: Notary\n" + keyed, "spec.rules[0].verifyImages[0].attestors[0].entries[0]: a Notary attestor is certificates (cert, certChain): keys and keyless are Cosign attestors"},
		{kyvernoHeader + "      attestors: [{entries: [{keys: {publicKeys: \"k8s://ns/secret\"}}]}]\n", "publicKeys: the key in Secret ns/secret is read from the Kubernetes API server, by the webhook and serve only"},
		{kyvernoHeader + "      attestors: [{entries: [{keys: {secret: {name: secret, namespace: ns}}}]}]\n", "keys.secret: the key in Secret ns/secret is read from the Kubernetes API server"},
		{kyvernoHeader + "      attestors: [{entries: [{keys: {kms: \"gcpkms://x\"}}]}]\n", "keys.kms: a KMS key is not supported"},
		{kyvernoHeader + "      attestors: [{entries: [{keyless: {issuer: https://i.example, rekor: {url: https://r.example}}}]}]\n", "subject (or subjectRegExp) is required"},
		{kyvernoHeader + "      attestors: [{entries: [{keyless: {issuer: https://i.example, subject: s}}]}]\n", "either rekor or roots is required"},
		{kyvernoHeader + "      attestors: [{entries: [{keyless: {issuer: https://i.example, subject: s, rekor: {url: https://r.example}, additionalExtensions: {githubWorkflowTrigger: push}}}]}]\n", "additionalExtensions: certificate extensions is not supported"},
		{kyvernoHeader + "      attestations: [{type: https://slsa.dev/provenance/v1, conditions: [{all: [{key: \"{{ request.object.metadata.name }}\", operator: Equals, value: x}]}], attestors: [{entries: [{keyless: {issuer: i, subject: s, rekor: {url: u}}}]}]}]\n", "request is Kyverno admission context"},
		{kyvernoHeader + "      attestations: [{type: https://slsa.dev/provenance/v1, conditions: [{all: [{key: \"{{ base64_decode(x) }}\", operator: Equals, value: x}]}], attestors: [{entries: [{keyless: {issuer: i, subject: s, rekor: {url: u}}}]}]}]\n", "function base64_decode is not supported"},
		{kyvernoHeader + "      attestations: [{type: https://slsa.dev/provenance/v1, conditions: [{all: [{key: x, operator: Matches, value: x}]}], attestors: [{entries: [{keyless: {issuer: i, subject: s, rekor: {url: u}}}]}]}]\n", "\"Matches\" is not supported"},
		{kyvernoHeader + "      attestations: [{type: https://slsa.dev/provenance/v1}]\n", "attestors: none given"},
		{strings.Replace(kyvernoHeader, "kinds: [Pod]", "kinds: [Pod], selector: {matchLabels: {app: x}}", 1) + keyed, "selector: matching workloads by their labels is not supported"},
		{strings.Replace(kyvernoHeader, "kinds: [Pod]", "kinds: [ConfigMap]", 1) + keyed, "\"ConfigMap\": dossier judges the images of workloads"},
		{strings.Replace(kyvernoHeader, "  rules:", "  failurePolicy: Ignore\n  rules:", 1) + keyed, "Ignore is not supported"},
		{strings.Replace(kyvernoHeader, "    verifyImages:", "    context: [{name: x, configMap: {name: y}}]\n    verifyImages:", 1) + keyed, "k.yaml:9: spec.rules[0].context: rule context"},
		{kyvernoHeader + keyed + "      unknownField: 1\n", "unknown field"},
		{"apiVersion: policies.kyverno.io/v1\nkind: ImageValidatingPolicy\nmetadata: {name: x}\nspec: {}\n", "spec.matchConstraints: a matchConstraints with at least one resource rule is required"},
		{kyvernoHeader + "      key: x\n      attestations: [{type: t, attestors: [{entries: [{keys: {publicKeys: y}}]}]}]\n", "shorthand beside attestations"},
	} {
		_, err := Parse("k.yaml", []byte(tc.doc), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v\n%s", tc.want, err, tc.doc)
		}
	}
}

// Keys kept in Kubernetes Secrets (k8s://NAMESPACE/NAME, or keys.secret)
// are the cosign.pub the reader gives, read at each load; a Secret that
// cannot be read, holds no key or is named wrongly fails the load by path.
func TestKyvernoKeysInSecrets(t *testing.T) {
	release, err := os.ReadFile("testdata/release.pub")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"keys/release": string(release), "keys/empty": " \n"}
	var reads []string
	opts := LoadOptions{SecretKey: func(namespace, name string) ([]byte, error) {
		reads = append(reads, namespace+"/"+name)
		if namespace == "down" {
			return nil, fmt.Errorf("the API server answered 503 Service Unavailable")
		}
		data, ok := secrets[namespace+"/"+name]
		if !ok {
			return nil, fmt.Errorf("no such Secret: %w", fs.ErrNotExist)
		}
		return []byte(data), nil
	}}
	signed := kyvernoEvidence("registry.example/app:v1", signedBy(keySigner(t, "testdata/release.pub")), nil)
	for _, entry := range []string{`{keys: {publicKeys: "k8s://keys/release"}}`, `{keys: {secret: {namespace: keys, name: release}}}`} {
		reads = nil
		docs, err := Parse("k.yaml", []byte(kyvernoHeader+"      attestors: [{entries: ["+entry+"]}]\n"), opts)
		if err != nil {
			t.Fatalf("%s: %v", entry, err)
		}
		if !slices.Equal(reads, []string{"keys/release"}) {
			t.Errorf("%s: read %v, want keys/release once", entry, reads)
		}
		set := &Set{Policies: docs.Policies}
		if d := Evaluate(set, signed, now); !d.Allowed {
			t.Errorf("%s: signed by the Secret's key, denied: %+v", entry, d.Rules)
		}
		if d := Evaluate(set, kyvernoEvidence("registry.example/app:v1", nil, nil), now); d.Allowed {
			t.Errorf("%s: unsigned, allowed", entry)
		}
	}
	// a Secret without a key (deleted, or no cosign.pub) revokes it: the
	// entry verifies nothing, the policy still loads, and the denial says why
	for entry, why := range map[string]string{
		`{keys: {publicKeys: "k8s://keys/missing"}}`: "the key in Secret keys/missing: no such Secret",
		`{keys: {publicKeys: "k8s://keys/empty"}}`:   "Secret keys/empty holds no public key in cosign.pub",
	} {
		docs, err := Parse("k.yaml", []byte(kyvernoHeader+"      attestors: [{entries: ["+entry+"]}]\n"), opts)
		if err != nil {
			t.Fatalf("%s: %v", entry, err)
		}
		d := Evaluate(&Set{Policies: docs.Policies}, signed, now)
		if d.Allowed || !strings.Contains(fmt.Sprint(d.Rules), why) {
			t.Errorf("%s: signed by the key that was in it: %+v, want denied saying %q", entry, d.Rules, why)
		}
		if !strings.Contains(strings.Join(docs.Warnings, "\n"), why) {
			t.Errorf("%s: no warning says %q: %v", entry, why, docs.Warnings)
		}
	}
	for entry, want := range map[string]string{
		`{keys: {publicKeys: "k8s://down/release"}}`:                    "the key in Secret down/release: the API server answered 503",
		`{keys: {publicKeys: "k8s://keys"}}`:                            "a key in a Secret is k8s://NAMESPACE/NAME",
		`{keys: {publicKeys: "k8s://keys/a/b"}}`:                        "a key in a Secret is k8s://NAMESPACE/NAME",
		`{keys: {publicKeys: "k8s://Keys/release"}}`:                    `Secret namespace "Keys"`,
		`{keys: {secret: {namespace: keys}}}`:                           `Secret name ""`,
		`{keys: {secret: {namespace: keys, name: release, key: x}}}`:    "unknown field",
		`{keys: {publicKeys: "k8s://keys/release", secret: {name: x}}}`: "give publicKeys or a secret, not both",
	} {
		_, err := Parse("k.yaml", []byte(kyvernoHeader+"      attestors: [{entries: ["+entry+"]}]\n"), opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", entry, want, err)
		}
	}
}

// The deprecated shorthands old tutorials paste (image, key) load as the
// attestor they stand for.
func TestKyvernoShorthands(t *testing.T) {
	doc := strings.Replace(kyvernoHeader, "    - imageReferences: [\"registry.example/*\"]\n", "    - image: \"registry.example/*\"\n      key: \""+strings.ReplaceAll(pemOf(t, "testdata/release.pub"), "\n              ", `\n`)+"\"\n", 1)
	docs, err := Parse("k.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	if d := Evaluate(set, kyvernoEvidence("registry.example/app:v1", signedBy(keySigner(t, "testdata/release.pub")), nil), now); !d.Allowed {
		t.Fatalf("%+v", d.Rules)
	}
	if d := Evaluate(set, kyvernoEvidence("registry.example/app:v1", signedBy(keySigner(t, "testdata/other.pub")), nil), now); d.Allowed {
		t.Fatalf("%+v", d.Rules)
	}
}

// Kyverno's operators over predicate values, with time_since on the
// decision's clock.
func TestKyvernoConditions(t *testing.T) {
	predicate := []byte(`{"metadata":{"scanFinishedOn":"2026-05-09T12:00:00Z"},"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.50"},
 "builder":{"id":"https://github.com/acme/x"},"results":[{"id":"CVE-1","severity":"LOW"},{"id":"CVE-2","severity":"HIGH"}],"count":3}`)
	for _, tc := range []struct {
		key, operator, value string
		holds                bool
	}{
		{`"{{ time_since('','{{metadata.scanFinishedOn}}','') }}"`, "LessThanOrEquals", `"168h"`, true},
		{`"{{ time_since('','{{metadata.scanFinishedOn}}','') }}"`, "LessThan", `"12h"`, false},
		{`"{{ scanner.uri }}"`, "Equals", `"pkg:github/aquasecurity/trivy@*"`, true},
		{`"{{ scanner.uri }}"`, "NotEquals", `"pkg:github/anchore/*"`, true},
		{`"{{ results[].severity }}"`, "AnyIn", `["HIGH", "CRITICAL"]`, true},
		{`"{{ results[].severity }}"`, "AllNotIn", `["HIGH", "CRITICAL"]`, false},
		{`"{{ results[].severity }}"`, "AllIn", `["LOW", "MEDIUM", "HIGH"]`, true},
		{`"{{ results[].severity }}"`, "AnyNotIn", `["LOW"]`, true},
		{`"{{ count }}"`, "GreaterThan", `2`, true},
		{`"{{ count }}"`, "lessthan", `"3"`, false},
		{`"{{ builder.id }}"`, "In", `["https://github.com/acme/*"]`, true},
		{`"{{ builder.id }}"`, "NotIn", `["https://github.com/acme/*"]`, false},
		{`"{{ regex_match('^https://github.com/acme/x$', '{{ builder.id }}') }}"`, "Equals", `true`, true},
		{`"{{ image.registry }}"`, "Equals", `"registry.example"`, true},
		{`"{{ missing.field }}"`, "Equals", `"x"`, false},
	} {
		doc := kyvernoHeader + "      attestations: [{type: https://slsa.dev/provenance/v1, conditions: [{all: [{key: " + tc.key + ", operator: " + tc.operator + ", value: " + tc.value + "}]}], attestors: [{entries: [{keyless: {issuer: i, subject: s, rekor: {url: u}}}]}]}]\n"
		docs, err := Parse("k.yaml", []byte(doc), LoadOptions{})
		if err != nil {
			t.Fatalf("%s %s %s: %v", tc.key, tc.operator, tc.value, err)
		}
		var conds PredicateConditions
		docs.Policies[0].EachRule(func(r Rule) {
			if r.Attestation != nil {
				conds = r.Attestation.Conditions
			}
		})
		why := conds.Check(predicate, ImageFacts{Reference: "registry.example/app:v1", Subject: payments}, now)
		if (why == "") != tc.holds {
			t.Errorf("%s %s %s: holds %v (%s)", tc.key, tc.operator, tc.value, why == "", why)
		}
	}
}

// A value from the predicate never becomes part of another expression: a
// builder id crafted to close the quotes of regex_match is refused.
func TestKyvernoConditionInjection(t *testing.T) {
	doc := kyvernoHeader + "      attestations: [{type: https://slsa.dev/provenance/v1, conditions: [{all: [{key: \"{{ regex_match('^https://github.com/acme/x$', '{{ builder.id }}') }}\", operator: Equals, value: true}]}], attestors: [{entries: [{keyless: {issuer: i, subject: s, rekor: {url: u}}}]}]}]\n"
	docs, err := Parse("k.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var conds PredicateConditions
	docs.Policies[0].EachRule(func(r Rule) {
		if r.Attestation != nil {
			conds = r.Attestation.Conditions
		}
	})
	evil := []byte(`{"builder":{"id":"x') || ` + "`true`" + ` || regex_match('a"}}`)
	if why := conds.Check(evil, ImageFacts{Subject: payments}, now); why == "" || !strings.Contains(why, "would become part of another expression") {
		t.Fatalf("injection: %q", why)
	}
}

// Kyverno's wildcards: * crosses /, ? is one character, the whole name.
func TestKyvernoWildcard(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		match         bool
	}{
		{"ghcr.io/*", "ghcr.io/a/b/c:v1", true},
		{"ghcr.io/kyverno/test-verify-image*", "ghcr.io/kyverno/test-verify-image:signed", true},
		{"nginx*", "docker.io/nginx:latest", false},
		{"docker.io/nginx:1.?", "docker.io/nginx:1.2", true},
		{"docker.io/nginx:1.?", "docker.io/nginx:1.22", false},
		{"a.b/c", "a.b/c", true},
		{"a.b/c", "aXb/c", false},
		{"*", "", true},
		{"", "", true},
	} {
		if got := wildcardMatch(tc.pattern, tc.name); got != tc.match {
			t.Errorf("%q ~ %q: %v", tc.pattern, tc.name, got)
		}
	}
	names := kyvernoImageNames(&evidence.Collected{Reference: "nginx:1.27", Subject: evidence.Subject{Repository: "index.docker.io/library/nginx", Digest: payments.Digest}})
	for _, want := range []string{"docker.io/nginx:1.27", "docker.io/library/nginx:1.27", "docker.io/nginx@" + payments.Digest} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("names %v lack %s", names, want)
		}
	}
}

// FuzzKyverno feeds Kyverno documents to the loader: an error or a policy
// that evaluates, never a panic.
func FuzzKyverno(f *testing.F) {
	for _, path := range []string{"testdata/kyverno/check-image.yaml", "testdata/kyverno/check-slsa-attestations.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(kyvernoHeader + "      attestations: [{type: vuln, conditions: [{any: [{key: \"{{ time_since('','{{ metadata.scanFinishedOn }}','') }}\", operator: LessThanOrEquals, value: 168h}]}], attestors: [{count: 1, entries: [{keyless: {issuer: i, subject: \"*@acme.example\", rekor: {url: u}}}]}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data, LoadOptions{})
		if err != nil {
			return
		}
		ev := fullEvidence(t)
		ev.Attestations = append(ev.Attestations, slsa02(evidence.Signer{Identity: slsaBuilder, Issuer: ghIssuer}, slsaBuilder))
		Evaluate(&Set{Policies: docs.Policies}, ev, now)
	})
}

// kyvernoBenchPolicies are one requirement written twice: a signature by
// the release key and a SLSA provenance by the release workflow whose
// builder is the release workflow — as a Kyverno ClusterPolicy (the
// builder checked by a regex_match condition) and as a SupplyChainPolicy.
func kyvernoBenchPolicies(b *testing.B) (kyverno, native *Set) {
	pub, err := os.ReadFile("testdata/release.pub")
	if err != nil {
		b.Fatal(err)
	}
	key := strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", `\n`)
	k := kyvernoHeader + "      attestors: [{entries: [{keys: {publicKeys: \"" + key + "\", rekor: {url: u, ignoreTlog: true}}}]}]\n" +
		"      attestations: [{type: https://slsa.dev/provenance/v0.2, conditions: [{all: [{key: \"{{ regex_match('^" + slsaBuilder + "$', '{{ builder.id }}') }}\", operator: Equals, value: true}]}]," +
		" attestors: [{entries: [{keyless: {issuer: \"" + ghIssuer + "\", subject: \"" + slsaBuilder + "\", rekor: {url: u}}}]}]}]\n"
	n := policyHeader + "spec:\n  images: [\"registry.example/**\"]\n  signers:\n    - {name: release, key: {data: \"" + key + "\"}}\n" +
		"    - {name: ci, keyless: {identities: [{issuer: \"" + ghIssuer + "\", subject: \"" + slsaBuilder + "\"}]}}\n" +
		"  rules:\n    - {name: signed, signature: {signers: [release]}}\n" +
		"    - {name: provenance, attestation: {predicateType: slsaprovenance02, signers: [ci], builderIDs: [\"" + slsaBuilder + "\"]}}\n"
	for i, doc := range []string{k, n} {
		docs, err := Parse("bench.yaml", []byte(doc), LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		set := &Set{Policies: docs.Policies}
		if i == 0 {
			kyverno = set
		} else {
			native = set
		}
	}
	return kyverno, native
}

func benchmarkSignedProvenance(b *testing.B, kyverno bool) {
	k, n := kyvernoBenchPolicies(b)
	set := n
	if kyverno {
		set = k
	}
	_, fp, err := publicKey(string(must(os.ReadFile("testdata/release.pub"))))
	if err != nil {
		b.Fatal(err)
	}
	att := slsa02(evidence.Signer{Identity: slsaBuilder, Issuer: ghIssuer}, slsaBuilder)
	att.Provenance = &evidence.Provenance{BuilderID: slsaBuilder}
	ev := kyvernoEvidence("registry.example/acme/payments:v1", signedBy(evidence.Signer{KeyFingerprint: fp}), []evidence.Attestation{att})
	b.ReportAllocs()
	for b.Loop() {
		if d := Evaluate(set, ev, now); !d.Allowed {
			b.Fatalf("denied: %+v", d.Rules)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkEvaluateKyverno and BenchmarkEvaluateNativeTwin decide the same
// requirement on the same evidence, written for Kyverno and for dossier.
func BenchmarkEvaluateKyverno(b *testing.B)    { benchmarkSignedProvenance(b, true) }
func BenchmarkEvaluateNativeTwin(b *testing.B) { benchmarkSignedProvenance(b, false) }

// A verifyImages rule of type Notary trusts its attestors' certificates
// as one CA trust store, as Kyverno's Notary verifier does: every
// registry, level strict, any identity those CAs issued.
func TestKyvernoNotary(t *testing.T) {
	notary := func(attestor string) string {
		return kyvernoHeader + "      type: Notary\n      attestors: [{entries: [" + attestor + "]}]\n"
	}
	root := pemOf(t, "testdata/notation/truststore/x509/ca/acme/root.crt")
	docs, err := Parse("k.yaml", []byte(notary("{certificates: {cert: \""+strings.ReplaceAll(root, "\n              ", `\n`)+"\"}}")), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s Signer
	docs.Policies[0].EachRule(func(r Rule) {
		if r.Signature != nil {
			s = r.Signature.Signers[0]
		}
	})
	if s.Notation == nil {
		t.Fatalf("signer %+v is not a Notation signer", s)
	}
	tp := s.Notation.Policy().TrustPolicies
	if len(tp) != 1 || !slices.Equal(tp[0].RegistryScopes, []string{"*"}) || tp[0].SignatureVerification.VerificationLevel != "strict" ||
		!slices.Equal(tp[0].TrustStores, []string{"ca:kyverno"}) || !slices.Equal(tp[0].TrustedIdentities, []string{"*"}) {
		t.Errorf("trust policy %+v", tp)
	}
	if !slices.ContainsFunc(docs.Warnings, func(w string) bool { return strings.Contains(w, "any identity these CAs issued") }) {
		t.Errorf("warnings %q", docs.Warnings)
	}

	// a certificate no CA: not a trust anchor notation-go accepts
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, ca, &leafKey.PublicKey, caKey)
	leaf := strings.ReplaceAll(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))), "\n", `\n`)
	for _, tc := range []struct{ doc, want string }{
		{notary("{certificates: {cert: \"" + leaf + "\"}}"), "spec.rules[0].verifyImages[0].attestors[0].entries[0].certificates: "},
		{notary("{certificates: {cert: \"not a certificate\"}}"), "certificates.cert: not PEM certificates"},
		{notary("{certificates: {}}"), "certificates.cert: give the PEM certificate(s) of the CA"},
		{notary("{keyless: {issuer: i, subject: s, rekor: {url: u}}}"), "a Notary attestor is certificates"},
		{kyvernoHeader + "      type: Notary\n      attestations: [{type: https://slsa.dev/provenance/v1, attestors: [{entries: [{certificates: {cert: x}}]}]}]\n", "attestations: Notary attestations (referrer artifacts verified with Notation) is not supported"},
		{kyvernoHeader + "      attestors: [{entries: [{certificates: {cert: x, certChain: y}}]}]\n", "certChain: verifying a Cosign signing certificate against a chain is not supported"},
	} {
		_, err := Parse("k.yaml", []byte(tc.doc), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v\n%s", tc.want, err, tc.doc)
		}
	}
}
