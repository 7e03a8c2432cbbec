package notify

// Attacks on the deliverer, kept: redirects, a slow endpoint, URLs with
// tokens in them, text a Pod chose in Slack.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
)

type seen struct {
	mu     sync.Mutex
	method []string
	sig    []string
	body   []string
	at     []time.Time
}

func (s *seen) handler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.method, s.sig, s.body, s.at = append(s.method, r.Method), append(s.sig, r.Header.Get("Dossier-Signature")), append(s.body, string(b)), append(s.at, time.Now())
	s.mu.Unlock()
}

func (s *seen) n() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.body) }

func deliverOnce(t *testing.T, c *Config, st *store.Store, until func() bool, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	// the client background.go gives the deliverer
	go c.Deliver(ctx, st, &http.Client{Timeout: 30 * time.Second}, time.Now, slog.New(slog.DiscardHandler))
	for ctx.Err() == nil && !until() {
		time.Sleep(50 * time.Millisecond)
	}
}

// The endpoint (or whoever answers for its https URL: a compromised hook,
// a misconfigured proxy) answers 307 to another host: the deliverer
// follows it, resending the signed body and its Dossier-Signature header
// (Go strips only Authorization and cookies across hosts) to plain http
// on an address the configuration would refuse, and counts the other
// host's 2xx as delivered.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var other seen
	// another host (127.0.0.2 stands for it)
	elsewhere := httptest.NewUnstartedServer(http.HandlerFunc(other.handler))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip(err)
	}
	elsewhere.Listener = l
	elsewhere.Start()
	defer elsewhere.Close()
	// the endpoint as configured, on another loopback name
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Logf("redirector: %s %s", r.Method, r.URL)
		http.Redirect(w, r, elsewhere.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret"), strings.Repeat("k", 32), 0o600)
	writeFile(t, filepath.Join(dir, "n.yaml"), "endpoints: [{name: ops, url: '"+redirector.URL+"', secretFile: secret}]", 0o600)
	c, st := loadWithStore(t, filepath.Join(dir, "n.yaml"))
	if _, err := c.Queue(context.Background(), st, []Event{{ID: "finding/prod/x", Type: TypeFinding, Severity: "critical", Time: now, Data: map[string]string{"secret": "stuff"}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	deliverOnce(t, c, st, func() bool { return other.n() > 0 }, 10*time.Second)
	if other.n() > 0 {
		t.Errorf("another host received the delivery: %s %q with Dossier-Signature %q", other.method[0], other.body[0], other.sig[0])
	}
	if pending, _, _ := st.OutboxState(context.Background()); pending == 0 {
		t.Errorf("the redirected delivery is marked delivered: the configured endpoint never had it")
	}
}

// One slow endpoint holds up every other: the deliverer is a single loop,
// each attempt waits up to 15 s, and the slow endpoint's deliveries come
// first by next_attempt. With N events queued for it, a fast endpoint
// waits N×15 s for each attempt round.
func TestASlowEndpointHoldsUpNoOther(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer func() { close(release); slow.Close() }()
	var fast seen
	fastServer := httptest.NewServer(http.HandlerFunc(fast.handler))
	defer fastServer.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "n.yaml"), "endpoints: [{name: a-slow, url: '"+slow.URL+"'}, {name: b-fast, url: '"+fastServer.URL+"'}]", 0o600)
	c, st := loadWithStore(t, filepath.Join(dir, "n.yaml"))
	var evs []Event
	for _, id := range []string{"unjudged/1", "unjudged/2"} {
		evs = append(evs, Event{ID: id, Type: TypeUnjudged, Time: now})
	}
	if _, err := c.Queue(context.Background(), st, evs, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deliverOnce(t, c, st, func() bool { return fast.n() > 0 }, 45*time.Second)
	if took := time.Since(start); fast.n() == 0 || took > 5*time.Second {
		t.Errorf("the fast endpoint's first delivery came after %s (delivered: %v): the slow endpoint's %d deliveries went first, 15 s each",
			took.Round(time.Second), fast.n() > 0, len(evs))
	}
}

// A Slack (or Teams, Mattermost) incoming-webhook URL is itself the
// credential. When a delivery fails at the transport (the endpoint is
// down, a time-out), the error logged and stored in the outbox's
// last_error is net/http's, which quotes the whole URL.
func TestWebhookURLsStayOutOfLogs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	token := "T0001/B0002/XXXXsecretXXXXtoken"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "n.yaml"), "endpoints: [{name: chat, format: slack, url: 'http://"+addr+"/services/"+token+"'}]", 0o600)
	c, st := loadWithStore(t, filepath.Join(dir, "n.yaml"))
	if _, err := c.Queue(context.Background(), st, []Event{{ID: "unjudged/x", Type: TypeUnjudged, Time: now, Text: "x"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.Deliver(ctx, st, &http.Client{Timeout: 30 * time.Second}, time.Now, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), token) {
		t.Errorf("the webhook URL's token is in the log: %s", strings.TrimSpace(logs.String()))
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Text a Pod chose (an owner's name) cannot mention a channel, hide a link
// or quote in a Slack message.
func TestSlackTextIsEscaped(t *testing.T) {
	got, err := body("slack", Event{Text: "Thing.evil.example/<!channel> URGENT <https://evil.example/login|dossier.corp> & more"})
	if err != nil {
		t.Fatal(err)
	}
	var sent struct{ Text string }
	if err := json.Unmarshal([]byte(got), &sent); err != nil {
		t.Fatal(err)
	}
	if want := "Thing.evil.example/&lt;!channel&gt; URGENT &lt;https://evil.example/login|dossier.corp&gt; &amp; more"; sent.Text != want {
		t.Errorf("text %q, want %q", sent.Text, want)
	}
}
