package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// NotationCA is a certificate authority for Notation tests: a root that
// issues code-signing certificates naming its CRL, which it serves on
// 127.0.0.1 with the certificates Revoke was given.
type NotationCA struct {
	Cert *x509.Certificate
	key  crypto.Signer
	crl  *httptest.Server

	mu      sync.Mutex
	revoked []*big.Int
}

// NotationRelease is the subject tests sign as; NotationReleaseIdentity
// is how a trust policy names it.
var NotationRelease = pkix.Name{CommonName: "release", Organization: []string{"Acme"}, Province: []string{"WA"}, Country: []string{"US"}}

const NotationReleaseIdentity = "x509.subject: C=US, ST=WA, O=Acme, CN=release"

var serial atomic.Int64

func nextSerial() *big.Int {
	return big.NewInt(time.Now().UnixNano() + serial.Add(1))
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewNotationCA makes a root CA named cn, its CRL served on 127.0.0.1.
func NewNotationCA(t testing.TB, cn string) *NotationCA {
	t.Helper()
	c := &NotationCA{key: ecKey(t)}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, c.key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	c.crl = httptest.NewServer(http.HandlerFunc(c.serveCRL))
	t.Cleanup(c.crl.Close)
	return c
}

func (c *NotationCA) serveCRL(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	var entries []x509.RevocationListEntry
	for _, s := range c.revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	c.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    nextSerial(),
		ThisUpdate:                time.Now().Add(-time.Minute),
		NextUpdate:                time.Now().Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, c.Cert, c.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

// Revoke lists cert in the CRL from now on.
func (c *NotationCA) Revoke(cert *x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = append(c.revoked, cert.SerialNumber)
}

// Issue makes a code-signing key and its chain (leaf, root) for subject,
// valid until notAfter; the leaf names the CA's CRL.
func (c *NotationCA) Issue(t testing.TB, subject pkix.Name, notAfter time.Time) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	key := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               subject,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{c.crl.URL + "/root.crl"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, []*x509.Certificate{leaf, c.Cert}
}

// PEM encodes certificates.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// WriteNotationTrust writes notation's configuration into dir as the
// notation CLI keeps it: trustpolicy.json, one statement "acme-app" for
// scope at level (strict, permissive, audit, skip, or a JSON
// signatureVerification object) trusting identity, and the root in the
// trust store truststore/x509/ca/acme/. It returns both paths.
func WriteNotationTrust(t testing.TB, dir, scope, level, identity string, root *x509.Certificate) (policyFile, storeDir string) {
	t.Helper()
	storeDir = filepath.Join(dir, "truststore")
	d := filepath.Join(storeDir, "x509", "ca", "acme")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "root.crt"), PEM(root), 0o644); err != nil {
		t.Fatal(err)
	}
	verification := fmt.Sprintf(`{"level": %q}`, level)
	if strings.HasPrefix(level, "{") {
		verification = level
	}
	stores, identities := `["ca:acme"]`, fmt.Sprintf(`[%q]`, identity)
	if level == "skip" {
		stores, identities = `[]`, `[]`
	}
	policyFile = filepath.Join(dir, "trustpolicy.json")
	doc := fmt.Sprintf(`{
  "version": "1.0",
  "trustPolicies": [{
    "name": "acme-app",
    "registryScopes": [%q],
    "signatureVerification": %s,
    "trustStores": %s,
    "trustedIdentities": %s
  }]
}
`, scope, verification, stores, identities)
	if err := os.WriteFile(policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return policyFile, storeDir
}
