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
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// kwokNode is the fake node the inventory suite's Pods are bound to.
const kwokNode = "kwok-node"

// startKWOK runs KWOK against a cluster, managing the nodes annotated
// kwok.x-k8s.io/node=fake with the suite's Pod stages, and creates one such
// node.
func (c *cluster) startKWOK(t *testing.T) {
	t.Helper()
	stages, err := filepath.Abs(filepath.Join("testdata", "kwok-stages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kwok := start(t, "kwok", testutil.Peer(t, "kwok"), cleanEnv(), "--kubeconfig", c.kubeconfig, "--config", stages,
		"--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake", "--node-ip", "127.0.0.1",
		"--node-port", fmt.Sprint(freePort(t)), "--server-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	node := map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": kwokNode, "annotations": map[string]string{"kwok.x-k8s.io/node": "fake"}}}
	if a := c.create(t, "/api/v1/nodes", node); a.code != http.StatusCreated {
		t.Fatalf("node: %d %s", a.code, a.body)
	}
	c.waitFor(t, "KWOK's node Ready", 60*time.Second, func() bool {
		n := decode[corev1.Node](t, c.do(t, http.MethodGet, "/api/v1/nodes/"+kwokNode, "", nil))
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}, kwok, c.apiserver)
}

// onNode binds a Pod spec to the fake node; imageIDs are the digests the
// node "pulled", per container, reported in the container statuses.
func onNode(meta *metav1.ObjectMeta, spec *corev1.PodSpec, imageIDs map[string]string) {
	spec.NodeName = kwokNode
	for container, id := range imageIDs {
		if meta.Annotations == nil {
			meta.Annotations = map[string]string{}
		}
		meta.Annotations["image-id.dossier.test/"+container] = id
	}
}

// runPod creates a Pod bound to the fake node, whose containers report
// imageIDs (by container) once running.
func (c *cluster) runPod(t *testing.T, namespace string, p *corev1.Pod, imageIDs map[string]string) {
	t.Helper()
	onNode(&p.ObjectMeta, &p.Spec, imageIDs)
	if a := c.create(t, "/api/v1/namespaces/"+namespace+"/pods", p); a.code != http.StatusCreated {
		t.Fatalf("Pod %s/%s: %d %s", namespace, p.Name, a.code, a.body)
	}
}

// queryRunning asks dossier what runs.
func queryRunning(t *testing.T, dataDir string, args ...string) store.RunningPage {
	t.Helper()
	code, out, errOut := runDossier(t, append([]string{"query", "running", "--data-dir", dataDir, "--limit", "0", "-o", "json"}, args...)...)
	var page store.RunningPage
	if code > 1 || json.Unmarshal([]byte(out), &page) != nil {
		t.Fatalf("query running: exit %d: %s%s", code, out, errOut)
	}
	return page
}

// runs finds a running container by cluster, namespace, Pod name prefix
// and container.
func runs(page store.RunningPage, cluster, namespace, podPrefix, container string) []store.RunningHit {
	var out []store.RunningHit
	for _, h := range page.Hits {
		if h.Cluster == cluster && h.Namespace == namespace && strings.HasPrefix(h.Pod, podPrefix) && h.Container == container {
			out = append(out, h)
		}
	}
	return out
}

// The inventory on two real control planes with KWOK nodes: Pods from
// before dossier watched, a Deployment's rollout, deletions, a watcher
// killed and restarted, and the responder's questions across clusters.
func TestInventoryOnRealClusters(t *testing.T) {
	dataDir := t.TempDir()
	digest := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	repo := "registry.example/team/app"
	clusters := map[string]*cluster{}
	watchers := map[string]*process{}
	watch := func(name string) {
		watchers[name] = start(t, "dossier-watch-"+name, os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"),
			"cluster", "watch", "--cluster", name, "--kubeconfig", clusters[name].kubeconfig, "--data-dir", dataDir, "--reconcile", "2s")
	}
	for _, name := range []string{"east", "west"} {
		c := startCluster(t)
		c.startKWOK(t)
		c.namespace(t, "shop", nil)
		clusters[name] = c
	}
	east, west := clusters["east"], clusters["west"]

	// a Pod that runs before dossier watches, pinned, no imageID reported
	east.runPod(t, "shop", pod("before", nil, repo+"@"+digest('a')), nil)
	east.waitFor(t, "the Pod before to run", 60*time.Second, func() bool {
		p := decode[corev1.Pod](t, east.do(t, http.MethodGet, "/api/v1/namespaces/shop/pods/before", "", nil))
		return p.Status.Phase == corev1.PodRunning
	}, east.apiserver)
	// west runs a tagged image whose digest only the status tells
	west.runPod(t, "shop", pod("other", nil, repo+":v1"), map[string]string{"app0": repo + "@" + digest('b')})

	watch("east")
	watch("west")
	var page store.RunningPage
	east.waitFor(t, "both clusters inventoried", 90*time.Second, func() bool {
		page = queryRunning(t, dataDir)
		return len(runs(page, "east", "shop", "before", "app0")) == 1 && len(runs(page, "west", "shop", "other", "app0")) == 1
	}, watchers["east"], watchers["west"])
	b := runs(page, "east", "shop", "before", "app0")[0]
	if b.Subject.String() != repo+"@"+digest('a') || b.DigestFrom != store.DigestFromReference || b.Workload != "Pod/before" || b.Node != kwokNode ||
		b.State != store.RunningUnjudged || !b.Pinned {
		t.Errorf("the Pod from before dossier watched: %+v", b)
	}
	if o := runs(page, "west", "shop", "other", "app0")[0]; o.Subject.String() != repo+"@"+digest('b') || o.DigestFrom != store.DigestFromStatus || o.Pinned {
		t.Errorf("west's Pod: %+v", o)
	}

	// a Deployment, then its rollout to a new digest
	web := deployment("web", repo+":v1")
	onNode(&web.Spec.Template.ObjectMeta, &web.Spec.Template.Spec, map[string]string{"app0": repo + "@" + digest('c')})
	if a := east.create(t, "/apis/apps/v1/namespaces/shop/deployments", web); a.code != http.StatusCreated {
		t.Fatalf("deployment: %d %s", a.code, a.body)
	}
	east.waitFor(t, "the Deployment's Pod in the inventory", 90*time.Second, func() bool {
		hits := runs(queryRunning(t, dataDir, "--cluster", "east"), "east", "shop", "web-", "app0")
		return len(hits) == 1 && hits[0].Subject.Digest == digest('c') && hits[0].Workload == "Deployment/web"
	}, watchers["east"], east.controllers)
	// a record of the new digest's contents, so that the responder's
	// question finds it
	st, err := store.Open(context.Background(), dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lodash := evidence.Component{Name: "lodash", Version: "4.17.20", Type: "library", PURL: "pkg:npm/lodash@4.17.20"}
	if err := st.Record(context.Background(), store.Record{Subject: evidence.Subject{Repository: repo, Digest: digest('d')}, At: time.Now(),
		Components: []evidence.Component{lodash}}); err != nil {
		t.Fatal(err)
	}
	patch := map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{"image-id.dossier.test/app0": repo + "@" + digest('d')}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app0", "image": repo + ":v2"}}}}}}
	if a := east.do(t, http.MethodPatch, "/apis/apps/v1/namespaces/shop/deployments/web", "application/strategic-merge-patch+json", patch); a.code != http.StatusOK {
		t.Fatalf("rollout: %d %s", a.code, a.body)
	}
	east.waitFor(t, "the rollout to move what runs", 90*time.Second, func() bool {
		hits := runs(queryRunning(t, dataDir, "--cluster", "east"), "east", "shop", "web-", "app0")
		return len(hits) == 1 && hits[0].Subject.Digest == digest('d')
	}, watchers["east"], east.controllers)
	code, out, errOut := runDossier(t, "query", "component", "pkg:npm/lodash", "--running", "--data-dir", dataDir, "-o", "json")
	var hits store.ComponentPage
	if code != 0 || json.Unmarshal([]byte(out), &hits) != nil || hits.Total != 1 || len(hits.Hits[0].Running) != 1 {
		t.Fatalf("which running digests hold lodash: exit %d %s %s", code, out, errOut)
	}
	if r := hits.Hits[0].Running[0]; r.Cluster != "east" || r.Namespace != "shop" || r.Workload != "Deployment/web" || r.Container != "app0" || r.Pods != 1 {
		t.Errorf("lodash runs at %+v, want east/shop/Deployment/web app0 in 1 Pod", r)
	}
	if code, _, _ := runDossier(t, "query", "component", "pkg:npm/lodash", "--running", "--cluster", "west", "--data-dir", dataDir); code != 1 {
		t.Errorf("lodash running in west: exit %d, want 1 (none)", code)
	}

	// a deletion stops counting; measured, not asserted
	deleted := time.Now()
	if a := east.do(t, http.MethodDelete, "/api/v1/namespaces/shop/pods/before", "", nil); a.code != http.StatusOK {
		t.Fatalf("delete: %d %s", a.code, a.body)
	}
	east.waitFor(t, "the deleted Pod to leave the inventory", 60*time.Second, func() bool {
		return len(runs(queryRunning(t, dataDir, "--cluster", "east"), "east", "shop", "before", "app0")) == 0
	}, watchers["east"])
	t.Logf("a deleted Pod left the inventory after %s", time.Since(deleted).Round(10*time.Millisecond))

	// the east watcher killed; meanwhile a Pod goes and another comes; a
	// new watcher reconciles without losing or doubling anything
	if err := watchers["east"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-watchers["east"].done
	east.runPod(t, "shop", pod("later", nil, repo+"@"+digest('e')), nil)
	if a := east.do(t, http.MethodDelete, "/apis/apps/v1/namespaces/shop/deployments/web?propagationPolicy=Foreground", "", nil); a.code != http.StatusOK {
		t.Fatalf("delete deployment: %d %s", a.code, a.body)
	}
	east.waitFor(t, "the Deployment's Pods gone", 90*time.Second, func() bool {
		pods := decode[corev1.PodList](t, east.do(t, http.MethodGet, "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb", "", nil))
		return len(pods.Items) == 0
	}, east.controllers)
	watch("east")
	east.waitFor(t, "the restarted watcher to reconcile", 90*time.Second, func() bool {
		page = queryRunning(t, dataDir, "--cluster", "east")
		return len(runs(page, "east", "shop", "later", "app0")) == 1 && len(runs(page, "east", "shop", "web-", "app0")) == 0
	}, watchers["east"])
	if page.Total != 1 {
		t.Errorf("east after the restart: %d containers, want 1: %+v", page.Total, page.Hits)
	}
	all := queryRunning(t, dataDir)
	if all.Total != 2 || len(all.Clusters) != 2 {
		t.Errorf("both clusters: %d containers in %d clusters, want 2 in 2: %+v", all.Total, len(all.Clusters), all.Hits)
	}
	// west's API server goes away for a while and comes back: the watch
	// resumes; what changed meanwhile is seen, nothing twice
	west.restartAPIServer(t, 3*time.Second)
	west.runPod(t, "shop", pod("again", nil, repo+"@"+digest('f')), nil)
	if a := west.do(t, http.MethodDelete, "/api/v1/namespaces/shop/pods/other", "", nil); a.code != http.StatusOK {
		t.Fatalf("delete after the restart: %d %s", a.code, a.body)
	}
	west.waitFor(t, "west's inventory after its API server came back", 120*time.Second, func() bool {
		page = queryRunning(t, dataDir, "--cluster", "west")
		return page.Total == 1 && len(runs(page, "west", "shop", "again", "app0")) == 1
	}, watchers["west"])
	// a graceful stop leaves the inventory as it was
	watchers["west"].stop()
	if got := queryRunning(t, dataDir, "--cluster", "west"); got.Total != 1 {
		t.Errorf("west after its watcher stopped: %d containers", got.Total)
	}
}

// policyReport reads dossier's PolicyReport of a namespace: its results
// by "pod-prefix container rule" → result (nil when there is none).
func (c *cluster) policyReport(t *testing.T, namespace string) map[string]string {
	t.Helper()
	a := c.do(t, http.MethodGet, "/apis/wgpolicyk8s.io/v1alpha2/namespaces/"+namespace+"/policyreports/dossier", "", nil)
	if a.code == http.StatusNotFound {
		return nil
	}
	var report struct {
		Results []struct {
			Policy, Rule, Result string
			Resources            []struct{ Kind, Name string }
			Properties           map[string]string
		}
	}
	if a.code != http.StatusOK || json.Unmarshal(a.body, &report) != nil {
		t.Fatalf("PolicyReport of %s: %d %s", namespace, a.code, a.body)
	}
	out := map[string]string{}
	for _, r := range report.Results {
		if len(r.Resources) != 1 {
			t.Fatalf("a result about %d resources: %+v", len(r.Resources), r)
		}
		out[r.Resources[0].Kind+"/"+r.Resources[0].Name+" "+r.Properties["container"]+" "+r.Policy+"/"+r.Rule] = r.Result
	}
	return out
}

// Background decisions on a real control plane: what runs is judged again
// with the webhook's policies on recorded evidence and published as
// PolicyReports, which follow a policy switched from audit to enforce, a
// finding recorded by a rescan, and a workload deleted — without a
// restart. A Pod of an image no policy claims gets the webhook's answer
// (--unclaimed, deny by default): a warning while the policy audits, a
// failure once it enforces.
func TestBackgroundDecisionsOnARealCluster(t *testing.T) {
	c := startCluster(t)
	c.startKWOK(t)
	c.namespace(t, "shop", nil)
	crd, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "deploy", "helm", "dossier", "crds-optional", "policyreports.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.apply(t, crd); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "PolicyReports served", 60*time.Second, func() bool {
		return c.do(t, http.MethodGet, "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports", "", nil).code == http.StatusOK
	}, c.apiserver)

	dir, dataDir := t.TempDir(), t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signer, err := policy.KeySigner("release.pub", pub)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "release.pub"), string(pub))
	policyFile := filepath.Join(dir, "release.yaml")
	writePolicy := func(mode string) {
		write(t, policyFile, fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: %s
  images: ["registry.example/team/**"]
  signers: [{name: release-key, key: {file: release.pub}}]
  rules:
    - name: signed
      signature: {}
    - name: no-high
      vulnerabilities: {failOn: high}
`, mode))
	}
	writePolicy("audit")

	repo := "registry.example/team/app"
	signed, unsigned := evidence.Subject{Repository: repo, Digest: "sha256:" + strings.Repeat("a", 64)}, evidence.Subject{Repository: repo, Digest: "sha256:" + strings.Repeat("b", 64)}
	st, err := store.Open(context.Background(), dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	// the signed image holds lodash 4.17.20: clean until its advisory is
	// imported and dossier rescan runs
	lodash := evidence.Component{Name: "lodash", Version: "4.17.20", Type: "library", PURL: "pkg:npm/lodash@4.17.20"}
	scanned := func(findings ...evidence.Finding) *store.Scan {
		return &store.Scan{Findings: findings, DatabaseVersion: now, Coverage: &evidence.Coverage{Checked: 1, NotChecked: []evidence.NotChecked{}}}
	}
	if err := st.Record(context.Background(),
		store.Record{Subject: signed, At: now, Components: []evidence.Component{lodash}, PackageKeys: []string{scan.PackageKey(lodash)},
			Findings: scanned(), Signatures: []evidence.VerifiedSignature{{Subject: signed,
				Verification: evidence.Verification{Signer: evidence.Signer{KeyFingerprint: signer.KeyFingerprint}, StoredAt: "sha256:" + strings.Repeat("5", 64),
					Layout: evidence.LayoutReferrer, TransparencyLogSkipped: true}}}},
		store.Record{Subject: unsigned, At: now, Findings: scanned()}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]evidence.Subject{"web": signed, "batch": unsigned} {
		d := deployment(name, s.String())
		onNode(&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec, nil)
		if a := c.create(t, "/apis/apps/v1/namespaces/shop/deployments", d); a.code != http.StatusCreated {
			t.Fatalf("deployment: %d %s", a.code, a.body)
		}
	}
	c.runPod(t, "shop", pod("tools", nil, "other.example/tools/x@sha256:"+strings.Repeat("c", 64)), nil)
	// a notification receiver on 127.0.0.1: the first delivery of the
	// finding's first delivery hangs until dossier is killed mid-delivery
	rcv := &findingReceiver{hang: make(chan struct{}), hung: make(chan struct{})}
	rcvServer := httptest.NewServer(rcv)
	defer rcvServer.Close()
	secret := strings.Repeat("k", 32)
	write(t, filepath.Join(dir, "notify-secret"), secret)
	write(t, filepath.Join(dir, "notify.yaml"), "endpoints:\n- {name: ops, url: '"+rcvServer.URL+"', secretFile: notify-secret, minSeverity: high, events: [dev.dossier.running.finding]}\n")
	watchArgs := []string{"cluster", "watch", "--cluster", "east", "--kubeconfig", c.kubeconfig, "--data-dir", dataDir,
		"--policy", policyFile, "--policy-reports", "--judge-every", "1s", "--notify", filepath.Join(dir, "notify.yaml")}
	watcher := start(t, "dossier-watch", os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"), watchArgs...)
	expect := func(what string, want map[string]string) {
		t.Helper()
		var got map[string]string
		c.waitFor(t, what, 90*time.Second, func() bool {
			got = c.policyReport(t, "shop")
			for k, v := range want {
				if got[k] != v {
					return false
				}
			}
			return len(got) == len(want)
		}, watcher, c.controllers)
	}
	expect("the audit policy's report", map[string]string{
		"Deployment/web app0 release/signed": "pass", "Deployment/web app0 release/no-high": "pass",
		"Deployment/batch app0 release/signed": "warn", "Deployment/batch app0 release/no-high": "pass",
		"Pod/tools app0 dossier/no-policy": "warn",
	})
	writePolicy("enforce")
	expect("the report once the policy enforces", map[string]string{
		"Deployment/web app0 release/signed": "pass", "Deployment/web app0 release/no-high": "pass",
		"Deployment/batch app0 release/signed": "fail", "Deployment/batch app0 release/no-high": "pass",
		"Pod/tools app0 dossier/no-policy": "fail",
	})
	// a new advisory imported, dossier rescan: the signed image gains a
	// finding, which the next pass judges, reports and notifies
	advisory := filepath.Join(testutil.RepoRoot(), "samples", "advisories", "npm", "GHSA-35jh-r3h4-6jhm.json")
	if code, out, errOut := runDossier(t, "db", "import", advisory, "--data-dir", dataDir); code != 0 {
		t.Fatalf("db import: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := runDossier(t, "rescan", "--data-dir", dataDir); code > 1 || !strings.Contains(out+errOut, "GHSA-35jh-r3h4-6jhm") {
		t.Fatalf("rescan: exit %d: %s %s", code, out, errOut)
	}
	const found = "GHSA-35jh-r3h4-6jhm"
	expect("the report after the rescan", map[string]string{
		"Deployment/web app0 release/signed": "pass", "Deployment/web app0 release/no-high": "fail",
		"Deployment/batch app0 release/signed": "fail", "Deployment/batch app0 release/no-high": "pass",
		"Pod/tools app0 dossier/no-policy": "fail",
	})
	// the finding's notification is on its way when dossier is killed; the
	// next dossier delivers it once the dead one's lease runs out
	select {
	case <-rcv.hung:
	case <-time.After(90 * time.Second):
		t.Fatal("the finding was never notified")
	}
	if err := watcher.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-watcher.done
	close(rcv.hang)
	watcher = start(t, "dossier-watch-again", os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"), watchArgs...)
	c.waitFor(t, "the notification delivered after the restart", 120*time.Second, func() bool { return rcv.count() > 0 }, watcher)
	time.Sleep(3 * time.Second) // passes go on: the delivered event must not come again
	if got := rcv.delivered(); len(got) != 1 || got[0].Type != "dev.dossier.running.finding" || got[0].Data.Finding.ID != found ||
		got[0].Data.Subject != signed || got[0].ID != "finding/east/"+signed.String()+"/"+found {
		t.Errorf("delivered %+v, want the rescan's finding of %s once", got, signed)
	}
	for _, sig := range rcv.signatures() {
		if err := notify.Verify([]byte(secret), sig.header, sig.body, time.Now(), time.Hour); err != nil {
			t.Errorf("a delivery's signature: %v", err)
		}
	}
	page := queryRunning(t, dataDir, "--cluster", "east", "--namespace", "shop")
	if len(page.Hits) != 3 {
		t.Fatalf("shop runs %d containers, want 3", len(page.Hits))
	}
	for _, h := range page.Hits {
		if h.Background == nil || h.Background.Decision.Allowed || h.Background.PolicyVersion == "" {
			t.Errorf("%s's background decision: %+v", h.Workload, h.Background)
		}
	}
	// the workloads go: so does the report
	for _, name := range []string{"web", "batch"} {
		if a := c.do(t, http.MethodDelete, "/apis/apps/v1/namespaces/shop/deployments/"+name+"?propagationPolicy=Foreground", "", nil); a.code != http.StatusOK {
			t.Fatalf("delete: %d %s", a.code, a.body)
		}
	}
	if a := c.do(t, http.MethodDelete, "/api/v1/namespaces/shop/pods/tools", "", nil); a.code != http.StatusOK {
		t.Fatalf("delete: %d %s", a.code, a.body)
	}
	c.waitFor(t, "the report deleted with the workloads", 90*time.Second, func() bool { return c.policyReport(t, "shop") == nil }, watcher, c.controllers)
}

// findingReceiver is a notification endpoint: its first request waits
// until hang is closed (and is never taken), later ones are kept.
type findingReceiver struct {
	mu         sync.Mutex
	hang, hung chan struct{}
	first      bool
	events     []notifiedFinding
	signed     []signedBody
}

type notifiedFinding struct {
	ID, Type string
	Data     struct {
		Subject evidence.Subject
		Finding evidence.Finding
	}
}

type signedBody struct {
	header string
	body   []byte
}

func (r *findingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	first := !r.first
	r.first = true
	r.mu.Unlock()
	if first {
		close(r.hung)
		<-r.hang // the sender is killed meanwhile: this delivery is lost
		http.Error(w, "gone", http.StatusServiceUnavailable)
		return
	}
	var ev notifiedFinding
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.signed = append(r.signed, signedBody{req.Header.Get("Dossier-Signature"), body})
}

func (r *findingReceiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

func (r *findingReceiver) delivered() []notifiedFinding {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notifiedFinding(nil), r.events...)
}

func (r *findingReceiver) signatures() []signedBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signedBody(nil), r.signed...)
}

// The webhook and the inventory of one named cluster together: a Pod the
// webhook admitted runs `admitted`; one the API server let in while dossier
// was down (failurePolicy Ignore) runs `unjudged`, and is counted so.
func TestUnjudgedWorkloadsOnARealCluster(t *testing.T) {
	c := startCluster(t)
	c.startKWOK(t)
	reg := startRegistry(t)
	dir := t.TempDir()
	images, policyDir, cipFile, exceptionsFile, trustedRoot := suite(t, dir, reg.host)
	os.Remove(cipFile)
	dataDir := filepath.Join(dir, "data")
	w := startWebhook(t, c, dir, policyDir, exceptionsFile, trustedRoot, dataDir, "--cluster", "east")
	c.namespace(t, "prod", map[string]string{"dossier.dev/mode": "enforce"})
	w.install(t, c, "--fail-open")
	c.waitFor(t, "the webhook configurations to take effect", 60*time.Second, func() bool {
		return c.create(t, "/api/v1/namespaces/prod/pods?dryRun=All", pod("probe", nil, images["team/unsigned"].ref)).code == http.StatusForbidden
	}, c.apiserver, w.proc)
	watcher := start(t, "dossier-watch", os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"),
		"cluster", "watch", "--cluster", "east", "--kubeconfig", c.kubeconfig, "--data-dir", dataDir)

	web := pod("web", nil, images["team/signed"].ref)
	onNode(&web.ObjectMeta, &web.Spec, nil)
	if a := c.create(t, "/api/v1/namespaces/prod/pods", web); a.code != http.StatusCreated {
		t.Fatalf("the signed Pod: %d %s", a.code, a.message())
	}
	// dossier goes down; the API server admits what it cannot ask about
	w.proc.stop()
	bypass := pod("bypass", nil, images["team/unsigned"].ref)
	onNode(&bypass.ObjectMeta, &bypass.Spec, map[string]string{"app0": reg.host + "/team/unsigned@" + images["team/unsigned"].digest})
	c.waitFor(t, "the API server to admit without dossier", 60*time.Second, func() bool {
		return c.create(t, "/api/v1/namespaces/prod/pods", bypass).code == http.StatusCreated
	}, c.apiserver)
	var page store.RunningPage
	c.waitFor(t, "both Pods inventoried", 90*time.Second, func() bool {
		page = queryRunning(t, dataDir, "--cluster", "east", "--namespace", "prod")
		return page.Total == 2
	}, watcher)
	for _, h := range page.Hits {
		want := map[string]string{"web": store.RunningAdmitted, "bypass": store.RunningUnjudged}[h.Pod]
		if h.State != want {
			t.Errorf("%s runs %s, want %s: %+v", h.Pod, h.State, want, h)
		}
	}
	if page.States[store.RunningUnjudged] != 1 || page.States[store.RunningAdmitted] != 1 {
		t.Errorf("states %v", page.States)
	}
}
