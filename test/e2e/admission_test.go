package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func pod(name string, init []string, images ...string) *corev1.Pod {
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: podSpec(images...)}
	for i, im := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("setup%d", i), Image: im})
	}
	return p
}

func podSpec(images ...string) corev1.PodSpec {
	var spec corev1.PodSpec
	for i, im := range images {
		spec.Containers = append(spec.Containers, corev1.Container{Name: fmt.Sprintf("app%d", i), Image: im})
	}
	return spec
}

func deployment(name, image string) *appsv1.Deployment {
	one := int32(1)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(image)}}}
}

func cronJob(name, image string) *batchv1.CronJob {
	spec := podSpec(image)
	spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: spec}}}}}
}

func decode[T any](t *testing.T, a answer) *T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
	return &v
}

func pinned(host, name string, im image) string { return host + "/" + name + "@" + im.digest }

// expectDenied checks a refusal by dossier's validating webhook and that
// its message says each of wants.
func expectDenied(t *testing.T, what string, a answer, wants ...string) {
	t.Helper()
	msg := a.message()
	if a.code != http.StatusForbidden || !strings.Contains(msg, `admission webhook "validate.dossier.dev" denied the request: dossier: `) {
		t.Fatalf("%s: want a denial by dossier, got %d: %s", what, a.code, msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: the denial does not say %q:\n%s", what, w, msg)
		}
	}
	t.Logf("%s: %s", what, msg)
}

// TestAdmissionOnARealCluster deploys workloads through a real API server
// whose admission webhooks are dossier's, and checks what is admitted,
// pinned, refused, warned about and recorded.
func TestAdmissionOnARealCluster(t *testing.T) {
	if testing.Short() {
		testutil.Missing(t, "the end-to-end suite starts a control plane (skipped with -short)")
	}
	c := startCluster(t)
	reg := startRegistry(t)
	host := reg.host
	dir := t.TempDir()
	images, policyDir, cipFile, exceptionsFile, trustedRoot := suite(t, dir, host)
	dataDir := filepath.Join(dir, "data")
	w := startWebhook(t, c, dir, policyDir, exceptionsFile, trustedRoot, dataDir, "--reload-interval", "500ms")
	certDir := w.certDir
	for ns, mode := range map[string]string{"prod": "enforce", "staging": "audit", "payments": "enforce", "hotfix": "enforce", "rollout": "audit", "cip": ""} {
		labels := map[string]string{}
		if mode != "" {
			labels["dossier.dev/mode"] = mode
		}
		c.namespace(t, ns, labels)
	}

	// the configurations are dossier's own, applied by dossier (server-side
	// apply), the kubeconfig's current context named by KUBECONFIG
	t.Setenv("KUBECONFIG", c.kubeconfig)
	install := func(extra ...string) {
		t.Helper()
		w.install(t, c, extra...)
	}
	install()
	// configurations take effect asynchronously: a server-side dry run
	// (judged, never recorded) tells when dossier is asked
	c.waitFor(t, "the webhook configurations to take effect", 60*time.Second, func() bool {
		a := c.create(t, "/api/v1/namespaces/prod/pods?dryRun=All", pod("probe", nil, images["team/unsigned"].ref))
		return a.code == http.StatusForbidden
	}, c.apiserver, w.proc)

	t.Run("signed by the release workflow: admitted and pinned to the digest judged", func(t *testing.T) {
		a := c.create(t, "/api/v1/namespaces/prod/pods", pod("web", nil, images["team/signed"].ref))
		if a.code != http.StatusCreated {
			t.Fatalf("%d: %s", a.code, a.message())
		}
		if got, want := decode[corev1.Pod](t, a).Spec.Containers[0].Image, pinned(host, "team/signed", images["team/signed"]); got != want {
			t.Errorf("image %s, want it pinned to %s", got, want)
		}
	})

	t.Run("unsigned: denied with the image, digest, policy, rule and the fix", func(t *testing.T) {
		a := c.create(t, "/api/v1/namespaces/prod/pods", pod("unsigned", nil, images["team/unsigned"].ref))
		expectDenied(t, "unsigned Pod", a, images["team/unsigned"].digest, "policy release-enforce rule signed: no signature by",
			releaseIdentity, "fix: dossier sign")
	})

	t.Run("a registry spelled differently meets the same policies; an image no policy claims is denied", func(t *testing.T) {
		respell := func(ref, as string) string { return strings.Replace(ref, "127.0.0.1", as, 1) }
		for i, as := range []string{"localhost", "LOCALHOST", "LocalHost"} {
			a := c.create(t, "/api/v1/namespaces/prod/pods", pod(fmt.Sprintf("respelled-unsigned-%d", i), nil, respell(images["team/unsigned"].ref, as)))
			expectDenied(t, as+" spelling of the unsigned image", a, images["team/unsigned"].digest, "policy release-enforce rule signed")
			a = c.create(t, "/api/v1/namespaces/prod/pods", pod(fmt.Sprintf("respelled-signed-%d", i), nil, respell(images["team/signed"].ref, as)))
			if a.code != http.StatusCreated {
				t.Fatalf("%s spelling of the signed image: %d: %s", as, a.code, a.message())
			}
			if got, want := decode[corev1.Pod](t, a).Spec.Containers[0].Image, pinned(host, "team/signed", images["team/signed"]); got != want {
				t.Errorf("%s spelling: image %s, want it pinned to %s", as, got, want)
			}
		}
		// a port with a leading zero is the same registry
		port := host[strings.LastIndex(host, ":")+1:]
		a := c.create(t, "/api/v1/namespaces/prod/pods", pod("respelled-port", nil, strings.Replace(images["team/unsigned"].ref, ":"+port+"/", ":0"+port+"/", 1)))
		expectDenied(t, "the unsigned image with a leading zero in its port", a, images["team/unsigned"].digest, "policy release-enforce rule signed")
		// names some resolvers reach 127.0.0.1 by and runtimes refuse or read apart are refused
		for i, image := range []string{respell(images["team/unsigned"].ref, "127.1"), strings.Replace(images["team/unsigned"].ref, "/team/", "/team/./", 1)} {
			a := c.create(t, "/api/v1/namespaces/prod/pods", pod(fmt.Sprintf("unreadable-%d", i), nil, image))
			expectDenied(t, image, a, image)
		}
		a = c.create(t, "/api/v1/namespaces/prod/pods", pod("unclaimed", nil, "other.example/team/app:v1"))
		expectDenied(t, "an image no policy claims", a, "no policy matches other.example/team/app:v1")
	})

	t.Run("signed by a look-alike identity: denied naming both identities", func(t *testing.T) {
		a := c.create(t, "/api/v1/namespaces/prod/pods", pod("lookalike", nil, images["team/lookalike"].ref))
		expectDenied(t, "look-alike Pod", a, "signed by "+evilIdentity, "but the policy requires", releaseIdentity)
	})

	t.Run("an unsigned init container is judged like the others", func(t *testing.T) {
		a := c.create(t, "/api/v1/namespaces/prod/pods", pod("with-init", []string{images["team/unsigned"].ref}, images["team/signed"].ref))
		expectDenied(t, "init container", a, `init container "setup0"`)
	})

	t.Run("ephemeral containers added as kubectl debug adds them are judged", func(t *testing.T) {
		// kubectl debug patches the Pod's ephemeralcontainers subresource
		debug := func(name, image string) answer {
			patch := map[string]any{"spec": map[string]any{"ephemeralContainers": []any{map[string]any{
				"name": name, "image": image, "stdin": true, "tty": true, "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}}}}
			return c.do(t, http.MethodPatch, "/api/v1/namespaces/prod/pods/web/ephemeralcontainers", "application/strategic-merge-patch+json", patch)
		}
		if a := debug("debugger", images["team/unsigned"].ref); a.code < 400 || !strings.Contains(a.message(), `ephemeral container "debugger"`) || !strings.Contains(a.message(), "denied") {
			t.Errorf("debugging with an unsigned image: %d %s", a.code, a.message())
		}
		if a := debug("debug-signed", images["team/signed"].ref); a.code != http.StatusOK {
			t.Fatalf("debugging with a signed image: %d %s", a.code, a.message())
		}
		p := decode[corev1.Pod](t, c.do(t, http.MethodGet, "/api/v1/namespaces/prod/pods/web", "", nil))
		if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].Image != pinned(host, "team/signed", images["team/signed"]) {
			t.Errorf("ephemeral containers: %+v", p.Spec.EphemeralContainers)
		}
	})

	t.Run("a Deployment with an unsigned template is refused and no Pod of it exists", func(t *testing.T) {
		a := c.create(t, "/apis/apps/v1/namespaces/prod/deployments", deployment("unsigned-web", images["team/unsigned"].ref))
		expectDenied(t, "unsigned Deployment", a, images["team/unsigned"].digest)
		if a := c.do(t, http.MethodGet, "/apis/apps/v1/namespaces/prod/deployments/unsigned-web", "", nil); a.code != http.StatusNotFound {
			t.Errorf("the refused Deployment exists: %d", a.code)
		}
		if pods := decode[corev1.PodList](t, c.do(t, http.MethodGet, "/api/v1/namespaces/prod/pods?labelSelector=app%3Dunsigned-web", "", nil)); len(pods.Items) != 0 {
			t.Errorf("Pods of the refused Deployment: %d", len(pods.Items))
		}
	})

	t.Run("a signed Deployment: the controllers' ReplicaSet and Pods are judged and pinned", func(t *testing.T) {
		a := c.create(t, "/apis/apps/v1/namespaces/prod/deployments", deployment("signed-web", images["team/signed"].ref))
		if a.code != http.StatusCreated {
			t.Fatalf("%d: %s", a.code, a.message())
		}
		want := pinned(host, "team/signed", images["team/signed"])
		if got := decode[appsv1.Deployment](t, a).Spec.Template.Spec.Containers[0].Image; got != want {
			t.Errorf("the Deployment's template image %s, want %s", got, want)
		}
		p := c.waitPod(t, "prod", "signed-web")
		if p.Spec.Containers[0].Image != want {
			t.Errorf("the controller's Pod runs %s, want %s", p.Spec.Containers[0].Image, want)
		}
	})

	t.Run("CronJob: unsigned refused, signed admitted and pinned", func(t *testing.T) {
		expectDenied(t, "unsigned CronJob", c.create(t, "/apis/batch/v1/namespaces/prod/cronjobs", cronJob("nightly-unsigned", images["team/unsigned"].ref)))
		a := c.create(t, "/apis/batch/v1/namespaces/prod/cronjobs", cronJob("nightly", images["team/signed"].ref))
		if a.code != http.StatusCreated {
			t.Fatalf("%d: %s", a.code, a.message())
		}
		if got := decode[batchv1.CronJob](t, a).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; got != pinned(host, "team/signed", images["team/signed"]) {
			t.Errorf("CronJob image %s", got)
		}
	})

	t.Run("audit mode admits and warns", func(t *testing.T) {
		a := c.create(t, "/api/v1/namespaces/staging/pods", pod("unsigned", nil, images["team/unsigned"].ref))
		if a.code != http.StatusCreated || len(a.warnings) != 1 || !strings.Contains(a.warnings[0], "dossier audit: ") ||
			!strings.Contains(a.warnings[0], "policy release-audit rule signed: no signature by") {
			t.Fatalf("%d: warnings %q: %s", a.code, a.warnings, a.message())
		}
		t.Logf("audit warning: %s", a.warnings[0])
	})

	t.Run("an expired exception does not apply; a break-glass one admits and says so", func(t *testing.T) {
		expectDenied(t, "expired exception", c.create(t, "/api/v1/namespaces/payments/pods", pod("unsigned", nil, images["team/unsigned"].ref)),
			"exception payments-unsigned-last-week (owner payments-team) expired")
		a := c.create(t, "/api/v1/namespaces/hotfix/pods", pod("unsigned", nil, images["team/unsigned"].ref))
		if a.code != http.StatusCreated || len(a.warnings) != 1 || !strings.Contains(a.warnings[0], "admitted under exception hotfix-break-glass (owner sre-oncall") {
			t.Fatalf("break-glass: %d: warnings %q: %s", a.code, a.warnings, a.message())
		}
		t.Logf("break-glass warning: %s", a.warnings[0])
	})

	t.Run("rollout: a namespace label turns audit into enforce, and the controller's new Pods are refused", func(t *testing.T) {
		a := c.create(t, "/apis/apps/v1/namespaces/rollout/deployments", deployment("legacy", images["team/unsigned"].ref))
		if a.code != http.StatusCreated || len(a.warnings) != 1 {
			t.Fatalf("audit: %d: warnings %q: %s", a.code, a.warnings, a.message())
		}
		old := c.waitPod(t, "rollout", "legacy")
		c.label(t, "rollout", map[string]string{"dossier.dev/mode": "enforce"})
		// namespace labels are cached for 30 s
		c.waitFor(t, "enforcement in namespace rollout", 60*time.Second, func() bool {
			return c.create(t, "/api/v1/namespaces/rollout/pods?dryRun=All", pod("probe", nil, images["team/unsigned"].ref)).code == http.StatusForbidden
		}, c.apiserver, w.proc)
		// the ReplicaSet replaces a deleted Pod: its replacement is refused
		if a := c.do(t, http.MethodDelete, "/api/v1/namespaces/rollout/pods/"+old.Name, "", nil); a.code != http.StatusOK {
			t.Fatalf("delete %s: %d %s", old.Name, a.code, a.body)
		}
		c.waitFor(t, "the replica set's refused Pod in the store", 60*time.Second, func() bool {
			for _, ad := range admissions(t, dataDir) {
				if ad.Namespace == "rollout" && ad.Outcome == store.AdmissionDenied && strings.HasPrefix(ad.Workload, "ReplicaSet/legacy-") &&
					ad.User == "system:serviceaccount:kube-system:replicaset-controller" {
					return true
				}
			}
			return false
		}, c.apiserver, c.controllers, w.proc)
		if pods := decode[corev1.PodList](t, c.do(t, http.MethodGet, "/api/v1/namespaces/rollout/pods?labelSelector=app%3Dlegacy", "", nil)); len(pods.Items) != 0 {
			t.Errorf("a Pod of the unsigned ReplicaSet exists under enforce: %s", pods.Items[0].Name)
		}
	})

	t.Run("a Sigstore ClusterImagePolicy decides alike through the webhook and policy check", func(t *testing.T) {
		for name, want := range map[string]bool{"cip/right": true, "cip/lookalike": false, "cip/unsigned": false} {
			a := c.create(t, "/api/v1/namespaces/cip/pods", pod(strings.ReplaceAll(name, "/", "-"), nil, images[name].ref))
			webhookAllowed := a.code == http.StatusCreated
			if !webhookAllowed && a.code != http.StatusForbidden {
				t.Fatalf("%s: %d %s", name, a.code, a.message())
			}
			code, out, errOut := runDossier(t, "policy", "check", images[name].ref, "--policy", cipFile, "--trusted-root", trustedRoot)
			if code != 0 && code != 1 {
				t.Fatalf("%s: policy check: exit %d: %s", name, code, errOut)
			}
			if webhookAllowed != want || (code == 0) != want {
				t.Errorf("%s: webhook admitted %v, policy check allowed %v, want %v\nwebhook: %s\npolicy check: %s", name, webhookAllowed, code == 0, want, a.message(), out)
			}
		}
	})

	t.Run("registry stopped: enforce denies, audit admits with the failure recorded", func(t *testing.T) {
		reg.proc.stop()
		fresh := images["team/fresh"].ref // never judged, so nothing is cached
		expectDenied(t, "registry down, enforce", c.create(t, "/api/v1/namespaces/prod/pods", pod("fresh", nil, fresh)), "cannot be verified: resolving "+fresh)
		a := c.create(t, "/api/v1/namespaces/staging/pods", pod("fresh", nil, fresh))
		if a.code != http.StatusCreated || len(a.warnings) != 1 || !strings.Contains(a.warnings[0], "cannot be verified") {
			t.Fatalf("registry down, audit: %d: warnings %q: %s", a.code, a.warnings, a.message())
		}
		reg.start()
	})

	t.Run("every decision is in the store and admitted digests are deployed", func(t *testing.T) {
		// the validating webhook sees images as the mutating one pinned
		// them; an image that could not be resolved stays as written
		signed, unsigned := pinned(host, "team/signed", images["team/signed"]), pinned(host, "team/unsigned", images["team/unsigned"])
		fresh := images["team/fresh"].ref
		want := []struct{ namespace, workload, user, outcome, image, reason string }{
			{"prod", "Pod/web", "admin", store.AdmissionAllowed, signed, ""},
			{"prod", "Pod/unsigned", "admin", store.AdmissionDenied, unsigned, "no signature by"},
			{"prod", "Deployment/signed-web", "admin", store.AdmissionAllowed, signed, ""},
			{"prod", "Deployment/signed-web", "system:serviceaccount:kube-system:deployment-controller", store.AdmissionAllowed, signed, ""},
			{"prod", "ReplicaSet/signed-web-", "system:serviceaccount:kube-system:replicaset-controller", store.AdmissionAllowed, signed, ""},
			{"staging", "Pod/unsigned", "admin", store.AdmissionAudited, unsigned, "no signature by"},
			{"hotfix", "Pod/unsigned", "admin", store.AdmissionWaived, unsigned, "hotfix-break-glass (owner sre-oncall)"},
			{"payments", "Pod/unsigned", "admin", store.AdmissionDenied, unsigned, "expired"},
			{"staging", "Pod/fresh", "admin", store.AdmissionAudited, fresh, "resolving " + fresh},
			{"prod", "Pod/fresh", "admin", store.AdmissionDenied, fresh, "resolving " + fresh},
		}
		recorded := admissions(t, dataDir)
		for _, w := range want {
			found := false
			for _, ad := range recorded {
				found = found || (ad.Namespace == w.namespace && strings.HasPrefix(ad.Workload, w.workload) && ad.User == w.user &&
					ad.Outcome == w.outcome && ad.Image == w.image && strings.Contains(ad.Reason, w.reason))
			}
			if !found {
				t.Errorf("no %s decision recorded for %s %s by %s (image %s, reason containing %q)", w.outcome, w.namespace, w.workload, w.user, w.image, w.reason)
			}
		}
		// dry runs leave no trace
		for _, ad := range recorded {
			if strings.HasSuffix(ad.Workload, "/probe") {
				t.Errorf("a dry run was recorded: %+v", ad)
			}
		}
		if t.Failed() {
			data, _ := json.MarshalIndent(recorded, "", "  ")
			t.Logf("recorded:\n%s", data)
		}
		// the responder's question: which running digests contain lodash
		if code, _, errOut := runDossier(t, "record", images["team/signed"].ref, "--data-dir", dataDir, "--trusted-root", trustedRoot); code != 0 {
			t.Fatalf("record: %s", errOut)
		}
		code, out, errOut := runDossier(t, "query", "component", "pkg:npm/lodash", "--deployed", "--data-dir", dataDir, "-o", "json")
		if code != 0 || !strings.Contains(out, images["team/signed"].digest) || !strings.Contains(out, host+"/team/signed") || !strings.Contains(out, `"deployed":`) {
			t.Errorf("query component --deployed: exit %d: %s %s", code, out, errOut)
		}
	})

	t.Run("reviews come from the API server only: a forged one is refused and not recorded", func(t *testing.T) {
		ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509Pool(t, ca)
		review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"forged","operation":"CREATE",
			"kind":{"version":"v1","kind":"Pod"},"namespace":"prod","name":"forged","object":{"metadata":{"name":"forged"},"spec":{"containers":[{"name":"c","image":"` +
			pinned(host, "team/signed", images["team/signed"]) + `"}]}}}}`
		// the cluster admin's certificate is the cluster CA's, not the
		// webhook clients': it is no API server either
		admin, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		for name, cfg := range map[string]*tls.Config{
			"no credentials":                  {RootCAs: pool},
			"another CA's client certificate": {RootCAs: pool, Certificates: []tls.Certificate{admin}},
		} {
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := client.Post("https://"+w.addr+"/admission/validate", "application/json", strings.NewReader(review))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("a review with %s: HTTP %d", name, resp.StatusCode)
				}
			} // a handshake refused is a refusal too
		}
		time.Sleep(time.Second) // decisions reach the store within milliseconds
		for _, ad := range admissions(t, dataDir) {
			if strings.HasSuffix(ad.Workload, "/forged") {
				t.Errorf("a forged review was recorded: %+v", ad)
			}
		}
	})

	t.Run("dossier stopped: failurePolicy Fail refuses, Ignore admits unjudged", func(t *testing.T) {
		w.proc.stop()
		a := c.create(t, "/api/v1/namespaces/prod/pods", pod("while-down", nil, images["team/signed"].ref))
		if a.code == http.StatusCreated || !strings.Contains(a.message(), "failed calling webhook") {
			t.Fatalf("fail closed: %d: %s", a.code, a.message())
		}
		t.Logf("dossier down, failurePolicy Fail: %s", a.message())
		install("--fail-open")
		var admitted answer
		c.waitFor(t, "failurePolicy Ignore to take effect", 60*time.Second, func() bool {
			admitted = c.create(t, "/api/v1/namespaces/prod/pods", pod("while-down", nil, images["team/signed"].ref))
			return admitted.code == http.StatusCreated
		}, c.apiserver)
		if got := decode[corev1.Pod](t, admitted).Spec.Containers[0].Image; got != images["team/signed"].ref {
			t.Errorf("an unjudged Pod was pinned: %s", got)
		}
	})
}

// waitPod waits for the Pod a controller creates for app and returns it.
func (c *cluster) waitPod(t *testing.T, namespace, app string) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	c.waitFor(t, "a Pod of "+app, 60*time.Second, func() bool {
		pods := decode[corev1.PodList](t, c.do(t, http.MethodGet, "/api/v1/namespaces/"+namespace+"/pods?labelSelector=app%3D"+app, "", nil))
		if len(pods.Items) > 0 {
			p = &pods.Items[0]
		}
		return p != nil
	}, c.apiserver, c.controllers)
	return p
}

// admissions reads the webhook's decisions from the store with dossier
// query admissions.
func admissions(t *testing.T, dataDir string) []store.Admission {
	t.Helper()
	code, out, errOut := runDossier(t, "query", "admissions", "--data-dir", dataDir, "--limit", "0", "-o", "json")
	if code != 0 && code != 1 {
		t.Fatalf("query admissions: exit %d: %s", code, errOut)
	}
	var list []store.Admission
	if err := json.Unmarshal([]byte(out), &list); err != nil && code == 0 {
		t.Fatalf("query admissions: %v: %s", err, out)
	}
	return list
}
