package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestNotationSignTreeAndPolicy: key generate --notation, sign --notation,
// tree, and a policy whose signer is notation's trust policy and store,
// end to end on a registry on 127.0.0.1.
func TestNotationSignTreeAndPolicy(t *testing.T) {
	dir := t.TempDir()
	host := testutil.Registry(t)
	digest := testutil.PushSample(t, "go-app", host+"/team/app:v1")
	ref := host + "/team/app:v1"
	prefix := filepath.Join(dir, "release")

	if r := dossier(t, "", "key", "generate", "--notation", "--output-prefix", prefix); r.code != ExitError || !strings.Contains(r.stderr, "--subject") {
		t.Fatalf("no subject: %+v", r)
	}
	if r := dossier(t, "", "key", "generate", "--notation", "--subject", "CN=release,O=Acme,ST=WA,C=US", "--output-prefix", prefix); r.code != 0 || !strings.Contains(r.stderr, "mode 0600") {
		t.Fatalf("key generate --notation: %+v", r)
	}
	if r := dossier(t, "", "sign", ref, "--notation", "--key", prefix+".key"); r.code != ExitError || !strings.Contains(r.stderr, "--certificate-chain") {
		t.Fatalf("no chain: %+v", r)
	}
	if r := dossier(t, "", "sign", ref, "--notation", "--keyless"); r.code != ExitError {
		t.Fatalf("--notation --keyless: %+v", r)
	}
	r := dossier(t, "", "sign", ref, "--notation", "--key", prefix+".key", "--certificate-chain", prefix+".crt", "--signature-format", "cose")
	if r.code != 0 || !strings.Contains(r.stdout, "signed "+host+"/team/app@"+digest+" (Notation cose signature sha256:") || !strings.Contains(r.stdout, "by CN=release,O=Acme,ST=WA,C=US") {
		t.Fatalf("sign --notation: %+v", r)
	}
	if r := dossier(t, "", "tree", ref); r.code != 0 || !strings.Contains(r.stdout, "signature (notation) [referrer] sha256:") {
		t.Fatalf("tree: %+v", r)
	}

	// the certificate trusted as notation's trust store holds it
	cert, err := os.ReadFile(prefix + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "notation", "truststore", "x509", "ca", "acme")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "release.crt"), cert, 0o644); err != nil {
		t.Fatal(err)
	}
	trustPolicy := func(identity string) {
		doc := fmt.Sprintf(`{"version": "1.0", "trustPolicies": [{"name": "team", "registryScopes": [%q],
  "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": [%q]}]}`, host+"/team/app", identity)
		if err := os.WriteFile(filepath.Join(dir, "notation", "trustpolicy.json"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: notation-signed}
spec:
  images: [%q]
  signers:
    - name: release
      notation: {trustPolicy: notation/trustpolicy.json, trustStore: notation/truststore}
  rules:
    - {name: signed, signature: {signers: [release]}}
`, host+"/team/**")), 0o644); err != nil {
		t.Fatal(err)
	}
	trustPolicy("x509.subject: C=US, ST=WA, O=Acme, CN=release")
	if r := dossier(t, "", "policy", "check", ref, "--policy", policy); r.code != 0 || !strings.Contains(r.stdout, `signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation) (trusted signer release)`) {
		t.Fatalf("policy check: %+v", r)
	}
	r = dossier(t, "", "verify", ref, "--notation-trust-policy", filepath.Join(dir, "notation", "trustpolicy.json"), "--notation-trust-store", filepath.Join(dir, "notation", "truststore"))
	if r.code != 0 || !strings.Contains(r.stdout, `signer x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation)`) || !strings.Contains(r.stdout, `notation: trust policy statement "team", level strict, application/cose envelope`) {
		t.Fatalf("verify --notation-trust-policy: %+v", r)
	}
	trustPolicy("x509.subject: C=US, ST=WA, O=Acme, CN=someone-else")
	if r := dossier(t, "", "policy", "check", ref, "--policy", policy); r.code != ExitGateFailed || !strings.Contains(r.stdout, "untrusted-key at sha256:") || !strings.Contains(r.stdout, "does not match the X.509 trusted identities") {
		t.Fatalf("policy check, another identity trusted: %+v", r)
	}
	if r := dossier(t, "", "verify", ref, "--notation-trust-policy", filepath.Join(dir, "notation", "trustpolicy.json"), "--notation-trust-store", filepath.Join(dir, "notation", "truststore")); r.code != ExitGateFailed || !strings.Contains(r.stderr, "authenticity check failed") {
		t.Fatalf("verify, another identity trusted: %+v", r)
	}
}
