package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// Hostile keys against /gatekeeper/verify and /gatekeeper/mutate: every
// spelling of an image the enforcing policy refuses in prod is refused
// there or is an error — never isSuccess — and mutate answers either an
// error, the key's image unchanged, or the digest that image was judged at.
func TestGatekeeperAttackKeySpellings(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	_, port, _ := strings.Cut(f.host, ":")
	path := "/team/unsigned:v1"
	u := f.host + path
	pinned := f.host + "/team/unsigned@" + f.unsigned
	judged := map[string]bool{ // spellings of the same image: denied, pinned to its digest
		"[prod]" + u: true, u: true, "[prod]localhost:" + port + path: true, "localhost:" + port + path: true,
		"[prod]127.0.0.1:0" + port + path: true, "[prod]" + u + "@" + f.unsigned: true,
	}
	refused := []string{ // no image, or not one namespace: errors
		" [prod]" + u, "[prod] " + u, "[prod]" + u + " ", "[prod]\t" + u, "[prod]" + u + "\n", "[prod]" + u + "\u200b", "[prod]\u00a0" + u,
		"[prod][dev]" + u, "[dev][prod]" + u, "[[prod]]" + u, "[]" + u, "[pro/d]" + u, "[PROD]" + u, "[prod\u200b]" + u, "[prod" + u, "prod]" + u,
		"[prod]" + f.host + "/TEAM/unsigned:v1", "[prod]" + f.host + "/team//unsigned:v1", "[prod]" + f.host + "/team/./unsigned:v1",
		"[prod]127.0.0.01:" + port + path, "[prod]0x7f.0.0.1:" + port + path, "[prod]127.1:" + port + path, "[prod][::ffff:127.0.0.1]:" + port + path,
		"[prod]" + f.host + "." + path, "[prod]" + f.host + "/team/unsigned:v1@" + f.signed, // a digest its repository does not hold
		"[prod]" + f.host + "/team/unsigned:v1#x", "[prod]" + f.host + "/team/unsigned:v\u0131", "[prod]" + strings.ToUpper(f.host) + path,
	}
	keys := append([]string{}, refused...)
	for k := range judged {
		keys = append(keys, k)
	}
	got := ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(keys...))
	mutated := ask(t, client, srv.URL+"/gatekeeper/mutate", providerRequest(keys...))
	if got.status != http.StatusOK || mutated.status != http.StatusOK || len(got.resp.Response.Items) != len(keys) || len(mutated.resp.Response.Items) != len(keys) {
		t.Fatalf("verify HTTP %d %+v, mutate HTTP %d %+v", got.status, got.resp, mutated.status, mutated.resp)
	}
	for i, k := range keys {
		v, m := got.resp.Response.Items[i], mutated.resp.Response.Items[i]
		if v.Key != k || m.Key != k {
			t.Errorf("item %d answers key %q / %q, sent %q", i, v.Key, m.Key, k)
		}
		if judged[k] {
			if v.Error != "" || got.values[i].IsSuccess || len(got.values[i].VerifierReports) == 0 || got.values[i].VerifierReports[0].Subject != pinned {
				t.Errorf("verify %q: %+v %+v, want refused at %s", k, v, got.values[i], pinned)
			}
			if m.Error != "" || m.Value != pinned {
				t.Errorf("mutate %q: %+v, want %s", k, m, pinned)
			}
			continue
		}
		if v.Error == "" || v.Value != nil || got.values[i].IsSuccess {
			t.Errorf("verify %q: %+v, want an error", k, v)
		}
		if m.Error == "" || m.Value != nil {
			t.Errorf("mutate %q: %+v, want an error", k, m)
		}
	}
}

// A key decided in one namespace is never answered for another: the
// image the prod policy refuses is admitted in dev (no policy covers it
// there) and refused in prod, in either order, in one request or across
// requests; only the digest is shared.
func TestGatekeeperAttackNamespaceCache(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	u := f.host + "/team/unsigned:v1"
	for _, keys := range [][]string{{"[dev]" + u}, {"[prod]" + u}, {"[dev]" + u, "[prod]" + u}, {"[prod]" + u, "[dev]" + u, "[prod]" + u}, {"[dev]" + u}} {
		got := ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(keys...))
		for i, k := range keys {
			want := strings.HasPrefix(k, "[dev]")
			if it := got.resp.Response.Items[i]; it.Error != "" || got.values[i].IsSuccess != want {
				t.Errorf("%q in request %q: %+v %+v, want isSuccess %v", k, keys, it, got.values[i], want)
			}
		}
	}
	// mutate answers dev's key as sent (no policy there claims it) and
	// prod's with its digest, whatever was asked before
	for range 2 {
		got := ask(t, client, srv.URL+"/gatekeeper/mutate", providerRequest("[prod]"+u, "[dev]"+u))
		if items := got.resp.Response.Items; items[0].Value != f.host+"/team/unsigned@"+f.unsigned || items[1].Value != u {
			t.Errorf("mutate: %+v", items)
		}
	}
	if n := w.judge.resolutions.Load(); n != 1 {
		t.Errorf("%d resolutions of one tag", n)
	}
}

// A tag moved between two answers: each answer pins the digest it judged
// (mutate's value is the subject verify reported at that moment), and
// spellings of the same tag in one request are one resolution, one digest.
func TestGatekeeperAttackTagMoves(t *testing.T) {
	f := newFixture(t, signedPolicy)
	now := time.Now()
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true, Now: func() time.Time { return now }})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	_, port, _ := strings.Cut(f.host, ":")
	moving := f.host + "/team/moving:v1"
	spellings := []string{moving, "localhost:" + port + "/team/moving:v1", "127.0.0.1:0" + port + "/team/moving:v1", "[prod]" + moving}
	for step, sample := range []string{"npm-app", "go-app"} {
		digest := testutil.PushSample(t, sample, moving)
		now = now.Add(time.Minute) // past the tag's time to live
		want := f.host + "/team/moving@" + digest
		verified := ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(spellings...))
		mutated := ask(t, client, srv.URL+"/gatekeeper/mutate", providerRequest(spellings...))
		for i, k := range spellings {
			v := verified.values[i]
			if verified.resp.Response.Items[i].Error != "" || v.IsSuccess || len(v.VerifierReports) == 0 || v.VerifierReports[0].Subject != want {
				t.Errorf("step %d: verify %q: %+v %+v, want judged at %s", step, k, verified.resp.Response.Items[i], v, want)
			}
			if m := mutated.resp.Response.Items[i]; m.Value != want {
				t.Errorf("step %d: mutate %q: %+v, want %s", step, k, m, want)
			}
		}
		if n := w.judge.resolutions.Load(); n != int64(step+1) {
			t.Errorf("step %d: %d resolutions, want one per tag move", step, n)
		}
	}
}

// --fail-open never makes an error a success: a registry that refuses
// connections, and namespace labels that cannot be read for a policy that
// selects by them, are errors or refusals for their keys.
func TestGatekeeperAttackFailOpen(t *testing.T) {
	f := newFixture(t, `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: by-label}
spec:
  mode: enforce
  images: ["HOST/team/**", "127.0.0.1:1/**"]
  namespaces: {selector: {matchLabels: {team: payments}}}
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
`)
	labels := func(context.Context, string) (map[string]string, error) {
		return nil, errors.New("the API server is unreachable")
	}
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true, FailOpen: true, NamespaceLabels: labels})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	keys := []string{"127.0.0.1:1/team/app:v1", "[payments]127.0.0.1:1/team/app:v1", "[payments]" + f.host + "/team/unsigned:v1", "[payments]" + f.host + "/team/signed:v1"}
	for _, path := range []string{"/gatekeeper/verify", "/gatekeeper/mutate"} {
		got := ask(t, client, srv.URL+path, providerRequest(keys...))
		for i, it := range got.resp.Response.Items {
			if (it.Error == "" || it.Value != nil) && !(path == "/gatekeeper/verify" && it.Error == "" && !got.values[i].IsSuccess) {
				t.Errorf("%s %q under --fail-open: %+v %+v, want an error (or a refusal)", path, keys[i], it, got.values[i])
			}
		}
	}
}

// A budget that is no duration is the provider's default budget, not the
// reviews' 25 s: a stalled registry is answered with errors within it.
func TestGatekeeperAttackBudget(t *testing.T) {
	f := newFixture(t, signedPolicy)
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/team/") && strings.Contains(r.URL.Path, "/manifests/") {
			time.Sleep(3 * time.Second)
		}
		next.ServeHTTP(rw, r)
	})
	w := New(func() *Rules { return &rules }, Options{NamespacedKeys: true, FailOpen: true})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	keys := make([]string, 2*judgeConcurrency) // half start after the first half used the budget
	for i := range keys {
		keys[i] = fmt.Sprintf("%s/team/signed:t%d", host, i)
	}
	for _, query := range []string{"?timeout=abc", "?timeout=-5s", "?timeout=0", "?timeout=", ""} {
		start := time.Now()
		got := ask(t, client, srv.URL+"/gatekeeper/verify"+query, providerRequest(keys...))
		took := time.Since(start)
		if got.status != http.StatusOK || len(got.resp.Response.Items) != len(keys) {
			t.Fatalf("%q: HTTP %d %+v", query, got.status, got.resp.Response.SystemError)
		}
		for i, it := range got.resp.Response.Items {
			if it.Error == "" || it.Value != nil {
				t.Errorf("%q: undecided key %s: %+v", query, keys[i], it)
				break
			}
		}
		if took > providerBudget+time.Second {
			t.Errorf("%q: answered after %s, the budget is %s", query, took, providerBudget)
		}
	}
}

// Bodies that are not one Gatekeeper request are refused whole; what the
// decoder lets through (a repeated or differently cased field) still
// answers each key under its own name, so that no answer is read for
// another key.
func TestGatekeeperAttackRequestShapes(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	head := `{"apiVersion":"` + ProviderAPIVersion + `","kind":"ProviderRequest",`
	signed, unsigned := f.host+"/team/signed:v1", f.host+"/team/unsigned:v1"
	for name, c := range map[string]struct {
		body   string
		status int
		says   string
	}{
		"not UTF-8":         {head + `"request":{"keys":["` + signed + "\xff" + `"]}}`, http.StatusBadRequest, "not UTF-8"},
		"a byte order mark": {"\ufeff" + head + `"request":{"keys":[]}}`, http.StatusBadRequest, "provider request"},
		"trailing garbage":  {head + `"request":{"keys":[]}}x`, http.StatusBadRequest, "invalid character 'x'"},
		// parsers disagree on which of two keys counts: refused, not read
		// as Go's decoder would (the last)
		"keys twice":         {head + `"request":{"keys":["[dev]` + unsigned + `"],"keys":["[prod]` + unsigned + `"]}}`, http.StatusBadRequest, `key "keys" appears twice`},
		"nested arrays":      {head + `"request":{"keys":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`, http.StatusBadRequest, "exceeded max depth"},
		"a key not a string": {head + `"request":{"keys":[{"image":"` + signed + `"}]}}`, http.StatusBadRequest, "cannot unmarshal object"},
		"a namespace field":  {head + `"request":{"keys":[],"namespace":"dev"}}`, http.StatusBadRequest, `unknown field "namespace"`},
		"no kind":            {`{"apiVersion":"` + ProviderAPIVersion + `","request":{"keys":[]}}`, http.StatusBadRequest, "want externaldata.gatekeeper.sh/v1beta1 ProviderRequest"},
	} {
		got := ask(t, client, srv.URL+"/gatekeeper/verify", []byte(c.body))
		if got.status != c.status || !strings.Contains(got.resp.Response.SystemError, c.says) || len(got.resp.Response.Items) != 0 {
			t.Errorf("%s: HTTP %d %+v, want %d saying %q", name, got.status, got.resp.Response, c.status, c.says)
		}
	}
	for name, body := range map[string]string{
		"cased field name": `{"APIVERSION":"` + ProviderAPIVersion + `","Kind":"ProviderRequest","Request":{"Keys":["[prod]` + unsigned + `"]}}`,
	} {
		got := ask(t, client, srv.URL+"/gatekeeper/verify", []byte(body))
		items := got.resp.Response.Items
		if got.status != http.StatusOK || len(items) != 1 || items[0].Key != "[prod]"+unsigned || items[0].Error != "" || got.values[0].IsSuccess {
			t.Errorf("%s: HTTP %d %+v, want the one key judged, refused in prod", name, got.status, got.resp.Response)
		}
	}
	for name, body := range map[string]string{"null request": head + `"request":null}`, "no request": head[:len(head)-1] + "}", "null keys": head + `"request":{"keys":null}}`} {
		if got := ask(t, client, srv.URL+"/gatekeeper/verify", []byte(body)); got.status != http.StatusOK || len(got.resp.Response.Items) != 0 || got.resp.Response.SystemError != "" {
			t.Errorf("%s: HTTP %d %+v, want no items", name, got.status, got.resp.Response)
		}
	}
	if got := ask(t, client, srv.URL+"/gatekeeper/verify", []byte(head+`"request":{"keys":[null,""]}}`)); len(got.resp.Response.Items) != 2 ||
		got.resp.Response.Items[0].Error == "" || got.resp.Response.Items[1].Error == "" {
		t.Errorf("null and empty keys: %+v", got.resp.Response)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodOptions} {
		req, _ := http.NewRequest(method, srv.URL+"/gatekeeper/verify", bytes.NewReader(providerRequest(signed)))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: HTTP %d", method, resp.StatusCode)
		}
	}
	if n := w.judge.resolutions.Load(); n != 1 {
		t.Errorf("%d resolutions, want only prod's unsigned image", n)
	}
}

// A request's answer is at most four times its size: keys are echoed as sent
// (no HTML escaping), and the errors about them name at most 300
// characters of them.
func TestGatekeeperAttackAnswerSize(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	for name, unit := range map[string]string{"angle brackets": "<", "upper case": "A", "ampersands": "&", "line separators": "\u2028", "a long path": "a/"} {
		n := (MaxProviderRequestBytes - 200) / maxProviderKeys / (len(unit) + 1)
		keys := make([]string, maxProviderKeys)
		for i := range keys {
			keys[i] = fmt.Sprintf("[prod]%s/team/%s%d:v1", f.host, strings.Repeat(unit, n), i)
		}
		var body bytes.Buffer
		body.WriteString(`{"apiVersion":"` + ProviderAPIVersion + `","kind":"ProviderRequest","request":{"keys":["`)
		body.WriteString(strings.Join(keys, `","`)) // raw: the encoder would escape < & and U+2028 six times longer
		body.WriteString(`"]}}`)
		resp, err := client.Post(srv.URL+"/gatekeeper/verify", "application/json", bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Count(answer, []byte(`"error":"dossier: `)) != maxProviderKeys {
			t.Errorf("%s: HTTP %d: %.300s", name, resp.StatusCode, answer)
		}
		if len(answer) > 4*body.Len() {
			t.Errorf("%s: a %d-byte request answered with %d bytes", name, body.Len(), len(answer))
		}
	}
}

// Over plain HTTP (no TLS at all) the provider answers nothing but the
// upgrade it requires; over HTTP/2 on TLS 1.3 it answers as over HTTP/1.1.
func TestGatekeeperAttackTransport(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	plain := httptest.NewServer(w.GatekeeperHandler())
	defer plain.Close()
	got := ask(t, plain.Client(), plain.URL+"/gatekeeper/verify", providerRequest(f.host+"/team/signed:v1"))
	if got.status != http.StatusUpgradeRequired || len(got.resp.Response.Items) != 0 {
		t.Errorf("plain HTTP: HTTP %d %+v", got.status, got.resp.Response)
	}
	if n := w.judge.resolutions.Load(); n != 0 {
		t.Errorf("%d resolutions over plain HTTP", n)
	}

	srv := httptest.NewUnstartedServer(w.GatekeeperHandler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	h2 := srv.Client()
	h2.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS13
	resp, err := h2.Post(srv.URL+"/gatekeeper/verify", "application/json", bytes.NewReader(providerRequest("[prod]"+f.host+"/team/unsigned:v1")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s, want HTTP/2", resp.Proto)
	}
	if got := ask(t, h2, srv.URL+"/gatekeeper/verify", providerRequest("[prod]"+f.host+"/team/unsigned:v1")); got.status != http.StatusOK ||
		got.resp.Response.Items[0].Error != "" || got.values[0].IsSuccess {
		t.Errorf("HTTP/2: HTTP %d %+v", got.status, got.resp.Response)
	}
}
