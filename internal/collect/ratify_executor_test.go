package collect_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestRatifyExecutor: two Ratify v2 Executors, judged on real Notation and
// cosign key signatures in a registry on 127.0.0.1. The registry's
// executor takes either signature (threshold 1: a Notation signature
// under the CA by the release identity, or a signature by the key); the
// team/strict repository's executor, more specific, needs both (the
// root's "all") and alone judges that repository. Signatures under
// another CA or by another key count for nothing.
func TestRatifyExecutor(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	trusted, otherCA := testutil.NewNotationCA(t, "Acme Root"), testutil.NewNotationCA(t, "Other Root")
	key, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	indent := func(text string, n int) string {
		return strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n"+strings.Repeat(" ", n))
	}
	caPEM, keyPEM := indent(string(testutil.PEM(trusted.Cert)), 16), indent(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), 18)
	executor := func(name, scope, threshold string) string {
		return fmt.Sprintf(`apiVersion: config.ratify.sh/v2alpha1
kind: Executor
metadata: {name: %s}
spec:
  scopes: [%q]
  stores: [{type: registry-store, parameters: {credential: {provider: static}, plainHttp: true, allowCosignTag: true}}]
  verifiers:
    - name: notation-1
      type: notation
      parameters:
        trustedIdentities: [%q]
        certificates:
          - type: ca
            inline:
              certs: |
                %s
    - name: cosign-1
      type: cosign
      parameters:
        trustPolicies:
          - keys:
              inline:
                keys: |
                  %s
            ignoreTLog: true
            ignoreObserverTimestamps: true
  policyEnforcer:
    type: threshold-policy
    parameters:
      policy:
        threshold: %s
        rules: [{verifierName: notation-1}, {verifierName: cosign-1}]
`, name, scope, testutil.NotationReleaseIdentity, caPEM, keyPEM, threshold)
	}
	file := filepath.Join(t.TempDir(), "ratify.yaml")
	if err := os.WriteFile(file, []byte(executor("executor-registry", host, "1")+"---\n"+executor("executor-strict", host+"/team/strict", "0")), 0o600); err != nil {
		t.Fatal(err)
	}
	set, _, err := policy.LoadSet(file)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := collect.TrustFor(set, testutil.NewSigstore(t).TrustedRoot(t), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// push pushes a new image to repo:tag, signed with Notation under ca
	// and by kp when given, and decides it
	push := func(t *testing.T, repo, tag string, ca *testutil.NotationCA, kp *sign.KeyPair) evidence.Decision {
		t.Helper()
		ref := host + "/" + repo + ":" + tag
		if ca != nil {
			pushNotationSigned(t, ref, ca, false)
		} else {
			pushRandom(t, ref)
		}
		art, repository, desc := resolved(t, ref)
		if kp != nil {
			if _, err := attest.SignImage(ctx, repository, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return policy.Evaluate(set, collect.Collect(ctx, set, art, ref, collect.Options{Trust: trust, Timeout: 10 * time.Second}), time.Now())
	}
	for i, c := range []struct {
		name, repo string
		ca         *testutil.NotationCA
		kp         *sign.KeyPair
		allowed    bool
		policy     string
		says       string
	}{
		{"Notation-signed", "team/app", trusted, nil, true, "executor-registry", `1 of 1 required attestors verified: signed by x509 subject "CN=release,O=Acme,ST=WA,C=US" (Notation)`},
		{"key-signed", "team/app", nil, key, true, "executor-registry", "1 of 1 required attestors verified: signed by key"},
		{"unsigned", "team/app", nil, nil, false, "executor-registry", "0 of 1 required attestors verified"},
		{"under another CA, by another key", "team/app", otherCA, otherKey, false, "executor-registry", "0 of 1 required attestors verified"},
		{"strict, both", "team/strict", trusted, key, true, "executor-strict", ""},
		{"strict, Notation only", "team/strict", trusted, nil, false, "executor-strict", "key cosign-1-key-0"},
		{"strict, the key only", "team/strict", nil, key, false, "executor-strict", "Notation signer notation-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := push(t, c.repo, fmt.Sprintf("v%d", i), c.ca, c.kp)
			if d.Allowed != c.allowed || !slices.Equal(d.Policies, []string{c.policy}) {
				t.Fatalf("allowed %v by %v, want %v by %s: %+v", d.Allowed, d.Policies, c.allowed, c.policy, d.Rules)
			}
			reasons := ""
			for _, r := range d.Rules {
				reasons += r.Reason + "\n"
			}
			if !strings.Contains(reasons, c.says) {
				t.Errorf("no rule says %q:\n%s", c.says, reasons)
			}
		})
	}
}
