package admission

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dossier-dev/dossier/internal/policy"
)

// everywherePolicy requires the release key's signature in every
// namespace.
const everywherePolicy = `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  mode: enforce
  images: ["HOST/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
`

// prodException is the rules of everywherePolicy with a break-glass
// exception, scoped to prod, for the unsigned image.
func prodException(t *testing.T, f *fixture) *Rules {
	t.Helper()
	docs, err := policy.Parse("exceptions.yaml", fmt.Appendf(nil, `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: prod-hotfix, namespace: prod}
spec:
  owner: sre-oncall
  imageDigest: %s/team/unsigned@%s
  reason: "Break-glass hotfix while the signing service is down (INC-4711)."
  expiresAt: %q
  waives:
    policies: [require-signed/signed]
`, f.host, f.unsigned, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules := *f.rules
	rules.Set = &policy.Set{Policies: f.rules.Set.Policies, Exceptions: docs.Exceptions}
	rules.Version = "prod-hotfix"
	return &rules
}

// An exception scoped to prod waives the unsigned image in prod only: no
// review of another namespace (by its request's namespace, whatever the
// object says; on create, update, an ephemeral container, a dry run) and
// no Gatekeeper key naming another namespace, none or a misspelling of
// prod is admitted on it; the image mutate pins in prod is refused once
// validated outside prod.
func TestExceptionScopeAttack(t *testing.T) {
	f := newFixture(t, everywherePolicy)
	rules := prodException(t, f)
	w := New(func() *Rules { return rules }, Options{NamespacedKeys: true})
	h := w.Handler()
	u := f.host + "/team/unsigned:v1"
	pinned := f.host + "/team/unsigned@" + f.unsigned

	review := func(namespace string, edit func(*admissionv1.AdmissionReview)) bool {
		t.Helper()
		r := podReview(t, namespace, containers(u))
		if edit != nil {
			edit(r)
		}
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		code, out, raw := post(t, h, "/admission/validate", body)
		if code != http.StatusOK || out.Response == nil {
			t.Fatalf("review in %q: HTTP %d %s", namespace, code, raw)
		}
		return out.Response.Allowed
	}
	if !review("prod", nil) {
		t.Fatal("the exception does not admit the image in prod: the attacks below prove nothing")
	}
	objectIn := func(ns string, spec corev1.PodSpec) func(*admissionv1.AdmissionReview) {
		return func(r *admissionv1.AdmissionReview) {
			r.Request.Object = podReview(t, ns, spec).Request.Object
		}
	}
	yes := true
	for name, c := range map[string]struct {
		namespace string
		edit      func(*admissionv1.AdmissionReview)
	}{
		"dev":                    {"dev", nil},
		"no namespace":           {"", nil},
		"object says prod":       {"dev", objectIn("prod", containers(u))},
		"object says prod, none": {"", objectIn("prod", containers(u))},
		"update": {"dev", func(r *admissionv1.AdmissionReview) {
			r.Request.Operation = admissionv1.Update
			r.Request.OldObject = r.Request.Object
		}},
		"dry run":                   {"dev", func(r *admissionv1.AdmissionReview) { r.Request.DryRun = &yes }},
		"ephemeral container":       {"dev", ephemeral(t, "prod", u)},
		"ephemeral, request in dev": {"dev", ephemeral(t, "dev", u)},
	} {
		if review(c.namespace, c.edit) {
			t.Errorf("%s: admitted on prod's exception", name)
		}
	}
	// namespaces the API server would never send are refused before judging
	for _, ns := range []string{"Prod", "prod ", " prod", "prod\u200b", "prod/x", "pr\u043ed"} {
		if review(ns, nil) {
			t.Errorf("namespace %q: admitted on prod's exception", ns)
		}
	}

	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	got := ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest("[prod]"+u))
	if got.resp.Response.Items[0].Error != "" || !got.values[0].IsSuccess {
		t.Fatalf("[prod] key not admitted on prod's exception: %+v", got.resp.Response.Items[0])
	}
	keys := []string{u, pinned, "[dev]" + u, "[dev]" + pinned, "[PROD]" + u, "[prod ]" + u, "[ prod]" + u, "[prod\u200b]" + u, "[pr\u043ed]" + u,
		"[]" + u, "[[prod]]" + u, "[dev][prod]" + u, "[prod][prod]" + u, "[dev]" + "[prod]" + pinned, "[prod" + u, "prod]" + u}
	got = ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(keys...))
	for i, k := range keys {
		if got.values[i].IsSuccess {
			t.Errorf("key %q: admitted on prod's exception: %+v", k, got.resp.Response.Items[i])
		}
	}
	// mutate pins the image judged in prod; Gatekeeper then validates the
	// pinned image, which outside prod is refused
	m := ask(t, client, srv.URL+"/gatekeeper/mutate", providerRequest("[prod]"+u))
	if m.resp.Response.Items[0].Value != pinned {
		t.Fatalf("mutate [prod]%s: %+v, want %s", u, m.resp.Response.Items[0], pinned)
	}
	got = ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(pinned, "[dev]"+pinned))
	for i, it := range got.resp.Response.Items {
		if got.values[i].IsSuccess {
			t.Errorf("the pinned image %q: admitted outside prod: %+v", it.Key, it)
		}
	}
}

// ephemeral is a review of an ephemeral container added to a Pod of
// namespace ns (the pods/ephemeralcontainers subresource).
func ephemeral(t *testing.T, ns, image string) func(*admissionv1.AdmissionReview) {
	return func(r *admissionv1.AdmissionReview) {
		spec := containers("docker.io/library/busybox:1.36")
		spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: image}}}
		r.Request.Operation, r.Request.SubResource = admissionv1.Update, "ephemeralcontainers"
		r.Request.Object = runtime.RawExtension{Raw: podReview(t, ns, spec).Request.Object.Raw}
		r.Request.OldObject = r.Request.Object
	}
}

// A Pod author controls the image string Ratify's template sends as a
// key. By default a key is an image as written, so "[prod]registry/app:v1"
// in a Pod of dev is no image: an error, never a success. Where keys are
// configured as [namespace]image (a template that builds them from the
// review's namespace), the same string sent by a template that does not
// is judged in prod, on prod's exception; what still guards the boundary
// is that no such string is an image the kubelet pulls (a reference
// cannot start with "[" unless it names an IPv6 registry, whose address
// is no namespace), and that mutate's answer for it is judged again,
// outside prod, when Gatekeeper validates it.
func TestPodAuthorChoosesTheKeysNamespace(t *testing.T) {
	f := newFixture(t, everywherePolicy)
	rules := prodException(t, f)
	u := f.host + "/team/unsigned:v1"
	written := "[prod]" + u
	plain := New(func() *Rules { return rules }, Options{})
	plainServer := gatekeeperServer(t, plain, nil)
	plainClient := gatekeeperClient(plainServer, nil, 0)
	for _, path := range []string{"/gatekeeper/verify", "/gatekeeper/mutate"} {
		got := ask(t, plainClient, plainServer.URL+path, providerRequest(written))
		if item := got.resp.Response.Items[0]; item.Error == "" || item.Value != nil {
			t.Errorf("%s of %q without namespaced keys: %+v, want an error (no image)", path, written, item)
		}
	}
	w := New(func() *Rules { return rules }, Options{NamespacedKeys: true})
	if _, err := reference.ParseNormalizedNamed(written); err == nil {
		t.Fatalf("%q is an image reference the kubelet would pull", written)
	}
	for _, s := range []string{"[prod]:5000/team/app:v1", "[cafe]:5000/team/app:v1", "[cafe]/team/app:v1"} {
		// images the kubelet accepts that begin with a bracketed label: no key dossier judges
		if _, err := reference.ParseNormalizedNamed(s); err != nil {
			continue
		}
		if k, err := parseProviderKey(s, true); err == nil && k.namespace != "" {
			if _, err := reference.ParseNormalizedNamed(k.image); err == nil {
				t.Errorf("%q is both a pullable image and a key naming namespace %q with image %q", s, k.namespace, k.image)
			}
		}
	}
	// dossier's own webhook refuses the Pod: its image is no reference
	body, _ := json.Marshal(podReview(t, "dev", containers(written)))
	if _, out, raw := post(t, w.Handler(), "/admission/validate", body); out.Response == nil || out.Response.Allowed {
		t.Errorf("the webhook admitted a Pod of dev whose image is %q: %s", written, raw)
	}
	// through Gatekeeper: mutate strips the key's namespace, and the image
	// it answers is refused when validated as written in dev's Pod
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	m := ask(t, client, srv.URL+"/gatekeeper/mutate", providerRequest(written))
	answer, _ := m.resp.Response.Items[0].Value.(string)
	if strings.HasPrefix(answer, "[") {
		t.Fatalf("mutate left the bracket: %+v", m.resp.Response.Items[0])
	}
	got := ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(answer))
	if got.values[0].IsSuccess {
		t.Errorf("the mutated image %q: admitted outside prod", answer)
	}
}
