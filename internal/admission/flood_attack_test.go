package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
)

// floodServer serves a webhook's reviews and external data on one TLS
// listener, as dossier's does, speaking HTTP/2 and HTTP/1.1.
func floodServer(t *testing.T, w *Webhook) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/admission/", w.Handler())
	mux.Handle("/gatekeeper/", w.GatekeeperHandler())
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func floodClient(srv *httptest.Server, http2 bool) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = http2
	if !http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 0, 64
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// A flood of reviews and provider requests, over HTTP/2 and HTTP/1.1,
// with clients aborting every third one: each answer is its own request's
// (its UID, its namespace's decision, its key), a request's short budget
// cuts off only itself, and no goroutine outlives the flood. Run with
// -race: a ResponseWriter, context or deadline used by another request's
// goroutine is a data race.
func TestAttackFlood(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	srv := floodServer(t, w)
	before := runtime.NumGoroutine()
	signed, unsigned := f.host+"/team/signed:v1", f.host+"/team/unsigned:v1"

	var wrong atomic.Int32
	var wg sync.WaitGroup
	for _, h2 := range []bool{true, false} {
		client := floodClient(srv, h2)
		for i := range 150 {
			wg.Go(func() {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				abort := i%3 == 2
				if abort {
					time.AfterFunc(time.Duration(i%7)*time.Millisecond, cancel)
				}
				ns := []string{"prod", "dev"}[i%2]
				if i%5 == 0 {
					key := "[" + ns + "]" + unsigned
					body := providerRequest(key)
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/gatekeeper/verify", bytes.NewReader(body))
					resp, err := client.Do(req)
					if err != nil {
						if !abort {
							t.Errorf("provider request %d: %v", i, err)
						}
						return
					}
					defer resp.Body.Close()
					var out ProviderResponse
					data, _ := io.ReadAll(resp.Body)
					if err := json.Unmarshal(data, &out); err != nil || len(out.Response.Items) != 1 || out.Response.Items[0].Key != key {
						if !abort {
							wrong.Add(1)
							t.Errorf("provider request %d for %q answered %s", i, key, data)
						}
						return
					}
					value, decided := out.Response.Items[0].Value.(map[string]any)
					if !decided {
						// a key not decided within its budget (a loaded machine:
						// the race build beside other tests) is an error, never
						// a success; an answer that is neither is wrong
						if out.Response.Items[0].Error == "" {
							wrong.Add(1)
							t.Errorf("key %q answered %s", key, data)
						}
						return
					}
					ok, _ := value["isSuccess"].(bool)
					if ok != (ns == "dev") {
						wrong.Add(1)
						t.Errorf("key %q answered isSuccess %v", key, ok)
					}
					return
				}
				image := []string{signed, unsigned}[i/2%2]
				r := podReview(t, ns, containers(image))
				r.Request.UID = types.UID(fmt.Sprintf("uid-%t-%d", h2, i))
				body, _ := json.Marshal(r)
				url := srv.URL + "/admission/validate"
				if i%11 == 0 {
					url += "?timeout=1ms" // the shortest budget: its own answer only
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					if !abort {
						t.Errorf("review %d: %v", i, err)
					}
					return
				}
				defer resp.Body.Close()
				var out admissionv1.AdmissionReview
				data, _ := io.ReadAll(resp.Body)
				if err := json.Unmarshal(data, &out); err != nil || out.Response == nil {
					if !abort {
						t.Errorf("review %d: HTTP %d %s", i, resp.StatusCode, data)
					}
					return
				}
				if out.Response.UID != r.Request.UID {
					wrong.Add(1)
					t.Errorf("review %s answered as %s", r.Request.UID, out.Response.UID)
				}
				if want := ns == "dev" || image == signed; out.Response.Allowed && !want {
					wrong.Add(1)
					t.Errorf("review %s (%s in %s) admitted", r.Request.UID, image, ns)
				}
			})
		}
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d answers were another request's or wrong", wrong.Load())
	}
	srv.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+8 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+8 {
		t.Errorf("%d goroutines after the flood, %d before", n, before)
	}
}

// A review whose handling panics fails only its request: the next
// reviews, on the same listener and connection, are answered.
func TestAttackPanicFailsOneRequest(t *testing.T) {
	f := newFixture(t, signedPolicy)
	var calls atomic.Int32
	w := New(func() *Rules {
		if calls.Add(1) == 1 {
			panic("rules unreadable")
		}
		return f.rules
	}, Options{})
	srv := floodServer(t, w)
	for _, h2 := range []bool{true, false} {
		calls.Store(0)
		client := floodClient(srv, h2)
		body, _ := json.Marshal(podReview(t, "prod", containers(f.host+"/team/signed:v1")))
		if resp, err := client.Post(srv.URL+"/admission/validate", "application/json", bytes.NewReader(body)); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(data), `"allowed":true`) {
				t.Errorf("http2 %v: the panicking review was admitted: %s", h2, data)
			}
		}
		for range 3 {
			resp, err := client.Post(srv.URL+"/admission/validate", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("http2 %v: after a panic: %v", h2, err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(data), `"allowed":true`) {
				t.Errorf("http2 %v: after a panic: HTTP %d %s", h2, resp.StatusCode, data)
			}
		}
	}
}
