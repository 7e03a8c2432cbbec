package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/sign"
)

// keyDocuments are one signer's public key in a dossier policy, a Kyverno
// ClusterPolicy and a Ratify v2 Executor; KEY is the PEM, JSON-quoted.
var keyDocuments = map[string]string{
	"dossier": `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: keyed}
spec:
  images: ["registry.example/**"]
  signers:
    - name: release
      key: {data: KEY}
  rules:
    - name: signed
      signature: {}
`,
	"kyverno": `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: keyed}
spec:
  validationFailureAction: Enforce
  rules:
    - name: verify
      match: {any: [{resources: {kinds: [Pod]}}]}
      verifyImages:
        - imageReferences: ["registry.example/*"]
          attestors:
            - entries:
                - keys:
                    publicKeys: KEY
                    rekor: {ignoreTlog: true}
                    ctlog: {ignoreSCT: true}
`,
	"ratify": `apiVersion: config.ratify.sh/v2alpha1
kind: Executor
metadata: {name: keyed}
spec:
  scopes: ["registry.example"]
  stores:
    - type: registry-store
  verifiers:
    - name: cosign-release
      type: cosign
      parameters:
        trustPolicies:
          - keys: {inline: {keys: KEY}}
            ignoreTLog: true
            ignoreObserverTimestamps: true
  policyEnforcer:
    type: threshold-policy
    parameters:
      policy:
        rules:
          - verifierName: cosign-release
`,
}

// A PKCS #1 "RSA PUBLIC KEY" block is read as cosign, Kyverno and Ratify
// read it, and kept as the same key in PKIX form (the signer's fingerprint
// is the PKIX key's, and verification parses it); a block of another type
// ("EC PUBLIC KEY", which none of them reads) is refused by name.
func TestPublicKeyEncodings(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}))
	ecBlock := string(pem.EncodeToMemory(&pem.Block{Type: "EC PUBLIC KEY", Bytes: ecDER}))
	load := func(doc, key string) (*Documents, error) {
		quoted, _ := json.Marshal(key)
		path := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(doc, "KEY", string(quoted))), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path)
	}
	for name, doc := range keyDocuments {
		docs, err := load(doc, pkcs1)
		if err != nil {
			t.Errorf("%s: an RSA PUBLIC KEY refused: %v", name, err)
			continue
		}
		signers := (&Set{Policies: docs.Policies}).Signers()
		if len(signers) != 1 || signers[0].KeyFingerprint != evidence.KeyFingerprint(pkix) {
			t.Errorf("%s: signers %+v, want one whose fingerprint is the PKIX key's %s", name, signers, evidence.KeyFingerprint(pkix))
			continue
		}
		pub, err := sign.ParsePublicKey([]byte(signers[0].Key))
		if got, ok := pub.(*rsa.PublicKey); err != nil || !ok || !got.Equal(&rsaKey.PublicKey) {
			t.Errorf("%s: the key kept cannot be verified with: %v %T", name, err, pub)
		}
		if _, err := load(doc, ecBlock); err == nil || !strings.Contains(err.Error(), `PEM block is "EC PUBLIC KEY"`) {
			t.Errorf("%s: an EC PUBLIC KEY block: %v", name, err)
		}
	}
}
