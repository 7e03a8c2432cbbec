package serving

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"github.com/dossier-dev/dossier/internal/testutil"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// On a listener with the API server's CA and token and Gatekeeper's CA,
// no spelling of a path takes a caller to the other's route: Gatekeeper's
// certificate never reaches the review handler (dot segments, escaped
// slashes, doubled slashes, an absolute URI, case), and neither the API
// server's certificate nor its token reaches external data.
func TestGatekeeperAttackRouteConfusion(t *testing.T) {
	dir := t.TempDir()
	apiCA, apiServer := testutil.ClientCertificate(t, dir, "api-server")
	gkCA, gatekeeper := testutil.ClientCertificate(t, dir, "gatekeeper")
	token := strings.Repeat("t", 40)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// the webhook's own handler routes the same two prefixes
	inner := http.NewServeMux()
	inner.HandleFunc("/admission/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reviews") })
	inner.HandleFunc("/gatekeeper/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "external data") })
	o, err := WebhookListener(&Webhook{ClientCA: apiCA, ClientTokenFile: tokens, GatekeeperClientCA: gkCA}, "127.0.0.1:0", inner, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(o.Handler)
	srv.TLS = &tls.Config{ClientCAs: o.ClientCAs, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	// send writes the request line as given (a client library would clean it)
	send := func(cert *tls.Certificate, target, bearer string) (int, string) {
		cfg := &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		auth := ""
		if bearer != "" {
			auth = "Authorization: Bearer " + bearer + "\r\n"
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: dossier\r\n%sContent-Length: 2\r\nConnection: close\r\n\r\n{}", target, auth)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	toReviews := []string{"/admission/validate", "/gatekeeper/../admission/validate", "/gatekeeper%2F..%2Fadmission/validate", "/gatekeeper/%2e%2e/admission/validate",
		"/gatekeeper/..%2Fadmission/validate", "//admission/validate", "/gatekeeper/verify/../../admission/validate", "https://dossier/admission/validate",
		"/ADMISSION/validate", "/admission%2Fvalidate", "/./admission/validate"}
	for _, target := range toReviews {
		if status, body := send(&gatekeeper, target, ""); body == "reviews" {
			t.Errorf("Gatekeeper's certificate at %s reached the reviews: HTTP %d", target, status)
		}
	}
	toExternal := []string{"/gatekeeper/verify", "/admission/../gatekeeper/verify", "/admission/%2e%2e/gatekeeper/verify", "/admission%2F..%2Fgatekeeper/verify",
		"//gatekeeper/verify", "https://dossier/gatekeeper/verify", "/GATEKEEPER/verify"}
	for _, target := range toExternal {
		if status, body := send(&apiServer, target, ""); body == "external data" {
			t.Errorf("the API server's certificate at %s reached external data: HTTP %d", target, status)
		}
		if status, body := send(nil, target, token); body == "external data" {
			t.Errorf("the API server's token at %s reached external data: HTTP %d", target, status)
		}
	}
	// and each still reaches its own
	if status, body := send(&gatekeeper, "/gatekeeper/verify", ""); body != "external data" {
		t.Errorf("Gatekeeper at its route: HTTP %d %q", status, body)
	}
	if status, body := send(nil, "/admission/validate", token); body != "reviews" {
		t.Errorf("the API server at its route: HTTP %d %q", status, body)
	}
}
