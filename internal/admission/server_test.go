package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
)

// post sends a body to a webhook path and reads the answer.
func post(t *testing.T, h http.Handler, path string, body []byte) (int, *admissionv1.AdmissionReview, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	var review admissionv1.AdmissionReview
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
			t.Fatalf("%s: an answer that is not a review: %s", path, rec.Body)
		}
	}
	return rec.Code, &review, rec.Body.String()
}

func noRules() *Rules { return &Rules{Set: &policy.Set{}, Version: "none"} }

func TestBadReviews(t *testing.T) {
	h := New(noRules, Options{}).Handler()
	for name, c := range map[string]struct {
		body   string
		status int
		reason string
	}{
		"garbage":        {"\x00\x01not json", 400, "not JSON"},
		"truncated":      {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionRev`, 400, "not JSON"},
		"wrong kind":     {`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u1"}}`, 200, "want admission.k8s.io/v1 AdmissionReview"},
		"no request":     {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 200, "no request"},
		"no uid":         {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`, 200, "no uid"},
		"long namespace": {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u3","namespace":"` + strings.Repeat("n", 64) + `"}}`, 200, "must be no more than 63"},
		"odd namespace":  {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u4","namespace":"Prod\n{x=\"1\"}"}}`, 200, "RFC 1123"},
		"wrong types":    {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}`, 200, "cannot unmarshal"},
		"bad pod object": {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u2","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":"x"}}}}`, 200, "Pod: spec"},
	} {
		for _, path := range []string{"/admission/validate", "/admission/mutate"} {
			code, review, raw := post(t, h, path, []byte(c.body))
			if code != c.status {
				t.Errorf("%s %s: HTTP %d, want %d: %s", name, path, code, c.status, raw)
				continue
			}
			if code != 200 {
				if !strings.Contains(raw, c.reason) {
					t.Errorf("%s %s: %q lacks %q", name, path, raw, c.reason)
				}
				continue
			}
			r := review.Response
			if r == nil || review.APIVersion != "admission.k8s.io/v1" {
				t.Errorf("%s %s: not a v1 review answer: %s", name, path, raw)
				continue
			}
			if path == "/admission/validate" && (r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, c.reason)) {
				t.Errorf("%s: validating answer %+v", name, r)
			}
		}
	}
	big := bytes.Repeat([]byte(" "), MaxReviewBytes+1)
	if code, _, _ := post(t, h, "/admission/validate", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized review: HTTP %d", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admission/validate", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", rec.Code)
	}
}

// Thousands of containers and odd references are answered, never a panic.
func TestManyContainersAndOddReferences(t *testing.T) {
	f := newFixture(t, signedPolicy)
	h := New(func() *Rules { return f.rules }, Options{}).Handler()
	images := make([]string, 3000)
	for i := range images {
		images[i] = fmt.Sprintf("registry.example/other/app%d:v1", i)
	}
	body, _ := json.Marshal(podReview(t, "prod", containers(images...)))
	if code, review, raw := post(t, h, "/admission/validate", body); code != 200 || review.Response.Allowed || !strings.Contains(review.Response.Result.Message, "names 3000 distinct images, more than the 256 one review judges") {
		t.Fatalf("3,000 containers of 3,000 images: %d %.300s", code, raw)
	}
	body, _ = json.Marshal(podReview(t, "prod", containers(images[:maxReviewImages]...)))
	if code, review, raw := post(t, h, "/admission/validate", body); code != 200 || review.Response.Allowed || !strings.Contains(review.Response.Result.Message, "no policy matches registry.example/other/app255:v1") {
		t.Fatalf("256 containers no policy matches, in an enforced namespace: %d %.300s", code, raw)
	}
	same := slices.Repeat([]string{images[0]}, 3000)
	body, _ = json.Marshal(podReview(t, "prod", containers(same...)))
	if code, review, raw := post(t, h, "/admission/validate", body); code != 200 || review.Response.Allowed || !strings.Contains(review.Response.Result.Message, "no policy matches registry.example/other/app0:v1") {
		t.Fatalf("3,000 containers of one image no policy matches: %d %.300s", code, raw)
	}
	for _, odd := range []string{"busybox", "busybox:latest", "registry.example/app@sha256:" + strings.Repeat("0", 64), "127.0.0.1:5000/app:v1",
		"Registry.Example/App:v1", f.host + "/team/signed", f.host + "/team/UPPER:v1", ""} {
		body, _ := json.Marshal(podReview(t, "prod", containers(odd)))
		code, review, raw := post(t, h, "/admission/validate", body)
		if code != 200 || review.Response == nil {
			t.Errorf("%q: %d %s", odd, code, raw)
		}
	}
	// an image of the policy's registry that does not parse is refused
	body, _ = json.Marshal(podReview(t, "prod", containers(f.host+"/team/UPPER:v1")))
	if _, review, _ := post(t, h, "/admission/validate", body); review.Response.Allowed {
		t.Errorf("an unparsable image was admitted: %+v", review.Response)
	}
}

func FuzzHandler(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":[{"name":"a","image":"busybox"}]}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","kind":{"group":"batch","version":"v1","kind":"CronJob"},"object":{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"image":"x:1"}]}}}}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE"}}`))
	f.Add([]byte(`[]`))
	h := New(noRules, Options{}).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/admission/validate", "/admission/mutate"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)).WithContext(context.Background()))
			switch rec.Code {
			case 200:
				var review admissionv1.AdmissionReview
				if json.Unmarshal(rec.Body.Bytes(), &review) != nil || review.Response == nil {
					t.Fatalf("HTTP 200 without a review answer: %s", rec.Body)
				}
			case 400, 413:
			default:
				t.Fatalf("HTTP %d", rec.Code)
			}
		}
	})
}

// One time budget per review, taken from the timeout the API server adds
// to the webhook's URL: a registry that never answers gets dossier's
// failure answer before the API server would give up, never its time-out.
func TestReviewBudgetFollowsTheAPIServer(t *testing.T) {
	for _, c := range []struct {
		query string
		want  time.Duration
	}{
		{"", reviewTimeout}, {"?timeout=10s", 9 * time.Second}, {"?timeout=2s", 1500 * time.Millisecond},
		{"?timeout=30s", reviewTimeout}, {"?timeout=500ms", 250 * time.Millisecond}, {"?timeout=-3s", reviewTimeout}, {"?timeout=soon", reviewTimeout},
	} {
		if got := budget(httptest.NewRequest(http.MethodPost, "/admission/validate"+c.query, nil)); got != c.want {
			t.Errorf("budget for %q: %s, want %s", c.query, got, c.want)
		}
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	host := silent.Addr().String()
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Parse("p.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: stalled}
spec:
  images: ["`+host+`/**"]
  signers: [{name: release, key: {data: `+strconv.Quote(pub)+`}}]
  rules: [{name: signed, signature: {}}]
`), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules := &Rules{Set: &policy.Set{Policies: docs.Policies}, Version: "v1"}
	w := New(func() *Rules { return rules }, Options{Registry: oci.RegistryOptions{Timeout: time.Minute, Retries: -1}})
	defer w.Close()
	body, err := json.Marshal(podReview(t, "prod", containers(host+"/team/app:v1")))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	code, out, raw := post(t, w.Handler(), "/admission/validate?timeout=3s", body)
	took := time.Since(started)
	if code != http.StatusOK || out.Response.Allowed || took > 3*time.Second || took < 2*time.Second {
		t.Errorf("a stalled registry under a 3 s API-server timeout: %d after %s: %s", code, took, raw)
	}
}
