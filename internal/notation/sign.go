package notation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corex509 "github.com/notaryproject/notation-core-go/x509"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// Bounds on the key and certificate files read for signing.
const (
	maxKeyFileBytes   = 64 << 10
	maxChainFileBytes = 1 << 20
)

// Key is a private key and the certificate chain that certifies it, leaf
// first, ready to sign with notation-go's signer.
type Key struct {
	signer notationgo.Signer
	// Chain is the certificate chain, leaf first.
	Chain []*x509.Certificate
}

// ErrKeyReadable says a private key file others may read is refused.
var ErrKeyReadable = errors.New("private key file is readable by others")

// LoadKey reads a PEM private key (PKCS #8, PKCS #1 or SEC 1; mode 0600 or
// stricter) and a PEM certificate chain (leaf first, ending at the root or
// at a self-signed leaf), as notation's local keys are kept.
func LoadKey(keyFile, chainFile string) (*Key, error) {
	info, err := os.Stat(keyFile)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %04o): chmod 600 it", keyFile, ErrKeyReadable, info.Mode().Perm())
	}
	keyPEM, err := readFileBounded(keyFile, maxKeyFileBytes)
	if err != nil {
		return nil, err
	}
	key, err := corex509.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	chainPEM, err := readFileBounded(chainFile, maxChainFileBytes)
	if err != nil {
		return nil, err
	}
	chain, err := parseCertificates(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", chainFile, err)
	}
	k, err := NewKey(key, chain)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", keyFile, chainFile, err)
	}
	return k, nil
}

// NewKey pairs a private key with its certificate chain (leaf first).
func NewKey(key crypto.PrivateKey, chain []*x509.Certificate) (*Key, error) {
	if err := corex509.ValidateCodeSigningCertChain(chain, nil); err != nil {
		return nil, fmt.Errorf("not a code-signing certificate chain: %w", err)
	}
	s, err := signer.NewGenericSigner(key, chain)
	if err != nil {
		return nil, err
	}
	return &Key{signer: s, Chain: chain}, nil
}

// SignOptions say how to sign.
type SignOptions struct {
	// EnvelopeType is evidence.NotationJWS (default) or NotationCOSE.
	EnvelopeType string
	// Expiry, when set, makes the signature expire that long after signing.
	Expiry time.Duration
	// Annotations are signed into the payload (notation's user metadata).
	Annotations map[string]string
}

// Sign signs subject (a manifest in repo) with key through notation-go's
// signing flow and stores the signature as notation stores it: a referrer
// with artifactType application/vnd.cncf.notary.signature (the referrers
// tag schema where the registry has no referrers API). It returns the
// signature manifest's descriptor.
func Sign(ctx context.Context, repo oci.Repository, subject v1.Descriptor, key *Key, opts SignOptions) (v1.Descriptor, error) {
	mediaType := opts.EnvelopeType
	if mediaType == "" {
		mediaType = evidence.NotationJWS
	}
	if err := CheckEnvelopeType(mediaType); err != nil {
		return v1.Descriptor{}, err
	}
	r := &repository{repo: repo}
	_, err := notationgo.Sign(ctx, key.signer, r, notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{
			SignatureMediaType: mediaType,
			ExpiryDuration:     opts.Expiry,
			SigningAgent:       "dossier",
		},
		ArtifactReference: subject.Digest.String(),
		UserMetadata:      opts.Annotations,
	})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("signing %s@%s with Notation: %w", repo.Name(), subject.Digest, err)
	}
	return r.pushed, nil
}

// GenerateKey makes an ECDSA P-256 key and a self-signed code-signing
// certificate for subject (a distinguished name such as
// "CN=release,O=Acme,ST=WA,C=US"), valid from now for validity — what notation's
// "cert generate-test" makes, for tests and air-gapped trials: the
// certificate goes into a signingAuthority or ca trust store.
func GenerateKey(subject string, validity time.Duration, now time.Time) (keyPEM, certPEM []byte, err error) {
	name, err := parseDN(subject)
	if err != nil {
		return nil, nil, err
	}
	if validity <= 0 {
		return nil, nil, errors.New("the certificate needs a positive validity")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ErrKeyExists says key files would be overwritten.
var ErrKeyExists = errors.New("already exists")

// WriteKeyFiles generates a key and certificate (GenerateKey) and writes
// PREFIX.key (mode 0600, written through a private temporary file) and
// PREFIX.crt; existing files are refused unless force.
func WriteKeyFiles(prefix, subject string, validity time.Duration, now time.Time, force bool) (keyPath, certPath string, err error) {
	keyPath, certPath = prefix+".key", prefix+".crt"
	if !force {
		for _, p := range []string{keyPath, certPath} {
			if _, err := os.Stat(p); err == nil {
				return "", "", fmt.Errorf("%s: %w", p, ErrKeyExists)
			}
		}
	}
	keyPEM, certPEM, err := GenerateKey(subject, validity, now)
	if err != nil {
		return "", "", err
	}
	if err := sign.WritePrivate(keyPath, keyPEM); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return "", "", err
	}
	return keyPath, certPath, nil
}

// parseDN reads "CN=…,O=…,OU=…,L=…,ST=…,C=…" (notation's trusted
// identities are written the same way).
func parseDN(dn string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(dn) == "" {
		return name, errors.New("an empty subject: give one such as CN=release,O=Acme,ST=WA,C=US")
	}
	for _, part := range strings.Split(dn, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return name, fmt.Errorf("subject %q: %q is not KEY=VALUE", dn, part)
		}
		switch strings.ToUpper(k) {
		case "CN":
			name.CommonName = v
		case "O":
			name.Organization = append(name.Organization, v)
		case "OU":
			name.OrganizationalUnit = append(name.OrganizationalUnit, v)
		case "L":
			name.Locality = append(name.Locality, v)
		case "ST":
			name.Province = append(name.Province, v)
		case "C":
			name.Country = append(name.Country, v)
		default:
			return name, fmt.Errorf("subject %q: %s is not one of CN, O, OU, L, ST, C", dn, k)
		}
	}
	if name.CommonName == "" {
		return name, fmt.Errorf("subject %q has no CN", dn)
	}
	return name, nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q: want CERTIFICATE blocks, leaf first", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificates")
	}
	return out, nil
}

func readFileBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than %d KiB", path, limit>>10)
	}
	return data, nil
}
