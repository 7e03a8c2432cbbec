package serving

import (
	"crypto/tls"
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

// The webhook's listener serves reviews to the API server and external
// data to Gatekeeper, each by its own credentials: Gatekeeper's
// certificate is refused at /admission/, the API server's at /gatekeeper/,
// and without Gatekeeper's CA, /gatekeeper/ takes the API server's
// credentials.
func TestWebhookListenerCallers(t *testing.T) {
	dir := t.TempDir()
	apiCA, apiServer := testutil.ClientCertificate(t, dir, "api-server")
	gkCA, gatekeeper := testutil.ClientCertificate(t, dir, "gatekeeper")
	token := strings.Repeat("t", 40)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	type call struct {
		path   string
		cert   *tls.Certificate
		bearer string
		want   int
	}
	for name, c := range map[string]struct {
		webhook Webhook
		calls   []call
	}{
		"both CAs": {Webhook{ClientCA: apiCA, GatekeeperClientCA: gkCA}, []call{
			{"/admission/validate", &apiServer, "", http.StatusOK},
			{"/admission/validate", &gatekeeper, "", http.StatusUnauthorized},
			{"/admission/validate", nil, "", http.StatusUnauthorized},
			{"/gatekeeper/verify", &gatekeeper, "", http.StatusOK},
			{"/gatekeeper/verify", &apiServer, "", http.StatusUnauthorized},
			{"/gatekeeper/verify", nil, "", http.StatusUnauthorized},
		}},
		"the API server's token only": {Webhook{ClientTokenFile: tokens}, []call{
			{"/admission/validate", nil, token, http.StatusOK},
			{"/gatekeeper/verify", nil, token, http.StatusOK},
			{"/gatekeeper/verify", &gatekeeper, "", http.StatusUnauthorized},
		}},
		"Gatekeeper's CA only": {Webhook{GatekeeperClientCA: gkCA}, []call{
			{"/gatekeeper/verify", &gatekeeper, "", http.StatusOK},
			{"/gatekeeper/verify", nil, "", http.StatusUnauthorized},
			{"/admission/validate", nil, "", http.StatusOK}, // unauthenticated, as configured (and warned)
		}},
	} {
		o, err := WebhookListener(&c.webhook, "127.0.0.1:0", served, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(o.Handler)
		srv.TLS = &tls.Config{}
		if o.ClientCAs != nil { // as server.Run configures it
			srv.TLS.ClientCAs, srv.TLS.ClientAuth = o.ClientCAs, tls.VerifyClientCertIfGiven
		}
		srv.StartTLS()
		for _, call := range c.calls {
			cfg := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
			if call.cert != nil {
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return call.cert, nil }
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+call.path, strings.NewReader("{}"))
			if call.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+call.bearer)
			}
			resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Do(req)
			if err != nil {
				t.Errorf("%s: %s: %v", name, call.path, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != call.want {
				t.Errorf("%s: %s (certificate %v, token %v): HTTP %d, want %d", name, call.path, call.cert != nil, call.bearer != "", resp.StatusCode, call.want)
			}
		}
		srv.Close()
	}
}
