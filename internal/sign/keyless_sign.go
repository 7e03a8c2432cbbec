package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// Public-good Sigstore instances, the defaults for keyless signing.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// KeylessOptions configure keyless signing: an ephemeral key, a
// short-lived certificate for the OIDC identity, a transparency-log entry.
type KeylessOptions struct {
	IDToken   string
	FulcioURL string
	RekorURL  string
	// CertificateProvider and Transparency replace the Fulcio and Rekor
	// clients (a private CA or log; sigstore-go's offline test CA in tests).
	CertificateProvider sgsign.CertificateProvider
	Transparency        sgsign.Transparency
}

// ErrNoIdentityToken says keyless signing has no OIDC token to present.
var ErrNoIdentityToken = errors.New("no OIDC identity token for keyless signing")

// KeylessSigner signs with an ephemeral key, a certificate from Fulcio for
// the OIDC identity, and an entry in the transparency log.
func KeylessSigner(o KeylessOptions) (*Signer, error) {
	if o.IDToken == "" {
		return nil, ErrNoIdentityToken
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	certs := o.CertificateProvider
	if certs == nil {
		certs = sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: orURL(o.FulcioURL, DefaultFulcioURL), Timeout: 30 * time.Second, Retries: 2})
	}
	tlog := o.Transparency
	if tlog == nil {
		tlog = sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: orURL(o.RekorURL, DefaultRekorURL), Timeout: 30 * time.Second, Retries: 2})
	}
	return &Signer{keypair: kp, opts: sgsign.BundleOptions{
		CertificateProvider:        certs,
		CertificateProviderOptions: &sgsign.CertificateProviderOptions{IDToken: o.IDToken},
		TransparencyLogs:           []sgsign.Transparency{tlog},
	}}, nil
}

func orURL(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// AmbientToken fetches the GitHub Actions OIDC token for audience
// "sigstore" when the job may request one, or returns "" outside it.
func AmbientToken(ctx context.Context, env map[string]string, client *http.Client) (string, error) {
	reqURL, bearer := env["ACTIONS_ID_TOKEN_REQUEST_URL"], env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
	if reqURL == "" || bearer == "" {
		return "", nil
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("requesting the GitHub Actions OIDC token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("requesting the GitHub Actions OIDC token: HTTP %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || body.Value == "" {
		return "", fmt.Errorf("requesting the GitHub Actions OIDC token: malformed answer")
	}
	return body.Value, nil
}
