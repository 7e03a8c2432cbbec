package sign

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Identity is who must have signed, keyless: the certificate's subject
// alternative name and the OIDC issuer, each exact or as a regular
// expression (anchored by the caller when it means the whole value).
type Identity struct {
	SubjectAlternativeName       string
	SubjectAlternativeNameRegexp string
	Issuer                       string
	IssuerRegexp                 string
}

// Validate refuses an identity that would accept anyone.
func (id Identity) Validate() error {
	if id.SubjectAlternativeName == "" && id.SubjectAlternativeNameRegexp == "" {
		return errors.New("keyless verification needs --certificate-identity or --certificate-identity-regexp")
	}
	if id.Issuer == "" && id.IssuerRegexp == "" {
		return errors.New("keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp")
	}
	if id.SubjectAlternativeName != "" && id.SubjectAlternativeNameRegexp != "" {
		return errors.New("give --certificate-identity or --certificate-identity-regexp, not both")
	}
	if id.Issuer != "" && id.IssuerRegexp != "" {
		return errors.New("give --certificate-oidc-issuer or --certificate-oidc-issuer-regexp, not both")
	}
	return nil
}

// KeylessVerifier verifies Fulcio-certified signatures: the certificate
// chains to the trusted root, the signature was logged (a transparency log
// entry, or a signed timestamp, proves it was made while the certificate
// was valid), and the certificate names the expected identity and issuer.
type KeylessVerifier struct {
	trusted  root.TrustedMaterial
	identity Identity
}

// NewKeylessVerifier checks the identity and trusts the given root.
func NewKeylessVerifier(trusted root.TrustedMaterial, id Identity) (*KeylessVerifier, error) {
	if trusted == nil {
		return nil, fmt.Errorf("%w: give --trusted-root FILE", ErrTrustedRoot)
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := checkFresh(trusted, time.Now()); err != nil {
		return nil, err
	}
	return &KeylessVerifier{trusted: trusted, identity: id}, nil
}

// checkFresh refuses a trusted root in which every certificate authority
// or every transparency log has ended: it predates the keys in use now and
// must be refreshed. (An authority that has ended still verifies
// signatures made while it was valid, so one current entry suffices.)
func checkFresh(tm root.TrustedMaterial, now time.Time) error {
	current := func(end time.Time) bool { return end.IsZero() || end.After(now) }
	cas := tm.FulcioCertificateAuthorities()
	fresh := len(cas) == 0
	for _, c := range cas {
		if f, ok := c.(*root.FulcioCertificateAuthority); !ok || current(f.ValidityPeriodEnd) {
			fresh = true
		}
	}
	if !fresh {
		return fmt.Errorf("%w: every certificate authority in it has ended; refresh the trusted root", ErrTrustedRoot)
	}
	logs := tm.RekorLogs()
	fresh = len(logs) == 0
	for _, l := range logs {
		if current(l.ValidityPeriodEnd) {
			fresh = true
		}
	}
	if !fresh {
		return fmt.Errorf("%w: every transparency log in it has ended; refresh the trusted root", ErrTrustedRoot)
	}
	return nil
}

func (kv *KeylessVerifier) sigstore() (*verify.Verifier, verify.PolicyOption, error) {
	certID, err := verify.NewShortCertificateIdentity(kv.identity.Issuer, kv.identity.IssuerRegexp,
		kv.identity.SubjectAlternativeName, kv.identity.SubjectAlternativeNameRegexp)
	if err != nil {
		return nil, nil, err
	}
	v, err := verify.NewVerifier(kv.trusted, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	return v, verify.WithCertificateIdentity(certID), err
}

func (kv *KeylessVerifier) describe() string {
	return fmt.Sprintf("certificate identity %s%s, issuer %s%s", kv.identity.SubjectAlternativeName, kv.identity.SubjectAlternativeNameRegexp,
		kv.identity.Issuer, kv.identity.IssuerRegexp)
}

func (kv *KeylessVerifier) legacyKey() crypto.PublicKey { return nil }

// LoadTrustedRoot reads a Sigstore trusted root JSON file (as
// `cosign trusted-root create` or the public-good TUF repository give).
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTrustedRoot, path, err)
	}
	return tr, nil
}
