package admission

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/server"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// gatekeeperServer serves a webhook's external data over HTTPS on
// 127.0.0.1 as dossier's listener does (TLS 1.2 and up offered, client
// certificates asked for and verified when callers are given).
func gatekeeperServer(t testing.TB, w *Webhook, callers *Callers) *httptest.Server {
	t.Helper()
	h := w.GatekeeperHandler()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if callers != nil {
		h = callers.Require(h)
		cfg.ClientCAs, cfg.ClientAuth = ClientCAs(callers), tls.VerifyClientCertIfGiven
	}
	// request IDs (the trace IDs answers carry) as the listener gives them
	srv := httptest.NewUnstartedServer(server.Logged(h, slog.New(slog.NewTextHandler(io.Discard, nil)), nil))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// gatekeeperClient is a client as Gatekeeper's: TLS 1.3 at least, the
// provider's CA bundle, and its client certificate when it has one.
func gatekeeperClient(srv *httptest.Server, cert *tls.Certificate, maxVersion uint16) *http.Client {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	if maxVersion != 0 {
		cfg.MinVersion, cfg.MaxVersion = maxVersion, maxVersion
	}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
}

func providerRequest(keys ...string) []byte {
	body, _ := json.Marshal(map[string]any{"apiVersion": ProviderAPIVersion, "kind": "ProviderRequest", "request": map[string]any{"keys": keys}})
	return body
}

// ask posts a body to path and decodes the ProviderResponse; the value of
// each item is decoded as Ratify's result when it is an object.
type answered struct {
	status int
	resp   ProviderResponse
	values []RatifyResult
}

func ask(t testing.TB, client *http.Client, url string, body []byte) answered {
	t.Helper()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := answered{status: resp.StatusCode}
	if err := json.Unmarshal(data, &out.resp); err != nil {
		t.Fatalf("HTTP %d: not a ProviderResponse: %v: %s", resp.StatusCode, err, data)
	}
	var raw struct {
		Response struct {
			Items []struct {
				Value json.RawMessage `json:"value"`
			} `json:"items"`
		} `json:"response"`
	}
	_ = json.Unmarshal(data, &raw)
	for _, it := range raw.Response.Items {
		var v RatifyResult
		if len(it.Value) > 0 && it.Value[0] == '{' {
			if err := json.Unmarshal(it.Value, &v); err != nil {
				t.Fatal(err)
			}
		}
		out.values = append(out.values, v)
	}
	return out
}

// Gatekeeper's external data over real HTTPS: a signed image is
// admitted and an unsigned one denied with dossier's reason and fix, in
// Ratify's result shape; keys that cannot be parsed are errors for those
// keys; with namespaced keys, a key naming a namespace is judged as a
// review there.
func TestGatekeeperVerify(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{NamespacedKeys: true})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	signed, unsigned := f.host+"/team/signed:v1", f.host+"/team/unsigned:v1"
	keys := []string{signed, unsigned, "UPPER/Case:v1", "[Not_A_Namespace]" + signed, "[prod]" + unsigned, "[dev]" + unsigned, "[prod" + signed, signed}
	got := ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest(keys...))
	if got.status != http.StatusOK || got.resp.APIVersion != ProviderAPIVersion || got.resp.Kind != "ProviderResponse" || !got.resp.Response.Idempotent ||
		got.resp.Response.SystemError != "" || len(got.resp.Response.Items) != len(keys) {
		t.Fatalf("HTTP %d: %+v", got.status, got.resp)
	}
	items := got.resp.Response.Items
	for i, k := range keys {
		if items[i].Key != k {
			t.Errorf("item %d is key %q, want %q", i, items[i].Key, k)
		}
	}

	ok := got.values[0]
	if items[0].Error != "" || !ok.IsSuccess || ok.Version != "0.2.0" || ok.TraceID == "" || ok.Timestamp == "" || len(ok.VerifierReports) == 0 {
		t.Errorf("signed: %+v %+v", items[0], ok)
	}
	for _, r := range ok.VerifierReports {
		if r.Subject != f.host+"/team/signed@"+f.signed || r.Type != "dossier" {
			t.Errorf("signed: report %+v", r)
		}
	}

	denied := got.values[1]
	if items[1].Error != "" || denied.IsSuccess {
		t.Fatalf("unsigned: %+v %+v", items[1], denied)
	}
	var failed *RatifyReport
	for i, r := range denied.VerifierReports {
		if r.Name == "require-signed/signed" {
			failed = &denied.VerifierReports[i]
		}
	}
	if failed == nil || failed.IsSuccess || !strings.Contains(failed.Message, "no signature by key release") || failed.ErrorReason != failed.Message ||
		!strings.HasPrefix(failed.Remediation, "dossier sign "+f.host+"/team/unsigned@"+f.unsigned) || failed.Extensions.Outcome != "fail" || failed.Extensions.Mode != "enforce" {
		t.Errorf("unsigned: the failed rule's report: %+v", denied.VerifierReports)
	}

	for _, i := range []int{2, 3, 6} {
		if items[i].Error == "" || items[i].Value != nil || !strings.HasPrefix(items[i].Error, "dossier: ") {
			t.Errorf("key %q: %+v, want an error and no value", keys[i], items[i])
		}
	}
	// judged in prod, where the enforcing policy denies
	if items[4].Error != "" || got.values[4].IsSuccess {
		t.Errorf("unsigned in prod: %+v %+v", items[4], got.values[4])
	}
	if items[5].Error != "" || !got.values[5].IsSuccess || len(got.values[5].VerifierReports) != 1 || !strings.Contains(got.values[5].VerifierReports[0].Message, "namespace dev") {
		t.Errorf("unsigned in a namespace no policy covers: %+v %+v", items[5], got.values[5])
	}
	if items[7].Error != "" || !got.values[7].IsSuccess {
		t.Errorf("a repeated key: %+v", items[7])
	}
	if w.judge.resolutions.Load() != 2 {
		t.Errorf("%d resolutions of two images", w.judge.resolutions.Load())
	}

	// an image no policy claims is refused outside a namespace, as policy
	// check refuses it
	got = ask(t, client, srv.URL+"/gatekeeper/verify", providerRequest("docker.io/library/busybox:1.36"))
	if v := got.values[0]; got.resp.Response.Items[0].Error != "" || v.IsSuccess || len(v.VerifierReports) != 1 || v.VerifierReports[0].Name != "no-policy" {
		t.Errorf("an unclaimed image: %+v %+v", got.resp.Response.Items[0], v)
	}
}

// A Ratify v2 Executor's rules are reported under their verifiers' types
// (notation, cosign), as Ratify reports them, so that templates looking
// for a verifier's report find it: the signed image passes cosign and
// fails notation (it has no Notation signature).
func TestGatekeeperReportsExecutorVerifierTypes(t *testing.T) {
	f := newFixture(t, `apiVersion: config.ratify.sh/v2alpha1
kind: Executor
metadata: {name: release}
spec:
  scopes: ["HOST"]
  stores:
    - type: registry-store
      parameters: {allowCosignTag: true}
  verifiers:
    - name: cosign-release
      type: cosign
      parameters:
        trustPolicies:
          - keys: {inline: {keys: "RELEASE_PEM"}}
            ignoreTLog: true
            ignoreObserverTimestamps: true
    - name: notation-release
      type: notation
      parameters:
        trustedIdentities: ["x509.subject: CN=release,O=Acme,ST=WA,C=US"]
        certificates:
          - type: ca
            inline: {certs: "-----BEGIN CERTIFICATE-----\nMIIByDCCAW2gAwIBAgIUXM4Xn0xdjUIgOhNjc/rNv5XtX8owCgYIKoZIzj0EAwIw\nMDESMBAGA1UEAwwJQWNtZSBSb290MQ0wCwYDVQQKDARBY21lMQswCQYDVQQGEwJV\nUzAgFw0yNjEyMDcxMjQzMDJaGA8yMTI2MTExMzEyNDMwMlowMDESMBAGA1UEAwwJ\nQWNtZSBSb290MQ0wCwYDVQQKDARBY21lMQswCQYDVQQGEwJVUzBZMBMGByqGSM49\nAgEGCCqGSM49AwEHA0IABNxXA/Occ4qNRYhxBhKNLUFqFDsoEpXDkNB4CCUV+YJo\nXiBF9ww6Fs8rWhgyTH/gWAzoXNBI6epGpopePKMPmIWjYzBhMB0GA1UdDgQWBBRV\nTGIjBP/gBc2NcQ0p3KrAzSgu1DAfBgNVHSMEGDAWgBRVTGIjBP/gBc2NcQ0p3KrA\nzSgu1DAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAKBggqhkjOPQQD\nAgNJADBGAiEA7AEmn7JnPh4FgI2hy9A0ZRLRy8vIPZ1MjEs9jyaenaQCIQDoEr+B\ngipOCVLgA2jGBKrgQ1AA1cQDoQ6JubDDgsI82A==\n-----END CERTIFICATE-----"}
  policyEnforcer:
    type: threshold-policy
    parameters:
      policy:
        rules:
          - verifierName: cosign-release
          - verifierName: notation-release
`)
	w := New(func() *Rules { return f.rules }, Options{})
	srv := gatekeeperServer(t, w, nil)
	got := ask(t, gatekeeperClient(srv, nil, 0), srv.URL+"/gatekeeper/verify", providerRequest(f.host+"/team/signed:v1"))
	if len(got.values) != 1 || got.values[0].IsSuccess {
		t.Fatalf("%+v", got)
	}
	types := map[string]string{}
	for _, r := range got.values[0].VerifierReports {
		types[r.Name] = fmt.Sprintf("%s %s %v", r.Type, r.VerifierType, r.IsSuccess)
	}
	want := map[string]string{"release/cosign-release": "cosign cosign true", "release/notation-release": "notation notation false"}
	if !maps.Equal(types, want) {
		t.Errorf("reports %v, want %v", types, want)
	}
}

// Requests that are not what Gatekeeper sends are refused whole, with a
// system error Ratify's template turns into a violation.
func TestGatekeeperBadRequests(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{})
	srv := gatekeeperServer(t, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	tooMany := make([]string, maxProviderKeys+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("%s/team/signed:t%d", f.host, i)
	}
	huge := providerRequest(f.host + "/team/signed:" + strings.Repeat("a", MaxProviderRequestBytes))
	for name, c := range map[string]struct {
		body   []byte
		status int
		says   string
	}{
		"too many keys":        {providerRequest(tooMany...), http.StatusBadRequest, "257 keys, more than the 256"},
		"an oversized body":    {huge, http.StatusRequestEntityTooLarge, "larger than 1024 KiB"},
		"not JSON":             {[]byte("keys: [a]"), http.StatusBadRequest, "provider request"},
		"an unknown field":     {[]byte(`{"apiVersion":"` + ProviderAPIVersion + `","kind":"ProviderRequest","request":{"keys":[],"namespace":"x"}}`), http.StatusBadRequest, `unknown field "namespace"`},
		"another apiVersion":   {[]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v9","kind":"ProviderRequest","request":{"keys":[]}}`), http.StatusBadRequest, "want externaldata.gatekeeper.sh/v1beta1 ProviderRequest"},
		"two JSON values":      {append(providerRequest("a"), providerRequest("b")...), http.StatusBadRequest, "more than one JSON value"},
		"a response as a body": {[]byte(`{"apiVersion":"` + ProviderAPIVersion + `","kind":"ProviderResponse","request":{}}`), http.StatusBadRequest, "want"},
		"keys twice":           {[]byte(`{"apiVersion":"` + ProviderAPIVersion + `","kind":"ProviderRequest","request":{"keys":["a"],"keys":["b"]}}`), http.StatusBadRequest, `key "keys" appears twice`},
		"keys in two cases":    {[]byte(`{"apiVersion":"` + ProviderAPIVersion + `","kind":"ProviderRequest","request":{"keys":["a"],"Keys":["b"]}}`), http.StatusBadRequest, `keys "keys" and "Keys" differ only in case`},
	} {
		got := ask(t, client, srv.URL+"/gatekeeper/verify", c.body)
		if got.status != c.status || !strings.Contains(got.resp.Response.SystemError, c.says) || len(got.resp.Response.Items) != 0 {
			t.Errorf("%s: HTTP %d %+v, want %d and a system error saying %q", name, got.status, got.resp.Response, c.status, c.says)
		}
	}
	if w.judge.resolutions.Load() != 0 {
		t.Errorf("%d images resolved for refused requests", w.judge.resolutions.Load())
	}

	// TLS 1.2 is not Gatekeeper
	got := ask(t, gatekeeperClient(srv, nil, tls.VersionTLS12), srv.URL+"/gatekeeper/verify", providerRequest(f.host+"/team/signed:v1"))
	if got.status != http.StatusUpgradeRequired || !strings.Contains(got.resp.Response.SystemError, "TLS 1.3") {
		t.Errorf("over TLS 1.2: HTTP %d %+v", got.status, got.resp.Response)
	}
}

// With Gatekeeper's CA configured, external data is served only to a
// caller presenting a certificate of that CA: none is refused (401), one
// of another CA fails the handshake.
func TestGatekeeperClientCertificates(t *testing.T) {
	f := newFixture(t, signedPolicy)
	dir := t.TempDir()
	gatekeeperCA, gatekeeper := testutil.ClientCertificate(t, dir, "gatekeeper-ca")
	_, stranger := testutil.ClientCertificate(t, dir, "someone-else")
	callers, err := LoadGatekeeperCallers(gatekeeperCA)
	if err != nil {
		t.Fatal(err)
	}
	w := New(func() *Rules { return f.rules }, Options{})
	srv := gatekeeperServer(t, w, callers)
	body := providerRequest(f.host + "/team/signed:v1")

	resp, err := gatekeeperClient(srv, nil, 0).Post(srv.URL+"/gatekeeper/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a client certificate: HTTP %d", resp.StatusCode)
	}
	if resp, err := gatekeeperClient(srv, &stranger, 0).Post(srv.URL+"/gatekeeper/verify", "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		t.Errorf("another CA's certificate: HTTP %d, want the handshake refused", resp.StatusCode)
	}
	got := ask(t, gatekeeperClient(srv, &gatekeeper, 0), srv.URL+"/gatekeeper/verify", body)
	if got.status != http.StatusOK || len(got.values) != 1 || !got.values[0].IsSuccess {
		t.Errorf("Gatekeeper's certificate: HTTP %d %+v", got.status, got.resp)
	}
	if w.judge.resolutions.Load() != 1 {
		t.Errorf("%d resolutions: refused callers had images resolved", w.judge.resolutions.Load())
	}

	// the CA file must hold a certificate
	if _, err := LoadGatekeeperCallers(writeTemp(t, dir, "notpem", "hello")); err == nil {
		t.Error("a CA file without a certificate loaded")
	}
}

// /gatekeeper/mutate answers a tag with the digest it was judged at (for
// an Assign mutator), leaves digests and images no policy claims as they
// are, and errs for what cannot be resolved.
func TestGatekeeperMutate(t *testing.T) {
	f := newFixture(t, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{Unclaimed: "allow"})
	srv := gatekeeperServer(t, w, nil)
	pinned := f.host + "/team/signed@" + f.signed
	keys := []string{f.host + "/team/signed:v1", pinned, "docker.io/library/busybox:1.36", f.host + "/team/signed:no-such-tag", "a/../b"}
	got := ask(t, gatekeeperClient(srv, nil, 0), srv.URL+"/gatekeeper/mutate", providerRequest(keys...))
	items := got.resp.Response.Items
	if got.status != http.StatusOK || !got.resp.Response.Idempotent || len(items) != len(keys) {
		t.Fatalf("HTTP %d %+v", got.status, got.resp)
	}
	for i, want := range []string{pinned, pinned, "docker.io/library/busybox:1.36"} {
		if items[i].Value != want || items[i].Error != "" {
			t.Errorf("%s: %+v, want %s", keys[i], items[i], want)
		}
	}
	for _, it := range items[3:] {
		if it.Error == "" || it.Value != nil {
			t.Errorf("%s: %+v, want an error", it.Key, it)
		}
	}
	// mutating again what was mutated changes nothing (Gatekeeper requires
	// idempotent providers)
	again := ask(t, gatekeeperClient(srv, nil, 0), srv.URL+"/gatekeeper/mutate", providerRequest(pinned))
	if again.resp.Response.Items[0].Value != pinned {
		t.Errorf("mutating the pinned image: %+v", again.resp.Response.Items[0])
	}
}

// Keys not decided within the request's budget (the timeout its URL
// names, less a margin) are errors, never successes, and the answer
// comes within the budget.
func TestGatekeeperBudget(t *testing.T) {
	f := newFixture(t, signedPolicy)
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/team/signed/") {
			time.Sleep(3 * time.Second)
		}
		next.ServeHTTP(rw, r)
	})
	w := New(func() *Rules { return &rules }, Options{FailOpen: true})
	srv := gatekeeperServer(t, w, nil)
	start := time.Now()
	got := ask(t, gatekeeperClient(srv, nil, 0), srv.URL+"/gatekeeper/verify?timeout=1s", providerRequest(host+"/team/signed:v1", host+"/team/unsigned:v1"))
	took := time.Since(start)
	items := got.resp.Response.Items
	if got.status != http.StatusOK || len(items) != 2 {
		t.Fatalf("HTTP %d %+v", got.status, got.resp)
	}
	if items[0].Error == "" || items[0].Value != nil {
		t.Errorf("the stalled image, under --fail-open: %+v", items[0])
	}
	if items[1].Error != "" || got.values[1].IsSuccess {
		t.Errorf("the unsigned image of the same request: %+v %+v", items[1], got.values[1])
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s with a budget of 0.5 s", took)
	}
}

// The listener's pool holds every caller's CA, and each route only its
// own: a certificate of one CA is verified by the handshake, then counted
// only where its CA is accepted.
func TestCallersAcceptOnlyTheirOwnCA(t *testing.T) {
	dir := t.TempDir()
	apiCA, apiServer := testutil.ClientCertificate(t, dir, "api-server-clients")
	gkCA, gatekeeper := testutil.ClientCertificate(t, dir, "gatekeeper-ca")
	reviews, err := LoadCallers(apiCA, "")
	if err != nil {
		t.Fatal(err)
	}
	external, err := LoadGatekeeperCallers(gkCA)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux := http.NewServeMux()
	mux.Handle("/admission/", reviews.Require(ok))
	mux.Handle("/gatekeeper/", external.Require(ok))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{ClientCAs: ClientCAs(reviews, external), ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	for _, c := range []struct {
		path, caller string
		cert         tls.Certificate
		want         int
	}{
		{"/admission/validate", "the API server", apiServer, http.StatusNoContent},
		{"/admission/validate", "Gatekeeper", gatekeeper, http.StatusUnauthorized},
		{"/gatekeeper/verify", "Gatekeeper", gatekeeper, http.StatusNoContent},
		{"/gatekeeper/verify", "the API server", apiServer, http.StatusUnauthorized},
	} {
		resp, err := gatekeeperClient(srv, &c.cert, 0).Post(srv.URL+c.path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s with %s's certificate: HTTP %d, want %d", c.path, c.caller, resp.StatusCode, c.want)
		}
	}
	if ClientCAs(nil, nil) != nil {
		t.Error("a pool of no CAs")
	}
}

func FuzzProviderKey(f *testing.F) {
	for _, k := range []string{"[prod]registry.example/app:v1", "app", "[", "[]x", "[a]", "[prod", "[x]y]z", "[" + strings.Repeat("a", 70) + "]b"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := parseProviderKey(key, true)
		if err != nil {
			return
		}
		if k.namespace != "" && !strings.HasPrefix(key, "["+k.namespace+"]") || !strings.HasSuffix(key, k.image) {
			t.Errorf("%q read as namespace %q image %q", key, k.namespace, k.image)
		}
	})
}
