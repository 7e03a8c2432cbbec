package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// ratifyDir writes documents (file name → text) beside the release key
// and loads the directory.
func ratifyDir(t *testing.T, files map[string]string) (*Documents, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "release.pub"), []byte(readFile(t, "testdata/release.pub")), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Load(dir)
}

func cosignVerifier(name string, trustPolicies ...string) string {
	return "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: " + name + "}\nspec:\n  name: cosign\n  artifactTypes: " + ratifyCosignType +
		"\n  parameters:\n    trustPolicies:\n" + strings.Join(trustPolicies, "")
}

func keyTrustPolicy(name string, scopes ...string) string {
	return "      - name: " + name + "\n        scopes: [\"" + strings.Join(scopes, `", "`) + "\"]\n        keys: [{file: release.pub}]\n        tLogVerify: false\n"
}

// imageNamed is the evidence of an image as the webhook names it: the
// canonical repository, and the reference by tag or digest.
func imageNamed(key string) *evidence.Collected {
	repo := evidence.ImageRepository(key)
	ref := repo + ":latest"
	if _, digest, ok := strings.Cut(key, "@"); ok {
		ref = repo + "@" + digest
	} else if i := strings.LastIndex(key, ":"); i > strings.LastIndex(key, "/") {
		ref = repo + key[i:]
	}
	return &evidence.Collected{Reference: ref, Subject: evidence.Subject{Repository: repo, Digest: payments.Digest}}
}

// Ratify matches a scope against the key as Gatekeeper sent it; dossier
// against the image's canonical name. A scope dossier would read as
// claiming none of the images Ratify's scope names (no registry host, a
// host dossier spells otherwise) is refused by name; the rest claim at
// least what Ratify's scope claims, Docker Hub's library/ included.
func TestRatifyAttackScopes(t *testing.T) {
	for scope, says := range map[string]string{
		"nginx*":                `"nginx" is no registry host`,
		"myorg/*":               `"myorg" is no registry host`,
		"nginx:1.25":            "names no registry host and repository",
		"registry.example":      "names no registry host and repository",
		"docker.io*":            "dossier names this registry index.docker.io",
		"registry.example:443*": "dossier names this registry registry.example",
		"localhost*":            "dossier names this registry 127.0.0.1",
	} {
		_, err := ratifyDir(t, map[string]string{"v.yaml": cosignVerifier("v", keyTrustPolicy("p", scope))})
		if err == nil || !strings.Contains(err.Error(), "spec.parameters.trustPolicies[0].scopes[0]: \""+scope+"\"") || !strings.Contains(err.Error(), says) {
			t.Errorf("scope %q: %v, want refused saying %q", scope, err, says)
		}
	}
	// each key Ratify's prefix (or exact) match gives the scope is claimed
	for scope, keys := range map[string][]string{
		"*":                         {"nginx:1", "registry.example/a/b:1", "localhost:5000/x@sha256:" + strings.Repeat("a", 64)},
		"docker.io/ngin*":           {"docker.io/nginx:1", "docker.io/nginxinc/nginx-unprivileged:1", "docker.io/nginx"},
		"docker.io/*":               {"docker.io/nginx:1", "docker.io/bitnami/redis:7"},
		"docker.io/library/nginx":   {"docker.io/library/nginx"},
		"registry.example*":         {"registry.example/acme/app:v1", "registry.example:5000/acme/app:v1", "registry.example.other/x:1"},
		"registry.example/acme/*":   {"registry.example/acme/app:v1", "registry.example/acme/team/app@sha256:" + strings.Repeat("b", 64)},
		"registry.example:443/a/*":  {"registry.example:443/a/app:v1"},
		"localhost:5000/*":          {"localhost:5000/app:v1"},
		"registry.example/acme/app": {"registry.example/acme/app"},
	} {
		docs, err := ratifyDir(t, map[string]string{"v.yaml": cosignVerifier("v", keyTrustPolicy("p", scope))})
		if err != nil {
			t.Errorf("scope %q: %v", scope, err)
			continue
		}
		if len(docs.Warnings) > 0 {
			t.Errorf("scope %q: warned %q", scope, docs.Warnings)
		}
		for _, key := range keys {
			if !docs.Policies[0].Matches(imageNamed(key)) {
				t.Errorf("scope %q does not claim %s, which Ratify's scope names", scope, key)
			}
		}
	}
	// a scope of all tags of one repository claims no digest reference:
	// what a tag glob means in dossier, stated rather than widened (under
	// --unclaimed deny such an image is refused)
	docs, err := ratifyDir(t, map[string]string{"v.yaml": cosignVerifier("v", keyTrustPolicy("p", "registry.example/acme/app:*"))})
	if err != nil {
		t.Fatal(err)
	}
	if p := docs.Policies[0]; !p.Matches(imageNamed("registry.example/acme/app:v1")) || p.Matches(imageNamed("registry.example/acme/app:v1@"+payments.Digest)) {
		t.Errorf("a tag scope: claims app:v1 %v, app:v1@digest %v", p.Matches(imageNamed("registry.example/acme/app:v1")), p.Matches(imageNamed("registry.example/acme/app:v1@"+payments.Digest)))
	}
}

// Widening by "*": a "*" trust policy claims every image, so a second
// trust policy cannot narrow what one key must sign; two trust policies
// whose scopes overlap both apply (Ratify would pick one), so an image in
// both needs both signatures — stricter, never laxer.
func TestRatifyAttackWideScopes(t *testing.T) {
	docs, err := ratifyDir(t, map[string]string{"v.yaml": cosignVerifier("v", keyTrustPolicy("p", "*", "registry.example/acme/*"))})
	if err != nil {
		t.Fatal(err)
	}
	if !docs.Policies[0].Matches(imageNamed("ghcr.io/anyone/anything:1")) {
		t.Error("a \"*\" scope beside another in one trust policy does not claim every image")
	}
	other := "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: w}\nspec:\n  name: cosign\n  artifactTypes: " + ratifyCosignType +
		"\n  parameters:\n    trustPolicies:\n      - name: q\n        scopes: [\"registry.example/acme/app*\"]\n        keyless: {certificateIdentity: https://ci.example/release, certificateOIDCIssuer: https://issuer.example}\n"
	docs, err = ratifyDir(t, map[string]string{"v.yaml": cosignVerifier("v", keyTrustPolicy("p", "registry.example/acme/*")), "w.yaml": other})
	if err != nil {
		t.Fatal(err)
	}
	ev := imageNamed("registry.example/acme/app:v1")
	key := keySigner(t, "testdata/release.pub")
	ev.Signatures = []evidence.VerifiedSignature{{Subject: ev.Subject, Verification: evidence.Verification{Signer: key, StoredAt: "sha256:aaaa"}}}
	if d := Evaluate(&Set{Policies: docs.Policies}, ev, now); d.Allowed || len(d.Policies) != 2 {
		t.Errorf("an image two trust policies claim, signed for one: %+v", d)
	}
}

// Documents that would load and judge nothing are refused: a config
// Policy with no Verifier beside it (Ratify would deny every image),
// keyless or key trust policies without an identity or key, and YAML
// aliases (a bomb of them included). Kinds mixed in one file load as
// each would alone.
func TestRatifyAttackDocuments(t *testing.T) {
	config := "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Policy\nmetadata: {name: ratify-policy}\nspec:\n  type: config-policy\n  parameters:\n    artifactVerificationPolicies: {default: all}\n"
	empty := strings.Replace(config, "{default: all}", "{}", 1)
	keyless := func(k string) string {
		return cosignVerifier("v", "      - name: p\n        scopes: [\"*\"]\n        keyless: "+k+"\n")
	}
	bomb := "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: v}\nspec:\n  name: cosign\n  artifactTypes: " + ratifyCosignType +
		"\n  parameters:\n    trustPolicies:\n      - name: p\n        scopes: &a [\"*\", \"*\", \"*\", \"*\", \"*\", \"*\", \"*\", \"*\"]\n        keys: [{file: release.pub}]\n        tLogVerify: false\n" +
		"x: &b [*a, *a, *a, *a, *a, *a, *a, *a]\ny: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nz: [*c, *c, *c, *c, *c, *c, *c, *c]\n"
	for name, c := range map[string]struct{ files map[string]string }{
		"a config Policy alone":              {map[string]string{"policy.yaml": config}},
		"a config Policy of no types, alone": {map[string]string{"policy.yaml": empty}},
		"keyless, empty identities":          {map[string]string{"v.yaml": keyless("{certificateIdentity: \"\", certificateIdentityRegExp: \"\", certificateOIDCIssuer: https://i.example}")}},
		"keyless, no issuer":                 {map[string]string{"v.yaml": keyless("{certificateIdentity: https://ci.example/release}")}},
		"keyless, empty":                     {map[string]string{"v.yaml": keyless("{}")}},
		"an empty key list":                  {map[string]string{"v.yaml": cosignVerifier("v", "      - name: p\n        scopes: [\"*\"]\n        keys: []\n        tLogVerify: false\n")}},
		"a key without a file":               {map[string]string{"v.yaml": cosignVerifier("v", "      - name: p\n        scopes: [\"*\"]\n        keys: [{}]\n        tLogVerify: false\n")}},
		"an empty scope":                     {map[string]string{"v.yaml": cosignVerifier("v", keyTrustPolicy("p", ""))}},
		"a null scope":                       {map[string]string{"v.yaml": cosignVerifier("v", "      - name: p\n        scopes: [~]\n        keys: [{file: release.pub}]\n        tLogVerify: false\n")}},
		"no trust policies":                  {map[string]string{"v.yaml": cosignVerifier("v", "      []\n")}},
		"an alias bomb":                      {map[string]string{"v.yaml": bomb}},
	} {
		if docs, err := ratifyDir(t, c.files); err == nil {
			t.Errorf("%s: loaded %d policies", name, len(docs.Policies))
		}
	}
	// mixed in one file: a Ratify Verifier, a dossier policy, an exception
	// and the config Policy load together, each as itself
	mixed := cosignVerifier("v", keyTrustPolicy("p", "registry.example/acme/*")) + "---\n" + config + "---\n" +
		"apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainPolicy\nmetadata: {name: native}\nspec:\n  mode: audit\n  images: [\"ghcr.io/**\"]\n  rules:\n    - name: scanned\n      vulnerabilities: {failOn: critical}\n"
	docs, err := ratifyDir(t, map[string]string{"all.yaml": mixed})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs.Policies) != 2 || docs.Policies[0].Kind != KindRatifyVerifier || docs.Policies[1].Name != "native" || docs.Policies[1].Mode != evidence.ModeAudit {
		t.Errorf("mixed kinds: %+v", docs.Policies)
	}
}

// A policy's digest is the policies' version a reloading webhook
// compares: an sbom Verifier whose conditions change must change it, even
// when the conditions are worded alike (two licenses, or one named with a
// comma).
func TestRatifyAttackSBOMDigest(t *testing.T) {
	sbom := func(licenses string) string {
		return "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Verifier\nmetadata: {name: s}\nspec:\n  name: sbom\n  artifactTypes: " + ratifySPDXType +
			"\n  parameters:\n    disallowedLicenses: " + licenses + "\n    nestedReferences: " + ratifyCosignType + "\n"
	}
	dir := t.TempDir() // one file, rewritten, as a webhook reloads it
	if err := os.WriteFile(filepath.Join(dir, "release.pub"), []byte(readFile(t, "testdata/release.pub")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cosignVerifier("v", keyTrustPolicy("p", "*"))), 0o600); err != nil {
		t.Fatal(err)
	}
	digest := func(licenses string) string {
		if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(sbom(licenses)), 0o600); err != nil {
			t.Fatal(err)
		}
		docs, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range docs.Policies {
			if p.Name == "s" {
				return p.Digest
			}
		}
		t.Fatalf("no sbom policy: %+v", docs.Policies)
		return ""
	}
	if a, b := digest(`["GPL-3.0-only", "AGPL-3.0-only"]`), digest(`["GPL-3.0-only, AGPL-3.0-only"]`); a == b {
		t.Errorf("two sbom Verifiers with other conditions have one digest %s", a)
	}
}
