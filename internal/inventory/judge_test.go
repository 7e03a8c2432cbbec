package inventory

import (
	"context"
	"strings"
	"testing"
	"time"

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
	pass, err := JudgeRunning(ctx, "prod", st, set, "v1", labels, now)
	if err != nil {
		t.Fatal(err)
	}
	if pass.Images != 3 || pass.Digests != 3 || pass.Denied != 2 {
		t.Errorf("pass %+v, want 3 images (the unclaimed one left out), 3 digests read, 2 refused", pass)
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
	if _, ok := judged["shop other.example/x:1"]; ok || len(all) != 3 {
		t.Errorf("an image no policy claims was judged: %d decisions", len(all))
	}
	// the scanned Pod goes: its decision goes with the next pass
	if err := st.PodsGone(ctx, "prod", []string{"uid-scanned", "uid-labels-unknown"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := JudgeRunning(ctx, "prod", st, set, "v2", labels, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if all, err := st.Judgements(ctx, "prod", ""); err != nil || len(all) != 1 || all[0].PolicyVersion != "v2" {
		t.Errorf("after the Pods went: %+v, %v", all, err)
	}
}
