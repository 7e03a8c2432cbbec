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

// Ratify's Verifiers and config Policy load as dossier policies: each
// cosign trust policy a policy over its scopes, the sbom Verifier one per
// trust policy with its signers, the vulnerability report the gate on
// every image; and each says what it became.
func TestLoadRatify(t *testing.T) {
	docs, err := Load("testdata/ratify")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Policy{}
	for _, p := range docs.Policies {
		byName[p.Name] = p
		if p.Kind != KindRatifyVerifier || p.Mode != evidence.ModeEnforce || len(p.Explanation) == 0 || p.Digest == "" {
			t.Errorf("%s: %+v", p.Name, p)
		}
		if !strings.Contains(strings.Join(p.Explanation, "\n"), "config Policy ratify-policy") {
			t.Errorf("%s does not tell what the config Policy means: %q", p.Name, p.Explanation)
		}
	}
	want := []string{"verifier-cosign.team", "verifier-cosign.platform", "verifier-vulnerabilityreport", "verifier-sbom.verifier-cosign.team", "verifier-sbom.verifier-cosign.platform"}
	if len(docs.Policies) != len(want) {
		t.Fatalf("%d policies: %v", len(docs.Policies), docs.Policies)
	}
	for _, name := range want {
		if byName[name] == nil {
			t.Fatalf("no policy %s", name)
		}
	}
	team := byName["verifier-cosign.team"]
	if s := team.Rules[0].Signature; team.Rules[0].Name != "cosign" || s == nil || len(s.Signers) != 1 || s.Signers[0].KeyFingerprint != fingerprintOf(t, "testdata/release.pub") {
		t.Errorf("team: %+v", team.Rules)
	}
	platform := byName["verifier-cosign.platform"]
	if s := platform.Rules[0].Signature; s == nil || len(s.Signers) != 1 || !s.Signers[0].Keyless() {
		t.Errorf("platform: %+v", platform.Rules)
	}
	sbom := byName["verifier-sbom.verifier-cosign.team"]
	if a := sbom.Rules[0].Attestation; sbom.Rules[0].Name != "sbom" || a == nil || a.PredicateType != evidence.PredicateSPDX || a.Signers[0].KeyFingerprint != team.Rules[0].Signature.Signers[0].KeyFingerprint {
		t.Errorf("sbom: %+v", sbom.Rules)
	}
	vr := byName["verifier-vulnerabilityreport"].Rules[0].Vulnerabilities
	if vr == nil || vr.FailOn != evidence.SeverityHigh || vr.MaxDatabaseAge != 24*time.Hour || len(vr.DenyIDs) != 1 || vr.DenyIDs[0] != "CVE-2021-44228" {
		t.Errorf("vulnerabilityreport: %+v", vr)
	}

	// judged: a team image signed by the key, with a clean signed SBOM and
	// no high finding, is allowed; each Verifier's failure denies it
	set := &Set{Policies: docs.Policies}
	key := keySigner(t, "testdata/release.pub")
	spdx := func(license, pkg, version string) json.RawMessage {
		return json.RawMessage(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"` + pkg + `","versionInfo":"` + version + `","licenseConcluded":"` + license + `"}]}`)
	}
	clean := func() *evidence.Collected {
		return &evidence.Collected{Subject: payments, Reference: "registry.example/acme/payments:v1.2.0",
			Signatures:   []evidence.VerifiedSignature{{Subject: payments, Verification: evidence.Verification{Signer: key, StoredAt: "sha256:aaaa"}}},
			Attestations: []evidence.Attestation{{Subject: payments, PredicateType: evidence.PredicateSPDX, Predicate: spdx("MIT", "musl", "1.2.3-r4"), Verification: evidence.Verification{Signer: key, StoredAt: "sha256:bbbb"}}},
			Vulnerabilities: &evidence.VulnerabilityEvidence{DatabaseUpdated: now.Add(-time.Hour), ScannedAt: now, Source: "local-database",
				Findings: []evidence.Finding{{ID: "GHSA-medium", Severity: evidence.Severity{Rating: "medium"}}}}}
	}
	if d := Evaluate(set, clean(), now); !d.Allowed || len(d.Policies) != 3 {
		t.Fatalf("a clean team image: %+v", d)
	}
	for name, c := range map[string]struct {
		change       func(*evidence.Collected)
		policy, says string
	}{
		"unsigned":              {func(ev *evidence.Collected) { ev.Signatures = nil }, "verifier-cosign.team", "no signature by key team-key-0"},
		"signed by another key": {func(ev *evidence.Collected) { ev.Signatures[0].Signer = keySigner(t, "testdata/other.pub") }, "verifier-cosign.team", "but the policy requires key team-key-0"},
		"a Zlib package": {func(ev *evidence.Collected) {
			ev.Attestations[0].Predicate = spdx("MIT AND (Zlib OR BSD-3-Clause)", "zlib", "1.3")
		}, "verifier-sbom.verifier-cosign.team", "zlib 1.3 is licensed Zlib"},
		"a disallowed package":   {func(ev *evidence.Collected) { ev.Attestations[0].Predicate = spdx("MIT", "musl-utils", "1.2.3-r4") }, "verifier-sbom.verifier-cosign.team", "musl-utils 1.2.3-r4 is disallowed"},
		"an SBOM by another key": {func(ev *evidence.Collected) { ev.Attestations[0].Signer = keySigner(t, "testdata/other.pub") }, "verifier-sbom.verifier-cosign.team", "attestation signed by"},
		"not an SPDX document": {func(ev *evidence.Collected) {
			ev.Attestations[0].Predicate = json.RawMessage(`{"bomFormat":"CycloneDX"}`)
		}, "verifier-sbom.verifier-cosign.team", "not an SPDX 2 JSON document"},
		"a high finding": {func(ev *evidence.Collected) { ev.Vulnerabilities.Findings[0].Severity.Rating = "high" }, "verifier-vulnerabilityreport", "GHSA-medium (high"},
		"Log4Shell, rated low": {func(ev *evidence.Collected) {
			ev.Vulnerabilities.Findings[0] = evidence.Finding{ID: "GHSA-jfh8-c2jp-5v3q", Aliases: []string{"cve-2021-44228"}, Severity: evidence.Severity{Rating: "low"}}
		}, "verifier-vulnerabilityreport", "denied by ID (CVE-2021-44228)"},
		"advisory data older than maximumAge": {func(ev *evidence.Collected) { ev.Vulnerabilities.DatabaseUpdated = now.Add(-25 * time.Hour) }, "verifier-vulnerabilityreport", "the policy allows at most 24h0m0s"},
	} {
		ev := clean()
		c.change(ev)
		d := Evaluate(set, ev, now)
		if d.Allowed {
			t.Errorf("%s: allowed", name)
			continue
		}
		found := false
		for _, r := range d.Failed() {
			found = found || r.Policy == c.policy && strings.Contains(r.Reason, c.says)
		}
		if !found {
			t.Errorf("%s: want policy %s failing with %q, got %+v", name, c.policy, c.says, d.Failed())
		}
	}

	// a platform image needs the release workflow's keyless signature
	platformImage := evidence.Subject{Repository: "ghcr.io/acme-platform/payments", Digest: payments.Digest}
	ev := clean()
	ev.Subject, ev.Reference = platformImage, "ghcr.io/acme-platform/payments:v1"
	if d := Evaluate(set, ev, now); d.Allowed || rule(t, d, "cosign").Policy != "verifier-cosign.platform" {
		t.Errorf("a platform image signed by the team key: %+v", d)
	}
}

// What dossier cannot judge as Ratify would is refused, naming the file,
// the line when the field is there, and the field's path.
func TestRatifyRefusals(t *testing.T) {
	verifier := func(kind, artifactType, params string) string {
		return "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: v}\nspec:\n  name: " + kind + "\n  artifactTypes: " + artifactType + "\n  parameters:\n" + params
	}
	cosign := func(params string) string { return verifier("cosign", ratifyCosignType, params) }
	keyPolicy := "    trustPolicies:\n      - name: p\n        scopes: [\"*\"]\n        keys: [{file: release.pub}]\n"
	cosignDoc := cosign(keyPolicy + "        tLogVerify: false\n")
	for name, c := range map[string]struct{ docs, says string }{
		"a plugin":              {verifier("licensechecker", "application/spdx+json", "    allowedLicenses: [MIT]\n"), `spec.name: "licensechecker"`},
		"a plugin's address":    {cosignDoc + "  address: /plugins\n", "x.yaml: line 13: spec.address: verifier plugins are not run"},
		"another artifact type": {verifier("cosign", "application/vnd.oci.image.manifest.v1+json", keyPolicy), "x.yaml: line 6: spec.artifactTypes"},
		"a key provider":        {cosign("    trustPolicies:\n      - name: p\n        scopes: [\"*\"]\n        keys: [{provider: ratify-cosign-inline-key-0}]\n        tLogVerify: false\n"), "x.yaml: line 11: spec.parameters.trustPolicies[0].keys[0].provider: keys of a KeyManagementProvider"},
		"the legacy key":        {cosign("    key: /keys/cosign.pub\n"), "x.yaml: line 8: spec.parameters.key: the legacy key setting"},
		"legacy keyless":        {cosign("    rekorURL: https://rekor.sigstore.dev\n"), "spec.parameters.rekorURL: the legacy keyless setting verifies any certificate"},
		"the tlog by default":   {cosign(keyPolicy), "spec.parameters.trustPolicies[0].tLogVerify: Ratify requires a Rekor entry"},
		"a rekor of its own":    {cosign(keyPolicy + "        tLogVerify: false\n        rekorURL: https://rekor.example\n"), "x.yaml: line 13: spec.parameters.trustPolicies[0].rekorURL"},
		"keyless, no identity":  {cosign("    trustPolicies:\n      - name: p\n        scopes: [\"*\"]\n        keyless: {certificateOIDCIssuer: https://token.actions.githubusercontent.com}\n"), "keyless.certificateIdentity: give certificateIdentity"},
		"a fallback beside others": {cosign("    trustPolicies:\n      - name: a\n        scopes: [\"*\"]\n        keys: [{file: release.pub}]\n        tLogVerify: false\n      - name: b\n        scopes: [\"registry.example/*\"]\n        keys: [{file: release.pub}]\n        tLogVerify: false\n"),
			"trustPolicies[0].scopes: a \"*\" trust policy beside others"},
		"an unknown field":           {cosign(keyPolicy + "        tLogVerify: false\n        trustRoot: x\n"), "line 13: spec.parameters.trustPolicies[0].trustRoot: unknown field"},
		"an odd scope":               {cosign("    trustPolicies:\n      - name: p\n        scopes: [\"Registry.example/*\"]\n        keys: [{file: release.pub}]\n        tLogVerify: false\n"), "scopes[0]: \"Registry.example/*\""},
		"passthrough":                {verifier("vulnerabilityreport", ratifySARIFType, "    passthrough: true\n"), "x.yaml: line 8: spec.parameters.passthrough: a report passed through unjudged"},
		"a report's signatures":      {verifier("vulnerabilityreport", ratifySARIFType, "    disallowedSeverities: [critical]\n    nestedReferences: application/vnd.cncf.notary.signature\n"), "x.yaml: line 9: spec.parameters.nestedReferences"},
		"severities with a gap":      {verifier("vulnerabilityreport", ratifySARIFType, "    disallowedSeverities: [medium, critical]\n"), "list high too"},
		"an unknown severity":        {verifier("vulnerabilityreport", ratifySARIFType, "    disallowedSeverities: [negligible]\n"), `disallowedSeverities[0]: "negligible"`},
		"a report that fails none":   {verifier("vulnerabilityreport", ratifySARIFType, "    maximumAge: 24h\n"), "give disallowedSeverities or denylistCVEs"},
		"an unsigned SBOM":           {verifier("sbom", ratifySPDXType, "    disallowedLicenses: [GPL-3.0-only]\n"), "an SBOM nobody signed proves nothing"},
		"an SBOM signed by notation": {verifier("sbom", ratifySPDXType, "    nestedReferences: application/vnd.cncf.notary.signature\n"), "signed with cosign"},
		"an SBOM without cosign":     {verifier("sbom", ratifySPDXType, "    nestedReferences: "+ratifyCosignType+"\n"), "none is loaded beside it"},
		"rego":                       {"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Policy\nmetadata: {name: ratify-policy}\nspec:\n  type: rego-policy\n  parameters: {policy: x}\n", "x.yaml: line 5: spec.type: rego-policy: dossier does not run Rego"},
		"a type nothing verifies":    {cosignDoc + "---\napiVersion: config.ratify.deislabs.io/v1beta1\nkind: Policy\nmetadata: {name: ratify-policy}\nspec:\n  type: config-policy\n  parameters:\n    artifactVerificationPolicies: {application/spdx+json: any}\n", "no Verifier loaded verifies application/spdx+json"},
		"neither any nor all":        {"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Policy\nmetadata: {name: ratify-policy}\nspec:\n  type: config-policy\n  parameters:\n    artifactVerificationPolicies: {default: some}\n", `"some": want any or all`},
		"a Store":                    {"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Store\nmetadata: {name: store-oras}\nspec: {name: oras}\n", "Ratify's Store is not read by dossier"},
		"another version":            {strings.Replace(cosignDoc, "v1beta1", "v1alpha1", 1), "is read as config.ratify.deislabs.io/v1beta1"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "release.pub"), []byte(readFile(t, "testdata/release.pub")), 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "x.yaml")
		if err := os.WriteFile(path, []byte(c.docs), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", name, err, c.says)
		}
	}
}

// A license is named as a whole word of the expression, in any case.
func TestContainsLicense(t *testing.T) {
	for expr, want := range map[string]bool{
		"Zlib": true, "zlib": true, "MIT AND (Zlib OR BSD-3-Clause)": true, "(zlib)": true,
		"Zlib-acknowledgement": false, "LicenseRef-Zlib": false, "MIT": false, "": false, "ZlibZlib Zlib": true,
	} {
		if got := containsLicense(expr, "Zlib"); got != want {
			t.Errorf("%q: %v", expr, got)
		}
	}
}

// seedDocuments seeds f with each document in dir and with all of them
// in one stream.
func seedDocuments(f *testing.F, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	var all []byte
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		all = append(append(all, "\n---\n"...), data...)
	}
	f.Add(all)
}

// FuzzRatify feeds Ratify documents to the loader, then the cross-document
// resolution: an error or policies that evaluate, never a panic.
func FuzzRatify(f *testing.F) {
	seedDocuments(f, "testdata/ratify")
	f.Add([]byte(ratifyNotationDocs(f, "      ca:\n        certs: [inline-cert]\n", ratifyStrictStatement)))
	f.Add([]byte("apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: v}\nspec:\n  name: cosign\n  artifactTypes: " + ratifyCosignType +
		"\n  parameters:\n    trustPolicies:\n      - name: p\n        scopes: [\"*\"]\n        keyless: {certificateIdentityRegExp: '^x$', certificateOIDCIssuer: https://i}\n---\n" +
		"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: s}\nspec:\n  name: sbom\n  artifactTypes: " + ratifySPDXType +
		"\n  parameters:\n    disallowedLicenses: [GPL-3.0-only]\n    nestedReferences: " + ratifyCosignType + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data, LoadOptions{})
		if err != nil {
			return
		}
		if err := docs.resolveRatify(); err != nil {
			return
		}
		Evaluate(&Set{Policies: docs.Policies}, fullEvidence(t), now)
	})
}

// ratifyNotationDocs is an inline KeyManagementProvider holding the test
// CA and a notation Verifier whose trust store stores names it.
func ratifyNotationDocs(t testing.TB, stores, statements string) string {
	data, err := os.ReadFile("testdata/notation/truststore/x509/ca/acme/root.crt")
	if err != nil {
		t.Fatal(err)
	}
	root := strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", "\n      ")
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: inline-cert, namespace: gatekeeper-system}
spec:
  type: inline
  parameters:
    contentType: certificate
    value: |
      ` + root + `
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
` + stores + `
    trustPolicyDoc:
      version: "1.0"
      trustPolicies:
` + statements
}

const ratifyStrictStatement = `        - {name: team, registryScopes: ["registry.example/team/app"], signatureVerification: {level: strict}, trustStores: ["ca:certs"], trustedIdentities: ["x509.subject: CN=release,O=Acme,ST=WA,C=US"]}
`

// Ratify's notation Verifier loads as a policy per trust policy statement
// over its registry scopes, each requiring a Notation signature the whole
// document verifies, its trust stores filled from inline
// KeyManagementProviders named in either of Ratify's forms.
func TestLoadRatifyNotation(t *testing.T) {
	load := func(t *testing.T, docs string) (*Documents, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "x.yaml")
		if err := os.WriteFile(path, []byte(docs), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path)
	}
	for form, stores := range map[string]string{
		"by type":            "      ca:\n        certs: [inline-cert]\n",
		"the older, untyped": "      certs: [inline-cert]\n",
		"namespace/name":     "      ca:\n        certs: [gatekeeper-system/inline-cert]\n",
	} {
		docs, err := load(t, ratifyNotationDocs(t, stores, ratifyStrictStatement+`        - {name: sandbox, registryScopes: ["registry.example/sandbox/app"], signatureVerification: {level: skip}}
`))
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if len(docs.Policies) != 2 {
			t.Fatalf("%s: %d policies", form, len(docs.Policies))
		}
		team := docs.Policies[0]
		s := team.Rules[0].Signature
		if team.Name != "verifier-notation.team" || team.Rules[0].Name != "notation" || s == nil || s.Signers[0].Notation == nil ||
			!team.Matches(&evidence.Collected{Subject: evidence.Subject{Repository: "registry.example/team/app", Digest: payments.Digest}}) ||
			team.Matches(&evidence.Collected{Subject: evidence.Subject{Repository: "registry.example/team/other", Digest: payments.Digest}}) {
			t.Errorf("%s: %+v", form, team)
		}
		if st := s.Signers[0].Notation.Skips("registry.example/sandbox/app@" + payments.Digest); st != "sandbox" {
			t.Errorf("%s: the skip statement is %q", form, st)
		}
	}
	for name, c := range map[string]struct{ docs, says string }{
		"certificate directories":    {ratifyNotationDocs(t, "      certs: [inline-cert]\n", ratifyStrictStatement) + "    verificationCerts: [/certs]\n", "spec.parameters.verificationCerts: certificate directories inside Ratify's container"},
		"a provider not loaded":      {ratifyNotationDocs(t, "      certs: [missing]\n", ratifyStrictStatement), `verificationCertStores: ca:certs: "missing": no KeyManagementProvider of that name`},
		"a store not filled":         {ratifyNotationDocs(t, "      other: [inline-cert]\n", ratifyStrictStatement), "trust store ca:certs: no certificates"},
		"an invalid trust policy":    {ratifyNotationDocs(t, "      certs: [inline-cert]\n", strings.Replace(ratifyStrictStatement, "level: strict", "level: strictest", 1)), "spec.parameters.trustPolicyDoc"},
		"a stores map of maps":       {ratifyNotationDocs(t, "      certs: {a: [inline-cert]}\n", ratifyStrictStatement), "verificationCertStores.certs: want a list of KeyManagementProviders"},
		"a key vault":                {strings.Replace(ratifyNotationDocs(t, "      certs: [inline-cert]\n", ratifyStrictStatement), "type: inline", "type: azurekeyvault", 1), `spec.type: "azurekeyvault": dossier reads inline KeyManagementProviders only`},
		"a key, not certificates":    {strings.Replace(ratifyNotationDocs(t, "      certs: [inline-cert]\n", ratifyStrictStatement), "contentType: certificate", "contentType: key", 1), `spec.parameters.contentType: "key"`},
		"not PEM":                    {strings.Replace(ratifyNotationDocs(t, "      certs: [inline-cert]\n", ratifyStrictStatement), "-----BEGIN CERTIFICATE-----", "x", 1), "spec.parameters.value: not PEM certificates"},
		"no trust policy":            {"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: v}\nspec:\n  name: notation\n  artifactTypes: application/vnd.cncf.notary.signature\n  parameters:\n    verificationCertStores: {certs: [x]}\n", "spec.parameters.trustPolicyDoc: missing"},
		"a config Policy without it": {"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Policy\nmetadata: {name: ratify-policy}\nspec:\n  type: config-policy\n  parameters:\n    artifactVerificationPolicies: {application/vnd.cncf.notary.signature: any}\n---\n" + ratifyNotationDocs(t, "      certs: [inline-cert]\n", ratifyStrictStatement), ""},
	} {
		_, err := load(t, c.docs)
		if c.says == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", name, err, c.says)
		}
	}
}
