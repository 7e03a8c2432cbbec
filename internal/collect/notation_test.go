package collect_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestNotationSignerDecides: a policy requiring a Notation signer, judged
// on real Notation signatures in a registry on 127.0.0.1 — the decision
// names the certificate subject that signed, or exactly why not.
func TestNotationSignerDecides(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	ca := testutil.NewNotationCA(t, "Acme Root")
	dir := t.TempDir()
	testutil.WriteNotationTrust(t, dir, host+"/team/app", "strict", testutil.NotationReleaseIdentity, ca.Cert)
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: notation-signed}
spec:
  images: [%q]
  signers:
    - name: release
      notation: {trustPolicy: trustpolicy.json, trustStore: truststore}
  rules:
    - name: signed
      signature: {signers: [release]}
`, host+"/team/**")), 0o644); err != nil {
		t.Fatal(err)
	}
	set, _, err := policy.LoadSet(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	decide := func(t *testing.T, tag string, revoke bool) evidence.RuleResult {
		t.Helper()
		ref := host + "/team/app:" + tag
		ev := collect.Collect(ctx, set, pushNotationSigned(t, ref, ca, revoke), ref, collect.Options{Timeout: 10 * time.Second})
		d := policy.Evaluate(set, ev, time.Now())
		if len(d.Rules) != 1 {
			t.Fatalf("decision %+v", d)
		}
		return d.Rules[0]
	}
	if r := decide(t, "good", false); r.Outcome != evidence.OutcomePass || !strings.Contains(r.Reason, `signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation) (trusted signer release)`) {
		t.Errorf("%s: %s", r.Outcome, r.Reason)
	}
	if r := decide(t, "revoked", true); r.Outcome != evidence.OutcomeFail || !strings.Contains(r.Reason, "revoked at sha256:") || !strings.Contains(r.Reason, `signing certificate with subject "CN=release,O=Acme,ST=WA,C=US" is revoked`) {
		t.Errorf("%s: %s", r.Outcome, r.Reason)
	}
}

// TestKyvernoNotaryAttestor: a Kyverno verifyImages rule of type Notary
// whose attestor is a CA certificate, judged on real Notation signatures
// as Kyverno's Notary verifier judges them: any identity that CA issued
// passes, a signature chaining to another CA does not.
func TestKyvernoNotaryAttestor(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	trusted, other := testutil.NewNotationCA(t, "Acme Root"), testutil.NewNotationCA(t, "Other Root")
	caPEM := strings.ReplaceAll(strings.TrimSpace(string(testutil.PEM(trusted.Cert))), "\n", "\n              ")
	doc := fmt.Sprintf(`apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: notary-signed}
spec:
  validationFailureAction: Enforce
  rules:
  - name: notary
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - type: Notary
      imageReferences: [%q]
      attestors:
      - entries:
        - certificates:
            cert: |-
              %s
`, host+"/team/*", caPEM)
	docs, err := policy.Parse("notary.yaml", []byte(doc), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	decide := func(t *testing.T, tag string, ca *testutil.NotationCA) evidence.Decision {
		t.Helper()
		ref := host + "/team/app:" + tag
		return policy.Evaluate(set, collect.Collect(ctx, set, pushNotationSigned(t, ref, ca, false), ref, collect.Options{Timeout: 10 * time.Second}), time.Now())
	}
	if d := decide(t, "trusted", trusted); !d.Allowed || !strings.Contains(d.Rules[0].Reason, `signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation)`) {
		t.Errorf("signed under the attestor's CA: %+v", d)
	}
	if d := decide(t, "other", other); d.Allowed || !strings.Contains(d.Rules[0].Reason, "no signature by Notation signer") {
		t.Errorf("signed under another CA: %+v", d)
	}
}

// pushNotationSigned pushes a new image to ref and signs it with a
// Notation certificate ca issues (revoked at once if revoke), returning
// the image as resolved.
func pushNotationSigned(t *testing.T, ref string, ca *testutil.NotationCA, revoke bool) *oci.Artifact {
	t.Helper()
	ctx := context.Background()
	art, repo, desc := pushRandom(t, ref)
	k, chain := ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
	if revoke {
		ca.Revoke(chain[0])
	}
	key, err := notation.NewKey(k, chain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notation.Sign(ctx, repo, desc, key, notation.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	return art
}

// resolved is the image ref names, its repository and descriptor.
// pushRandom pushes a new random image to ref and returns it as
// resolved.
func pushRandom(t *testing.T, ref string) (*oci.Artifact, oci.Repository, v1.Descriptor) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tagged, img); err != nil {
		t.Fatal(err)
	}
	return resolved(t, ref)
}

func resolved(t *testing.T, ref string) (*oci.Artifact, oci.Repository, v1.Descriptor) {
	t.Helper()
	src, err := oci.ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := art.Repository()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := art.SubjectDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	return art, repo, desc
}

// TestRatifyNotationVerifier: Ratify's notation Verifier, its trust store
// filled by an inline KeyManagementProvider, judged on real Notation
// signatures: a signature under the provider's CA by the trusted identity
// passes, one under another CA does not, and images outside the trust
// policy's registry scopes are not claimed.
func TestRatifyNotationVerifier(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	trusted, other := testutil.NewNotationCA(t, "Acme Root"), testutil.NewNotationCA(t, "Other Root")
	caPEM := strings.ReplaceAll(strings.TrimSpace(string(testutil.PEM(trusted.Cert))), "\n", "\n      ")
	file := filepath.Join(t.TempDir(), "ratify.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: ratify-notation-inline-cert-0}
spec:
  type: inline
  parameters:
    contentType: certificate
    value: |
      %s
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      ca:
        ca-certs: [ratify-notation-inline-cert-0]
    trustPolicyDoc:
      version: "1.0"
      trustPolicies:
        - name: team
          registryScopes: [%q]
          signatureVerification: {level: strict}
          trustStores: ["ca:ca-certs"]
          trustedIdentities: [%q]
`, caPEM, host+"/team/app", testutil.NotationReleaseIdentity)), 0o600); err != nil {
		t.Fatal(err)
	}
	set, _, err := policy.LoadSet(file)
	if err != nil {
		t.Fatal(err)
	}
	decide := func(t *testing.T, repo, tag string, ca *testutil.NotationCA) evidence.Decision {
		t.Helper()
		ref := host + "/" + repo + ":" + tag
		return policy.Evaluate(set, collect.Collect(ctx, set, pushNotationSigned(t, ref, ca, false), ref, collect.Options{Timeout: 10 * time.Second}), time.Now())
	}
	if d := decide(t, "team/app", "trusted", trusted); !d.Allowed || !slices.Equal(d.Policies, []string{"verifier-notation"}) || !strings.Contains(d.Rules[0].Reason, `signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation)`) {
		t.Errorf("signed under the provider's CA: %+v", d)
	}
	if d := decide(t, "team/app", "other", other); d.Allowed || !strings.Contains(d.Rules[0].Reason, "no signature by Notation signer verifier-notation") {
		t.Errorf("signed under another CA: %+v", d)
	}
	if d := decide(t, "team/else", "trusted", trusted); d.Allowed || d.Rules[0].Rule != "no-policy" {
		t.Errorf("outside the registry scopes: %+v", d)
	}
}
