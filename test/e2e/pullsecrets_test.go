package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
)

// A registry on 127.0.0.1 that only a namespace's pull secret may read: the
// webhook resolves, verifies and pins an image there with the credentials
// the kubelet would use (the Pod's pull secrets, or its service
// account's); a namespace without them is refused, as enforcing policies
// refuse what cannot be verified.
func TestPullSecretsOnARealCluster(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	const user, password = "puller", "s3cret-pull-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	write(t, htpasswd, user+":"+string(hash)+"\n")
	reg := startRegistryWith(t, fmt.Sprintf("auth: {htpasswd: {realm: dossier-e2e, path: %s}}\n", htpasswd))
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	dockerConfig, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.host: map[string]string{"auth": auth}}})
	// the suite pushes and signs with the password; dossier's webhook
	// process never sees it
	t.Setenv("DOCKER_CONFIG", dir)
	write(t, filepath.Join(dir, "config.json"), string(dockerConfig))
	images, policyDir, cipFile, exceptionsFile, trustedRoot := suite(t, dir, reg.host)
	os.Remove(cipFile)
	// the webhook process starts with no Docker configuration of its own
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	// it fails open: an outage admits, a refusal never does
	w := startWebhook(t, c, dir, policyDir, exceptionsFile, trustedRoot, filepath.Join(dir, "data"), "--pull-secrets", "--fail-open")
	secret := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "regcred"},
		"type": "kubernetes.io/dockerconfigjson", "data": map[string]any{".dockerconfigjson": base64.StdEncoding.EncodeToString(dockerConfig)}}
	for _, ns := range []string{"private", "via-account", "no-secret"} {
		c.namespace(t, ns, map[string]string{"dossier.dev/mode": "enforce"})
		if ns == "no-secret" {
			continue
		}
		if a := c.create(t, "/api/v1/namespaces/"+ns+"/secrets", secret); a.code != http.StatusCreated {
			t.Fatalf("secret: %d %s", a.code, a.body)
		}
	}
	patch := map[string]any{"imagePullSecrets": []any{map[string]string{"name": "regcred"}}}
	if a := c.do(t, http.MethodPatch, "/api/v1/namespaces/via-account/serviceaccounts/default", "application/merge-patch+json", patch); a.code != http.StatusOK {
		t.Fatalf("service account: %d %s", a.code, a.body)
	}
	w.install(t, c)
	withSecret := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		return p
	}
	c.waitFor(t, "the webhook configurations to take effect", 60*time.Second, func() bool {
		a := c.create(t, "/api/v1/namespaces/private/pods?dryRun=All", withSecret(pod("probe", nil, images["team/unsigned"].ref)))
		return a.code == http.StatusForbidden
	}, c.apiserver, w.proc)

	signed := images["team/signed"]
	a := c.create(t, "/api/v1/namespaces/private/pods", withSecret(pod("web", nil, signed.ref)))
	if a.code != http.StatusCreated {
		t.Fatalf("a signed image with the namespace's pull secret: %d: %s", a.code, a.message())
	}
	if got, want := decode[corev1.Pod](t, a).Spec.Containers[0].Image, pinned(reg.host, "team/signed", signed); got != want {
		t.Errorf("image %s, want it pinned to %s", got, want)
	}
	// the unsigned image is read with the secret, and refused for what it is
	a = c.create(t, "/api/v1/namespaces/private/pods", withSecret(pod("unsigned", nil, images["team/unsigned"].ref)))
	expectDenied(t, "an unsigned image with the pull secret", a, images["team/unsigned"].digest, "policy release-enforce rule signed")
	// the service account's pull secret serves a Deployment's template
	d := deployment("web", signed.ref)
	if a := c.create(t, "/apis/apps/v1/namespaces/via-account/deployments", d); a.code != http.StatusCreated {
		t.Fatalf("a Deployment whose service account has the pull secret: %d: %s", a.code, a.message())
	}
	// without the secret, the registry refuses dossier as it would the
	// kubelet: not verified, so refused under enforce
	a = c.create(t, "/api/v1/namespaces/no-secret/pods", pod("web", nil, signed.ref))
	expectDenied(t, "the signed image without a pull secret", a, "resolving "+signed.ref, "UNAUTHORIZED")
	// nor does another namespace's earlier success open the image to it
	a = c.create(t, "/api/v1/namespaces/no-secret/pods", pod("web-again", nil, signed.ref))
	expectDenied(t, "the signed image without a pull secret, after another namespace read it", a, "UNAUTHORIZED")
	// thousands of pull secret names cannot spend the review's time into an
	// outage that --fail-open would admit: the first 64 are read, and a
	// refusal stays a refusal
	many := pod("many", nil, images["team/unsigned"].ref)
	for i := range 3000 {
		many.Spec.ImagePullSecrets = append(many.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: fmt.Sprintf("s-%d", i)})
	}
	a = c.create(t, "/api/v1/namespaces/no-secret/pods", many)
	expectDenied(t, "an image named with 3,000 pull secrets", a, "3000 pull secrets named: the first 64 read")
}
