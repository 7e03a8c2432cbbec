//go:build inventorybench

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// TestInventoryScale measures the inventory of many containers over two
// real control planes with KWOK nodes: the time to the first full
// inventory, the watchers' peak memory, how soon a deletion leaves the
// inventory, and how many times the API servers were asked to list Pods.
// It is a measurement, built only with the inventorybench tag:
// bench/inventory.sh runs it (DOSSIER_BENCH_INVENTORY = containers per
// cluster).
func TestInventoryScale(t *testing.T) {
	perCluster, err := strconv.Atoi(os.Getenv("DOSSIER_BENCH_INVENTORY"))
	if err != nil || perCluster < 10 {
		t.Fatalf("DOSSIER_BENCH_INVENTORY=%q: want the containers per cluster (at least 10)", os.Getenv("DOSSIER_BENCH_INVENTORY"))
	}
	const containersPerPod, namespaces = 10, 10
	pods := perCluster / containersPerPod
	dataDir := t.TempDir()
	clusters := map[string]*cluster{}
	for _, name := range []string{"east", "west"} {
		c := startCluster(t)
		c.startKWOK(t)
		for n := range namespaces {
			c.namespace(t, fmt.Sprintf("bench-%d", n), nil)
		}
		c.namespace(t, "probe", nil)
		clusters[name] = c
	}
	// 1,000 distinct images, each in 10 versions: 10,000 distinct digests
	digest := func(i int) string {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	created := time.Now()
	var wg sync.WaitGroup
	for name, c := range clusters {
		jobs := make(chan int)
		for range 16 {
			wg.Go(func() {
				for i := range jobs {
					p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i)}}
					for j := range containersPerPod {
						k := (i*containersPerPod + j) % 10000
						p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", j),
							Image: fmt.Sprintf("registry.example/fleet/svc-%d@%s", k%1000, digest(k))})
					}
					onNode(&p.ObjectMeta, &p.Spec, nil)
					if a := c.create(t, fmt.Sprintf("/api/v1/namespaces/bench-%d/pods", i%namespaces), p); a.code != http.StatusCreated {
						t.Errorf("%s pod %d: %d %s", name, i, a.code, a.body)
						return
					}
				}
			})
		}
		go func() {
			for i := range pods {
				jobs <- i
			}
			close(jobs)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d Pods of %d containers created in each of 2 clusters in %s", pods, containersPerPod, time.Since(created).Round(time.Second))
	for name, c := range clusters {
		c.waitFor(t, name+"'s Pods running", 30*time.Minute, func() bool {
			running := 0
			for n := range namespaces {
				list := decode[corev1.PodList](t, c.do(t, http.MethodGet, fmt.Sprintf("/api/v1/namespaces/bench-%d/pods?fieldSelector=status.phase%%3DRunning", n), "", nil))
				running += len(list.Items)
			}
			return running == pods
		}, c.apiserver)
	}
	t.Logf("every Pod running after %s", time.Since(created).Round(time.Second))
	lists := map[string]int{}
	for name, c := range clusters {
		lists[name] = podLists(t, c)
	}

	// the store: SQLite in the data directory, or the PostgreSQL database
	// DOSSIER_BENCH_STORE names
	storeURL := os.Getenv("DOSSIER_BENCH_STORE")
	started := time.Now()
	watchers := map[string]*process{}
	for name, c := range clusters {
		watchers[name] = start(t, "dossier-watch-"+name, os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"),
			"cluster", "watch", "--cluster", name, "--kubeconfig", c.kubeconfig, "--data-dir", dataDir, "--store", storeURL)
	}
	for name, w := range watchers {
		clusters[name].waitFor(t, name+" inventoried", 30*time.Minute, func() bool {
			return strings.Contains(readLog(t, w), "inventoried:")
		}, w)
	}
	first := time.Since(started)
	st, err := store.Open(context.Background(), dataDir, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.RunningCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range counts {
		total += c.Containers
	}
	if total != 2*pods*containersPerPod {
		t.Fatalf("%d containers inventoried, want %d", total, 2*pods*containersPerPod)
	}
	t.Logf("first inventory of %d containers in 2 clusters: %s", total, first.Round(100*time.Millisecond))

	// a deletion in a busy inventory
	east := clusters["east"]
	probe := pod("probe", nil, "registry.example/fleet/probe@"+digest(1))
	onNode(&probe.ObjectMeta, &probe.Spec, nil)
	if a := east.create(t, "/api/v1/namespaces/probe/pods", probe); a.code != http.StatusCreated {
		t.Fatalf("probe: %d %s", a.code, a.body)
	}
	inProbe := func() int {
		page, err := st.Running(context.Background(), store.RunningQuery{RunningFilter: store.RunningFilter{Cluster: "east", Namespace: "probe"}})
		if err != nil {
			t.Fatal(err)
		}
		return page.Total
	}
	east.waitFor(t, "the probe inventoried", 5*time.Minute, func() bool { return inProbe() == 1 }, watchers["east"])
	deleted := time.Now()
	if a := east.do(t, http.MethodDelete, "/api/v1/namespaces/probe/pods/probe", "", nil); a.code != http.StatusOK {
		t.Fatalf("delete: %d %s", a.code, a.body)
	}
	east.waitFor(t, "the probe gone", 5*time.Minute, func() bool { return inProbe() == 0 }, watchers["east"])
	t.Logf("a deletion left the inventory after %s", time.Since(deleted).Round(10*time.Millisecond))
	// the background re-judgement of every distinct digest running in one
	// cluster, each with a recorded signature and scan, after a policy
	// change
	var records []store.Record
	for k := range 10000 {
		subject := evidence.Subject{Repository: fmt.Sprintf("registry.example/fleet/svc-%d", k%1000), Digest: digest(k)}
		records = append(records, store.Record{Subject: subject, At: time.Now(),
			Findings: &store.Scan{DatabaseVersion: time.Now(), Coverage: &evidence.Coverage{Checked: 1, NotChecked: []evidence.NotChecked{}}},
			Signatures: []evidence.VerifiedSignature{{Subject: subject, Verification: evidence.Verification{Signer: evidence.Signer{KeyFingerprint: "sha256:" + strings.Repeat("f", 64)},
				StoredAt: "sha256:" + strings.Repeat("5", 64), Layout: evidence.LayoutReferrer, TransparencyLogSkipped: true}}}})
	}
	for start := 0; start < len(records); start += 500 {
		if err := st.Record(context.Background(), records[start:min(start+500, len(records))]...); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := policy.Parse("fleet.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: fleet}
spec:
  mode: enforce
  images: ["registry.example/fleet/**"]
  rules:
    - name: no-high
      vulnerabilities: {failOn: high}
`), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	every := func(string) (map[string]string, bool) { return nil, true }
	pass, err := inventory.JudgeRunning(context.Background(), "east", st, &policy.Set{Policies: docs.Policies}, "v2", policy.UnclaimedDeny, every, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("background re-judgement of %d distinct digests (%d running images) in %s", pass.Digests, pass.Images, pass.Took.Round(10*time.Millisecond))
	for name, w := range watchers {
		t.Logf("watcher of %s: peak RSS %d MiB", name, peakRSS(t, w)/1024)
		t.Logf("the API server of %s was asked to list Pods %d times while it was watched", name, podLists(t, clusters[name])-lists[name])
	}
}

// podLists is how many LIST requests for Pods an API server answered.
func podLists(t *testing.T, c *cluster) int {
	t.Helper()
	a := c.do(t, http.MethodGet, "/metrics", "", nil)
	re := regexp.MustCompile(`(?m)^apiserver_request_total\{([^}]*)\} (\d+)$`)
	subresource := regexp.MustCompile(`subresource="[^"]+"`)
	n := 0
	for _, m := range re.FindAllStringSubmatch(string(a.body), -1) {
		if strings.Contains(m[1], `resource="pods"`) && strings.Contains(m[1], `verb="LIST"`) && !subresource.MatchString(m[1]) {
			v, _ := strconv.Atoi(m[2])
			n += v
		}
	}
	return n
}

// peakRSS is a process's peak resident memory in KiB.
func peakRSS(t *testing.T, p *process) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kib
		}
	}
	return 0
}

func readLog(t *testing.T, p *process) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
