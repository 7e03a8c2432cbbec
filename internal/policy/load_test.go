package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fingerprintOf(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	sum := sha256.Sum256(block.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestLoadNativePolicy(t *testing.T) {
	docs, err := Load("testdata/native.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs.Policies) != 1 {
		t.Fatalf("policies: %d", len(docs.Policies))
	}
	p := docs.Policies[0]
	if p.Name != "payments-release" || p.Mode != "enforce" || len(p.Rules) != 4 {
		t.Fatalf("policy: %+v", p)
	}
	sig := p.Rules[0].Signature
	if sig == nil || len(sig.Signers) != 2 {
		t.Fatalf("signature rule should default to every signer: %+v", p.Rules[0])
	}
	if want := fingerprintOf(t, "testdata/release.pub"); sig.Signers[0].KeyFingerprint != want {
		t.Errorf("key fingerprint %s, want %s", sig.Signers[0].KeyFingerprint, want)
	}
	att := p.Rules[1].Attestation
	if att == nil || att.PredicateType != "https://cyclonedx.org/bom" || att.MaxAge != 720*time.Hour || len(att.Signers) != 1 {
		t.Errorf("sbom rule: %+v", att)
	}
	v := p.Rules[3].Vulnerabilities
	if v == nil || v.FailOn != "high" || !v.IgnoreUnfixed || v.MaxDatabaseAge != 72*time.Hour {
		t.Errorf("vulnerability rule: %+v", v)
	}
	if p.Namespaces == nil || p.Namespaces.Names[0] != "production" {
		t.Errorf("namespaces: %+v", p.Namespaces)
	}
	if len(docs.Warnings) != 0 {
		t.Errorf("warnings: %v", docs.Warnings)
	}
}

func TestLoadClusterImagePolicy(t *testing.T) {
	docs, err := Load("testdata/cip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := docs.Policies[0]
	if p.Kind != KindClusterPolicy || len(p.Rules) != 1 || len(p.Rules[0].AnyOf) != 2 {
		t.Fatalf("policy: %+v", p)
	}
	keyAlt, keylessAlt := p.Rules[0].AnyOf[0], p.Rules[0].AnyOf[1]
	if keyAlt.Rules[0].Signature == nil || keyAlt.Rules[0].Signature.Signers[0].KeyFingerprint != fingerprintOf(t, "testdata/release.pub") {
		t.Errorf("key authority: %+v", keyAlt)
	}
	// an authority with attestations requires them instead of a signature
	if keylessAlt.Rules[0].Name != "must-have-sbom" || keylessAlt.Rules[0].Attestation == nil {
		t.Errorf("keyless authority: %+v", keylessAlt)
	}
	if len(docs.Warnings) != 1 || !strings.Contains(docs.Warnings[0], "unanchored") {
		t.Errorf("an unanchored CIP regexp should be warned about: %v", docs.Warnings)
	}
}

func TestLoadExceptions(t *testing.T) {
	docs, err := Load("testdata/exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs.Exceptions) != 2 {
		t.Fatalf("exceptions: %+v", docs.Exceptions)
	}
	e := docs.Exceptions[0]
	if e.Owner != "payments-platform" || e.Namespace != "production" || e.Subject.Repository != "registry.example/acme/payments" ||
		e.ExpiresAt != time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC) || e.Vulnerabilities[0] != "CVE-2021-23337" || e.Source != "testdata/exceptions.yaml#1" {
		t.Errorf("exception: %+v", e)
	}
	if docs.Exceptions[1].Policies[0] != "payments-release/signed" {
		t.Errorf("policy waiver: %+v", docs.Exceptions[1])
	}
}

func TestLoadOlderIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ignore.yaml")
	os.WriteFile(path, []byte(`ignore:
  - id: GHSA-xxxx
    reason: not reachable
    owner: team-a
    expires: 2026-12-31
  - id: CVE-2020-1
    digest: sha256:2222222222222222222222222222222222222222222222222222222222222222
    reason: r
    owner: o
    expires: 2026-12-31T00:00:00Z
`), 0o644)
	docs, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs.Exceptions) != 2 || !docs.Exceptions[0].AllDigests || docs.Exceptions[1].AllDigests {
		t.Fatalf("exceptions: %+v", docs.Exceptions)
	}
	if docs.Exceptions[0].ExpiresAt != time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("a date expiry covers the whole day: %v", docs.Exceptions[0].ExpiresAt)
	}
	if len(docs.Warnings) != 1 || !strings.Contains(docs.Warnings[0], "covers every image") {
		t.Errorf("warnings: %v", docs.Warnings)
	}
}

const policyHeader = "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainPolicy\nmetadata: {name: p}\n"

const keylessSigner = `  signers:
    - name: ci
      keyless:
        identities: [{issuer: https://issuer.example, subject: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main}]
`

func TestBadDocuments(t *testing.T) {
	deep := policyHeader + "spec:\n  images: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n"
	cases := []struct{ name, doc, want string }{
		{"unknown field", policyHeader + "spec:\n  images: [\"**\"]\n  imgaes: [x]\n", "bad.yaml: line 6: spec.imgaes: unknown field"},
		{"unknown nested field", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules:\n    - signature: {signer: [ci]}\n", "spec.rules[0].signature.signer: unknown field"},
		{"no signers", policyHeader + "spec:\n  images: [\"**\"]\n  rules:\n    - signature: {}\n", "\"any valid signature\" is not a mode"},
		{"no rules", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner, "at least one rule"},
		{"no images", policyHeader + "spec:\n" + keylessSigner + "  rules: [{signature: {}}]\n", "spec.images"},
		{"unknown signer", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules:\n    - signature: {signers: [nobody]}\n", "no signer named \"nobody\""},
		{"regexp does not compile", policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: ci\n      keyless: {identities: [{issuer: x, subjectRegExp: '^(a$'}]}\n  rules: [{signature: {}}]\n", "does not compile"},
		{"unanchored native regexp", policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: ci\n      keyless: {identities: [{issuer: x, subjectRegExp: 'https://github.com/acme/.*'}]}\n  rules: [{signature: {}}]\n", "not anchored"},
		{"identity without issuer", policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: ci\n      keyless: {identities: [{subject: x}]}\n  rules: [{signature: {}}]\n", "issuer (or issuerRegExp) is required"},
		{"key and keyless", policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: ci\n      key: {data: x}\n      keyless: {identities: [{subject: x, issuer: y}]}\n  rules: [{signature: {}}]\n", "not both"},
		{"bad key", policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: ci\n      key: {data: not-a-key}\n  rules: [{signature: {}}]\n", "not a PEM public key"},
		{"triple star glob", policyHeader + "spec:\n  images: [\"registry/***\"]\n" + keylessSigner + "  rules: [{signature: {}}]\n", "\"***\" means nothing"},
		{"glob with regexp characters", policyHeader + "spec:\n  images: [\"registry/(a|b)\"]\n" + keylessSigner + "  rules: [{signature: {}}]\n", "only letters"},
		{"bad mode", policyHeader + "spec:\n  mode: warn\n  images: [\"**\"]\n" + keylessSigner + "  rules: [{signature: {}}]\n", "want enforce or audit"},
		{"provenance condition on an sbom", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules:\n    - attestation: {predicateType: cyclonedx, builderIDs: [x]}\n", "conditions on SLSA provenance"},
		{"bad failOn", policyHeader + "spec:\n  images: [\"**\"]\n  rules:\n    - vulnerabilities: {failOn: severe}\n", "want low, medium, high or critical"},
		{"negative maxAge", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules:\n    - attestation: {predicateType: vuln, maxAge: -1h}\n", "positive duration"},
		{"two kinds in a rule", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules:\n    - signature: {}\n      vulnerabilities: {failOn: high}\n", "exactly one of"},
		{"duplicate rule", policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules: [{signature: {}}, {signature: {}}]\n", "defined twice"},
		{"deep nesting", deep, "nested deeper than"},
		{"alias", policyHeader + "spec:\n  images: &i [\"**\"]\n  x: *i\n", "aliases"},
		{"not a mapping", "- a\n- b\n", "must be a mapping"},
		{"unknown kind", "apiVersion: dossier.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n", "kind: \"Policy\""},
		{"wrong api version", "apiVersion: dossier.dev/v2\nkind: SupplyChainPolicy\nmetadata: {name: p}\nspec: {}\n", "apiVersion: \"dossier.dev/v2\""},
		{"bad name", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainPolicy\nmetadata: {name: Bad_Name}\nspec:\n  images: [\"**\"]\n" + keylessSigner + "  rules: [{signature: {}}]\n", "metadata.name"},
		{"type error", policyHeader + "spec:\n  images: {a: b}\n", "spec"},
		{"not yaml", "a: [\n", "not valid YAML"},
		{"CUE policy", "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities: [{static: {action: pass}}]\n  policy: {type: cue, data: x}\n", "spec.policy: a CUE/Rego policy is not supported"},
		{"KMS key", "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities: [{key: {kms: awskms:///x}}]\n", "spec.authorities[0].key.kms: a KMS key is not supported"},
		{"attestation policy", "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities:\n    - keyless: {identities: [{issuer: a, subject: b}]}\n      attestations: [{name: x, predicateType: vuln, policy: {type: rego, data: y}}]\n", "attestations[0].policy: a CUE/Rego attestation policy"},
		{"CIP without identities", "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities: [{keyless: {identities: []}}]\n", "at least one identity"},
		{"CIP unknown field", "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities: [{static: {action: pass}, keyles: {}}]\n", "spec.authorities[0].keyles: unknown field"},
		{"exception without owner", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: e}\nspec:\n  imageDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  reason: r\n  expiresAt: 2026-01-01T00:00:00Z\n  waives: {policies: [p]}\n", "spec.owner: missing"},
		{"exception for a tag", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: e}\nspec:\n  owner: o\n  imageDigest: registry.example/app:v1\n  reason: r\n  expiresAt: 2026-01-01T00:00:00Z\n  waives: {policies: [p]}\n", "never a tag"},
		{"exception without expiry", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: e}\nspec:\n  owner: o\n  imageDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  reason: r\n  waives: {policies: [p]}\n", "spec.expiresAt: missing"},
		{"exception with a date-only expiry", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: e}\nspec:\n  owner: o\n  imageDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  reason: r\n  expiresAt: soon\n  waives: {policies: [p]}\n", "RFC 3339"},
		{"exception waiving nothing", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: e}\nspec:\n  owner: o\n  imageDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  reason: r\n  expiresAt: 2026-01-01T00:00:00Z\n  waives: {}\n", "spec.waives"},
		{"exception wildcard", "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: e}\nspec:\n  owner: o\n  imageDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  reason: r\n  expiresAt: 2026-01-01T00:00:00Z\n  waives: {vulnerabilities: [\"CVE-*\"]}\n", "no wildcards"},
		{"ignore rule without owner", "ignore:\n  - id: X\n    reason: r\n    expires: 2026-01-01\n", "missing owner"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.doc), LoadOptions{})
			if err == nil {
				t.Fatalf("accepted:\n%s", c.doc)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bad.yaml") {
				t.Errorf("error %q\nshould name the file and contain %q", err, c.want)
			}
		})
	}
}

func TestOversizedFile(t *testing.T) {
	big := policyHeader + "spec:\n  images: [\"**\"]\n#" + strings.Repeat("x", maxFileSize) + "\n"
	if _, err := Parse("big.yaml", []byte(big), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(path, []byte(big), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
}

func TestDuplicateNamesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	doc := policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules: [{signature: {}}]\n"
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yml"), []byte(doc), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a policy"), 0o644)
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "defined in") {
		t.Fatalf("duplicate policy names: %v", err)
	}
}

func TestKeyFileNotReadWithoutLoader(t *testing.T) {
	doc := policyHeader + "spec:\n  images: [\"**\"]\n  signers:\n    - name: k\n      key: {file: release.pub}\n  rules: [{signature: {}}]\n"
	if _, err := Parse("p.yaml", []byte(doc), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "inline the key") {
		t.Fatalf("key file without a reader: %v", err)
	}
}

func TestGlobs(t *testing.T) {
	cases := []struct {
		glob, name string
		want       bool
	}{
		{"registry.example/acme/*", "registry.example/acme/app", true},
		{"registry.example/acme/*", "registry.example/acme/team/app", false},
		{"registry.example/acme/**", "registry.example/acme/team/app", true},
		{"registry.example/acme/app", "registry.example/acme/app:v1", false},
		{"registry.example/acme/app*", "registry.example/acme/app:v1", true},
		{"registry.example/acme/app:**", "registry.example/acme/app:v1", true},
		{"registry.example/acme/app", "registry.example/acme/app", true},
		{"registry.example/acme/app", "registry.example/acme/apple", false},
		{"registry.example/**", "evil.example/registry.example/app", false},
		{"*", "index.docker.io/library/busybox", true},
		{"*", "index.docker.io/user/app", false},
		{"*/*", "index.docker.io/user/app", true},
		{"127.0.0.1:5000/**", "127.0.0.1:5000/team/app@sha256:abc", true},
		{"registry.example/a.b", "registry.example/aXb", false},
	}
	for _, c := range cases {
		g, err := CompileGlob(c.glob)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Match(c.name); got != c.want {
			t.Errorf("%q matches %q: %v, want %v", c.glob, c.name, got, c.want)
		}
	}
}
