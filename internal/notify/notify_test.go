package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefusesBadConfigurations(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret"), strings.Repeat("k", 32), 0o600)
	writeFile(t, filepath.Join(dir, "open-secret"), strings.Repeat("k", 32), 0o644)
	writeFile(t, filepath.Join(dir, "short-secret"), "k", 0o600)
	for name, c := range map[string]struct{ yaml, want string }{
		"plain http elsewhere": {"endpoints: [{name: a, url: 'http://hooks.example/x'}]", "https://"},
		"no name":              {"endpoints: [{url: 'https://hooks.example/x'}]", "a name of its own"},
		"two of one name":      {"endpoints: [{name: a, url: 'https://h.example/x'}, {name: a, url: 'https://h.example/y'}]", "a name of its own"},
		"odd format":           {"endpoints: [{name: a, url: 'https://h.example/x', format: xml}]", "format"},
		"odd event":            {"endpoints: [{name: a, url: 'https://h.example/x', events: [everything]}]", "event type"},
		"odd severity":         {"endpoints: [{name: a, url: 'https://h.example/x', minSeverity: dire}]", "minSeverity"},
		"secret readable":      {"endpoints: [{name: a, url: 'https://h.example/x', secretFile: open-secret}]", "chmod 600"},
		"secret short":         {"endpoints: [{name: a, url: 'https://h.example/x', secretFile: short-secret}]", "shorter than 16"},
		"unknown key":          {"endpoints: [{name: a, url: 'https://h.example/x', retries: 3}]", "unknown field"},
		"no endpoints":         {"expiringWithin: 24h", "no endpoints"},
		"bad duration":         {"expiringWithin: soon\nendpoints: [{name: a, url: 'https://h.example/x'}]", "expiringWithin"},
	} {
		path := filepath.Join(dir, "n.yaml")
		writeFile(t, path, c.yaml, 0o600)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
	path := filepath.Join(dir, "n.yaml")
	writeFile(t, path, "endpoints: [{name: ops, url: 'http://127.0.0.1:9/x', secretFile: secret}, {name: chat, url: 'https://chat.example/hook', format: slack, events: [dev.dossier.workload.unjudged]}]", 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoints[0].Format != "cloudevents" || c.Endpoints[0].MinSeverity != "high" || len(c.Endpoints[0].secret) != 32 || c.ExpiringWithinDuration() != 7*24*time.Hour {
		t.Errorf("defaults: %+v", c.Endpoints[0])
	}
}

func TestSignature(t *testing.T) {
	secret, body := []byte(strings.Repeat("s", 32)), []byte(`{"id":"x"}`)
	header := Sign(secret, now, body)
	if err := Verify(secret, header, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]error{
		"another body":   Verify(secret, header, []byte(`{"id":"y"}`), now, 5*time.Minute),
		"another secret": Verify([]byte(strings.Repeat("t", 32)), header, body, now, 5*time.Minute),
		"too old":        Verify(secret, header, body, now.Add(time.Hour), 5*time.Minute),
		"garbled":        Verify(secret, "v1=zz", body, now, 5*time.Minute),
	} {
		if check == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// receiver is a notification endpoint on 127.0.0.1 that fails its first
// answers, then keeps what it is sent.
type receiver struct {
	mu       sync.Mutex
	failures int
	got      []*http.Request
	bodies   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	r.got, r.bodies = append(r.got, req), append(r.bodies, string(body))
}

// Events go to the endpoints that take them, once each, signed; a failed
// delivery is retried until it is taken, and never sent again after.
func TestQueueAndDeliver(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ops, chat := &receiver{failures: 2}, &receiver{}
	opsServer, chatServer := httptest.NewServer(ops), httptest.NewServer(chat)
	defer opsServer.Close()
	defer chatServer.Close()
	dir := t.TempDir()
	secret := strings.Repeat("k", 32)
	writeFile(t, filepath.Join(dir, "secret"), secret, 0o600)
	writeFile(t, filepath.Join(dir, "n.yaml"), "endpoints:\n- {name: ops, url: '"+opsServer.URL+"', secretFile: secret, minSeverity: critical}\n- {name: chat, url: '"+chatServer.URL+"', format: slack, events: [dev.dossier.workload.unjudged]}\n", 0o600)
	c, err := Load(filepath.Join(dir, "n.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	events := []Event{
		{ID: "finding/prod/sha256:1/CVE-2024-0727", Type: TypeFinding, Source: "dossier/prod", Subject: "r@sha256:1", Time: now, Severity: "medium", Data: map[string]string{"id": "CVE-2024-0727"}, Text: "medium"},
		{ID: "finding/prod/sha256:1/CVE-2021-44906", Type: TypeFinding, Source: "dossier/prod", Subject: "r@sha256:1", Time: now, Severity: "critical", Data: map[string]string{"id": "CVE-2021-44906"}, Text: "critical"},
		{ID: "unjudged/prod/shop/Pod/a/app/sha256:1", Type: TypeUnjudged, Source: "dossier/prod", Subject: "r@sha256:1", Time: now, Data: map[string]string{"pod": "a"}, Text: "a runs unjudged"},
	}
	if n, err := c.Queue(ctx, st, events, now); err != nil || n != 3 {
		t.Fatalf("queued %d (want: ops the critical finding and the unjudged Pod, chat the unjudged Pod), %v", n, err)
	}
	if n, err := c.Queue(ctx, st, events, now.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("queued again: %d, %v", n, err)
	}
	// the deliverer's clock runs ahead, so that backoffs pass at once
	var mu sync.Mutex
	clock := now
	tick := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Minute)
		return clock
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		c.Deliver(dctx, st, &http.Client{Timeout: 5 * time.Second}, tick, slog.New(slog.DiscardHandler))
		close(done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, _, err := st.OutboxState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	if len(ops.got) != 2 || len(chat.got) != 1 {
		t.Fatalf("ops got %d, chat %d; want 2 and 1", len(ops.got), len(chat.got))
	}
	for i, req := range ops.got {
		if req.Header.Get("Content-Type") != "application/cloudevents+json" {
			t.Errorf("content type %q", req.Header.Get("Content-Type"))
		}
		var ce struct{ SpecVersion, ID, Type, Source string }
		if err := json.Unmarshal([]byte(ops.bodies[i]), &ce); err != nil || ce.SpecVersion != "1.0" || ce.Source != "dossier/prod" {
			t.Errorf("a CloudEvent: %s (%v)", ops.bodies[i], err)
		}
		sent, _ := time.Parse(time.RFC3339, "2026-12-07T10:00:00Z")
		if err := Verify([]byte(secret), req.Header.Get("Dossier-Signature"), []byte(ops.bodies[i]), sent.Add(time.Hour), 24*time.Hour); err != nil {
			t.Errorf("signature: %v", err)
		}
	}
	if chat.bodies[0] != `{"text":"a runs unjudged"}` || chat.got[0].Header.Get("Dossier-Signature") != "" {
		t.Errorf("chat got %s, signature %q", chat.bodies[0], chat.got[0].Header.Get("Dossier-Signature"))
	}
}

func TestBackoff(t *testing.T) {
	if backoff(1) != 2*time.Second || backoff(5) != 32*time.Second || backoff(12) != time.Hour || backoff(100) != time.Hour {
		t.Errorf("backoff: %v %v %v %v", backoff(1), backoff(5), backoff(12), backoff(100))
	}
}

// loadWithStore loads a notification configuration and opens an embedded
// evidence store of the test's own for its outbox.
func loadWithStore(t *testing.T, path string) (*Config, *store.Store) {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return c, st
}
