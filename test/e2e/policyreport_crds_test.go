package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
)

var policyReportCRDs = []string{"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"}

// crd is a CustomResourceDefinition as the API server has it, nil when
// there is none.
func (c *cluster) crd(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	a := c.do(t, http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, "", nil)
	if a.code == http.StatusNotFound {
		return nil
	}
	var crd unstructured.Unstructured
	if a.code != http.StatusOK || json.Unmarshal(a.body, &crd.Object) != nil {
		t.Fatalf("customresourcedefinition %s: %d %s", name, a.code, a.body)
	}
	return &crd
}

// establishedCRD waits until the API server serves a definition's
// resource, and returns the definition.
func (c *cluster) establishedCRD(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	var crd *unstructured.Unstructured
	c.waitFor(t, name+" established", 60*time.Second, func() bool {
		if crd = c.crd(t, name); crd == nil {
			return false
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conditions {
			if cond, ok := cond.(map[string]any); ok && cond["type"] == "Established" && cond["status"] == "True" {
				return true
			}
		}
		return false
	}, c.apiserver)
	return crd
}

// specManagers names who manages a definition (the API server's own
// status updates left out).
func specManagers(crd *unstructured.Unstructured) []string {
	var names []string
	for _, f := range crd.GetManagedFields() {
		if f.Subresource == "" && !slices.Contains(names, f.Manager) {
			names = append(names, f.Manager)
		}
	}
	slices.Sort(names)
	return names
}

// applyCRDAs applies a definition by server-side apply, forced, as field
// manager: another tool installing the same resource.
func (c *cluster) applyCRDAs(t *testing.T, manager string, crd *unstructured.Unstructured) {
	t.Helper()
	cfg, err := kube.Config(c.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	crds := client.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Apply(context.Background(), crd.GetName(), crd, metav1.ApplyOptions{FieldManager: manager, Force: true}); err != nil {
		t.Fatalf("applying %s as %s: %v", crd.GetName(), manager, err)
	}
}

// dossier webhook install --policy-report-crds gives a cluster without
// Kyverno the PolicyReport CRDs: established, applied again without a
// change, and taking the report dossier's inventory publishes; definitions
// another tool installed, or changed since dossier applied them, are left
// as they are.
func TestPolicyReportCRDsOnARealCluster(t *testing.T) {
	c := startCluster(t)
	c.startKWOK(t)
	c.namespace(t, "shop", nil)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "webhook-tls")
	if code, _, errOut := runDossier(t, "webhook", "certificate", "--host", "127.0.0.1", "--out-dir", certDir); code != 0 {
		t.Fatalf("webhook certificate: %s", errOut)
	}
	// no webhook runs here: its configurations fail open and leave shop
	// out, so that only the CRDs matter
	w := &webhook{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), certDir: certDir}
	install := func() string {
		t.Helper()
		return w.install(t, c, "--policy-report-crds", "--fail-open", "--exclude-namespace", "shop")
	}

	// Kyverno's definitions, there first, are left as they are
	crds, err := inventory.PolicyReportCRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		crd.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "kyverno"})
		c.applyCRDAs(t, "kyverno", crd)
	}
	versions := map[string]string{}
	for _, name := range policyReportCRDs {
		versions[name] = c.establishedCRD(t, name).GetResourceVersion()
	}
	out := install()
	for _, name := range policyReportCRDs {
		crd := c.crd(t, name)
		if !strings.Contains(out, "customresourcedefinition/"+name+" left as it is: installed by kyverno\n") ||
			crd.GetResourceVersion() != versions[name] || !slices.Equal(specManagers(crd), []string{"kyverno"}) || crd.GetLabels()["app.kubernetes.io/managed-by"] != "kyverno" {
			t.Errorf("Kyverno's %s (resource version %s, managed by %v, labels %v) after dossier webhook install:\n%s",
				name, crd.GetResourceVersion(), specManagers(crd), crd.GetLabels(), out)
		}
	}

	// without them, dossier's: applied, established, applied again unchanged
	for _, name := range policyReportCRDs {
		if a := c.do(t, http.MethodDelete, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, "", nil); a.code != http.StatusOK {
			t.Fatalf("deleting %s: %d %s", name, a.code, a.body)
		}
		c.waitFor(t, name+" deleted", 60*time.Second, func() bool { return c.crd(t, name) == nil }, c.apiserver)
	}
	clear(versions)
	for range 2 {
		out := install()
		for _, name := range policyReportCRDs {
			if !strings.Contains(out, "customresourcedefinition/"+name+" applied\n") {
				t.Fatalf("dossier webhook install did not apply %s:\n%s", name, out)
			}
			crd := c.establishedCRD(t, name)
			if managers := specManagers(crd); !slices.Equal(managers, []string{"dossier"}) {
				t.Errorf("%s: managed by %v", name, managers)
			}
			if version, again := versions[name]; again && version != crd.GetResourceVersion() {
				t.Errorf("%s written again by the same install: resource version %s, then %s", name, version, crd.GetResourceVersion())
			}
			versions[name] = crd.GetResourceVersion()
		}
	}

	// the inventory publishes its report into it: a Deployment whose image
	// nothing is recorded about fails the policy's signature rule
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	write(t, filepath.Join(dir, "release.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	write(t, filepath.Join(dir, "release.yaml"), `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: enforce
  images: ["registry.example/team/**"]
  signers: [{name: release-key, key: {file: release.pub}}]
  rules: [{name: signed, signature: {}}]
`)
	d := deployment("web", "registry.example/team/app@sha256:"+strings.Repeat("a", 64))
	onNode(&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec, nil)
	if a := c.create(t, "/apis/apps/v1/namespaces/shop/deployments", d); a.code != http.StatusCreated {
		t.Fatalf("deployment: %d %s", a.code, a.body)
	}
	watcher := start(t, "dossier-watch", os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"), "cluster", "watch", "--cluster", "east",
		"--kubeconfig", c.kubeconfig, "--data-dir", t.TempDir(), "--policy", filepath.Join(dir, "release.yaml"), "--policy-reports", "--judge-every", "1s")
	want := map[string]string{"Deployment/web app0 release/signed": "fail"}
	c.waitFor(t, "the PolicyReport of shop", 90*time.Second, func() bool { return maps.Equal(c.policyReport(t, "shop"), want) }, watcher, c.controllers)

	// Kyverno takes over a field dossier set (the short names): dossier's
	// next install leaves that definition as it is, and the report stays
	kyverno := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": policyReportCRDs[0]},
		"spec":     map[string]any{"group": "wgpolicyk8s.io", "names": map[string]any{"kind": "PolicyReport", "plural": "policyreports", "shortNames": []any{"polr", "kpolr"}}}}}
	c.applyCRDAs(t, "kyverno", kyverno)
	out = install()
	if !strings.Contains(out, "customresourcedefinition/"+policyReportCRDs[0]+` left as it is: another tool changed what dossier applied (Apply failed with 1 conflict: conflict with "kyverno"`) ||
		!strings.Contains(out, "customresourcedefinition/"+policyReportCRDs[1]+" applied\n") {
		t.Errorf("dossier webhook install over Kyverno's change:\n%s", out)
	}
	if short, _, _ := unstructured.NestedStringSlice(c.crd(t, policyReportCRDs[0]).Object, "spec", "names", "shortNames"); !slices.Equal(short, []string{"polr", "kpolr"}) {
		t.Errorf("Kyverno's short names overwritten: %v", short)
	}
	if got := c.policyReport(t, "shop"); !maps.Equal(got, want) {
		t.Errorf("the PolicyReport of shop after Kyverno's change: %v", got)
	}
}
