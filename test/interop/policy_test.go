package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// verdicts are the decisions expected of each tool for one image.
type verdicts struct{ dossier, tester bool }

// compareDecisions decides policy for each image with Sigstore's
// policy-tester (extra flags in testerArgs) and with dossier policy check
// (extra flags in dossierArgs), and checks each against want. It returns
// the tester's output per image.
func compareDecisions(t *testing.T, policy string, images map[string]string, want map[string]verdicts, testerArgs, dossierArgs []string) map[string]string {
	t.Helper()
	outputs := map[string]string{}
	for name, ref := range images {
		cmd := exec.Command(testutil.Peer(t, "policy-tester"), append([]string{"-policy", policy, "-image", ref, "-log-level", "error"}, testerArgs...)...)
		testerOut, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
			t.Fatalf("policy-tester: %v: %s", err, testerOut)
		}
		outputs[name] = string(testerOut)
		code, out, errOut := runDossier(t, append([]string{"policy", "check", ref, "--policy", policy}, dossierArgs...)...)
		if code != 0 && code != 1 {
			t.Fatalf("%s: dossier policy check: exit %d: %s", name, code, errOut)
		}
		if w := want[name]; (code == 0) != w.dossier || (err == nil) != w.tester {
			t.Errorf("%s: dossier allowed=%v (want %v), policy-tester allowed=%v (want %v)\ndossier: %s\npolicy-tester: %s", name, code == 0, w.dossier, err == nil, w.tester, out, testerOut)
		}
	}
	return outputs
}

// TestPolicyTesterAgrees decides the same ClusterImagePolicy on the same
// images with dossier and with Sigstore's policy-tester: a signature by
// the policy's key in cosign's legacy .sig layout, none, and one by another
// key. The one deliberate difference is tested as such: for a key
// authority the tester reads only legacy .sig signatures, so an image
// signed by the same key in cosign v3's default bundle format passes
// dossier (same trust anchor, more formats) and fails the tester.
func TestPolicyTesterAgrees(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	dir := t.TempDir()
	key, other := filepath.Join(dir, "release"), filepath.Join(dir, "other")
	for _, k := range []string{key, other} {
		if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", k); code != 0 {
			t.Fatalf("key generate: %s", errOut)
		}
	}
	host := startDistribution(t)
	images := map[string]string{}
	for _, name := range []string{"legacy-signed", "unsigned", "other-key", "bundle-signed"} {
		images[name] = host + "/pt/" + name + ":v1"
		cranePush(t, "npm-app", images[name])
	}
	for _, s := range []struct{ image, key string }{{"legacy-signed", key}, {"other-key", other}} {
		if code, _, errOut := runDossier(t, "sign", images[s.image], "--key", s.key+".key", "--legacy-tags"); code != 0 {
			t.Fatalf("sign %s: %s", s.image, errOut)
		}
	}
	if code, _, errOut := runDossier(t, "sign", images["bundle-signed"], "--key", key+".key"); code != 0 {
		t.Fatalf("sign bundle: %s", errOut)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	var indented []string
	for _, l := range strings.Split(strings.TrimSpace(string(pub)), "\n") {
		indented = append(indented, "          "+l)
	}
	cip := filepath.Join(dir, "cip.yaml")
	if err := os.WriteFile(cip, []byte(fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: release-key
spec:
  images:
    - glob: "%s/pt/**"
  authorities:
    - name: release
      key:
        data: |
%s
`, host, strings.Join(indented, "\n"))), 0o644); err != nil {
		t.Fatal(err)
	}
	testerOut := compareDecisions(t, cip, images, map[string]verdicts{
		"legacy-signed": {true, true},
		"unsigned":      {false, false},
		"other-key":     {false, false},
		"bundle-signed": {true, false}, // the documented difference
	}, nil, nil)
	if !strings.Contains(testerOut["bundle-signed"], "no signatures found") {
		t.Errorf("policy-tester's reason for the bundle signature changed: %s", testerOut["bundle-signed"])
	}
}

// TestPolicyTesterAgreesKeyless decides a keyless ClusterImagePolicy (an
// exact identity, verified against a TrustRoot) on images signed in
// cosign's legacy layout by that identity and by a look-alike, and on an
// unsigned one, with dossier and with policy-tester: both use the same
// offline Sigstore (CA with SCTs, log), given to dossier as a trusted root
// file and to the tester as a TrustRoot resource. As for keys, the tester
// reads only legacy .sig signatures: a bundle signature by the right
// identity passes dossier and fails the tester.
func TestPolicyTesterAgreesKeyless(t *testing.T) {
	ctx := context.Background()
	const issuer = "https://token.actions.githubusercontent.com"
	const identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	lookalike := strings.Replace(identity, "/acme/", "/acme-evil/", 1)
	s := testutil.NewSigstore(t)
	dir := t.TempDir()
	host := startDistribution(t)
	images := map[string]string{}
	for _, name := range []string{"legacy-right", "legacy-lookalike", "unsigned", "bundle-right"} {
		images[name] = host + "/kl/" + name + ":v1"
		cranePush(t, "npm-app", images[name])
	}
	open := func(name string) (oci.Repository, v1.Descriptor) {
		repo, err := oci.OpenRegistry(host+"/kl/"+name, oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		return repo, d
	}
	for name, who := range map[string]string{"legacy-right": identity, "legacy-lookalike": lookalike} {
		repo, d := open(name)
		payload, err := sign.SimpleSigningPayload(repo.Name(), d.Digest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sign.AppendLegacySignature(ctx, repo, d.Digest, payload, s.LegacyKeylessAnnotations(t, payload, who, issuer)); err != nil {
			t.Fatal(err)
		}
	}
	repo, d := open("bundle-right")
	st, err := attest.Statement(d.Digest, evidence.PredicateSignatures, json.RawMessage(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.StoreBundle(ctx, repo, d, s.KeylessBundle(t, st, identity, issuer, true), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}

	trustedRoot := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(trustedRoot, s.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	trustRoot := filepath.Join(dir, "trustroot.yaml")
	if err := os.WriteFile(trustRoot, []byte(fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata:
  name: dossier-test
spec:
  sigstoreKeys:
    certificateAuthorities:
      - subject: {organization: dossier test, commonName: dossier test fulcio}
        uri: https://fulcio.test
        certChain: %s
    tLogs:
      - baseURL: https://rekor.test
        hashAlgorithm: sha-256
        publicKey: %s
    ctLogs:
      - baseURL: https://ctlog.test
        hashAlgorithm: sha-256
        publicKey: %s
`, b64(s.CAPEM()), b64(s.RekorPublicKeyPEM()), b64(s.CTLogPublicKeyPEM()))), 0o644); err != nil {
		t.Fatal(err)
	}
	cip := filepath.Join(dir, "cip.yaml")
	if err := os.WriteFile(cip, []byte(fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: release-workflow
spec:
  images:
    - glob: "%s/kl/**"
  authorities:
    - name: github
      keyless:
        trustRootRef: dossier-test
        identities:
          - issuer: %s
            subject: %s
`, host, issuer, identity)), 0o644); err != nil {
		t.Fatal(err)
	}
	compareDecisions(t, cip, images, map[string]verdicts{
		"legacy-right":     {true, true},
		"legacy-lookalike": {false, false},
		"unsigned":         {false, false},
		"bundle-right":     {true, false}, // the documented difference
	}, []string{"-trustroot", trustRoot}, []string{"--trusted-root", trustedRoot})
	// without the trusted root the TrustRoot stands for, dossier refuses
	// rather than fall back to the public-good root
	if code, out, _ := runDossier(t, "policy", "check", images["legacy-right"], "--policy", cip); code != 1 || !strings.Contains(out, "TrustRoot dossier-test: give that trusted root as a file") {
		t.Errorf("no trusted root: exit %d: %s", code, out)
	}
}
