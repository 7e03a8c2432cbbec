package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// notationTrustOf is the trust configuration digest of the Notation
// signer of policy p's rule named rule: the digest verification records
// on a signature that configuration verified.
func notationTrustOf(t *testing.T, p *Policy, rule string) string {
	t.Helper()
	digest := ""
	p.EachRule(func(r Rule) {
		if r.Name == rule && r.Signature != nil && r.Signature.Signers[0].Notation != nil {
			digest = r.Signature.Signers[0].Notation.Digest()
		}
	})
	if digest == "" {
		t.Fatalf("policy %s has no Notation rule %s: %+v", p.Name, rule, p.Rules)
	}
	return digest
}

// signedImage is the evidence of an image of repo, in namespace, with a
// verified signature by each signer.
func signedImage(repo, namespace string, signers ...evidence.Signer) *evidence.Collected {
	subject := evidence.Subject{Repository: repo, Digest: payments.Digest}
	ev := &evidence.Collected{Subject: subject, Reference: repo + ":v1", Namespace: namespace}
	for i, s := range signers {
		ev.Signatures = append(ev.Signatures, evidence.VerifiedSignature{Subject: subject, Verification: evidence.Verification{Signer: s, StoredAt: "sha256:" + strings.Repeat(string(rune('a'+i)), 4)}})
	}
	return ev
}

// Ratify v2's sample Executors load as dossier policies: one per set of
// images the verifiers judge alike, whose rules are the threshold rule
// tree, each saying what it became; and they decide as Ratify routes and
// counts: the most specific scope's executor judges an image, a threshold
// of 1 is met by either signature, 0 needs every rule, a cosign trust
// policy judges the images of its scopes, a NamespacedExecutor alone
// judges its namespace.
func TestLoadRatifyExecutor(t *testing.T) {
	docs, err := Load("testdata/ratify-v2")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Policy{}
	for _, p := range docs.Policies {
		byName[p.Name] = p
		if (p.Kind != KindRatifyExecutor && p.Kind != KindRatifyNamespacedExecutor) || p.Mode != evidence.ModeEnforce || p.Digest == "" || len(p.Explanation) < 3 {
			t.Errorf("%s: %+v", p.Name, p)
		}
	}
	want := []string{"executor-cosign-keyless", "executor-cosign-keyless.quay.io-acme-payments", "executor-sample", "executor-payments", "ratify-gatekeeper-provider-executor-1", "namespacedexecutor-sample"}
	if len(docs.Policies) != len(want) {
		t.Fatalf("%d policies: %v", len(docs.Policies), slices.Collect(func(yield func(string) bool) {
			for _, p := range docs.Policies {
				yield(p.Name)
			}
		}))
	}
	for _, name := range want {
		if byName[name] == nil {
			t.Fatalf("no policy %s", name)
		}
	}
	helm := byName["ratify-gatekeeper-provider-executor-1"]
	if r := helm.Rules; len(r) != 1 || r[0].Name != "threshold-policy" || r[0].AtLeast != 1 || len(r[0].AnyOf) != 2 || r[0].AnyOf[1].Rules[0].Signature.Signers[0].KeyFingerprint != fingerprintOf(t, "testdata/release.pub") {
		t.Errorf("helm: %+v", r)
	}
	explained := strings.Join(helm.Explanation, "\n")
	for _, says := range []string{"threshold-policy: 1 of [notation-1; cosign-1]", "verifier notation-1 (notation): a Notation signature verified by trust policy statement \"default\" (level strict, registry scopes *",
		"verifier cosign-1 (cosign), trust policy 0 for these images: a cosign signature by one of 1 keys", "stores (registry-store): not used"} {
		if !strings.Contains(explained, says) {
			t.Errorf("helm's explanation lacks %q:\n%s", says, explained)
		}
	}
	if p := byName["executor-payments"]; len(p.Rules) != 2 || p.Rules[0].Name != "notation-release" || p.Rules[1].Name != "cosign-release" {
		t.Errorf("payments: %+v", p.Rules)
	} else if n, c := p.RatifyVerifierType("notation-release"), p.RatifyVerifierType("cosign-release"); n != "notation" || c != "cosign" {
		t.Errorf("payments' verifier types: %q and %q, want notation and cosign", n, c)
	}
	if kind := helm.RatifyVerifierType("threshold-policy"); kind != "" {
		t.Errorf("a threshold group is no verifier, yet has type %q", kind)
	}
	if p := byName["executor-sample"]; len(p.ExcludeImages) != 1 || p.ExcludeImages[0].Pattern != "registry.example/acme/payments" || !strings.Contains(strings.Join(p.Explanation, "\n"), "except those of registry.example/acme/payments") {
		t.Errorf("executor-sample does not leave executor-payments' repository to it: %+v %q", p.ExcludeImages, p.Explanation)
	}

	set := &Set{Policies: docs.Policies}
	key, other := keySigner(t, "testdata/release.pub"), keySigner(t, "testdata/other.pub")
	keyless := evidence.Signer{Identity: release, Issuer: ghIssuer}
	notary := func(policy, rule string) evidence.Signer {
		return evidence.Signer{CertificateSubject: "CN=release,O=Acme,ST=WA,C=US", NotationTrust: notationTrustOf(t, byName[policy], rule)}
	}
	sample, pay, helmNotary, team := notary("executor-sample", "notation-1"), notary("executor-payments", "notation-release"), notary("ratify-gatekeeper-provider-executor-1", "notation-1"), notary("namespacedexecutor-sample", "notation-1")
	for _, c := range []struct {
		name     string
		ev       *evidence.Collected
		allowed  bool
		policies []string
		says     string
	}{
		{"Notation-signed, the registry's executor", signedImage("registry.example/acme/web", "shop", sample), true, []string{"executor-sample"}, ""},
		{"unsigned", signedImage("registry.example/acme/web", "shop"), false, []string{"executor-sample"}, "no signature by Notation signer notation-1"},
		{"key-signed where Notation is required", signedImage("registry.example/acme/web", "shop", key), false, []string{"executor-sample"}, "but the policy requires Notation signer notation-1"},
		{"payments, both signatures", signedImage("registry.example/acme/payments", "shop", pay, key), true, []string{"executor-payments"}, ""},
		{"payments, Notation only", signedImage("registry.example/acme/payments", "shop", pay), false, []string{"executor-payments"}, "key cosign-release-key-0"},
		{"payments, the key only", signedImage("registry.example/acme/payments", "shop", key), false, []string{"executor-payments"}, "Notation signer notation-release"},
		{"payments, Notation verified by the registry executor's trust", signedImage("registry.example/acme/payments", "shop", sample, key), false, []string{"executor-payments"}, "but the policy requires Notation signer notation-release"},
		{"helm, the key only", signedImage("ghcr.io/acme/app", "", key), true, []string{"ratify-gatekeeper-provider-executor-1"}, ""},
		{"helm, Notation only", signedImage("ghcr.io/acme/app", "", helmNotary), true, []string{"ratify-gatekeeper-provider-executor-1"}, ""},
		{"helm, unsigned", signedImage("ghcr.io/acme/app", ""), false, []string{"ratify-gatekeeper-provider-executor-1"}, "0 of 1 required"},
		{"helm, another key", signedImage("ghcr.io/acme/app", "", other), false, []string{"ratify-gatekeeper-provider-executor-1"}, "0 of 1 required"},
		{"helm, a Notation signature of another executor's trust", signedImage("ghcr.io/acme/app", "", sample), false, []string{"ratify-gatekeeper-provider-executor-1"}, "0 of 1 required"},
		{"quay.io, keyless", signedImage("quay.io/acme/web", "", keyless), true, []string{"executor-cosign-keyless"}, ""},
		{"quay.io, the key where keyless is trusted", signedImage("quay.io/acme/web", "", key), false, []string{"executor-cosign-keyless"}, "but the policy requires"},
		{"quay.io payments, the key", signedImage("quay.io/acme/payments", "", key), true, []string{"executor-cosign-keyless.quay.io-acme-payments"}, ""},
		{"quay.io payments, keyless where its trust policy wants the key", signedImage("quay.io/acme/payments", "", keyless), false, []string{"executor-cosign-keyless.quay.io-acme-payments"}, "key cosign-verifier-1-key-0"},
		{"a host one label below *.internal.example", signedImage("ci.internal.example/acme/app", "", keyless), true, []string{"executor-cosign-keyless"}, ""},
		{"a host two labels below", signedImage("a.ci.internal.example/acme/app", "", keyless), false, nil, "no policy matches"},
		{"*.internal.example itself", signedImage("internal.example/acme/app", "", keyless), false, nil, "no policy matches"},
		{"a namespace of its own: the cluster executor's Notation trust", signedImage("registry.example/acme/web", "team", sample), false, []string{"namespacedexecutor-sample"}, "but the policy requires Notation signer notation-1"},
		{"a namespace of its own: its own trust", signedImage("registry.example/acme/web", "team", team), true, []string{"namespacedexecutor-sample"}, ""},
		{"a namespace of its own judges payments too", signedImage("registry.example/acme/payments", "team", team), true, []string{"namespacedexecutor-sample"}, ""},
		{"outside admission, the cluster's and the namespace's executors", signedImage("registry.example/acme/web", "", sample, team), true, []string{"executor-sample", "namespacedexecutor-sample"}, ""},
		{"outside admission, the cluster's trust only", signedImage("registry.example/acme/web", "", sample), false, []string{"executor-sample", "namespacedexecutor-sample"}, "Notation signer notation-1"},
		{"a namespace of its own, outside its scopes", signedImage("ghcr.io/acme/app", "team", key), false, nil, "no policy matches"},
	} {
		d := Evaluate(set, c.ev, now)
		if d.Allowed != c.allowed || !slices.Equal(d.Policies, c.policies) {
			t.Errorf("%s: allowed %v by %v, want %v by %v: %+v", c.name, d.Allowed, d.Policies, c.allowed, c.policies, d.Rules)
			continue
		}
		if c.says == "" {
			continue
		}
		found := false
		for _, r := range d.Failed() {
			found = found || strings.Contains(r.Reason, c.says)
		}
		if !found {
			t.Errorf("%s: no failed rule says %q: %+v", c.name, c.says, d.Failed())
		}
	}
}

// A threshold rule tree becomes nested rules: a group of 2 of 3, inside
// the root's "all", each verifier's rule met by its own signature.
func TestRatifyExecutorThresholdTree(t *testing.T) {
	doc := ratifyExecutorDoc(t, `        rules:
          - verifierName: cosign-a
          - threshold: 2
            rules:
              - verifierName: cosign-b
              - verifierName: cosign-c
              - verifierName: notation-1
`)
	docs, err := ratifyLoad(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	p := docs.Policies[0]
	if len(p.Rules) != 2 || p.Rules[0].Name != "cosign-a" || p.Rules[1].Name != "rules[1]" || p.Rules[1].AtLeast != 2 || len(p.Rules[1].AnyOf) != 3 {
		t.Fatalf("rules: %+v", p.Rules)
	}
	if !strings.Contains(strings.Join(p.Explanation, "\n"), "threshold-policy: all of [cosign-a; 2 of [cosign-b; cosign-c; notation-1]]") {
		t.Errorf("explanation: %q", p.Explanation)
	}
	a, b, c := ratifyKey(t, "a").signer, ratifyKey(t, "b").signer, ratifyKey(t, "c").signer
	set := &Set{Policies: docs.Policies}
	notary := evidence.Signer{CertificateSubject: "CN=release,O=Acme,ST=WA,C=US", NotationTrust: notationTrustOf(t, p, "notation-1")}
	for _, tc := range []struct {
		name    string
		signers []evidence.Signer
		allowed bool
	}{
		{"a, b and Notation", []evidence.Signer{a, b, notary}, true},
		{"a, b and c", []evidence.Signer{a, b, c}, true},
		{"a, c and Notation", []evidence.Signer{a, c, notary}, true},
		{"a and b only", []evidence.Signer{a, b}, false},
		{"b, c and Notation, not a", []evidence.Signer{b, c, notary}, false},
		{"a alone", []evidence.Signer{a}, false},
	} {
		if d := Evaluate(set, signedImage("registry.example/acme/web", "shop", tc.signers...), now); d.Allowed != tc.allowed {
			t.Errorf("%s: allowed %v: %+v", tc.name, d.Allowed, d.Rules)
		}
	}
}

type ratifyTestKey struct {
	pem    string
	signer evidence.Signer
}

// ratifyKeys are the test's cosign keys by name, made once per run.
var ratifyKeys = map[string]ratifyTestKey{}

func ratifyKey(t testing.TB, name string) ratifyTestKey {
	if k, ok := ratifyKeys[name]; ok {
		return k
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	k := ratifyTestKey{pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), signer: evidence.Signer{KeyFingerprint: evidence.KeyFingerprint(der)}}
	ratifyKeys[name] = k
	return k
}

// ratifyExecutorDoc is an Executor over registry.example with cosign
// verifiers cosign-a, -b and -c (a key each) and notation-1 (the test
// CA), and policy as its threshold policy's root rule.
func ratifyExecutorDoc(t testing.TB, policy string) string {
	root, err := os.ReadFile("testdata/notation/truststore/x509/ca/acme/root.crt")
	if err != nil {
		t.Fatal(err)
	}
	indent := func(text string, n int) string {
		return strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n"+strings.Repeat(" ", n))
	}
	doc := `apiVersion: config.ratify.sh/v2alpha1
kind: Executor
metadata: {name: e}
spec:
  scopes: [registry.example]
  stores: [{type: registry-store}]
  verifiers:
`
	for _, name := range []string{"a", "b", "c"} {
		doc += `    - name: cosign-` + name + `
      type: cosign
      parameters:
        trustPolicies:
          - keys:
              inline:
                keys: |
                  ` + indent(ratifyKey(t, name).pem, 18) + `
            ignoreTLog: true
            ignoreObserverTimestamps: true
`
	}
	return doc + `    - name: notation-1
      type: notation
      parameters:
        trustedIdentities: ["x509.subject: CN=release,O=Acme,ST=WA,C=US"]
        certificates:
          - inline:
              certs: |
                ` + indent(string(root), 16) + `
  policyEnforcer:
    type: threshold-policy
    parameters:
      policy:
` + policy
}

// ratifyLoad loads docs as the file x.yaml.
func ratifyLoad(t *testing.T, docs string) (*Documents, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(path, []byte(docs), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

// What dossier cannot judge as Ratify would, and what Ratify itself
// refuses, is refused by name: the file, the line when the field is there,
// and the field's path.
func TestRatifyExecutorRefusals(t *testing.T) {
	one := "        rules: [{verifierName: cosign-a}]\n"
	base := ratifyExecutorDoc(t, one)
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("the base document has no %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	keyless := "          - certificateIdentity: https://github.com/acme/payments/.github/workflows/release.yml@refs/tags/v1.2.0\n            certificateOIDCIssuer: https://token.actions.githubusercontent.com\n"
	cosignA := "          - keys:\n              inline:\n                keys: |\n                  " + strings.ReplaceAll(strings.TrimSpace(ratifyKey(t, "a").pem), "\n", "\n                  ") + "\n            ignoreTLog: true\n            ignoreObserverTimestamps: true\n"
	if !strings.Contains(base, cosignA) {
		t.Fatal("the base document's cosign-a is not cosignA")
	}
	for name, c := range map[string]struct{ docs, says string }{
		"no policy enforcer":            {base[:strings.Index(base, "  policyEnforcer:")], "x.yaml: line 5: spec.policyEnforcer: missing: without a policy enforcer Ratify decides nothing"},
		"another enforcer":              {edit("type: threshold-policy", "type: config-policy"), `spec.policyEnforcer.type: "config-policy": want threshold-policy`},
		"no root rule":                  {base[:strings.Index(base, "      policy:")] + "      {}\n", "spec.policyEnforcer.parameters.policy: missing: the root rule"},
		"a verifier at the root":        {ratifyExecutorDoc(t, "        verifierName: cosign-a\n"), "policy.verifierName: the root rule names no verifier"},
		"a rule of nothing":             {ratifyExecutorDoc(t, "        rules: [{threshold: 0}]\n"), "policy.rules[0]: name a verifier (verifierName) or list rules"},
		"a threshold above its rules":   {ratifyExecutorDoc(t, "        threshold: 2\n        rules: [{verifierName: cosign-a}]\n"), "policy.threshold: 2 of 1 rules: Ratify refuses a threshold above the number of rules"},
		"a negative threshold":          {ratifyExecutorDoc(t, "        threshold: -1\n        rules: [{verifierName: cosign-a}]\n"), "policy.threshold: -1: a threshold is 0"},
		"a fractional threshold":        {ratifyExecutorDoc(t, "        threshold: 1.5\n        rules: [{verifierName: cosign-a}, {verifierName: cosign-b}]\n"), `policy.threshold: "1.5": a threshold is a whole number`},
		"rules nested under a verifier": {ratifyExecutorDoc(t, "        rules:\n          - verifierName: cosign-a\n            rules: [{verifierName: notation-1}]\n"), "policy.rules[0].rules: rules under a verifier's rule judge the artifacts attached to the artifact it verified"},
		// ratify.dev's nested example names an sbom verifier Ratify v2 does not have
		"ratify.dev's sbom-verifier":                  {ratifyExecutorDoc(t, "        rules:\n          - rules:\n              - verifierName: notation-1\n              - verifierName: cosign-a\n            threshold: 1\n          - verifierName: sbom-verifier\n"), `policy.rules[1].verifierName: "sbom-verifier" is no verifier of this executor`},
		"an unknown rule field":                       {ratifyExecutorDoc(t, "        rules: [{verifierName: cosign-a, artifactType: x}]\n"), "policy.rules[0].artifactType: unknown field"},
		"no scopes":                                   {edit("  scopes: [registry.example]\n", ""), "spec.scopes: list at least one scope"},
		"the * scope":                                 {edit("scopes: [registry.example]", `scopes: ["*"]`), `x.yaml: line 5: spec.scopes[0]: "*": Ratify refuses "*" as a scope`},
		"ratify.dev's ghcr.io/*":                      {edit("scopes: [registry.example]", `scopes: ["ghcr.io/*"]`), `spec.scopes[0]: "ghcr.io/*": a repository scope names one repository, without wildcards`},
		"a tag":                                       {edit("scopes: [registry.example]", `scopes: ["registry.example/app:v1"]`), "a repository scope names no tag or digest"},
		"a wildcard inside":                           {edit("scopes: [registry.example]", `scopes: ["a.*.example"]`), "the wildcard begins the scope"},
		"no host":                                     {edit("scopes: [registry.example]", `scopes: ["nginx"]`), `"nginx": not a registry host`},
		"a scope twice":                               {edit("scopes: [registry.example]", `scopes: [registry.example, REGISTRY.example]`), `spec.scopes[1]: "REGISTRY.example" names what "registry.example" names`},
		"an OCI layout store":                         {edit("stores: [{type: registry-store}]", "stores: [{type: filesystem-oci-store, parameters: {path: /oci}}]"), "spec.stores[0].type: an OCI layout on Ratify's disk"},
		"no store":                                    {edit("  stores: [{type: registry-store}]\n", ""), "spec.stores: list at least one store"},
		"an unknown store setting":                    {edit("stores: [{type: registry-store}]", "stores: [{type: registry-store, parameters: {insecure: true}}]"), "spec.stores[0].parameters.insecure: unknown field"},
		"two stores without scopes":                   {edit("stores: [{type: registry-store}]", "stores: [{type: registry-store}, {type: registry-store}]"), "spec.stores[0].scopes: Ratify refuses several stores unless each names its scopes"},
		"an sbom verifier":                            {edit("      type: cosign\n", "      type: sbom\n"), `spec.verifiers[0].type: "sbom": Ratify v2's verifiers are notation and cosign`},
		"a verifier named twice":                      {edit("name: cosign-b", "name: cosign-a"), `spec.verifiers[1].name: "cosign-a" is named twice`},
		"keys in the tlog":                            {edit(cosignA, strings.Replace(cosignA, "            ignoreTLog: true\n", "", 1)), "trustPolicies[0].ignoreTLog: Ratify requires a transparency-log entry for key signatures"},
		"keys with timestamps":                        {edit(cosignA, strings.Replace(cosignA, "            ignoreObserverTimestamps: true\n", "", 1)), "trustPolicies[0].ignoreObserverTimestamps: Ratify requires a signed timestamp"},
		"keys and an identity":                        {edit(cosignA, cosignA+"            certificateIdentity: x\n"), "trustPolicies[0].keys: give keys or a certificate identity: Ratify ignores the identity"},
		"key files":                                   {edit(cosignA, "          - keys: {files: [/keys/cosign.pub]}\n            ignoreTLog: true\n            ignoreObserverTimestamps: true\n"), "trustPolicies[0].keys.files: Ratify's files provider holds certificates"},
		"keys in a vault":                             {edit(cosignA, "          - keys: {azurekeyvault: {vaultURL: https://v.vault.azure.net, keys: [{name: k}]}}\n            ignoreTLog: true\n            ignoreObserverTimestamps: true\n"), "trustPolicies[0].keys.azurekeyvault: dossier reaches no key vault"},
		"two key providers":                           {edit(cosignA, "          - keys: {inline: {keys: x}, files: [/k]}\n            ignoreTLog: true\n            ignoreObserverTimestamps: true\n"), "trustPolicies[0].keys: give one key provider"},
		"a certificate for cosign":                    {edit(cosignA, strings.Replace(cosignA, "keys: |", "certs: |", 1)), "keys.inline.certs: a cosign verifier reads public keys"},
		"not a key":                                   {edit(cosignA, "          - keys: {inline: {keys: not-pem}}\n            ignoreTLog: true\n            ignoreObserverTimestamps: true\n"), "keys.inline.keys: not PEM public keys"},
		"keyless, no identity":                        {edit(cosignA, "          - certificateOIDCIssuer: https://token.actions.githubusercontent.com\n"), "trustPolicies[0].certificateIdentity: give certificateIdentity or certificateIdentityRegex"},
		"keyless, no issuer":                          {edit(cosignA, "          - certificateIdentity: x\n"), "trustPolicies[0].certificateOIDCIssuer: give certificateOIDCIssuer or certificateOIDCIssuerRegex"},
		"ratify.dev's boolean regex":                  {edit(cosignA, keyless+"            certificateIdentityRegex: true\n"), "spec.verifiers[0].parameters"},
		"v1's keyless block":                          {edit(cosignA, "          - keyless: {certificateIdentity: x, certificateOIDCIssuer: y}\n"), "trustPolicies[0].keyless: unknown field"},
		"a trust policy scope twice":                  {edit(cosignA, keyless+"            scopes: [registry.example]\n"+strings.Replace(cosignA, "          - keys:", "          - scopes: [registry.example]\n            keys:", 1)), `"registry.example" is a scope of another trust policy`},
		"no trust policy":                             {edit(cosignA, "          []\n"), ""},
		"Notation certificate files":                  {edit("          - inline:\n              certs: |", "          - files: [/usr/local/notation/certs]\n            inline:\n              certs: |"), "certificates[0].files: certificate files inside Ratify's container"},
		"Notation certificates in a vault":            {edit("          - inline:\n              certs: |", "          - azurekeyvault: {vaultURL: https://v.vault.azure.net}\n            inline:\n              certs: |"), "certificates[0].azurekeyvault: dossier reaches no key vault"},
		"a key for Notation":                          {edit("              certs: |", "              keys: |"), "certificates[0].inline.keys: a notation trust store holds certificates"},
		"a trust store type twice":                    {edit("  policyEnforcer:", "          - {type: ca, inline: x}\n  policyEnforcer:"), "certificates[1].type: trust store type ca is given twice"},
		"another trust store type":                    {edit("          - inline:\n              certs: |", "          - type: root\n            inline:\n              certs: |"), `certificates[0].type: "root": want ca, signingAuthority or tsa`},
		"no certificates":                             {edit("          - inline:\n              certs: |", "          - inline: {}\n          - type: tsa\n            inline:\n              certs: |"), "certificates[0].inline.certs: missing"},
		"a registry as Notation's scope":              {edit("        trustedIdentities:", "        scopes: [ghcr.io]\n        trustedIdentities:"), "the trust policy Ratify makes of scopes and trustedIdentities"},
		"a namespaced executor without its namespace": {edit("kind: Executor", "kind: NamespacedExecutor"), "metadata.namespace: missing"},
		"an executor in a namespace":                  {edit("metadata: {name: e}", "metadata: {name: e, namespace: team}"), `metadata.namespace: "team": an Executor is cluster-wide`},
		"another version":                             {edit("config.ratify.sh/v2alpha1", "config.ratify.sh/v1"), "is read as config.ratify.sh/v2alpha1"},
		"a v1 kind in the v2 group":                   {edit("kind: Executor", "kind: Verifier"), `kind: "Verifier": dossier reads Ratify v2's Executor and NamespacedExecutor`},
		"a scope two executors register":              {base + "---\n" + strings.Replace(base, "name: e}", "name: f}", 1), `"registry.example" is a scope of Executor e too`},
		"an unknown spec field":                       {edit("  scopes: [registry.example]\n", "  scopes: [registry.example]\n  verifierPolicy: x\n"), "x.yaml: line 6: spec.verifierPolicy: unknown field"},
	} {
		if c.says == "" {
			c.says = "trustPolicies: list at least one trust policy"
		}
		_, err := ratifyLoad(t, c.docs)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", name, err, c.says)
		}
	}
	// a verifier no rule names judges nothing, and lint says so
	docs, err := ratifyLoad(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(docs.Warnings, func(w string) bool { return strings.Contains(w, "spec.verifiers: cosign-b is named by no rule") }) ||
		!strings.Contains(strings.Join(docs.Policies[0].Explanation, "\n"), "verifier notation-1 is named by no rule of the threshold policy") {
		t.Errorf("unnamed verifiers: %q %q", docs.Warnings, docs.Policies[0].Explanation)
	}
}

// FuzzRatifyExecutor feeds Ratify v2 documents to the loader and the
// cross-document resolution: an error or policies that evaluate, never a
// panic. The seeds are testdata/ratify-v2's samples, alone and together.
func FuzzRatifyExecutor(f *testing.F) {
	seedDocuments(f, "testdata/ratify-v2")
	f.Add([]byte(ratifyExecutorDoc(f, "        rules:\n          - verifierName: cosign-a\n          - threshold: 2\n            rules: [{verifierName: cosign-b}, {verifierName: cosign-c}, {verifierName: notation-1}]\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data, LoadOptions{})
		if err != nil {
			return
		}
		if err := docs.resolveRatify(); err != nil {
			return
		}
		ev := fullEvidence(t)
		Evaluate(&Set{Policies: docs.Policies}, ev, now)
		ev.Namespace = ""
		Evaluate(&Set{Policies: docs.Policies}, ev, now)
	})
}

// An executor scope that no store's scopes cover is one Ratify cannot read
// images of (it denies them), where dossier judges them: lint says so for
// that scope alone.
func TestRatifyExecutorScopeWithoutStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "executor.yaml")
	doc := `apiVersion: config.ratify.sh/v2alpha1
kind: Executor
metadata: {name: stores}
spec:
  scopes: ["registry.example", "quay.io", "team.example.com/app"]
  stores:
    - type: registry-store
      scopes: ["registry.example"]
    - type: registry-store
      scopes: ["*.example.com"]
  verifiers:
    - name: notation-release
      type: notation
      parameters:
        certificates:
          - type: ca
            inline: {certs: "CERT"}
  policyEnforcer:
    type: threshold-policy
    parameters:
      policy:
        rules:
          - verifierName: notation-release
`
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(doc, "CERT", strings.ReplaceAll(strings.TrimSpace(string(must(os.ReadFile("testdata/notation/truststore/x509/ca/acme/root.crt")))), "\n", `\n`))), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var about []string
	for _, w := range docs.Warnings {
		if strings.Contains(w, "no store's scopes") {
			about = append(about, w)
		}
	}
	if len(about) != 1 || !strings.Contains(about[0], `"quay.io" is in no store's scopes`) {
		t.Errorf("warnings %q, want one about quay.io alone", docs.Warnings)
	}
}
