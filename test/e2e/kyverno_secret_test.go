package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestKyvernoKeyInSecret: a Kyverno ClusterPolicy whose key is
// k8s://NAMESPACE/NAME is decided by the webhook with the cosign.pub of
// that Secret, read from the API server at every reload: before the
// Secret exists nothing it would verify is admitted, a key written or
// rotated in the Secret applies at the next reload, and deleting the
// Secret revokes the key.
func TestKyvernoKeyInSecret(t *testing.T) {
	if testing.Short() {
		testutil.Missing(t, "the end-to-end suite starts a control plane (skipped with -short)")
	}
	c := startCluster(t)
	reg := startRegistry(t)
	host := reg.host
	dir := t.TempDir()
	_, policyDir, _, exceptionsFile, trustedRoot := suite(t, dir, host)

	// two keys, an image signed by each
	t.Setenv("DOSSIER_PASSWORD", "e2e")
	keys := map[string]string{}
	for _, k := range []string{"release", "other"} {
		prefix := filepath.Join(dir, k)
		if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", prefix); code != 0 {
			t.Fatalf("key generate: %s", errOut)
		}
		ref := host + "/ky/" + k + ":v1"
		testutil.PushSample(t, "npm-app", ref)
		if code, _, errOut := runDossier(t, "sign", ref, "--key", prefix+".key"); code != 0 {
			t.Fatalf("sign %s: %s", ref, errOut)
		}
		pub, err := os.ReadFile(prefix + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		keys[k] = string(pub)
	}
	c.namespace(t, "keys", nil)
	c.namespace(t, "shop", nil)
	secret := func(key string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "release", "namespace": "keys"},
			"stringData": map[string]string{"cosign.pub": key}}
	}
	write(t, filepath.Join(policyDir, "kyverno.yaml"), fmt.Sprintf(`apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: check-image}
spec:
  validationFailureAction: Enforce
  rules:
    - name: check-image
      match: {any: [{resources: {kinds: [Pod], namespaces: [shop]}}]}
      verifyImages:
        - imageReferences: ["%s/ky/*"]
          attestors:
            - entries:
                - keys:
                    publicKeys: k8s://keys/release
                    rekor: {ignoreTlog: true}
                    ctlog: {ignoreSCT: true}
`, host))

	// started before the Secret exists: the key verifies nothing yet
	w := startWebhook(t, c, dir, policyDir, exceptionsFile, trustedRoot, filepath.Join(dir, "data"), "--reload-interval", "500ms")
	w.install(t, c)
	release, other := host+"/ky/release:v1", host+"/ky/other:v1"
	c.waitFor(t, "the webhook configurations to take effect", 60*time.Second, func() bool {
		return c.create(t, "/api/v1/namespaces/shop/pods?dryRun=All", pod("probe", nil, other)).code == http.StatusForbidden
	}, c.apiserver, w.proc)
	t.Run("no Secret yet: denied, saying which Secret holds no key", func(t *testing.T) {
		expectDenied(t, "signed, the Secret missing", c.create(t, "/api/v1/namespaces/shop/pods", pod("early", nil, release)),
			"the key in Secret keys/release: no such Secret")
	})
	if a := c.create(t, "/api/v1/namespaces/keys/secrets", secret(keys["release"])); a.code != http.StatusCreated {
		t.Fatalf("secret: %d %s", a.code, a.body)
	}
	c.waitFor(t, "the Secret's key to apply", 30*time.Second, func() bool {
		return c.create(t, "/api/v1/namespaces/shop/pods?dryRun=All", pod("probe", nil, release)).code == http.StatusCreated
	}, c.apiserver, w.proc)

	t.Run("signed by the Secret's key: admitted; by another key: denied", func(t *testing.T) {
		if a := c.create(t, "/api/v1/namespaces/shop/pods", pod("release", nil, release)); a.code != http.StatusCreated {
			t.Fatalf("signed by the Secret's key: %d: %s", a.code, a.message())
		}
		expectDenied(t, "signed by another key", c.create(t, "/api/v1/namespaces/shop/pods", pod("other", nil, other)), "check-image")
	})

	t.Run("the key rotated in the Secret applies at the next reload", func(t *testing.T) {
		if a := c.do(t, http.MethodPut, "/api/v1/namespaces/keys/secrets/release", "", secret(keys["other"])); a.code != http.StatusOK {
			t.Fatalf("rotate: %d %s", a.code, a.body)
		}
		c.waitFor(t, "the rotated key to apply", 30*time.Second, func() bool {
			return c.create(t, "/api/v1/namespaces/shop/pods?dryRun=All", pod("probe", nil, other)).code == http.StatusCreated
		}, c.apiserver, w.proc)
		expectDenied(t, "signed by the key rotated out", c.create(t, "/api/v1/namespaces/shop/pods", pod("release-again", nil, release)), "check-image")
	})

	t.Run("the Secret deleted revokes its key at the next reload", func(t *testing.T) {
		if a := c.do(t, http.MethodDelete, "/api/v1/namespaces/keys/secrets/release", "", nil); a.code != http.StatusOK {
			t.Fatalf("delete: %d %s", a.code, a.body)
		}
		c.waitFor(t, "the deleted key to be revoked", 30*time.Second, func() bool {
			return c.create(t, "/api/v1/namespaces/shop/pods?dryRun=All", pod("probe", nil, other)).code == http.StatusForbidden
		}, c.apiserver, w.proc)
		expectDenied(t, "signed by the deleted key", c.create(t, "/api/v1/namespaces/shop/pods", pod("other-again", nil, other)),
			"the key in Secret keys/release: no such Secret")
	})
}
