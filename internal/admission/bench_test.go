package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dossier-dev/dossier/internal/store"
)

// BenchmarkWarmReview is one validating review of a Pod with eight
// containers of judged images, through the HTTP handler (decode, judge,
// encode) with decisions recorded in a SQLite store: the webhook's
// per-review cost once its caches are warm.
func BenchmarkWarmReview(b *testing.B) {
	f := newFixture(b, signedPolicy)
	st, err := store.Open(context.Background(), b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	w := New(func() *Rules { return f.rules }, Options{Store: st})
	defer w.Close()
	images := []string{f.host + "/team/signed:v1", f.host + "/team/unsigned:v1"}
	var spec []string
	for i := range 8 {
		spec = append(spec, images[i%2])
	}
	body, err := json.Marshal(podReview(b, "prod", containers(spec...)))
	if err != nil {
		b.Fatal(err)
	}
	h := w.Handler()
	serve := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admission/validate", bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	serve()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}
