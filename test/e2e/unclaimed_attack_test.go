package e2e

// Attacks on ad0ad8b (background decisions about images no policy claims,
// published as PolicyReports), on a real kube-apiserver and etcd.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// A tenant of a namespace only an audit policy covers (where the webhook
// admits any image no policy claims, with a warning) runs 1,000
// containers of one image whose name is as long as runtimes pull (255
// characters, a 128-character tag). Each container's "warn no-policy"
// result repeats the name three times: the namespace's report grows past
// what etcd takes, the API server refuses it on every pass, and the
// report published before stays — it never shows the Deployment that
// began running an unsigned image of the guarded registry meanwhile.
func TestUnclaimedFloodFreezesTheReportOnARealCluster(t *testing.T) {
	c := startCluster(t)
	cfg, err := kube.Config(c.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if said, err := inventory.ApplyPolicyReportCRDs(context.Background(), cfg); err != nil {
		t.Fatalf("%v: %v", said, err)
	}
	for _, name := range policyReportCRDs {
		c.establishedCRD(t, name)
	}
	c.namespace(t, "sandbox", nil)
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "k.pub"), testPublicKey(t))
	docs, err := policy.Parse(filepath.Join(dir, "policy.yaml"), []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: audited}
spec:
  mode: audit
  images: ["registry.example/team/**"]
  signers: [{name: k, key: {file: k.pub}}]
  rules: [{name: signed, signature: {}}]
`), policy.LoadOptions{BaseDir: dir, ReadFile: os.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	now := time.Now()
	digest := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	run := func(pod, workload string, containers map[string]string, imageID string) store.PodState {
		ps := store.PodState{UID: "uid-" + pod}
		for name, image := range containers {
			rc := store.RunningContainer{Cluster: "east", Namespace: "sandbox", Pod: pod, PodUID: ps.UID, Container: name, Kind: store.ContainerApp, Workload: workload, Image: image, Started: now}
			rc.Subject, rc.DigestFrom = inventory.RunningDigest(image, imageID)
			ps.Containers = append(ps.Containers, rc)
		}
		return ps
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	publisher := inventory.NewPublisher(client, "east")
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	pass := func(at time.Time) error {
		if _, err := inventory.JudgeRunning(ctx, "east", st, set, "v1", policy.UnclaimedDeny, known, at); err != nil {
			t.Fatal(err)
		}
		reports, err := inventory.Reports(ctx, "east", st)
		if err != nil {
			t.Fatal(err)
		}
		return publisher.Publish(ctx, reports)
	}

	// before: one workload, warned about
	if err := st.PodsSeen(ctx, "east", []store.PodState{run("web-1", "Deployment/web", map[string]string{"app": "registry.example/team/app:v1"}, "registry.example/team/app@"+digest('a'))}, now); err != nil {
		t.Fatal(err)
	}
	if err := pass(now); err != nil {
		t.Fatal(err)
	}
	if got := c.policyReport(t, "sandbox"); got["Deployment/web app audited/signed"] != "warn" {
		t.Fatalf("the first report: %v", got)
	}

	// the tenant's flood, and a new unsigned workload of the guarded registry
	repo := "r.example/" + strings.Repeat("a", 245)
	image := repo + ":" + strings.Repeat("t", 128)
	var pods []store.PodState
	for d := range 10 {
		containers := map[string]string{}
		for i := range 100 {
			containers[fmt.Sprintf("c%d", i)] = image
		}
		pods = append(pods, run(fmt.Sprintf("flood-%d", d), fmt.Sprintf("Deployment/flood-%d", d), containers, repo+"@"+digest('b')))
	}
	pods = append(pods, run("miner-1", "Deployment/miner", map[string]string{"app": "registry.example/team/miner:v1"}, "registry.example/team/miner@"+digest('c')))
	if err := st.PodsSeen(ctx, "east", pods, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	err = pass(now.Add(time.Minute))
	got := c.policyReport(t, "sandbox")
	if got["Deployment/miner app audited/signed"] != "warn" {
		t.Errorf("sandbox's report after the flood (%d results) does not warn about Deployment/miner; publishing said: %.400v", len(got), err)
	}
}

func testPublicKey(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
