package inventory

// Attacks on the background decisions, their events and PolicyReports,
// kept as tests: each comment tells the attack as it once worked, each test
// asserts what holds now.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// captured is an outbox that keeps what is queued.
type captured struct {
	bodies map[string]string // event id -> body
	err    error
}

func (c *captured) Notify(_ context.Context, _ []string, evs []store.OutboxEvent, _ time.Time) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for _, e := range evs {
		c.bodies[e.ID] = e.Body
	}
	return len(evs), nil
}
func (c *captured) ClaimDelivery(context.Context, string, time.Time, time.Time) (*store.Delivery, error) {
	return nil, nil
}
func (c *captured) Delivered(context.Context, int64, time.Time) error              { return nil }
func (c *captured) DeliveryFailed(context.Context, int64, time.Time, string) error { return nil }

func loadNotify(t *testing.T, yaml string) *notify.Config {
	t.Helper()
	path := t.TempDir() + "/notify.yaml"
	if err := writeFileT(path, yaml); err != nil {
		t.Fatal(err)
	}
	c, err := notify.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func enforceSet(t *testing.T, glob string) *policy.Set {
	t.Helper()
	docs, err := policy.Parse("policy.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: enforce
  images: ["`+glob+`"]
  signers: [{name: k, key: {file: k.pub}}]
  rules:
    - name: signed
      signature: {}
`), policy.LoadOptions{BaseDir: testKeyDir(t), ReadFile: os.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	return &policy.Set{Policies: docs.Policies}
}

func container(cluster, namespace, pod, name, workload, image, imageID string) store.RunningContainer {
	c := store.RunningContainer{Cluster: cluster, Namespace: namespace, Pod: pod, PodUID: "uid-" + namespace + "-" + pod, Container: name, Kind: store.ContainerApp,
		Workload: workload, Image: image, Started: now}
	c.Subject, c.DigestFrom = RunningDigest(image, imageID)
	return c
}

// A Pod creator in an enforcing namespace names its Pod's controller
// "<!channel> …" (the API server does not validate owner names; the
// webhook records the denial's workload from it). The denial under
// enforce is sent to a Slack endpoint as raw mrkdwn: an @channel mention
// and a disguised link in the security channel, in the name of dossier.
func TestOwnerNamesCannotMarkUpSlack(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	owner := "<!channel> URGENT dossier: approve the exception at <https://evil.example/login|dossier.corp/exceptions>\n>quoted"
	d := evidence.Decision{Allowed: false, Mode: evidence.ModeEnforce, EvaluatedAt: now,
		Rules: []evidence.RuleResult{{Rule: "no-policy", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomeFail, Reason: "no policy matches x"}}}
	if err := st.Admitted(ctx, []store.Admission{{At: now, Image: "other.example/x:1", Cluster: "prod", Namespace: "team",
		Workload: "Thing.evil.example/" + owner, Outcome: store.AdmissionDenied, Reason: "no policy matches", Decision: &d}}); err != nil {
		t.Fatal(err)
	}
	// and an unjudged container, owned by a kind no API group serves (the
	// garbage collector cannot resolve it and leaves the Pod)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: "uid-team-p", Containers: []store.RunningContainer{
		container("prod", "team", "p", "app", "Thing.evil.example/"+owner, "registry.example/team/app:v1", "registry.example/team/app@"+digestA)}}}, now); err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{}
	evs, err := events(ctx, "prod", st, Pass{}, set, now, now.Add(-time.Hour), time.Hour, "low")
	if err != nil {
		t.Fatal(err)
	}
	out := &captured{bodies: map[string]string{}}
	c := loadNotify(t, "endpoints: [{name: chat, url: 'https://chat.example/hook', format: slack}]")
	if _, err := c.Queue(ctx, out, evs, now); err != nil {
		t.Fatal(err)
	}
	for id, body := range out.bodies {
		var msg struct{ Text string }
		_ = json.Unmarshal([]byte(body), &msg)
		if strings.Contains(msg.Text, "<!channel>") || strings.Contains(msg.Text, "<https://evil.example") || strings.Contains(msg.Text, "\n>") {
			t.Errorf("event %.40q… reaches Slack as mrkdwn a Pod author wrote: %q", id, msg.Text)
		}
	}
}

// The unjudged events of a pass are read from the first 1,000 running
// containers (no order, table order) in that state: a cluster user who
// keeps 1,000 unjudged containers running (10 Pods of 100 containers in a
// namespace the webhook does not cover) hides every later workload that
// runs unjudged, in any namespace, from every endpoint, for as long as
// they run.
func TestNewUnjudgedWorkloadsAreToldFirst(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var pods []store.PodState
	for p := range 10 {
		ps := store.PodState{UID: fmt.Sprintf("uid-noise-%d", p)}
		for c := range 100 {
			rc := container("prod", "dev-sandbox", fmt.Sprintf("noise-%d", p), fmt.Sprintf("c%d", c), "Deployment/noise", "registry.example/team/app:v1", "registry.example/team/app@"+digestA)
			rc.PodUID = ps.UID
			ps.Containers = append(ps.Containers, rc)
		}
		pods = append(pods, ps)
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	// later, something runs unjudged in payments (the webhook was bypassed)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: "uid-payments-miner", Containers: []store.RunningContainer{
		container("prod", "payments", "miner", "app", "Deployment/miner", "evil.example/miner:1", "evil.example/miner@"+digestB)}}}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	evs, err := events(ctx, "prod", st, Pass{}, &policy.Set{}, now, now, time.Hour, "low")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || strings.Contains(e.ID, "/payments/Deployment/miner/")
	}
	if !found {
		t.Errorf("%d events, none about payments' miner running unjudged: 1,000 noise containers hide it", len(evs))
	}
}

// Denials are read as the newest 1,000 of every cluster, then filtered to
// this cluster: another cluster's denials (or 1,000 quick denials by one
// Pod author) push this cluster's denial under enforce out of the pass.
func TestOtherClustersDenialsCrowdNoneOut(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	d := evidence.Decision{Allowed: false, Mode: evidence.ModeEnforce, EvaluatedAt: now,
		Rules: []evidence.RuleResult{{Rule: "signed", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomeFail, Reason: "unsigned"}}}
	victim := store.Admission{At: now, Image: "registry.example/team/app:v1", Cluster: "prod", Namespace: "payments", Workload: "Deployment/api",
		Outcome: store.AdmissionDenied, Reason: "unsigned", Decision: &d}
	noise := []store.Admission{victim}
	for i := range 1000 {
		noise = append(noise, store.Admission{At: now.Add(time.Duration(i+1) * 10 * time.Millisecond), Image: "registry.example/team/app:v1", Cluster: "staging",
			Namespace: "sandbox", Workload: fmt.Sprintf("Pod/p%d", i), Outcome: store.AdmissionDenied, Reason: "unsigned", Decision: &d})
	}
	if err := st.Admitted(ctx, noise); err != nil {
		t.Fatal(err)
	}
	evs, err := events(ctx, "prod", st, Pass{}, &policy.Set{}, now.Add(20*time.Second), now.Add(-time.Minute), time.Hour, "low")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == notify.TypeDenied {
			return
		}
	}
	t.Errorf("the denial under enforce in prod/payments is not an event: 1,000 newer denials of cluster staging took the window")
}

// One denial whose workload (owner name) is long makes the event id long;
// the outbox's UNIQUE (endpoint, event_id) index on PostgreSQL refuses a
// key over 2,704 bytes, and the whole endpoint's batch fails: no event of
// the pass is queued. A Pod author in an enforcing namespace can repeat it
// every pass.
func TestLongEventIDsAreQueued(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			url := ""
			if backend == "postgres" {
				url = testutil.PostgresDatabase(t)
			}
			st, err := store.Open(ctx, t.TempDir(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			raw := make([]byte, 6000)
			_, _ = rand.Read(raw)
			owner := base64.RawURLEncoding.EncodeToString(raw) // incompressible
			d := evidence.Decision{Allowed: false, Mode: evidence.ModeEnforce, EvaluatedAt: now,
				Rules: []evidence.RuleResult{{Rule: "no-policy", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomeFail, Reason: "no policy"}}}
			if err := st.Admitted(ctx, []store.Admission{
				{At: now, Image: "other.example/x:1", Cluster: "prod", Namespace: "team", Workload: "Thing.evil.example/" + owner, Outcome: store.AdmissionDenied, Reason: "no policy", Decision: &d},
				{At: now, Image: "registry.example/team/app:v1", Cluster: "prod", Namespace: "payments", Workload: "Deployment/api", Outcome: store.AdmissionDenied, Reason: "unsigned", Decision: &d},
			}); err != nil {
				t.Fatal(err)
			}
			evs, err := events(ctx, "prod", st, Pass{}, &policy.Set{}, now, now.Add(-time.Hour), time.Hour, "low")
			if err != nil {
				t.Fatal(err)
			}
			c := loadNotify(t, "endpoints: [{name: ops, url: 'https://hooks.example/x'}]")
			if _, err := c.Queue(ctx, st, evs, now); err != nil {
				t.Errorf("queueing %d events: %.300v", len(evs), err)
			}
			if n, _, _ := st.OutboxState(ctx); n < 1 {
				t.Errorf("%d deliveries queued: payments' denial is lost with the attacker's", n)
			}
		})
	}
}

// Finding events are not bounded: a registry pusher's image with many
// high findings, once running (anywhere, any namespace), queues one
// delivery per finding per endpoint, each kept forever.
func TestFindingEventsAreBoundedWorstFirst(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	subject := evidence.Subject{Repository: "registry.example/sandbox/junk", Digest: digestA}
	var findings []evidence.Finding
	for i := range 10*maxEvents + 1000 {
		rating := evidence.SeverityHigh
		if i >= 10*maxEvents+990 {
			rating = evidence.SeverityCritical // the last recorded: kept first
		}
		findings = append(findings, evidence.Finding{ID: fmt.Sprintf("GHSA-junk-%05d", i), Component: evidence.Component{Name: "pkg", Version: "1"},
			Severity: evidence.Severity{Rating: rating}, FixState: evidence.FixFixed, Ecosystem: "npm"})
	}
	if err := st.Record(ctx, store.Record{Subject: subject, At: now, Findings: &store.Scan{Findings: findings, DatabaseVersion: now,
		Coverage: &evidence.Coverage{Checked: 1, NotChecked: []evidence.NotChecked{}}}}); err != nil {
		t.Fatal(err)
	}
	ev, err := st.RecordedEvidence(ctx, subject, "")
	if err != nil {
		t.Fatal(err)
	}
	p := Pass{images: []store.RunningImage{{Namespace: "sandbox", Image: subject.String(), Subject: subject}}, recorded: map[evidence.Subject]*evidence.Collected{subject: ev}}
	evs, err := events(ctx, "prod", st, p, &policy.Set{}, now, now, time.Hour, "low")
	if err != nil {
		t.Fatal(err)
	}
	critical := 0
	for _, e := range evs {
		if e.Severity == evidence.SeverityCritical {
			critical++
		}
	}
	if len(evs) != 10*maxEvents || critical != 10 {
		t.Errorf("one running image with %d findings makes %d finding events in one pass (%d critical); want %d, the 10 critical among them",
			len(findings), len(evs), critical, 10*maxEvents)
	}
}

// An image written without a tag is pulled as :latest; the webhook
// matches policies on "repo:latest" (ref.Name()), the background judge
// builds no reference for it, so a policy written for tags claims the
// container at admission and not in the background: no decision, no
// PolicyReport result, no refusal.
func TestUntaggedImagesAreJudgedAsLatest(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	repo := "registry.example/team/app"
	if err := st.PodsSeen(ctx, "prod", []store.PodState{
		{UID: "uid-shop-tagged", Containers: []store.RunningContainer{container("prod", "shop", "tagged", "app", "Pod/tagged", repo+":latest", repo+"@"+digestB)}},
		{UID: "uid-shop-untagged", Containers: []store.RunningContainer{container("prod", "shop", "untagged", "app", "Pod/untagged", repo, repo+"@"+digestB)}},
	}, now); err != nil {
		t.Fatal(err)
	}
	set := enforceSet(t, repo+":*")
	// the webhook's probe of the untagged image is claimed by the policy
	ref, err := admission.ParseImage(repo)
	if err != nil {
		t.Fatal(err)
	}
	if probe := (&evidence.Collected{Reference: ref.Name(), Subject: evidence.Subject{Repository: ref.Context().Name()}}); !set.Policies[0].Matches(probe) {
		t.Fatalf("the webhook's probe %s is not claimed", ref.Name())
	}
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, func(string) (map[string]string, bool) { return nil, true }, now); err != nil {
		t.Fatal(err)
	}
	all, err := st.Judgements(ctx, "prod", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, j := range all {
		got[j.Image] = j.Decision.Allowed
	}
	if allowed, ok := got[repo+":latest"]; !ok || allowed {
		t.Fatalf("the tagged image: %v %v", ok, allowed)
	}
	if _, ok := got[repo]; !ok {
		t.Errorf("%q (pulled as :latest, refused by the webhook) has no background decision; %q is refused", repo, repo+":latest")
	}
}

// Publish stops at the first namespace whose report the API server
// refuses (too large, a namespace being terminated, a quota): the other
// namespaces' reports are not applied, stale ones are not deleted, and
// the pass, failed, sends no notification at all.
func TestOneRefusedReportHoldsUpNoOther(t *testing.T) {
	stale := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
		"metadata": map[string]any{"name": "dossier", "namespace": "gone", "labels": map[string]any{managedBy: reportManager, clusterLabel: "prod"}}}}
	// another tool's report of that name, and another cluster's dossier's
	theirs := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
		"metadata": map[string]any{"name": "dossier", "namespace": "shared", "labels": map[string]any{managedBy: "kyverno"}}}}
	otherCluster := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
		"metadata": map[string]any{"name": "dossier", "namespace": "elsewhere", "labels": map[string]any{managedBy: reportManager, clusterLabel: "staging"}}}}
	client := fakeReportClient(stale, theirs, otherCluster)
	applied := map[string]bool{}
	client.PrependReactor("patch", "policyreports", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "big-team" {
			return true, nil, errors.New("etcdserver: request is too large")
		}
		applied[a.GetNamespace()] = true
		return true, &unstructured.Unstructured{}, nil
	})
	reports := map[string]*unstructured.Unstructured{}
	for _, ns := range []string{"big-team", "payments", "shop", "web", "api", "db", "shared"} {
		reports[ns] = &unstructured.Unstructured{Object: map[string]any{"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
			"metadata": map[string]any{"name": "dossier", "namespace": ns}}}
	}
	err := NewPublisher(client, "prod").Publish(context.Background(), reports)
	if err == nil || !strings.Contains(err.Error(), "big-team") || !strings.Contains(err.Error(), "shared/dossier is not this dossier's") {
		t.Errorf("the refused report and the report left alone are not said: %v", err)
	}
	ctx := context.Background()
	_, staleErr := client.Resource(PolicyReports).Namespace("gone").Get(ctx, "dossier", metav1.GetOptions{})
	kept, theirsErr := client.Resource(PolicyReports).Namespace("shared").Get(ctx, "dossier", metav1.GetOptions{})
	_, otherErr := client.Resource(PolicyReports).Namespace("elsewhere").Get(ctx, "dossier", metav1.GetOptions{})
	if len(applied) != 5 || applied["shared"] || staleErr == nil || theirsErr != nil || kept.GetLabels()[managedBy] != "kyverno" || otherErr != nil {
		t.Errorf("applied %v (want the 5 others, not shared); stale report deleted: %v; kyverno's kept: %v; the other cluster's kept: %v",
			applied, staleErr != nil, theirsErr == nil, otherErr == nil)
	}
}

func writeFileT(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }

func testKeyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := writeFileT(dir+"/k.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Every pass evaluates at its own time and the report carries that time
// (results[].timestamp), so a report's content changes with every pass
// although nothing else did: Publish's "apply only when the content
// changes" never skips, and every namespace's report is written on every
// pass — every 10 s while any Pod anywhere changes (a tenant annotating a
// Pod in a loop is enough).
func TestUnchangedReportsAreNotRewritten(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	repo := "registry.example/team/app"
	if err := st.PodsSeen(ctx, "prod", []store.PodState{
		{UID: "uid-shop-p", Containers: []store.RunningContainer{container("prod", "shop", "p", "app", "Deployment/web", repo+":v1", repo+"@"+digestB)}},
	}, now); err != nil {
		t.Fatal(err)
	}
	set := enforceSet(t, "registry.example/team/**")
	known := func(string) (map[string]string, bool) { return nil, true }
	report := func(at time.Time) string {
		if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, known, at); err != nil {
			t.Fatal(err)
		}
		r, err := Reports(ctx, "prod", st)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := contentHash(r["shop"])
		if err != nil {
			t.Fatal(err)
		}
		return hash
	}
	first, second := report(now), report(now.Add(10*time.Second))
	if first != second {
		t.Errorf("nothing changed but the time of the pass, and shop's report is to be applied again")
	}
}

// A pass that fails (here: a report the API server refuses) still moves
// the judger's clock on, and the next pass asks for denials since one
// minute before it: denials made while passes failed for over a minute
// are never notified, even once the cause is gone.
func TestDenialsAreToldWhateverReportsDo(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	repo := "registry.example/team/app"
	if err := st.PodsSeen(ctx, "prod", []store.PodState{
		{UID: "uid-big-p", Containers: []store.RunningContainer{container("prod", "big", "p", "app", "Pod/p", repo+":v1", repo+"@"+digestB)}},
	}, now); err != nil {
		t.Fatal(err)
	}
	d := evidence.Decision{Allowed: false, Mode: evidence.ModeEnforce, EvaluatedAt: now,
		Rules: []evidence.RuleResult{{Rule: "signed", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomeFail, Reason: "unsigned"}}}
	if err := st.Admitted(ctx, []store.Admission{{At: now, Image: repo + ":v1", Cluster: "prod", Namespace: "payments", Workload: "Deployment/api",
		Outcome: store.AdmissionDenied, Reason: "unsigned", Decision: &d}}); err != nil {
		t.Fatal(err)
	}
	client := fakeReportClient()
	tooLarge := true
	client.PrependReactor("patch", "policyreports", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if tooLarge {
			return true, nil, errors.New("etcdserver: request is too large")
		}
		return true, &unstructured.Unstructured{}, nil
	})
	set := enforceSet(t, "registry.example/team/**")
	clock := now.Add(10 * time.Second)
	out := &captured{bodies: map[string]string{}}
	cfg := loadNotify(t, "endpoints: [{name: ops, url: 'https://hooks.example/x'}]")
	// the captured outbox stands in for the store's
	j := &judger{w: &watcher{o: Options{Cluster: "prod", Now: func() time.Time { return clock }, Log: discard(),
		Rules: func() (*policy.Set, string) { return set, "v1" }, Notify: cfg}},
		st: outboxOf{st, out}, publisher: NewPublisher(client, "prod"), every: time.Minute}
	known := cache.NewStore(cache.MetaNamespaceKeyFunc)
	for _, ns := range []string{"big", "payments"} {
		_ = known.Add(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	j.namespaces = storeOnly{s: known}
	j.pass(ctx) // fails: the report of big is refused
	clock = now.Add(2 * time.Minute)
	j.pass(ctx)      // fails again
	tooLarge = false // the tenant's Pods go
	clock = now.Add(3 * time.Minute)
	j.pass(ctx)
	for id := range out.bodies {
		if strings.HasPrefix(id, "denied/prod/payments/") {
			return
		}
	}
	t.Errorf("payments' denial at %s was never queued (%d events queued once passes worked again)", now.Format(time.TimeOnly), len(out.bodies))
}

// outboxOf is the store with a captured outbox.
type outboxOf struct {
	*store.Store
	out *captured
}

func (o outboxOf) Notify(ctx context.Context, e []string, evs []store.OutboxEvent, at time.Time) (int, error) {
	return o.out.Notify(ctx, e, evs, at)
}

// storeOnly is an informer of which only the store is read.
type storeOnly struct {
	cache.SharedIndexInformer
	s cache.Store
}

func (s storeOnly) GetStore() cache.Store { return s.s }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeReportClient is a dynamic client serving PolicyReports (objs to
// begin with), whose writes a test intercepts with reactors.
func fakeReportClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	scheme := runtime.NewScheme()
	gvk := schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}
	scheme.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
	scheme.AddKnownTypeWithName(gvk.GroupVersion().WithKind("PolicyReportList"), &unstructured.UnstructuredList{})
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{PolicyReports: "PolicyReportList"}, objs...)
}
