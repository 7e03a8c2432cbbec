package sign

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Trust is the material signatures are verified against: public keys, and
// for keyless signatures a trusted root. Verifying with it establishes WHO
// signed — a key fingerprint, or a certificate identity and issuer that
// the trusted root's authority certified and its log recorded. Whether that
// signer is acceptable is the policy's question (policy.Signer.Matches):
// a Verified result alone is never an allow decision.
type Trust struct {
	keys []trustedKey
	// keyless verifies certificate signatures with an SCT required;
	// keylessNoSCT without, to tell a certificate no CT log has seen from
	// an invalid one. nil when no trusted root was given: noRoot says why.
	keyless, keylessNoSCT *verify.Verifier
	noRoot                error
}

type trustedKey struct {
	fingerprint string
	pub         crypto.PublicKey
	verifier    *verify.Verifier
}

// NewTrust trusts keys and, when trusted is not nil, certificates from its
// authorities with proof (log entry or timestamp) from its logs. A stale
// trusted root (every authority or log ended before now) is refused.
func NewTrust(keys []crypto.PublicKey, trusted root.TrustedMaterial, now time.Time) (*Trust, error) {
	t := &Trust{noRoot: ErrNoTrustedRoot}
	for _, pub := range keys {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		sv, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		// key-based signatures carry no log entry by default (cosign's
		// --insecure-ignore-tlog): none is required, and results say so
		expiring := root.NewExpiringKey(sv, time.Time{}, time.Time{})
		material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return expiring, nil })
		v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
		if err != nil {
			return nil, err
		}
		t.keys = append(t.keys, trustedKey{fingerprint: evidence.KeyFingerprint(der), pub: pub, verifier: v})
	}
	if trusted != nil {
		if err := CheckFresh(trusted, now); err != nil {
			return nil, err
		}
		strict, err := verify.NewVerifier(trusted, verify.WithSignedCertificateTimestamps(1), verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTrustedRoot, err)
		}
		lax, err := verify.NewVerifier(trusted, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTrustedRoot, err)
		}
		t.keyless, t.keylessNoSCT, t.noRoot = strict, lax, nil
	}
	return t, nil
}

// WithoutTrustedRoot records why keyless signatures cannot be verified
// (the public-good root could not be fetched, say): they are then
// rejected with that reason.
func (t *Trust) WithoutTrustedRoot(why error) *Trust {
	c := *t
	c.keyless, c.keylessNoSCT, c.noRoot = nil, nil, fmt.Errorf("%w: %v", ErrNoTrustedRoot, why)
	return &c
}

// ParsePublicKey reads a PEM public key.
func ParsePublicKey(pemText []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemText)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

// Verified is one signed statement that verified.
type Verified struct {
	Statement *Statement
	Signer    evidence.Signer
	// SigningTime is the verified time (log entry or timestamp), if any.
	SigningTime            *time.Time
	LogIndex               *int64
	TransparencyLogSkipped bool
	NoSCT                  bool
}

// VerifyBundle verifies a Sigstore bundle (JSON) carrying an in-toto
// statement about subject.
func (t *Trust) VerifyBundle(data []byte, subject v1.Hash) (*Verified, error) {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, invalid("malformed bundle: %v", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, invalid("the bundle holds no DSSE envelope")
	}
	if env.GetPayloadType() != InTotoPayloadType {
		return nil, invalid("payload type %q", env.GetPayloadType())
	}
	st, err := ParseStatement(env.GetPayload())
	if err != nil {
		return nil, err
	}
	if err := st.checkSubject(subject); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(subject.Hex)
	if err != nil {
		return nil, err
	}
	v, err := t.verify(&b, verify.WithArtifactDigest(subject.Algorithm, raw))
	if err != nil {
		return nil, err
	}
	v.Statement = st
	return v, nil
}

// verify checks a bundle's signature with a trusted key or, for a
// certificate, against the trusted root, and says who signed.
func (t *Trust) verify(b *sgbundle.Bundle, artifact verify.ArtifactPolicyOption) (*Verified, error) {
	if b.GetVerificationMaterial().GetPublicKey() != nil {
		hint := string(b.GetVerificationMaterial().GetPublicKey().GetHint())
		for _, k := range t.keys {
			if _, err := k.verifier.Verify(b, verify.NewPolicy(artifact, verify.WithKey())); err == nil {
				return &Verified{Signer: evidence.Signer{KeyFingerprint: k.fingerprint}, TransparencyLogSkipped: true}, nil
			}
		}
		if len(t.keys) == 0 {
			return nil, fmt.Errorf("%w: key-based signature (key hint %s), and no key is trusted", ErrUntrustedKey, hint)
		}
		for _, k := range t.keys {
			if h, _ := KeyHint(k.pub); h == hint {
				return nil, invalid("the signature does not verify with the key it names (%s): the content was changed after signing", k.fingerprint)
			}
		}
		return nil, fmt.Errorf("%w: no trusted key verifies it (key hint %s)", ErrUntrustedKey, hint)
	}
	if t.keyless == nil {
		return nil, t.noRoot
	}
	vm := b.GetVerificationMaterial()
	if len(vm.GetTlogEntries()) == 0 && len(vm.GetTimestampVerificationData().GetRfc3161Timestamps()) == 0 {
		// a Fulcio certificate lives minutes: without a log entry or a
		// signed timestamp nothing shows it was valid at signing time
		return nil, fmt.Errorf("%w: the bundle has no transparency-log entry and no signed timestamp", ErrExpiredNoProof)
	}
	// the identity is not constrained here: the policy matches it against
	// the signers it trusts (see Trust)
	policy := verify.NewPolicy(artifact, verify.WithoutIdentitiesUnsafe())
	res, err := t.keyless.Verify(b, policy)
	noSCT := false
	if err != nil {
		// valid but for the SCT: reported as such, for the policy to judge
		if res, err = t.keylessNoSCT.Verify(b, policy); err != nil {
			return nil, classify(err)
		}
		noSCT = true
	}
	if res.Signature == nil || res.Signature.Certificate == nil || res.Signature.Certificate.SubjectAlternativeName == "" {
		return nil, invalid("the certificate names no identity")
	}
	out := &Verified{Signer: evidence.Signer{Identity: res.Signature.Certificate.SubjectAlternativeName, Issuer: res.Signature.Certificate.Issuer}, NoSCT: noSCT}
	for _, ts := range res.VerifiedTimestamps {
		if out.SigningTime == nil || ts.Timestamp.Before(*out.SigningTime) {
			tt := ts.Timestamp
			out.SigningTime = &tt
		}
	}
	if entries := vm.GetTlogEntries(); len(entries) > 0 {
		idx := entries[0].GetLogIndex()
		out.LogIndex = &idx
	}
	return out, nil
}

// classify maps sigstore-go's failures onto dossier's reasons through its
// exported errors (no message matching): a bundle that is not well formed
// is malformed; anything else failed verification. Identity mismatches
// cannot occur here (identities are the policy's), and a missing proof is
// recognised from the bundle before verification.
func classify(err error) error {
	if errors.Is(err, sgbundle.ErrValidation) {
		return invalid("malformed bundle: %v", err)
	}
	return invalid("%v", err)
}
