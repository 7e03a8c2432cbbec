package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

func TestJudgeRunning(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	repo := "registry.example/team/app"
	scanned := evidence.Subject{Repository: repo, Digest: digestA}
	if err := st.Record(ctx, store.Record{Subject: scanned, At: now, Findings: &store.Scan{DatabaseVersion: now,
		Coverage: &evidence.Coverage{Checked: 1, NotChecked: []evidence.NotChecked{}}}}); err != nil {
		t.Fatal(err)
	}
	run := func(namespace, pod, image, digest string) store.PodState {
		c := store.RunningContainer{Cluster: "prod", Namespace: namespace, Pod: pod, PodUID: "uid-" + pod, Container: "app", Kind: store.ContainerApp,
			Workload: "Pod/" + pod, Image: image, Started: now}
		name, _, _ := strings.Cut(image, ":")
		c.Subject, c.DigestFrom = RunningDigest(image, name+"@"+digest)
		return store.PodState{UID: "uid-" + pod, Containers: []store.RunningContainer{c}}
	}
	if err := st.PodsSeen(ctx, "prod", []store.PodState{
		run("shop", "scanned", repo+":v1", digestA), run("shop", "never-recorded", repo+":v2", digestB),
		run("vault", "labels-unknown", repo+":v1", digestA), run("shop", "unclaimed", "other.example/x:1", digestB),
	}, now); err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Parse("policy.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: scanned}
spec:
  mode: enforce
  images: ["registry.example/team/**"]
  namespaces: {selector: {matchLabels: {tier: prod}}}
  rules:
    - name: no-high
      vulnerabilities: {failOn: high}
`), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	labels := func(namespace string) (map[string]string, bool) {
		if namespace == "shop" {
			return map[string]string{"tier": "prod"}, true
		}
		return nil, false
	}
	pass, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, labels, now)
	if err != nil {
		t.Fatal(err)
	}
	if pass.Images != 4 || pass.Digests != 3 || pass.Denied != 3 {
		t.Errorf("pass %+v, want 4 images, 3 digests read, 3 refused", pass)
	}
	judged := map[string]store.Judgement{}
	all, err := st.Judgements(ctx, "prod", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range all {
		judged[j.Namespace+" "+j.Image] = j
	}
	if j := judged["shop "+repo+":v1"]; !j.Decision.Allowed || j.PolicyVersion != "v1" {
		t.Errorf("the scanned digest: %+v", j)
	}
	// never recorded: never scanned, so the vulnerability rule fails
	if j := judged["shop "+repo+":v2"]; j.Decision.Allowed || !strings.Contains(j.Decision.Refusals()[0], "never scanned") {
		t.Errorf("the digest nothing is recorded of: %+v", j.Decision.Refusals())
	}
	// labels unknown while a policy selects by label: refused, not skipped
	if j := judged["vault "+repo+":v1"]; j.Decision.Allowed || !strings.Contains(strings.Join(j.Decision.Refusals(), ";"), "labels of namespace vault are not known") {
		t.Errorf("the namespace whose labels are unknown: %+v", j.Decision)
	}
	// no policy claims it where an enforcing policy covers the namespace:
	// refused, as the webhook refuses it
	if j, ok := judged["shop other.example/x:1"]; !ok || j.Decision.Allowed || len(j.Decision.Refusals()) != 1 ||
		!strings.Contains(j.Decision.Refusals()[0], "no policy matches other.example/x:1") {
		t.Errorf("an image no policy claims: %+v", j.Decision)
	}
	// the scanned Pod goes: its decision goes with the next pass
	if err := st.PodsGone(ctx, "prod", []string{"uid-scanned", "uid-labels-unknown"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := JudgeRunning(ctx, "prod", st, set, "v2", policy.UnclaimedDeny, labels, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if all, err := st.Judgements(ctx, "prod", ""); err != nil || len(all) != 2 || all[0].PolicyVersion != "v2" {
		t.Errorf("after the Pods went: %+v, %v", all, err)
	}
}

// An image no policy claims gets, in the background, the decision the
// webhook gives it with the same setting — in a namespace an enforcing
// policy covers, one only an audit policy covers, one no policy covers and
// one whose labels are not known — and its PolicyReport result follows:
// fail where the webhook denies, warn where it warns, none where it lets
// the image in unjudged.
func TestUnclaimedImagesJudgedAsTheWebhookJudges(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	docs, err := policy.Parse("policy.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: enforced}
spec:
  mode: enforce
  images: ["registry.example/team/**"]
  namespaces: {selector: {matchLabels: {tier: prod}}}
  rules:
    - name: no-high
      vulnerabilities: {failOn: high}
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: audited}
spec:
  mode: audit
  images: ["registry.example/team/**"]
  namespaces: {names: [staging]}
  rules:
    - name: no-high
      vulnerabilities: {failOn: high}
`), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	known := map[string]map[string]string{"shop": {"tier": "prod"}, "staging": {}, "lab": {"tier": "dev"}}
	labels := func(namespace string) (map[string]string, bool) {
		l, ok := known[namespace]
		return l, ok
	}
	image := "other.example/x:1"
	namespaces := []string{"shop", "staging", "lab", "vault"}
	var pods []store.PodState
	for _, namespace := range namespaces {
		c := container("prod", namespace, "p", "app", "Deployment/web", image, "other.example/x@"+digestA)
		pods = append(pods, store.PodState{UID: c.PodUID, Containers: []store.RunningContainer{c}})
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, answer := range []policy.Unclaimed{policy.UnclaimedDeny, policy.UnclaimedWarn, policy.UnclaimedAllow} {
		webhook := admission.New(func() *admission.Rules { return &admission.Rules{Set: set, Version: "v1"} }, admission.Options{Unclaimed: answer, Now: func() time.Time { return now },
			NamespaceLabels: func(_ context.Context, namespace string) (map[string]string, error) {
				if l, ok := labels(namespace); ok {
					return l, nil
				}
				return nil, fmt.Errorf("namespace %s not found", namespace)
			}})
		pass, err := JudgeRunning(ctx, "prod", st, set, "v1", answer, labels, now)
		if err != nil {
			t.Fatal(err)
		}
		all, err := st.Judgements(ctx, "prod", "")
		if err != nil {
			t.Fatal(err)
		}
		background := map[string]evidence.Decision{}
		for _, j := range all {
			background[j.Namespace] = j.Decision
		}
		reports, err := Reports(ctx, "prod", st)
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, namespace := range namespaces {
			j, err := webhook.Judge(ctx, podRequest(t, namespace, image))
			if err != nil || len(j.Verdicts) != 1 {
				t.Fatalf("%s: %+v %v", namespace, j, err)
			}
			v := j.Verdicts[0]
			d, judged := background[namespace]
			if v.Matched != judged || judged && (v.Decision.Allowed != d.Allowed || v.Decision.Mode != d.Mode || !reflect.DeepEqual(v.Decision.Rules, d.Rules)) {
				t.Errorf("unclaimed %s, namespace %s: the webhook decided %+v (matched %v), the background %+v (judged %v)", answer, namespace, v.Decision, v.Matched, d, judged)
				continue
			}
			want := ""
			if judged {
				want = "warn"
				if !d.Allowed {
					want, denied = "fail", denied+1
				}
			}
			var got []string
			if r := reports[namespace]; r != nil {
				results, _, _ := unstructured.NestedSlice(r.Object, "results")
				for _, res := range results {
					res := res.(map[string]any)
					got = append(got, res["result"].(string)+" "+res["rule"].(string))
				}
			}
			if want == "" && len(got) != 0 || want != "" && !slices.Equal(got, []string{want + " no-policy"}) {
				t.Errorf("unclaimed %s, namespace %s: report results %v, want %q", answer, namespace, got, want)
			}
		}
		if pass.Denied != denied {
			t.Errorf("unclaimed %s: the pass counted %d refused, want %d", answer, pass.Denied, denied)
		}
		failed += denied
	}
	// not two silences agreeing: deny refuses where an enforcing policy
	// covers the namespace, and where its labels are not known
	if failed != 2 {
		t.Errorf("%d refusals in all, want shop's and vault's under deny", failed)
	}
}

// podRequest is the admission request of a Pod running image in namespace.
func podRequest(t *testing.T, namespace, image string) *admissionv1.AdmissionRequest {
	t.Helper()
	raw, err := json.Marshal(corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: namespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}})
	if err != nil {
		t.Fatal(err)
	}
	return &admissionv1.AdmissionRequest{UID: "uid", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}
}
