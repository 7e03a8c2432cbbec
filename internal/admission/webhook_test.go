package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// fixture is a registry holding a signed and an unsigned image, and the
// rules of a policy file requiring the release key's signature.
type fixture struct {
	host             string
	signed, unsigned string // digests
	rules            *Rules
}

func newFixture(t testing.TB, policyYAML string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{host: testutil.Registry(t)}
	f.signed = testutil.PushSample(t, "npm-app", f.host+"/team/signed:v1")
	f.unsigned = testutil.PushSample(t, "go-app", f.host+"/team/unsigned:v1")
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, _, err := kp.WriteKeyFiles(filepath.Join(dir, "release"), []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	repo, err := oci.OpenRepository(f.host+"/team/signed", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	// RELEASE_PEM is the public key inline, for documents that take no key files
	policyYAML = strings.ReplaceAll(policyYAML, "RELEASE_PEM", strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", `\n`))
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(policyYAML, "HOST", f.host)), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
	trust, err := collect.TrustFor(set, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.rules = &Rules{Set: set, Collect: collect.Options{Trust: trust, Timeout: 10 * time.Second}, Version: "1"}
	return f
}

const signedPolicy = `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  mode: enforce
  images: ["HOST/team/**"]
  namespaces: {names: [prod]}
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: audit-signed}
spec:
  mode: audit
  images: ["HOST/team/**"]
  namespaces: {names: [staging]}
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
`

// podReview is a review of a Pod creation in a namespace.
func podReview(t testing.TB, namespace string, spec corev1.PodSpec) *admissionv1.AdmissionReview {
	t.Helper()
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace}, Spec: spec}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID("uid-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: namespace, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw}},
	}
}

func containers(images ...string) corev1.PodSpec {
	var spec corev1.PodSpec
	for i, im := range images {
		spec.Containers = append(spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: im})
	}
	return spec
}

func TestValidateAndMutate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{})

	// signed: admitted, and pinned to the digest judged
	review := podReview(t, "prod", containers(f.host+"/team/signed:v1"))
	out, _ := w.Validate(ctx, review)
	if !out.Response.Allowed || out.Response.UID != "uid-1" || out.APIVersion != "admission.k8s.io/v1" {
		t.Fatalf("signed image: %+v", out.Response)
	}
	out, _ = w.Mutate(ctx, review)
	var patch []map[string]string
	if !out.Response.Allowed || json.Unmarshal(out.Response.Patch, &patch) != nil || len(patch) != 1 ||
		patch[0]["path"] != "/spec/containers/0/image" || patch[0]["value"] != f.host+"/team/signed@"+f.signed {
		t.Fatalf("mutation: %s %+v", out.Response.Patch, out.Response)
	}

	// unsigned: denied with the image, the digest, the rule and the fix
	out, _ = w.Validate(ctx, podReview(t, "prod", containers(f.host+"/team/unsigned:v1")))
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	if out.Response.Allowed || !strings.Contains(msg, `container "c0" (image `+f.host+`/team/unsigned:v1) = `+f.host+`/team/unsigned@`+f.unsigned) ||
		!strings.Contains(msg, "policy require-signed rule signed") || !strings.Contains(msg, "fix: dossier sign") {
		t.Fatalf("unsigned image: %+v", out.Response)
	}

	// audit: admitted, with a warning
	out, _ = w.Validate(ctx, podReview(t, "staging", containers(f.host+"/team/unsigned:v1")))
	if !out.Response.Allowed || len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "dossier audit:") {
		t.Fatalf("audit: %+v", out.Response)
	}

	// a namespace no policy covers: untouched
	review = podReview(t, "dev", containers(f.host+"/team/unsigned:v1", "docker.io/library/busybox:1.36"))
	if out, _ := w.Validate(ctx, review); !out.Response.Allowed || len(out.Response.Warnings) != 0 {
		t.Errorf("unmatched namespace: %+v", out.Response)
	}
	if out, _ := w.Mutate(ctx, review); out.Response.Patch != nil {
		t.Errorf("an image no policy matches was patched: %s", out.Response.Patch)
	}
}

// An image no policy claims is denied in a namespace an enforcing policy
// covers, whatever spelling hid it from the policy's globs; only warned
// about where audit policies apply; --unclaimed warn and allow relax it.
func TestUnclaimedImages(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	port := f.host[strings.LastIndex(f.host, ":")+1:]
	unclaimed := []string{"docker.io/library/busybox:1.36", "busybox", "registry-1.docker.io/acme/app:v1", "registry.example/other/app:v1"}
	respelled := []string{"localhost:" + port + "/team/unsigned:v1", "LOCALHOST:" + port + "/team/unsigned:v1", "127.0.0.1:0" + port + "/team/unsigned:v1"}
	deny := New(func() *Rules { return f.rules }, Options{})
	// names a container runtime refuses are refused everywhere, before any
	// policy's glob is asked to match them
	for image, why := range map[string]string{
		"localhost.:" + port + "/team/unsigned:v1": "is not a reference a container runtime reads", f.host + "/team/signed/../unsigned:v1": "is not a reference a container runtime reads",
		f.host + "/team/./signed:v1": "is not a reference a container runtime reads", "Busybox": "is not a reference a container runtime reads",
		// numbers some resolvers read as 127.0.0.1 and others not
		"127.1:" + port + "/team/unsigned:v1": "is not one name for one registry", "127.000.000.001:" + port + "/team/unsigned:v1": "is not one name for one registry",
	} {
		for _, namespace := range []string{"prod", "staging", "unmatched"} {
			out, _ := deny.Validate(ctx, podReview(t, namespace, containers(image)))
			if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, why) {
				t.Errorf("%s in %s: %+v", image, namespace, out.Response)
			}
		}
	}
	for _, image := range append(unclaimed, respelled...) {
		out, _ := deny.Validate(ctx, podReview(t, "prod", containers(image)))
		if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "no policy matches") && !strings.Contains(out.Response.Result.Message, "policy require-signed rule signed") {
			t.Errorf("%s in an enforced namespace: %+v", image, out.Response)
		}
		out, _ = deny.Validate(ctx, podReview(t, "staging", containers(image)))
		if !out.Response.Allowed || len(out.Response.Warnings) != 1 {
			t.Errorf("%s in an audited namespace: want admitted with a warning: %+v", image, out.Response)
		}
	}
	warn := New(func() *Rules { return f.rules }, Options{Unclaimed: policy.UnclaimedWarn})
	allow := New(func() *Rules { return f.rules }, Options{Unclaimed: policy.UnclaimedAllow})
	for _, image := range unclaimed {
		if out, _ := warn.Validate(ctx, podReview(t, "prod", containers(image))); !out.Response.Allowed || len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "no policy matches") {
			t.Errorf("%s with unclaimed images warned about: %+v", image, out.Response)
		}
		if out, _ := allow.Validate(ctx, podReview(t, "prod", containers(image))); !out.Response.Allowed || len(out.Response.Warnings) != 0 {
			t.Errorf("%s with unclaimed images allowed: %+v", image, out.Response)
		}
	}
	// a respelled registry is the policy's registry: judged, so an
	// unsigned image is denied even when unclaimed images are allowed
	for _, image := range respelled {
		if out, _ := allow.Validate(ctx, podReview(t, "prod", containers(image))); out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "policy require-signed rule signed") {
			t.Errorf("%s: want judged by require-signed: %+v", image, out.Response)
		}
	}
}

// allowed says no verdict of a judgement denies.
func allowed(j Judgement) bool {
	for _, v := range j.Verdicts {
		if v.denies() {
			return false
		}
	}
	return true
}

// Eight containers of one image: one resolution and one gathering, and
// every container is judged.
func TestOneVerificationPerImage(t *testing.T) {
	f := newFixture(t, signedPolicy)
	rules := *f.rules
	w := New(func() *Rules { return &rules }, Options{})
	images := make([]string, 8)
	for i := range images {
		images[i] = f.host + "/team/signed:v1"
	}
	j, err := w.Judge(context.Background(), podReview(t, "prod", containers(images...)).Request)
	if err != nil || len(j.Verdicts) != 8 || !allowed(j) {
		t.Fatalf("%+v %v", j, err)
	}
	if w.judge.gatherings.Load() != 1 || w.judge.resolutions.Load() != 1 {
		t.Errorf("%d gatherings and %d resolutions for one image", w.judge.gatherings.Load(), w.judge.resolutions.Load())
	}
}

// When the registry cannot be reached, enforce denies and audit admits
// with the failure as a warning.
func TestRegistryDownFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{Registry: oci.RegistryOptions{Timeout: time.Second, Retries: -1}})
	gone := "127.0.0.1:1/team/signed:v1" // nothing listens on port 1
	gonePolicy := *f.rules
	w.rules = func() *Rules { return &gonePolicy }
	for _, p := range gonePolicy.Set.Policies {
		g, err := policy.CompileGlob("127.0.0.1:1/team/**")
		if err != nil {
			t.Fatal(err)
		}
		p.Images = append(p.Images, g)
	}
	out, _ := w.Validate(ctx, podReview(t, "prod", containers(gone)))
	if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "cannot be verified: resolving 127.0.0.1:1/team/signed:v1") {
		t.Errorf("enforce with the registry down: %+v", out.Response)
	}
	out, _ = w.Validate(ctx, podReview(t, "staging", containers(gone)))
	if !out.Response.Allowed || len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "cannot be verified") {
		t.Errorf("audit with the registry down: %+v", out.Response)
	}
	// failing open is asked for, warned about and recorded as such
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open := New(func() *Rules { return &gonePolicy }, Options{Registry: oci.RegistryOptions{Timeout: time.Second}, FailOpen: true, Store: st})
	out, _ = open.Validate(ctx, podReview(t, "prod", containers(gone)))
	open.Close()
	if !out.Response.Allowed || len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "WITHOUT verification") {
		t.Errorf("fail open: %+v", out.Response)
	}
	if recorded, err := st.Admissions(ctx, time.Time{}, store.AdmissionFailedOpen, 0, nil); err != nil || len(recorded) != 1 || recorded[0].Image != gone || recorded[0].Subject.Digest != "" {
		t.Errorf("recorded: %+v %v", recorded, err)
	}
	// failing open covers outages only: a reference that does not parse,
	// or names an image the registry does not have, is denied still
	live := New(func() *Rules { return f.rules }, Options{FailOpen: true})
	for _, image := range []string{f.host + "/team/UPPER:v1", f.host + "/team/missing:v1", f.host + "/team/signed@sha256:" + strings.Repeat("0", 64)} {
		if out, _ := live.Validate(ctx, podReview(t, "prod", containers(image))); out.Response.Allowed {
			t.Errorf("%s failed open: %+v", image, out.Response)
		}
	}
}

// When the registry answers the manifest but stalls on the signatures
// (referrers and cosign's signature tags), the read is cut off by the
// collect timeout: enforce denies saying the signatures could not be read,
// audit admits with that as a warning, and the failure is not cached.
func TestSignatureFetchTimeout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	var stall atomic.Bool
	stall.Store(true)
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if stall.Load() && (strings.Contains(r.URL.Path, "/referrers/") || strings.Contains(r.URL.Path, "/manifests/sha256-")) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		next.ServeHTTP(rw, r)
	})
	rules.Collect.Timeout = 300 * time.Millisecond
	w := New(func() *Rules { return &rules }, Options{})
	image := host + "/team/signed:v1"
	start := time.Now()
	out, _ := w.Validate(ctx, podReview(t, "prod", containers(image)))
	if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "signatures could not be read") ||
		!strings.Contains(out.Response.Result.Message, "deadline exceeded") {
		t.Errorf("enforce with the signatures stalled: %+v", out.Response)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the stalled read took %s: the timeout did not cut it off", took)
	}
	out, _ = w.Validate(ctx, podReview(t, "staging", containers(image)))
	if !out.Response.Allowed || len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "signatures could not be read") {
		t.Errorf("audit with the signatures stalled: %+v", out.Response)
	}
	// the registry recovers: the failure was not kept, the signature is read
	stall.Store(false)
	if out, _ := w.Validate(ctx, podReview(t, "prod", containers(image))); !out.Response.Allowed {
		t.Errorf("after the registry recovered: %+v", out.Response.Result)
	}
}

// Policies selecting namespaces by label are judged with the labels read,
// and refuse when they cannot be read.
func TestNamespaceLabels(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, strings.Replace(signedPolicy, "namespaces: {names: [prod]}", "namespaces: {selector: {matchLabels: {tier: prod}}}", 1))
	labels := map[string]map[string]string{"payments": {"tier": "prod"}, "sandbox": {"tier": "dev"}}
	w := New(func() *Rules { return f.rules }, Options{NamespaceLabels: func(_ context.Context, ns string) (map[string]string, error) {
		if l, ok := labels[ns]; ok {
			return l, nil
		}
		return nil, errors.New("namespace not found")
	}})
	if out, _ := w.Validate(ctx, podReview(t, "payments", containers(f.host+"/team/unsigned:v1"))); out.Response.Allowed {
		t.Errorf("labelled namespace: %+v", out.Response)
	}
	if out, _ := w.Validate(ctx, podReview(t, "sandbox", containers(f.host+"/team/unsigned:v1"))); !out.Response.Allowed {
		t.Errorf("a namespace without the label: %+v", out.Response)
	}
	if out, _ := w.Validate(ctx, podReview(t, "unknown", containers(f.host+"/team/unsigned:v1"))); out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "namespace not found") {
		t.Errorf("labels that cannot be read: %+v", out.Response)
	}
	blind := New(func() *Rules { return f.rules }, Options{})
	if out, _ := blind.Validate(ctx, podReview(t, "payments", containers(f.host+"/team/signed:v1"))); out.Response.Allowed {
		t.Errorf("a webhook that cannot read labels admitted: %+v", out.Response)
	}
}

// Validating decisions reach the store, admitted Pods' digests are marked
// deployed, and a store that is down costs records, not admissions.
func TestDecisionsRecorded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := New(func() *Rules { return f.rules }, Options{Store: st})
	for _, c := range []struct{ namespace, image string }{{"prod", "/team/signed:v1"}, {"prod", "/team/unsigned:v1"}, {"staging", "/team/unsigned:v1"}} {
		review := podReview(t, c.namespace, containers(f.host+c.image, f.host+c.image))
		review.Request.UserInfo.Username = "dev@example.com"
		w.Validate(ctx, review)
	}
	dryRun := true
	review := podReview(t, "prod", containers(f.host+"/team/signed:v1"))
	review.Request.DryRun = &dryRun // a dry run leaves no trace
	w.Validate(ctx, review)
	w.Close()
	signed, err := st.Dossier(ctx, evidence.Subject{Repository: f.host + "/team/signed", Digest: f.signed})
	if err != nil || signed == nil || len(signed.Admissions) != 1 || signed.Admissions[0].Outcome != store.AdmissionAllowed ||
		signed.Admissions[0].User != "dev@example.com" || signed.Admissions[0].Workload != "Pod/web" || len(signed.Deployments) != 1 {
		t.Fatalf("signed: %+v %v", signed, err)
	}
	unsigned, err := st.Dossier(ctx, evidence.Subject{Repository: f.host + "/team/unsigned", Digest: f.unsigned})
	outcomes := map[string]string{}
	for _, a := range unsigned.Admissions {
		outcomes[a.Namespace] = a.Outcome
	}
	if err != nil || len(unsigned.Admissions) != 2 || outcomes["prod"] != store.AdmissionDenied || outcomes["staging"] != store.AdmissionAudited ||
		len(unsigned.Deployments) != 1 || unsigned.Deployments[0].Namespace != "staging" {
		t.Errorf("unsigned: %+v %v", unsigned, err)
	}

	// the store goes away: admissions go on, the loss is reported
	down, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	var reported atomic.Int32
	w = New(func() *Rules { return f.rules }, Options{Store: down, OnStoreError: func(error) { reported.Add(1) }})
	out, _ := w.Validate(ctx, podReview(t, "prod", containers(f.host+"/team/signed:v1")))
	w.Close()
	if !out.Response.Allowed || w.recorder.dropped.Load() != 1 || reported.Load() != 1 {
		t.Errorf("store down: allowed %v, %d lost, %d reported", out.Response.Allowed, w.recorder.dropped.Load(), reported.Load())
	}
}

// Rules read from files change when the files do: audit → enforce for a
// namespace without a restart, and a rotated key is a new version.
func TestFileRulesReload(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	write := func(mode string) {
		t.Helper()
		doc := strings.ReplaceAll(strings.ReplaceAll(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  mode: MODE
  images: ["HOST/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
`, "HOST", f.host), "MODE", mode)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kp.WriteKeyFiles(filepath.Join(dir, "release"), []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	write("audit")
	rules, err := LoadFileRules([]string{path}, "", collect.Options{Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := New(rules.Rules, Options{})
	review := podReview(t, "prod", containers(f.host+"/team/unsigned:v1"))
	if out, _ := w.Validate(ctx, review); !out.Response.Allowed {
		t.Fatalf("audit: %+v", out.Response)
	}
	v1 := rules.Rules().Version
	if changed, err := rules.Reload(); changed || err != nil {
		t.Errorf("nothing changed, yet: %v %v", changed, err)
	}
	write("enforce")
	if changed, err := rules.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if out, _ := w.Validate(ctx, review); out.Response.Allowed {
		t.Errorf("enforce after the reload: %+v", out.Response)
	}
	v2 := rules.Rules().Version
	other, _ := sign.GenerateKeyPair()
	if _, _, err := other.WriteKeyFiles(filepath.Join(dir, "release"), []byte("pw"), true); err != nil {
		t.Fatal(err)
	}
	if changed, err := rules.Reload(); !changed || err != nil || rules.Rules().Version == v2 || v1 == v2 {
		t.Errorf("a rotated key: changed %v, %v", changed, err)
	}
	if err := os.WriteFile(path, []byte("kind: Nonsense"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Reload(); err == nil || rules.Rules() == nil {
		t.Errorf("a broken file must keep the rules in force: %v", err)
	}
}

// A break-glass exception for one digest in one namespace admits it until
// it expires, and the waiver is recorded with its owner.
func TestBreakGlassException(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	exception := func(name string, expires time.Time) string {
		return fmt.Sprintf(`---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: %s, namespace: prod}
spec:
  owner: sre-oncall
  imageDigest: %s/team/unsigned@%s
  reason: "Break-glass hotfix while the signing service is down (INC-4711)."
  expiresAt: %q
  waives:
    policies: [require-signed/signed]
`, name, f.host, f.unsigned, expires.UTC().Format(time.RFC3339))
	}
	now := time.Now()
	for _, c := range []struct {
		name    string
		expires time.Time
		allowed bool
	}{{"hotfix", now.Add(time.Hour), true}, {"old-hotfix", now.Add(-time.Hour), false}} {
		docs, err := policy.Parse("exceptions.yaml", []byte(exception(c.name, c.expires)), policy.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules := *f.rules
		rules.Set = &policy.Set{Policies: f.rules.Set.Policies, Exceptions: docs.Exceptions}
		rules.Version = c.name
		st, err := store.Open(ctx, t.TempDir(), "")
		if err != nil {
			t.Fatal(err)
		}
		w := New(func() *Rules { return &rules }, Options{Store: st})
		out, _ := w.Validate(ctx, podReview(t, "prod", containers(f.host+"/team/unsigned:v1")))
		w.Close()
		if out.Response.Allowed != c.allowed {
			t.Errorf("%s: allowed %v: %+v", c.name, out.Response.Allowed, out.Response)
		}
		// whoever deploys under a waiver is told so
		if c.allowed && (len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "admitted under exception hotfix (owner sre-oncall, expires ")) {
			t.Errorf("%s: warnings %q", c.name, out.Response.Warnings)
		}
		d, err := st.Dossier(ctx, evidence.Subject{Repository: f.host + "/team/unsigned", Digest: f.unsigned})
		if err != nil || d == nil || len(d.Admissions) != 1 {
			t.Fatalf("%s: %+v %v", c.name, d, err)
		}
		a := d.Admissions[0]
		if c.allowed && (a.Outcome != store.AdmissionWaived || !strings.Contains(a.Reason, "hotfix (owner sre-oncall)")) {
			t.Errorf("waiver recorded as %s: %s", a.Outcome, a.Reason)
		}
		if !c.allowed && (a.Outcome != store.AdmissionDenied || !strings.Contains(fmt.Sprint(a.Decision.ExpiredExceptions), "old-hotfix")) {
			t.Errorf("expired exception: %s %+v", a.Outcome, a.Decision)
		}
		st.Close()
		// in another namespace the exception does not apply
		if c.allowed {
			w := New(func() *Rules { return &rules }, Options{})
			rules.Set.Policies[0].Namespaces = nil
			if out, _ := w.Validate(ctx, podReview(t, "other", containers(f.host+"/team/unsigned:v1"))); out.Response.Allowed {
				t.Errorf("the exception applied outside its namespace: %+v", out.Response)
			}
		}
	}
}

// Concurrent reviews of one image share one resolution and one gathering.
func TestConcurrentReviewsShareOneVerification(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{})
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			j, err := w.Judge(context.Background(), podReview(t, "prod", containers(f.host+"/team/signed:v1")).Request)
			if err == nil && !allowed(j) {
				err = errors.New("denied")
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if w.judge.gatherings.Load() != 1 || w.judge.resolutions.Load() != 1 || w.judge.hits.Load() != 2*15 {
		t.Errorf("%d gatherings, %d resolutions, %d hits for one image in 16 reviews", w.judge.gatherings.Load(), w.judge.resolutions.Load(), w.judge.hits.Load())
	}
}

// A review with a short budget (the API server's ?timeout=, which anyone
// reaching the webhook can set) that starts a shared resolution and
// gathering only stops waiting for them: a concurrent review of the same
// image gets the real answer, not the first one's time-out as an outage.
func TestOneReviewsBudgetIsNotAnothersOutage(t *testing.T) {
	f := newFixture(t, signedPolicy)
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/manifests/v1") || strings.Contains(r.URL.Path, "/referrers/") || strings.Contains(r.URL.Path, "/manifests/sha256-") {
			time.Sleep(300 * time.Millisecond)
		}
		next.ServeHTTP(rw, r)
	})
	w := New(func() *Rules { return &rules }, Options{FailOpen: true})
	image := host + "/team/signed:v1"
	hasty := make(chan Judgement, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		j, _ := w.Judge(ctx, podReview(t, "prod", containers(image)).Request)
		hasty <- j
	}()
	time.Sleep(20 * time.Millisecond) // the hasty review starts the shared work
	patient, err := w.Judge(context.Background(), podReview(t, "prod", containers(image)).Request)
	if err != nil || !allowed(patient) || patient.Verdicts[0].FailedOpen {
		t.Errorf("the patient review: %+v %v", patient, err)
	}
	if j := <-hasty; len(j.Verdicts) != 1 || j.Verdicts[0].Decision != nil {
		t.Errorf("the hasty review was decided within 100 ms of a 300 ms registry: %+v", j)
	}
	if w.judge.resolutions.Load() != 1 || w.judge.gatherings.Load() != 1 {
		t.Errorf("%d resolutions and %d gatherings: the reviews did not share the work", w.judge.resolutions.Load(), w.judge.gatherings.Load())
	}
}

// The distinct images of one review are judged side by side: a workload
// of many images each a little slow to read does not spend the review's
// budget one after another and leave its last image to be cut off, which
// --fail-open would admit as an outage.
func TestImagesOfOneReviewJudgedSideBySide(t *testing.T) {
	f := newFixture(t, signedPolicy)
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			time.Sleep(400 * time.Millisecond)
		}
		next.ServeHTTP(rw, r)
	})
	// twelve tags of the signed image, then the unsigned one
	images := signedTags(t, f, host, 12)
	images = append(images, host+"/team/unsigned:v1")
	w := New(func() *Rules { return &rules }, Options{FailOpen: true})
	// the twelve tags' reads of 400 ms one after another, and the shared
	// signature's, would be over 5.2 s; side by side they take about a
	// second, which leaves the race detector on two busy cores room (a
	// 1 s budget for reads of 150 ms ran out there)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := w.Validate(ctx, podReview(t, "prod", containers(images...)))
	if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, `"c12"`) || strings.Contains(out.Response.Result.Message, "could not be") {
		t.Errorf("the unsigned image after twelve slow ones, under --fail-open: %+v", out.Response.Result)
	}
}

// A registry slow on purpose, named by as many images as are judged at
// once (each decided within the budget), cannot spend a review's budget so
// that an unsigned image of a fast registry judged after them is cut off and
// admitted by --fail-open as an outage. The slow registry answers after
// 1.7 s of a 3 s budget: the image after them starts with less than half
// left, and each slow one has 1.3 s for its own work (100 ms was too little
// for the race detector on two busy cores).
func TestSlowImagesCannotFailOpenAnother(t *testing.T) {
	f := newFixture(t, signedPolicy)
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/team/signed/manifests/") {
			time.Sleep(1700 * time.Millisecond)
		}
		next.ServeHTTP(rw, r)
	})
	images := signedTags(t, f, host, judgeConcurrency)
	images = append(images, host+"/team/unsigned:v1")
	w := New(func() *Rules { return &rules }, Options{FailOpen: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	j, err := w.Judge(ctx, podReview(t, "prod", containers(images...)).Request)
	if err != nil {
		t.Fatal(err)
	}
	last := j.Verdicts[len(j.Verdicts)-1]
	if !last.denies() || last.FailedOpen || !strings.Contains(last.Failure, "half its time budget") {
		t.Errorf("the unsigned image after %d slow ones, under --fail-open: %+v", judgeConcurrency, last)
	}
	for _, v := range j.Verdicts[:judgeConcurrency] {
		if v.Failure != "" {
			t.Errorf("a slow image judged at once, within the budget: %+v", v)
		}
	}
}

// signedTags tags the fixture's signed image n times (t0, t1, …) and
// names the tags as the proxy at host serves them.
func signedTags(t testing.TB, f *fixture, host string, n int) []string {
	t.Helper()
	repo, err := oci.OpenRepository(f.host+"/team/signed", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for i := range n {
		tag := fmt.Sprintf("t%d", i)
		if err := repo.Tag(context.Background(), desc, tag); err != nil {
			t.Fatal(err)
		}
		images = append(images, host+"/team/signed:"+tag)
	}
	return images
}

// behindProxy puts the fixture's registry behind a proxy that handle
// serves (passing requests on to next, or not), and returns its host and
// rules whose policies also claim the proxy's images.
func behindProxy(t *testing.T, f *fixture, handle func(rw http.ResponseWriter, r *http.Request, next http.Handler)) (string, Rules) {
	t.Helper()
	target, err := url.Parse("http://" + f.host)
	if err != nil {
		t.Fatal(err)
	}
	next := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { handle(rw, r, next) }))
	t.Cleanup(proxy.Close)
	host := strings.TrimPrefix(proxy.URL, "http://")
	rules := *f.rules
	for _, p := range rules.Set.Policies {
		g, err := policy.CompileGlob(host + "/team/**")
		if err != nil {
			t.Fatal(err)
		}
		p.Images = append(p.Images, g)
	}
	return host, rules
}
