package collect_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestImageValidatingPolicy: a Kyverno ImageValidatingPolicy judged on
// real evidence in a registry on 127.0.0.1, gathered by what the policy
// names: a key signature and a keyless SLSA provenance attestation whose
// payload must name the source repository. The collector reads exactly
// those; the CEL validations decide.
func TestImageValidatingPolicy(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	key, _ := sign.GenerateKeyPair()
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pubPEM := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	doc := fmt.Sprintf(`apiVersion: policies.kyverno.io/v1
kind: ImageValidatingPolicy
metadata: {name: signed-and-built}
spec:
  validationActions: [Deny]
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}]
  matchImageReferences: [{glob: %q}]
  attestors:
    - name: release-key
      cosign:
        key: {data: %q}
        ctlog: {insecureIgnoreTlog: true}
    - name: workflow
      cosign:
        keyless:
          identities: [{issuer: %q, subject: %q}]
  attestations:
    - name: slsa
      intoto: {type: https://slsa.dev/provenance/v1}
  validations:
    - expression: images.containers.map(image, verifyImageSignatures(image, [attestors["release-key"]])).all(e, e > 0)
      message: not signed by the release key
    - expression: images.containers.map(image, verifyAttestationSignatures(image, attestations.slsa, [attestors.workflow])).all(e, e > 0)
      message: no provenance by the release workflow
    - expression: >-
        images.containers.all(image,
          extractPayload(image, attestations.slsa).predicate.buildDefinition.externalParameters.workflow.repository == 'https://github.com/acme/samples')
      message: not built from acme/samples
`, host+"/team/*", pubPEM, ghIssuer, release)
	docs, err := policy.Parse("ivp.yaml", []byte(doc), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	vs := testutil.NewSigstore(t)
	trust, err := collect.TrustFor(set, vs.TrustedRoot(t), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	provenance := func(repository string) []byte {
		p, err := attest.Provenance(map[string]string{
			"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": repository,
			"GITHUB_WORKFLOW_REF": repository + "/.github/workflows/release.yml@refs/tags/v1.2.0", "GITHUB_REF": "refs/tags/v1.2.0",
			"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_RUN_ID": "7", "GITHUB_EVENT_NAME": "push",
		}, attest.ProvenanceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// push makes an image at tag, signed by the key when keyed and with a
	// provenance from the repository when it is given
	decide := func(t *testing.T, tag string, keyed bool, repository string) evidence.Decision {
		t.Helper()
		ref := host + "/team/app:" + tag
		art, repo, desc := pushRandom(t, ref)
		if keyed {
			if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(key, ""), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if repository != "" {
			st, err := attest.Statement(desc.Digest, evidence.PredicateSLSA1, provenance(repository), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sign.StoreBundle(ctx, repo, desc, vs.KeylessBundle(t, st, release, ghIssuer, true), evidence.PredicateSLSA1, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		ev := collect.Collect(ctx, set, art, ref, collect.Options{Trust: trust, Timeout: 10 * time.Second})
		return policy.Evaluate(set, ev, time.Now())
	}
	reasons := func(d evidence.Decision) string {
		var out []string
		for _, r := range d.Rules {
			out = append(out, r.Rule+" "+string(r.Outcome)+": "+r.Reason)
		}
		return strings.Join(out, "\n")
	}

	d := decide(t, "good", true, "acme/samples")
	if !d.Allowed || d.Violations != 0 || len(d.Rules) != 4 {
		t.Fatalf("signed and built from acme/samples:\n%s", reasons(d))
	}
	for i, want := range []string{"attestor release-key: signed by key sha256:", "attestor workflow: slsa attestation by " + release, "payload of slsa read from sha256:", "verified by a signature or attestation check of policy signed-and-built"} {
		if !strings.Contains(d.Rules[i].Reason, want) {
			t.Errorf("rule %d: want %q:\n%s", i, want, reasons(d))
		}
	}
	d = decide(t, "fork", true, "acme-evil/samples")
	if d.Allowed || d.Rules[2].Outcome != evidence.OutcomeFail || !strings.HasPrefix(d.Rules[2].Reason, "not built from acme/samples") || d.Violations != 1 {
		t.Errorf("built from a fork:\n%s", reasons(d))
	}
	d = decide(t, "unsigned", false, "")
	if d.Allowed || !strings.HasPrefix(d.Rules[0].Reason, "not signed by the release key (attestor release-key: no signature by key release-key") ||
		!strings.Contains(d.Rules[2].Reason, "cannot be read before it is verified") || !strings.Contains(d.Rules[3].Reason, "failed signature or attestation verification") {
		t.Errorf("unsigned, no provenance:\n%s", reasons(d))
	}
}

// TestImageValidatingPolicyNotary: Kyverno's Notary attestor sample, its
// CA the test CA, judged on real Notation signatures: under the CA
// admitted, under another CA denied.
func TestImageValidatingPolicyNotary(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	trusted, other := testutil.NewNotationCA(t, "Acme Root"), testutil.NewNotationCA(t, "Other Root")
	caPEM := strings.ReplaceAll(strings.TrimSpace(string(testutil.PEM(trusted.Cert))), "\n", "\n            ")
	doc := fmt.Sprintf(`apiVersion: policies.kyverno.io/v1beta1
kind: ImageValidatingPolicy
metadata:
  name: check-signed-images-forged-annotation
spec:
  validationActions:
  - Deny
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["pods"]
  matchImageReferences:
    - glob: %s/*
  validationConfigurations:
    mutateDigest: false
    verifyDigest: false
    required: false
  attestors:
    - name: notary
      notary:
        certs:
          value: |-
            %s
  validations:
    - expression: >-
        images.containers.map(image, verifyImageSignatures(image, [attestors.notary])).all(e, e > 0)
      message: failed to verify image with notary cert
`, host, caPEM)
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
	if d := decide(t, "trusted", trusted); !d.Allowed || !strings.Contains(d.Rules[0].Reason, `attestor notary: signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation)`) {
		t.Errorf("signed under the attestor's CA: %+v", d.Rules)
	}
	if d := decide(t, "other", other); d.Allowed || !strings.HasPrefix(d.Rules[0].Reason, "failed to verify image with notary cert (attestor notary: no signature by Notation signer notary") {
		t.Errorf("signed under another CA: %+v", d.Rules)
	}
}
