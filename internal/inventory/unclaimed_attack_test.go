package inventory

// Attacks on the background decisions about images no policy claims
// (ad0ad8b: policy.Unclaimed.Decide in JudgeRunning, and their results in
// PolicyReports), kept as tests. A test that fails shows a weakness that
// is still there; the others hold and stay as regression tests.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// attackPolicies: payments is enforced, sandbox and audited only audited,
// prod-labelled namespaces enforced by label; dev is covered by none.
const attackPolicies = `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: enforce
  images: ["registry.example/team/**"]
  namespaces: {names: [payments]}
  signers: [{name: k, key: {file: k.pub}}]
  rules: [{name: signed, signature: {}}]
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: audited}
spec:
  mode: audit
  images: ["registry.example/team/**"]
  namespaces: {names: [sandbox, audited]}
  signers: [{name: k, key: {file: k.pub}}]
  rules: [{name: signed, signature: {}}]
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: by-label}
spec:
  mode: enforce
  images: ["registry.example/labelled/**"]
  namespaces: {selector: {matchLabels: {tier: prod}}}
  signers: [{name: k, key: {file: k.pub}}]
  rules: [{name: signed, signature: {}}]
`

func attackSet(t *testing.T, text string) *policy.Set {
	t.Helper()
	docs, err := policy.Parse("policy.yaml", []byte(text), policy.LoadOptions{BaseDir: testKeyDir(t), ReadFile: os.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	return &policy.Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
}

// reportResults are a namespace's report results as "result policy/rule
// workload container".
func reportResults(r *unstructured.Unstructured) []string {
	if r == nil {
		return nil
	}
	results, _, _ := unstructured.NestedSlice(r.Object, "results")
	var out []string
	for _, res := range results {
		res := res.(map[string]any)
		ref := res["resources"].([]any)[0].(map[string]any)
		props := res["properties"].(map[string]any)
		out = append(out, fmt.Sprintf("%s %s/%s %s/%s %v", res["result"], res["policy"], res["rule"], ref["kind"], ref["name"], props["container"]))
	}
	return out
}

// The report of a namespace holds its 1,000 worst results, failures
// first, then in workload order. Under an audit policy the webhook admits
// an image no policy claims with a warning, and since ad0ad8b the
// background gives every container of it a "warn no-policy" result. A
// tenant of an audited namespace runs ten Deployments named to sort first
// ("a0".."a9"), each of 100 containers of any image at all (nothing needs
// to be pushed to a registry a policy claims): their 1,000 warnings fill
// the report, and the audit policy's warning about another team's
// Deployment — an unsigned image of the registry the policy guards — is
// left out. Only the summary's count says anything was.
func TestUnclaimedWarningsCrowdOutAPolicysWarning(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, attackPolicies)
	victim := container("prod", "sandbox", "payments-1", "app", "Deployment/payments", "registry.example/team/app:v1", "registry.example/team/app@"+digestB)
	pods := []store.PodState{{UID: victim.PodUID, Containers: []store.RunningContainer{victim}}}
	for d := range 10 {
		ps := store.PodState{UID: fmt.Sprintf("uid-flood-%d", d)}
		for c := range 100 {
			rc := container("prod", "sandbox", fmt.Sprintf("a%d-1", d), fmt.Sprintf("c%d", c), fmt.Sprintf("Deployment/a%d", d),
				"docker.io/library/busybox:1.36", "docker.io/library/busybox@"+digestA)
			rc.PodUID = ps.UID
			ps.Containers = append(ps.Containers, rc)
		}
		pods = append(pods, ps)
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, known, now); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil {
		t.Fatal(err)
	}
	got := reportResults(reports["sandbox"])
	want := "warn audited/signed Deployment/payments app"
	if !slices.Contains(got, want) {
		t.Errorf("sandbox's report (%d results) does not hold %q: 1,000 unclaimed busybox containers took every place (first %v, last %v)",
			len(got), want, got[0], got[len(got)-1])
	}
}

// A PolicyReport is bounded to 1,000 results, not to a size. Each result
// of an unclaimed image carries the image's name three times (the reason
// "no policy matches X", the fix "add a policy whose images match X",
// and the image property) and the digest's repository once more. A name
// container runtimes pull has up to 255 characters and a tag up to 128:
// 1,000 containers of one such image (any registry: no policy needs to
// claim it) make a report etcd refuses (1.5 MiB by default), so the
// namespace's report is never written again — it stays as it was before
// the tenant's Pods, whatever runs there now.
func TestUnclaimedFloodKeepsTheReportWritable(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, attackPolicies)
	host := "r.example/"
	repo := host + strings.Repeat("a", 255-len(host)) // the longest name a runtime reads
	image := repo + ":" + strings.Repeat("t", 128)
	if _, err := reference.ParseDockerRef(image); err != nil {
		t.Fatalf("not an image a runtime pulls: %v", err)
	}
	if _, err := admission.ParseImage(image); err != nil {
		t.Fatalf("not an image the webhook reads: %v", err)
	}
	var pods []store.PodState
	for d := range 10 {
		ps := store.PodState{UID: fmt.Sprintf("uid-flood-%d", d)}
		for c := range 100 {
			rc := container("prod", "sandbox", fmt.Sprintf("flood-%d", d), fmt.Sprintf("c%d", c), fmt.Sprintf("Deployment/flood-%d", d), image, repo+"@"+digestA)
			rc.PodUID = ps.UID
			ps.Containers = append(ps.Containers, rc)
		}
		pods = append(pods, ps)
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, known, now); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil {
		t.Fatal(err)
	}
	r := reports["sandbox"]
	if r == nil {
		t.Fatal("no report for sandbox")
	}
	data, err := json.Marshal(r.Object)
	if err != nil {
		t.Fatal(err)
	}
	const etcdLimit = 3 << 19 // etcd's --max-request-bytes default, 1.5 MiB
	if len(data) > etcdLimit {
		t.Errorf("sandbox's report is %d bytes (%d results), over the %d bytes etcd takes by default: the API server refuses it every pass",
			len(data), len(reportResults(r)), etcdLimit)
	}
}

// The webhook refuses, in every namespace and whatever --unclaimed says,
// a reference container runtimes read but go-containerregistry does not
// (an upper-case host, numbers that are no IPv4 address as written, a
// first segment that containerd takes for a registry and dossier for a
// Docker Hub user). Running anyway (let in while dossier was down or
// bypassed), the background gives such an image the unclaimed answer for
// a spelling it made up — no decision at all in a namespace no policy
// covers or under --unclaimed allow, a warning where only audit policies
// apply — instead of the webhook's refusal: the PolicyReport stays silent
// about an image the webhook would deny, which docs/security.md says it
// does not.
func TestUnparseableImagesJudgedAsTheWebhookJudges(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, attackPolicies)
	images := []string{"LOCALHOST/team/app:v1", "127.1:5000/team/app:v1", "Registry/team/app:v1"}
	namespaces := []string{"payments", "audited", "dev"}
	var pods []store.PodState
	for i, image := range images {
		if _, err := reference.ParseDockerRef(image); err != nil {
			t.Fatalf("%s: not an image a runtime reads: %v", image, err)
		}
		if _, err := admission.ParseImage(image); err == nil {
			t.Fatalf("%s: the webhook reads it", image)
		}
		name, _, _ := strings.Cut(image, ":v1")
		for _, ns := range namespaces {
			c := container("prod", ns, fmt.Sprintf("p%d", i), "app", fmt.Sprintf("Pod/p%d", i), image, name+"@"+digestA)
			pods = append(pods, store.PodState{UID: c.PodUID, Containers: []store.RunningContainer{c}})
		}
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	for _, answer := range []policy.Unclaimed{policy.UnclaimedDeny, policy.UnclaimedAllow} {
		webhook := admission.New(func() *admission.Rules { return &admission.Rules{Set: set, Version: "v1"} }, admission.Options{Unclaimed: answer, Now: func() time.Time { return now },
			NamespaceLabels: func(context.Context, string) (map[string]string, error) { return map[string]string{}, nil }})
		if _, err := JudgeRunning(ctx, "prod", st, set, "v1", answer, known, now); err != nil {
			t.Fatal(err)
		}
		all, err := st.Judgements(ctx, "prod", "")
		if err != nil {
			t.Fatal(err)
		}
		background := map[string]store.Judgement{}
		for _, j := range all {
			background[j.Namespace+" "+j.Image] = j
		}
		for _, image := range images {
			for _, ns := range namespaces {
				j, err := webhook.Judge(ctx, podRequest(t, ns, image))
				if err != nil || len(j.Verdicts) != 1 {
					t.Fatalf("%s in %s: %+v %v", image, ns, j, err)
				}
				v := j.Verdicts[0]
				denied := v.Failure != "" && v.Enforced || v.Decision != nil && !v.Decision.Allowed
				if !denied {
					t.Fatalf("%s in %s: the webhook admits it (%+v)", image, ns, v)
				}
				b, judged := background[ns+" "+image]
				if !judged || b.Decision.Allowed {
					what := "no decision"
					if judged {
						what = fmt.Sprintf("allowed (%s)", strings.Join(ruleTexts(b.Decision), "; "))
					}
					t.Errorf("--unclaimed %s: %s running in %s: the webhook denies it (%s), the background gives %s", answer, image, ns, v.Failure, what)
				}
			}
		}
	}
}

func ruleTexts(d evidence.Decision) []string {
	var out []string
	for _, r := range d.Rules {
		out = append(out, r.Policy+"/"+r.Rule+" "+r.Outcome+" "+r.Mode)
	}
	return out
}

// The webhook pins every image a policy claims to the digest it judged,
// Deployments' templates included (docs/admission.md), so what a
// controller creates, and what runs, is spelled repository@digest. A
// policy that claims images by tag ("app:v*", a shape docs/policies.md and
// docs/security.md describe) does not claim that spelling: the webhook
// refuses the ReplicaSet's Pods it pinned itself (the Deployment it
// admitted never runs), and since ad0ad8b the background fails every
// running Pod dossier admitted by tag and pinned ("no policy matches
// …@sha256:…"), so the PolicyReport calls dossier's own admissions
// failures.
func TestPinnedImagesStayClaimedByTheirTagPolicy(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	digest := testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	set := attackSet(t, strings.ReplaceAll(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: tagged-releases}
spec:
  mode: enforce
  images: [{glob: "HOST/team/app:v*"}]
  authorities: [{name: release, static: {action: pass}}]
`, "HOST", host))
	webhook := admission.New(func() *admission.Rules { return &admission.Rules{Set: set, Version: "v1"} }, admission.Options{Now: func() time.Time { return now }})
	// the Deployment, by tag: admitted, its template pinned
	raw, err := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}, "template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": host + "/team/app:v1"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	deployment := &admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{UID: "uid", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespace: "shop", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}}
	if v, _ := webhook.Validate(ctx, deployment); !v.Response.Allowed {
		t.Fatalf("the webhook denies the Deployment by tag: %+v", v.Response.Result)
	}
	// the template as the mutating webhook leaves it
	out, _ := webhook.Mutate(ctx, deployment)
	image := host + "/team/app:v1"
	if out.Response.Patch != nil {
		var patch []struct{ Value string }
		if err := json.Unmarshal(out.Response.Patch, &patch); err != nil || len(patch) != 1 {
			t.Fatalf("the webhook's patch: %s %v", out.Response.Patch, err)
		}
		image = patch[0].Value
	}
	// the ReplicaSet's Pod, as that template makes it
	if v, _ := webhook.Validate(ctx, &admissionv1.AdmissionReview{Request: podRequest(t, "shop", image)}); !v.Response.Allowed {
		t.Errorf("the webhook admitted Deployment/web by tag and made its template %s, then denies its Pods: %s", image, v.Response.Result.Message)
	}
	// that Pod, running
	st := openStore(t)
	c := container("prod", "shop", "web-1", "app", "Pod/web-1", image, host+"/team/app@"+digest)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: c.PodUID, Containers: []store.RunningContainer{c}}}, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, known, now); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil {
		t.Fatal(err)
	}
	if got := reportResults(reports["shop"]); !slices.Equal(got, []string{"pass tagged-releases/authorities Pod/web-1 app"}) {
		t.Errorf("the Pod of the Deployment the webhook admitted by its tag, running %s, is reported %v", image, got)
	}
}

// Regression: no Pod makes another namespace's report say anything. A
// tenant of sandbox floods unclaimed images (its workloads named after
// payments' Deployment); payments' report holds payments' results only,
// and its failures stay failures.
func TestUnclaimedImagesStayInTheirNamespace(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, attackPolicies)
	victim := container("prod", "payments", "api-1", "app", "Deployment/api", "registry.example/team/app:v1", "registry.example/team/app@"+digestB)
	pods := []store.PodState{{UID: victim.PodUID, Containers: []store.RunningContainer{victim}}}
	for i := range 50 {
		c := container("prod", "sandbox", fmt.Sprintf("api-%d", i), "app", fmt.Sprintf("Deployment/api-%d", i), fmt.Sprintf("evil.example/x%d:1", i), fmt.Sprintf("evil.example/x%d@", i)+digestB)
		pods = append(pods, store.PodState{UID: c.PodUID, Containers: []store.RunningContainer{c}})
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	for _, answer := range []policy.Unclaimed{policy.UnclaimedDeny, policy.UnclaimedWarn, policy.UnclaimedAllow} {
		if _, err := JudgeRunning(ctx, "prod", st, set, "v1", answer, known, now); err != nil {
			t.Fatal(err)
		}
		reports, err := Reports(ctx, "prod", st)
		if err != nil {
			t.Fatal(err)
		}
		if got := reportResults(reports["payments"]); !slices.Equal(got, []string{"fail release/signed Deployment/api app"}) {
			t.Errorf("--unclaimed %s: payments' report %v", answer, got)
		}
		if n := len(reportResults(reports["sandbox"])); answer != policy.UnclaimedAllow && n != 50 || answer == policy.UnclaimedAllow && n != 0 {
			t.Errorf("--unclaimed %s: sandbox's report has %d results", answer, n)
		}
	}
}

// Regression: the spellings of one registry and repository that the
// webhook reads as one name (host case, the default port, its leading
// zeros, localhost, Docker Hub's aliases, IPv6 forms, no tag as :latest)
// are claimed in the background exactly when the webhook claims them, and
// an image the policy does not claim is not made to look claimed by them.
func TestSpellingsClaimedAsTheWebhookClaims(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, strings.ReplaceAll(attackPolicies, `"registry.example/team/**"]
  namespaces: {names: [payments]}`, `"registry.example/team/**", "127.0.0.1:5000/team/**", "index.docker.io/library/nginx:1.*"]
  namespaces: {names: [payments]}`))
	images := []string{
		"registry.example/team/app:v1", "REGISTRY.EXAMPLE/team/app:v1", "registry.example:443/team/app:v1", "registry.example:0443/team/app:v1",
		"registry.example/team/app", "Registry.Example:443/team/app", "registry.example:444/team/app:v1", "registry.example.evil/team/app:v1",
		"localhost:5000/team/app:v1", "LocalHost:5000/team/app:v1", "127.0.0.1:05000/team/app:v1", "[::1]:5000/team/app:v1", "[0:0:0:0:0:0:0:1]:5000/team/app:v1",
		"nginx:1.27", "docker.io/nginx:1.27", "registry-1.docker.io/library/nginx:1.27", "index.docker.io/library/nginx:1.27", "nginx", "nginx:latest",
		"registry.example/teams/app:v1", "registry.example/team:v1",
	}
	var pods []store.PodState
	for i, image := range images {
		repo := evidence.ImageRepository(image)
		c := container("prod", "payments", fmt.Sprintf("p%d", i), "app", fmt.Sprintf("Pod/p%d", i), image, repo+"@"+digestA)
		pods = append(pods, store.PodState{UID: c.PodUID, Containers: []store.RunningContainer{c}})
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, known, now); err != nil {
		t.Fatal(err)
	}
	all, err := st.Judgements(ctx, "prod", "")
	if err != nil {
		t.Fatal(err)
	}
	claimedInBackground := map[string]bool{}
	for _, j := range all {
		claimedInBackground[j.Image] = !slices.ContainsFunc(j.Decision.Rules, func(r evidence.RuleResult) bool { return r.Rule == "no-policy" })
	}
	for _, image := range images {
		ref, err := admission.ParseImage(image)
		if err != nil {
			t.Fatalf("%s: %v", image, err)
		}
		probe := &evidence.Collected{Reference: ref.Name(), Subject: evidence.Subject{Repository: ref.Context().Name()}, Namespace: "payments"}
		claimed := slices.ContainsFunc(set.Policies, func(p *policy.Policy) bool { return p.Matches(probe) })
		if got, ok := claimedInBackground[image]; !ok || got != claimed {
			t.Errorf("%s: claimed by the webhook %v, in the background %v (judged %v)", image, claimed, got, ok)
		}
	}
}

// Regression: namespaces whose labels are not known, or change, and a
// policy switched from audit to enforce. Unknown labels where a policy
// selects by label fail an unclaimed image closed; labels that change
// move the decision with them at the next pass; the same unclaimed image
// warns under audit and fails once the policy enforces.
func TestUnclaimedFollowsLabelsAndModes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	c := container("prod", "vault", "p", "app", "Pod/p", "other.example/x:1", "other.example/x@"+digestA)
	d := container("prod", "audited", "p", "app", "Pod/p", "other.example/x:1", "other.example/x@"+digestA)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: c.PodUID, Containers: []store.RunningContainer{c}}, {UID: d.PodUID, Containers: []store.RunningContainer{d}}}, now); err != nil {
		t.Fatal(err)
	}
	decision := func(set *policy.Set, labels func(string) (map[string]string, bool), namespace string) string {
		t.Helper()
		if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, labels, now); err != nil {
			t.Fatal(err)
		}
		all, err := st.Judgements(ctx, "prod", namespace)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 0 {
			return "none"
		}
		return map[bool]string{true: "allowed", false: "denied"}[all[0].Decision.Allowed] + " " + all[0].Decision.Mode
	}
	set := attackSet(t, attackPolicies)
	unknown := func(string) (map[string]string, bool) { return nil, false }
	prod := func(string) (map[string]string, bool) { return map[string]string{"tier": "prod"}, true }
	devLabels := func(string) (map[string]string, bool) { return map[string]string{"tier": "dev"}, true }
	if got := decision(set, unknown, "vault"); got != "denied enforce" {
		t.Errorf("labels not known: %s", got)
	}
	if got := decision(set, prod, "vault"); got != "denied enforce" {
		t.Errorf("labelled prod: %s", got)
	}
	if got := decision(set, devLabels, "vault"); got != "none" {
		t.Errorf("relabelled dev: %s", got)
	}
	if got := decision(set, devLabels, "audited"); got != "allowed audit" {
		t.Errorf("audited: %s", got)
	}
	enforced := attackSet(t, strings.Replace(attackPolicies, "mode: audit", "mode: enforce", 1))
	if got := decision(enforced, devLabels, "audited"); got != "denied enforce" {
		t.Errorf("audited, then enforced: %s", got)
	}
}

// A report has one result per workload, container, digest and rule: the
// first container of a (workload, container, digest) in Pod-name order
// stands for the others, whatever image it was written as. Under
// --unclaimed warn, a Pod of payments' Deployment (adopted by its
// ReplicaSet, or a replica during a move to a mirror) that names the same
// digest by another registry — no policy claims it: "warn no-policy" —
// and sorts first ("api-0") takes the place of the replicas whose
// claimed image fails the enforcing policy: the report shows a warning,
// and the failure is gone.
func TestUnclaimedSpellingHidesTheClaimedFailure(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, attackPolicies)
	claimed := container("prod", "payments", "api-7d4b9-x2x", "app", "Deployment/api", "registry.example/team/app@"+digestB, "registry.example/team/app@"+digestB)
	mirror := container("prod", "payments", "api-0", "app", "Deployment/api", "mirror.example/team/app@"+digestB, "mirror.example/team/app@"+digestB)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: claimed.PodUID, Containers: []store.RunningContainer{claimed}}, {UID: mirror.PodUID, Containers: []store.RunningContainer{mirror}}}, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedWarn, known, now); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil {
		t.Fatal(err)
	}
	if got := reportResults(reports["payments"]); !slices.Contains(got, "fail release/signed Deployment/api app") {
		t.Errorf("payments' report %v: the enforcing policy's failure of Deployment/api's replicas is not in it", got)
	}
}

// Regression: a flood of distinct unclaimed images (2,000 digests) adds no
// kind of notification (the unjudged containers' events stay bounded to
// 1,000 a pass, as before) and the store keeps one decision per running
// image, replaced by each pass, not one per pass.
func TestUnclaimedFloodIsBounded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	set := attackSet(t, attackPolicies)
	var pods []store.PodState
	for i := range 2000 {
		d := fmt.Sprintf("sha256:%064x", i+1)
		c := container("prod", "payments", fmt.Sprintf("p%d", i), "app", fmt.Sprintf("Pod/p%d", i), fmt.Sprintf("evil.example/x%d@%s", i, d), fmt.Sprintf("evil.example/x%d@%s", i, d))
		pods = append(pods, store.PodState{UID: c.PodUID, Containers: []store.RunningContainer{c}})
	}
	if err := st.PodsSeen(ctx, "prod", pods, now); err != nil {
		t.Fatal(err)
	}
	known := func(string) (map[string]string, bool) { return map[string]string{}, true }
	for i := range 3 {
		p, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, known, now.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if p.Images != 2000 || p.Denied != 2000 {
			t.Errorf("pass %d: %+v", i, p)
		}
		evs, err := events(ctx, "prod", st, p, set, now, now.Add(-time.Hour), time.Hour, "low")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > maxEvents {
			t.Errorf("pass %d: %d events", i, len(evs))
		}
	}
	all, err := st.Judgements(ctx, "prod", "")
	if err != nil || len(all) != 2000 {
		t.Errorf("%d decisions kept after three passes (%v)", len(all), err)
	}
}
