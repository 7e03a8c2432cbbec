package admission

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Callers is who may send reviews: the API server, known by the client
// certificate it presents (signed by a CA the webhook trusts) or by a
// bearer token — the two credentials an AdmissionConfiguration's
// kubeconfig can give it. Reviews from anyone else would let them record
// fabricated decisions and deployments.
type Callers struct {
	// CAs verify client certificates (the server's TLS asks for one and
	// verifies what is presented); nil when none are accepted.
	CAs *x509.CertPool
	// tokens are the SHA-256 of the bearer tokens accepted.
	tokens [][sha256.Size]byte
}

// minCallerToken is the shortest bearer token accepted from a file: a
// token an attacker could guess is no authentication.
const minCallerToken = 32

// LoadCallers reads the CA bundle of the API server's client certificates
// and a file of bearer tokens (one per line; more than one while a token
// is rotated). Either may be empty, not both.
func LoadCallers(caFile, tokenFile string) (*Callers, error) {
	if caFile == "" && tokenFile == "" {
		return nil, errors.New("callers: give the CA of the API server's client certificate, a file of bearer tokens, or both")
	}
	c := &Callers{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		c.CAs = x509.NewCertPool()
		if !c.CAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate in it", caFile)
		}
	}
	if tokenFile != "" {
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("caller tokens: %w", err)
		}
		lines := bufio.NewScanner(bytes.NewReader(data))
		for n := 1; lines.Scan(); n++ {
			token := strings.TrimSpace(lines.Text())
			if token == "" {
				continue
			}
			if len(token) < minCallerToken {
				return nil, fmt.Errorf("caller tokens %s line %d: %d characters, want at least %d", tokenFile, n, len(token), minCallerToken)
			}
			c.tokens = append(c.tokens, sha256.Sum256([]byte(token)))
		}
		if err := lines.Err(); err != nil {
			return nil, fmt.Errorf("caller tokens %s: %w", tokenFile, err)
		}
		if len(c.tokens) == 0 {
			return nil, fmt.Errorf("caller tokens %s: no token in it", tokenFile)
		}
	}
	return c, nil
}

// Require answers 401 to a request that presents neither a verified client
// certificate nor an accepted bearer token.
func (c *Callers) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.known(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dossier admission webhook"`)
			http.Error(w, "admission reviews are taken from the API server only: present its client certificate or bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (c *Callers) known(r *http.Request) bool {
	if c.CAs != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || len(c.tokens) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(bearer))
	found := 0
	for _, t := range c.tokens {
		found |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return found == 1
}
