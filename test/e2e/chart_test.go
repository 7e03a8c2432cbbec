package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// helmTemplate renders deploy/helm/dossier with the helm installed with
// the peers.
func helmTemplate(t *testing.T, namespace string, set ...string) []byte {
	t.Helper()
	args := []string{"template", "dossier", filepath.Join(testutil.RepoRoot(), "deploy", "helm", "dossier"), "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(testutil.Peer(t, "helm"), args...).Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	return out
}

// The Helm chart applied to a real API server: every object accepted, the
// Deployment's two Pods created (and, with no node, pending), the serving
// certificate valid for the Service's name under the CA the webhook
// configurations carry, and the webhook live: with no dossier answering,
// a Pod elsewhere is refused (fail closed) while the chart's own
// namespace is left alone. The plain manifests are the chart's rendering
// and apply too.
func TestHelmChartOnARealCluster(t *testing.T) {
	c := startCluster(t)
	const ns = "dossier-system"
	c.namespace(t, ns, nil)
	if err := c.apply(t, helmTemplate(t, ns)); err != nil {
		t.Fatalf("applying the chart: %v", err)
	}
	deleteWebhooks := func() {
		for _, kind := range []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"} {
			c.do(t, http.MethodDelete, "/apis/admissionregistration.k8s.io/v1/"+kind+"/dossier", "", nil)
		}
	}
	defer deleteWebhooks()

	var deploy appsv1.Deployment
	c.get(t, "/apis/apps/v1/namespaces/"+ns+"/deployments/dossier", &deploy)
	spec := deploy.Spec.Template.Spec
	if *deploy.Spec.Replicas != 2 || len(spec.Containers) != 1 || spec.Containers[0].ReadinessProbe == nil ||
		spec.Containers[0].Env[0].ValueFrom.SecretKeyRef.Name != "dossier-store" || !*spec.SecurityContext.RunAsNonRoot {
		t.Errorf("deployment: %+v", deploy.Spec)
	}
	for _, path := range []string{"/apis/policy/v1/namespaces/" + ns + "/poddisruptionbudgets/dossier",
		"/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies/dossier", "/api/v1/namespaces/" + ns + "/services/dossier",
		"/api/v1/namespaces/" + ns + "/serviceaccounts/dossier", "/api/v1/namespaces/" + ns + "/configmaps/dossier-policies"} {
		if a := c.do(t, http.MethodGet, path, "", nil); a.code != http.StatusOK {
			t.Errorf("%s: %d %s", path, a.code, a.body)
		}
	}
	c.waitFor(t, "the Deployment's two Pods", 60*time.Second, func() bool {
		var pods corev1.PodList
		c.get(t, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app.kubernetes.io%2Fname%3Ddossier", &pods)
		return len(pods.Items) == 2
	}, c.apiserver, c.controllers)

	// the certificate the pods serve is what the API server trusts
	var secret corev1.Secret
	c.get(t, "/api/v1/namespaces/"+ns+"/secrets/dossier-tls", &secret)
	var validating admissionregistrationv1.ValidatingWebhookConfiguration
	c.get(t, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/dossier", &validating)
	hook := validating.Webhooks[0]
	if hook.ClientConfig.Service == nil || hook.ClientConfig.Service.Namespace != ns || *hook.FailurePolicy != admissionregistrationv1.Fail {
		t.Fatalf("validating webhook: %+v", hook)
	}
	// the chart's webhook configurations are dossier webhook install's
	// (which the webhook's own tests exercise): the same rules, scope and
	// behaviour, only the CA bundle and names of the deployment differ
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, hook.ClientConfig.CABundle, 0o600); err != nil {
		t.Fatal(err)
	}
	code, installed, errOut := runDossier(t, "webhook", "install", "--namespace", ns, "--service", "dossier", "--port", "9443", "--ca-bundle", caFile)
	if code != 0 {
		t.Fatalf("webhook install: %s", errOut)
	}
	var want admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.Unmarshal([]byte(strings.SplitN(installed, "\n---\n", 2)[1]), &want); err != nil {
		t.Fatal(err)
	}
	w := want.Webhooks[0]
	if !reflect.DeepEqual(hook.Rules, w.Rules) || !reflect.DeepEqual(hook.NamespaceSelector, w.NamespaceSelector) || *hook.SideEffects != *w.SideEffects ||
		*hook.MatchPolicy != *w.MatchPolicy || *hook.TimeoutSeconds != *w.TimeoutSeconds || !reflect.DeepEqual(hook.ClientConfig, w.ClientConfig) || hook.Name != w.Name {
		t.Errorf("the chart's validating webhook differs from dossier webhook install's:\n chart   %+v\n install %+v", hook, w)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatal("the TLS secret holds no certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "dossier." + ns + ".svc", Roots: x509Pool(t, hook.ClientConfig.CABundle)}); err != nil {
		t.Errorf("the serving certificate does not verify under the webhook's CA bundle: %v", err)
	}

	// no dossier answers: a Pod elsewhere is refused, fail closed
	c.namespace(t, "apps", nil)
	a := c.create(t, "/api/v1/namespaces/apps/pods", pod("web", nil, "registry.example/app:v1"))
	if a.code < 400 || !strings.Contains(a.message(), "dossier") {
		t.Errorf("a Pod with dossier's webhook unreachable: %d %s", a.code, a.message())
	}
	deleteWebhooks()

	// the plain manifests: the chart's rendering, and they apply
	plain := filepath.Join(testutil.RepoRoot(), "deploy", "kubernetes", "dossier.yaml")
	committed, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	fresh := helmTemplate(t, "dossier", "tls.generate=false", "tls.existingSecret=dossier-tls", "webhook.configure=false")
	if !strings.HasSuffix(string(committed), string(fresh)) {
		t.Errorf("%s differs from the chart's rendering: run deploy/kubernetes/render.sh", plain)
	}
	c.namespace(t, "dossier", nil)
	if err := c.apply(t, committed); err != nil {
		t.Errorf("applying %s: %v", plain, err)
	}
	// the chart refuses what cannot work
	if _, err := exec.Command(testutil.Peer(t, "helm"), "template", "dossier", filepath.Join(testutil.RepoRoot(), "deploy", "helm", "dossier"),
		"--set", "tls.generate=false", "--set", "tls.existingSecret=mine").CombinedOutput(); err == nil {
		t.Error("the chart rendered webhook configurations without a CA bundle")
	}
}

// Naming the cluster in the chart's values makes dossier inventory it and
// grants what that reads — nothing more unless asked: PolicyReports, pull
// secrets and the PolicyReport CRD each come with their own value. The
// rendering applies to a real API server.
func TestHelmChartInventoryValues(t *testing.T) {
	plain := string(helmTemplate(t, "dossier"))
	for _, absent := range []string{"--cluster", "resources: [pods]", "policyreports", "secrets, serviceaccounts", "--pull-secrets", "--cloud-credentials", "azure.workload.identity", "role-arn", "resources: [secrets]"} {
		if strings.Contains(plain, absent) {
			t.Errorf("the default values render %q", absent)
		}
	}
	full := string(helmTemplate(t, "dossier", "inventory.cluster=prod-eu", "inventory.policyReports=true", "inventory.installPolicyReportCRD=true", "webhook.pullSecrets=true",
		"cloudCredentials={ecr,azure}", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/dossier",
		"webhook.keySecrets[0].namespace=keys", "webhook.keySecrets[0].name=release"))
	for _, want := range []string{"- --cluster=prod-eu", "- --judge-every=5m", "- --policy-reports", "- --pull-secrets",
		"- --cloud-credentials=ecr,azure", `azure.workload.identity/use: "true"`, "eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/dossier",
		"resources: [pods]", "resources: [replicasets]", "resources: [jobs]", "resources: [policyreports]", "resources: [secrets, serviceaccounts]",
		"name: policyreports.wgpolicyk8s.io", "name: clusterpolicyreports.wgpolicyk8s.io",
		// get on the one Secret a policy's key is in, nothing wider
		"name: dossier-key-release\n  namespace: keys", "resources: [secrets]\n    resourceNames: [release]\n    verbs: [get]"} {
		if !strings.Contains(full, want) {
			t.Errorf("the inventory's values do not render %q", want)
		}
	}
	c := startCluster(t)
	c.namespace(t, "dossier", nil)
	c.namespace(t, "keys", nil)
	if err := c.apply(t, []byte(full)); err != nil {
		t.Fatalf("applying the rendering: %v", err)
	}
}
