package admission

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
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
	// roots are the CAs' certificates: a listener that also takes another
	// caller's certificates (Gatekeeper's) verifies against both pools, so
	// a chain counts here only when it ends at one of these.
	roots map[string]bool
	certs []*x509.Certificate
	// tokens are the SHA-256 of the bearer tokens accepted.
	tokens [][sha256.Size]byte
	// refusal is what a request without credentials is told
	refusal, realm string
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
	c := &Callers{realm: "dossier admission webhook", refusal: "admission reviews are taken from the API server only: present its client certificate or bearer token"}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		if c.CAs, c.roots, c.certs, err = readCAs(data); err != nil {
			return nil, fmt.Errorf("client CA %s: %w", caFile, err)
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

// LoadGatekeeperCallers reads the CA of Gatekeeper's client certificate
// (its ca.crt): external data is then served only to a caller presenting
// a certificate of that CA.
func LoadGatekeeperCallers(caFile string) (*Callers, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("Gatekeeper's client CA: %w", err)
	}
	c := &Callers{realm: "dossier external data", refusal: "external data is served to Gatekeeper only: present its client certificate"}
	if c.CAs, c.roots, c.certs, err = readCAs(data); err != nil {
		return nil, fmt.Errorf("Gatekeeper's client CA %s: %w", caFile, err)
	}
	return c, nil
}

// Require answers 401 to a request that presents neither a verified client
// certificate nor an accepted bearer token.
func (c *Callers) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.known(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+c.realm+`"`)
			http.Error(w, c.refusal, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// readCAs reads a PEM bundle of CA certificates.
func readCAs(data []byte) (*x509.CertPool, map[string]bool, []*x509.Certificate, error) {
	pool, roots := x509.NewCertPool(), map[string]bool{}
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, nil, err
		}
		pool.AddCert(cert)
		roots[string(cert.Raw)] = true
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, nil, nil, errors.New("no PEM certificate in it")
	}
	return pool, roots, certs, nil
}

// ClientCAs is the pool a listener shared by several kinds of callers
// verifies client certificates against: all their CAs (nil when none has
// any). Each route still accepts only its own callers' CAs.
func ClientCAs(callers ...*Callers) *x509.CertPool {
	var pool *x509.CertPool
	for _, c := range callers {
		if c == nil {
			continue
		}
		for _, cert := range c.certs {
			if pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AddCert(cert)
		}
	}
	return pool
}

// certified says the request's TLS client certificate was verified to one
// of these CAs.
func (c *Callers) certified(r *http.Request) bool {
	if c.CAs == nil || r.TLS == nil {
		return false
	}
	for _, chain := range r.TLS.VerifiedChains {
		if len(chain) > 0 && c.roots[string(chain[len(chain)-1].Raw)] {
			return true
		}
	}
	return false
}

func (c *Callers) known(r *http.Request) bool {
	if c.certified(r) {
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
