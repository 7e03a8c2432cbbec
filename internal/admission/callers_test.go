package admission

import (
	"crypto/tls"
	"github.com/dossier-dev/dossier/internal/testutil"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Reviews are taken from the API server only: its client certificate (of
// the CA given) or its bearer token; anything else is refused, over a
// real TLS handshake.
func TestCallers(t *testing.T) {
	dir := t.TempDir()
	apiServerCA, apiServer := testutil.ClientCertificate(t, dir, "api-server-clients")
	_, stranger := testutil.ClientCertificate(t, dir, "someone-else")
	token := strings.Repeat("k", 40)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("\n"+token+"\n"+strings.Repeat("r", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	callers, err := LoadCallers(apiServerCA, tokens)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(callers.Require(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	srv.TLS = &tls.Config{ClientCAs: callers.CAs, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for name, c := range map[string]struct {
		cert   *tls.Certificate
		bearer string
		want   int // 0: the handshake is refused
	}{
		"nothing":                         {want: http.StatusUnauthorized},
		"the API server's certificate":    {cert: &apiServer, want: http.StatusNoContent},
		"another CA's certificate":        {cert: &stranger, want: 0},
		"the token":                       {bearer: token, want: http.StatusNoContent},
		"the rotated-in token":            {bearer: strings.Repeat("r", 32), want: http.StatusNoContent},
		"a token's prefix":                {bearer: token[:39], want: http.StatusUnauthorized},
		"the token and more":              {bearer: token + "k", want: http.StatusUnauthorized},
		"the token after another space":   {bearer: " " + token, want: http.StatusUnauthorized},
		"the token and a tab":             {bearer: token + "\tx", want: http.StatusUnauthorized},
		"a token as Basic":                {bearer: "", want: http.StatusUnauthorized},
		"another CA's cert and the token": {cert: &stranger, bearer: token, want: 0},
	} {
		cfg := &tls.Config{RootCAs: roots}
		if c.cert != nil {
			// presented whatever CAs the server names, as a forger would
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c.cert, nil }
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/admission/validate", strings.NewReader("{}"))
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		} else if name == "a token as Basic" {
			req.SetBasicAuth("api-server", token)
		}
		resp, err := client.Do(req)
		switch {
		case c.want == 0 && err == nil:
			t.Errorf("%s: HTTP %d, want the handshake refused", name, resp.StatusCode)
		case c.want != 0 && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != 0 && resp.StatusCode != c.want:
			t.Errorf("%s: HTTP %d, want %d", name, resp.StatusCode, c.want)
		}
		if err == nil {
			resp.Body.Close()
		}
	}

	for name, files := range map[string][2]string{
		"neither":         {"", ""},
		"a short token":   {"", writeTemp(t, dir, "short", "tooshort\n")},
		"no token":        {"", writeTemp(t, dir, "empty", "\n\n")},
		"a CA not PEM":    {writeTemp(t, dir, "notpem", "hello"), ""},
		"a missing CA":    {filepath.Join(dir, "missing.crt"), ""},
		"a missing token": {"", filepath.Join(dir, "missing")},
	} {
		if _, err := LoadCallers(files[0], files[1]); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func writeTemp(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
