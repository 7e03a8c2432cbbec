package e2e

// Attacks on 9ed7e22 (dossier webhook install --policy-report-crds
// --apply: server-side apply of the PolicyReport CRDs, never taking over
// or overwriting a definition another field manager owns), on a real
// kube-apiserver, kept as tests. A test that fails shows a weakness that
// is still there; the others hold and stay as regression tests.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
)

const crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"

// dossierCRD is dossier's own definition of name, as an object to send.
func dossierCRD(t *testing.T, name string) map[string]any {
	t.Helper()
	crds, err := inventory.PolicyReportCRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if crd.GetName() == name {
			return crd.Object
		}
	}
	t.Fatalf("no CRD %s", name)
	return nil
}

// applyReportCRDs is dossier webhook install --policy-report-crds --apply's
// CRD step against cfg: what it said, and its error.
func applyReportCRDs(t *testing.T, cfg *rest.Config) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	said, err := inventory.ApplyPolicyReportCRDs(ctx, cfg)
	return strings.Join(said, "\n") + "\n", err
}

// deleteCRDs deletes both definitions and waits until they are gone.
func (c *cluster) deleteCRDs(t *testing.T) {
	t.Helper()
	for _, name := range policyReportCRDs {
		if a := c.do(t, http.MethodDelete, crdPath+name, "", nil); a.code != http.StatusOK && a.code != http.StatusNotFound {
			t.Fatalf("deleting %s: %d %s", name, a.code, a.body)
		}
		c.waitFor(t, name+" deleted", 60*time.Second, func() bool { return c.crd(t, name) == nil }, c.apiserver)
	}
}

// createCRDAs creates a definition as manager does with POST (kubectl
// create, kubectl apply without --server-side, Helm): an Update, not an
// Apply, in managedFields.
func (c *cluster) createCRDAs(t *testing.T, manager string, obj map[string]any) {
	t.Helper()
	if a := c.do(t, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldManager="+manager, "", obj); a.code != http.StatusCreated {
		t.Fatalf("creating %v as %s: %d %s", obj["metadata"], manager, a.code, a.body)
	}
}

func TestPolicyReportCRDAttacksOnARealCluster(t *testing.T) {
	c := startCluster(t)
	cfg, err := kube.Config(c.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	name := policyReportCRDs[0]

	// Regression. kubectl apply (client-side) of dossier's own printed
	// definitions: no managedFields entry of dossier's, a
	// last-applied-configuration annotation. Left as they are, unwritten.
	t.Run("client-side applied", func(t *testing.T) {
		versions := map[string]string{}
		for _, n := range policyReportCRDs {
			obj := dossierCRD(t, n)
			last, _ := json.Marshal(obj)
			obj = cloneMap(obj)
			obj["metadata"].(map[string]any)["annotations"] = map[string]any{"kubectl.kubernetes.io/last-applied-configuration": string(last)}
			c.createCRDAs(t, "kubectl-client-side-apply", obj)
			versions[n] = c.establishedCRD(t, n).GetResourceVersion()
		}
		out, err := applyReportCRDs(t, cfg)
		for _, n := range policyReportCRDs {
			crd := c.crd(t, n)
			if err != nil || !strings.Contains(out, "customresourcedefinition/"+n+" left as it is: installed by kubectl-client-side-apply\n") ||
				crd.GetResourceVersion() != versions[n] || !slices.Equal(specManagers(crd), []string{"kubectl-client-side-apply"}) {
				t.Errorf("%s (resource version %s, was %s; managers %v) after dossier's apply (%v):\n%s", n, crd.GetResourceVersion(), versions[n], specManagers(crd), err, out)
			}
		}
		c.deleteCRDs(t)
	})

	// Regression. Definitions of the same name that do not serve
	// v1alpha2 (another version only, or v1alpha2 no longer served): an
	// error naming the manager, the definition unwritten.
	t.Run("other versions", func(t *testing.T) {
		for _, variant := range []string{"v1beta1 only", "v1alpha2 not served"} {
			obj := cloneMap(dossierCRD(t, name))
			v := obj["spec"].(map[string]any)["versions"].([]any)[0].(map[string]any)
			beta := cloneMap(v)
			beta["name"] = "v1beta1"
			if variant == "v1beta1 only" {
				obj["spec"].(map[string]any)["versions"] = []any{beta}
			} else {
				v["served"], v["storage"] = false, false
				obj["spec"].(map[string]any)["versions"] = []any{v, beta}
			}
			c.createCRDAs(t, "helm", obj)
			before := c.establishedCRD(t, name).GetResourceVersion()
			out, err := applyReportCRDs(t, cfg)
			if err == nil || !strings.Contains(err.Error(), "does not serve v1alpha2") || c.crd(t, name).GetResourceVersion() != before {
				t.Errorf("%s: dossier's apply: %v\n%s", variant, err, out)
			}
			c.deleteCRDs(t)
		}
	})

	// An administrator removes a field dossier applied — the short name
	// polr, say, because another definition of the cluster uses it — with
	// an Update (kubectl edit, kubectl replace, a Helm upgrade). Removed
	// fields leave every manager's set, so dossier's next apply meets no
	// conflict, and puts the field back: a definition "changed since dossier
	// applied it" is not left as it is, as docs/cli.md and the commit say.
	t.Run("a field another manager removed", func(t *testing.T) {
		if out, err := applyReportCRDs(t, cfg); err != nil || !strings.Contains(out, name+" applied") {
			t.Fatalf("dossier's first apply: %v\n%s", err, out)
		}
		crd := c.establishedCRD(t, name)
		unstructured.RemoveNestedField(crd.Object, "spec", "names", "shortNames")
		if a := c.do(t, http.MethodPut, crdPath+name+"?fieldManager=kubectl-edit", "", crd.Object); a.code != http.StatusOK {
			t.Fatalf("kubectl edit: %d %s", a.code, a.body)
		}
		edited := c.crd(t, name)
		out, err := applyReportCRDs(t, cfg)
		after := c.crd(t, name)
		short, _, _ := unstructured.NestedStringSlice(after.Object, "spec", "names", "shortNames")
		if err != nil || len(short) != 0 || after.GetGeneration() != edited.GetGeneration() {
			t.Errorf("after kubectl edit removed the short names (managers %v), dossier's apply said:\n%s(%v); short names now %v, generation %d → %d",
				specManagers(edited), out, err, short, edited.GetGeneration(), after.GetGeneration())
		}
		c.deleteCRDs(t)
	})

	// Another tool creates the definition between dossier's read (not
	// found) and its apply — Helm installing the chart's
	// crds-optional/policyreports.yaml, generated from the same source, at
	// the same moment. The apply is no create: it meets the other tool's
	// object, finds every value equal, and makes dossier an owner of every
	// field of a definition another tool installed ("applied"); from then
	// on appliedBy says it is dossier's, and only a conflict protects it.
	t.Run("created by another tool mid-apply", func(t *testing.T) {
		var raced atomic.Bool
		var racedErr atomic.Value
		target, _ := url.Parse(c.url)
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.Transport = c.client.Transport
		proxy.ModifyResponse = func(resp *http.Response) error {
			if resp.Request.Method == http.MethodGet && resp.StatusCode == http.StatusNotFound && strings.HasSuffix(resp.Request.URL.Path, crdPath+name) && raced.CompareAndSwap(false, true) {
				if a := c.do(t, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldManager=helm", "", dossierCRD(t, name)); a.code != http.StatusCreated {
					racedErr.Store(string(a.body))
				}
			}
			return nil
		}
		srv := httptest.NewServer(proxy)
		defer srv.Close()
		out, err := applyReportCRDs(t, &rest.Config{Host: srv.URL, Timeout: time.Minute})
		if !raced.Load() || racedErr.Load() != nil {
			t.Fatalf("no create of %s between dossier's read and apply (%v):\n%s", name, racedErr.Load(), out)
		}
		crd := c.establishedCRD(t, name)
		if err != nil || !strings.Contains(out, name+" left as it is") || !slices.Equal(specManagers(crd), []string{"helm"}) {
			t.Errorf("Helm created %s while dossier applied it: dossier said\n%s(%v) and the definition is managed by %v", name, out, err, specManagers(crd))
		}
		c.deleteCRDs(t)
	})

	// A definition being deleted (deletionTimestamp set; here a finalizer
	// of another controller holds it) is gone as soon as that finalizer
	// goes, and the API server already refuses new PolicyReports in it.
	// dossier's apply says "applied" all the same, and the install
	// succeeds.
	t.Run("being deleted", func(t *testing.T) {
		if out, err := applyReportCRDs(t, cfg); err != nil || !strings.Contains(out, name+" applied") {
			t.Fatalf("dossier's first apply: %v\n%s", err, out)
		}
		c.establishedCRD(t, name)
		hold := map[string]any{"metadata": map[string]any{"finalizers": []any{"customresourcecleanup.apiextensions.k8s.io", "example.com/hold"}}}
		if a := c.do(t, http.MethodPatch, crdPath+name+"?fieldManager=backup-tool", "application/merge-patch+json", hold); a.code != http.StatusOK {
			t.Fatalf("finalizer: %d %s", a.code, a.body)
		}
		if a := c.do(t, http.MethodDelete, crdPath+name, "", nil); a.code != http.StatusOK {
			t.Fatalf("deleting: %d %s", a.code, a.body)
		}
		c.waitFor(t, "the PolicyReport resource to refuse writes", 30*time.Second, func() bool {
			return c.crd(t, name).GetDeletionTimestamp() != nil
		}, c.apiserver)
		out, err := applyReportCRDs(t, cfg)
		if err == nil && strings.Contains(out, name+" applied") {
			t.Errorf("a definition being deleted (deletionTimestamp %v): dossier said\n%s", c.crd(t, name).GetDeletionTimestamp(), out)
		}
		unhold := map[string]any{"metadata": map[string]any{"finalizers": []any{}}}
		c.do(t, http.MethodPatch, crdPath+name, "application/merge-patch+json", unhold)
	})
}

func cloneMap(m map[string]any) map[string]any {
	data, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}
