package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// runPolicyTester runs Sigstore policy-controller's policy-tester: exit 0
// when the image passes the ClusterImagePolicy.
func runPolicyTester(t *testing.T, policy, image string) (bool, string) {
	t.Helper()
	cmd := exec.Command(testutil.Peer(t, "policy-tester"), "-policy", policy, "-image", image, "-log-level", "error")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("policy-tester: %v: %s", err, out)
	}
	return err == nil, string(out)
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
	want := map[string]struct{ dossier, tester bool }{
		"legacy-signed": {true, true},
		"unsigned":      {false, false},
		"other-key":     {false, false},
		"bundle-signed": {true, false}, // the documented difference
	}
	for name, ref := range images {
		testerAllowed, testerOut := runPolicyTester(t, cip, ref)
		code, out, errOut := runDossier(t, "policy", "check", ref, "--policy", cip, "--insecure-registry", host)
		if code != 0 && code != 1 {
			t.Fatalf("%s: dossier policy check: exit %d: %s", name, code, errOut)
		}
		dossierAllowed := code == 0
		w := want[name]
		if dossierAllowed != w.dossier || testerAllowed != w.tester {
			t.Errorf("%s: dossier allowed=%v (want %v), policy-tester allowed=%v (want %v)\ndossier: %s\npolicy-tester: %s", name, dossierAllowed, w.dossier, testerAllowed, w.tester, out, testerOut)
		}
		if name == "bundle-signed" && !strings.Contains(testerOut, "no signatures found") {
			t.Errorf("policy-tester's reason for the bundle signature changed: %s", testerOut)
		}
	}
}
