package admission

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels are read with the service account's token (re-read each time),
// kept for a while, and a namespace the API server does not know is an
// error, not an empty set of labels.
func TestNamespaceLabelsFromTheAPIServer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer token-1" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/namespaces/payments" {
			http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"tier": "prod"}}})
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	get, err := NamespaceLabelsFrom(APIServer{URL: srv.URL, CAFile: ca, TokenFile: token}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		labels, err := get(ctx, "payments")
		if err != nil || labels["tier"] != "prod" {
			t.Fatalf("labels: %v %v", labels, err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls for one namespace read three times", calls.Load())
	}
	if _, err := get(ctx, "absent"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("an unknown namespace: %v", err)
	}
	if err := os.WriteFile(token, []byte("revoked"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, "other"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a refused token: %v", err)
	}
	for _, bad := range []APIServer{{URL: "http://127.0.0.1:6443", TokenFile: token}, {URL: srv.URL}, {URL: srv.URL, CAFile: filepath.Join(dir, "absent"), TokenFile: token}} {
		if _, err := NamespaceLabelsFrom(bad, time.Minute); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
