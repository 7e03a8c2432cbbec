package sign

import (
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/dossier-dev/dossier/internal/oci"
)

// maxBundleSize bounds a fetched bundle.
const maxBundleSize = 16 << 20

// Verified is one signature that verified for the expected signer.
type Verified struct {
	// Digest is the subject digest the signature covers.
	Digest string `json:"digest"`
	// Identity is the key hint (key-based) or the certificate identity.
	Identity string `json:"identity"`
	Issuer   string `json:"issuer,omitempty"`
	// SigningTime is the verified time (log or timestamp), when there is one.
	SigningTime *time.Time `json:"signingTime,omitempty"`
	LogIndex    *int64     `json:"logIndex,omitempty"`
	// Referrer is the manifest digest the signature was stored under.
	Referrer      string `json:"referrer"`
	PredicateType string `json:"predicateType"`
	// Statement is the verified in-toto statement.
	Statement json.RawMessage `json:"statement"`
}

// KeyVerifier verifies key-based signatures: the signature must verify
// with this public key. Key-based signatures carry no log entry by default,
// so none is required (as cosign's --insecure-ignore-tlog).
type KeyVerifier struct {
	key crypto.PublicKey
}

// NewKeyVerifier trusts one public key.
func NewKeyVerifier(pub crypto.PublicKey) *KeyVerifier { return &KeyVerifier{key: pub} }

func (kv *KeyVerifier) sigstore() (*verify.Verifier, verify.PolicyOption, error) {
	sv, err := signature.LoadVerifier(kv.key, crypto.SHA256)
	if err != nil {
		return nil, nil, err
	}
	expiring := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return expiring, nil })
	v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	return v, verify.WithKey(), err
}

func (kv *KeyVerifier) describe() string {
	hint, _ := KeyHint(kv.key)
	return "key " + hint
}

func (kv *KeyVerifier) legacyKey() crypto.PublicKey { return kv.key }

// FindBundles lists the Sigstore bundles attached to subject as referrers
// whose predicate type is predicateType (any when empty), fetched and
// size-checked, keyed by referrer manifest digest.
func FindBundles(ctx context.Context, subject name.Digest, predicateType string, reg oci.RegistryOptions) (map[string][]byte, error) {
	ropts := reg.Remote(ctx)
	descs, err := referrers(subject, ropts)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, d := range descs {
		// Some registries report the config media type instead of the
		// manifest's artifactType: the bundle annotation marks those.
		_, annotated := d.Annotations[predicateTypeAnnotation]
		if d.ArtifactType != BundleMediaType && !annotated {
			continue
		}
		if pt := d.Annotations[predicateTypeAnnotation]; predicateType != "" && pt != "" && pt != predicateType {
			continue
		}
		img, err := remote.Image(subject.Context().Digest(d.Digest.String()), ropts...)
		if err != nil {
			return nil, fmt.Errorf("fetching referrer %s: %w", d.Digest, err)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			continue // not a bundle manifest of the shape cosign and dossier write
		}
		if mt, err := layers[0].MediaType(); err != nil || string(mt) != BundleMediaType {
			continue
		}
		rc, err := layers[0].Compressed()
		if err != nil {
			return nil, fmt.Errorf("fetching bundle %s: %w", d.Digest, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("fetching bundle %s: %w", d.Digest, err)
		}
		if len(data) > maxBundleSize {
			return nil, fmt.Errorf("bundle %s is larger than %d MiB", d.Digest, maxBundleSize>>20)
		}
		out[d.Digest.String()] = data
	}
	return out, nil
}

// Verifier is who a signature must come from: a key, or a certificate
// identity and issuer under a trusted root.
type Verifier interface {
	// sigstore builds the sigstore-go verifier and identity policy.
	sigstore() (*verify.Verifier, verify.PolicyOption, error)
	// describe names the expected signer for results and errors.
	describe() string
	// legacyKey is the key for legacy .sig signatures, nil when not key-based.
	legacyKey() crypto.PublicKey
}

// Verify checks every bundle of predicateType attached to subject (and,
// for key-based signatures, the legacy sha256-<hex>.sig tag too) and
// returns those that verify for the expected signer and name subject's
// digest. It fails with the most specific reason when none does.
func Verify(ctx context.Context, subject name.Digest, predicateType string, who Verifier, reg oci.RegistryOptions) ([]Verified, error) {
	bundles, err := FindBundles(ctx, subject, predicateType, reg)
	if err != nil {
		return nil, err
	}
	if predicateType != SignPredicateType {
		legacy, err := legacyAttestations(ctx, subject, predicateType, reg)
		if err != nil {
			return nil, err
		}
		for ref, data := range legacy {
			bundles[ref] = data
		}
	}
	var verified []Verified
	var failures []error
	if predicateType == SignPredicateType {
		legacy, legacyFailures, err := VerifyLegacy(ctx, subject, who, reg)
		if err != nil {
			return nil, err
		}
		verified, failures = legacy, legacyFailures
	}
	if len(bundles) > 0 {
		v, identity, err := who.sigstore()
		if err != nil {
			return nil, err
		}
		for ref, data := range bundles {
			got, err := verifyBundle(v, subject, predicateType, data, identity)
			if errors.Is(err, errOtherPredicate) {
				continue
			}
			if err != nil {
				failures = append(failures, fmt.Errorf("referrer %s: %w", ref, err))
				continue
			}
			got.Referrer = ref
			if got.Identity == "" {
				got.Identity = who.describe()
			}
			verified = append(verified, *got)
		}
	}
	if len(verified) == 0 {
		if len(failures) == 0 {
			return nil, fmt.Errorf("%s: %w of type %s", subject, ErrNoSignature, predicateType)
		}
		return nil, mostSpecific(subject, failures)
	}
	return verified, nil
}

// verifyBundle verifies one bundle against the subject digest with the
// given identity policy.
func verifyBundle(v *verify.Verifier, subject name.Digest, predicateType string, data []byte, identity verify.PolicyOption) (*Verified, error) {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: malformed bundle: %v", ErrInvalid, err)
	}
	statement, err := statementOf(&b)
	if err != nil {
		return nil, err
	}
	if predicateType != "" && statement.PredicateType != predicateType {
		return nil, errOtherPredicate
	}
	alg, hexDigest, _ := strings.Cut(subject.DigestStr(), ":")
	if !statement.names(alg, hexDigest) {
		return nil, fmt.Errorf("%w: it names %s, not %s", ErrDigestMismatch, statement.subjects(), subject.DigestStr())
	}
	raw, err := hex.DecodeString(hexDigest)
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest(alg, raw), identity))
	if err != nil {
		return nil, classify(err)
	}
	out := &Verified{Digest: subject.DigestStr(), PredicateType: statement.PredicateType, Statement: statement.raw}
	fillResult(out, res, &b)
	return out, nil
}

// fillResult records the verified signing time, identity and log index.
func fillResult(out *Verified, res *verify.VerificationResult, b *sgbundle.Bundle) {
	for _, ts := range res.VerifiedTimestamps {
		t := ts.Timestamp
		if out.SigningTime == nil || t.Before(*out.SigningTime) {
			out.SigningTime = &t
		}
	}
	if res.VerifiedIdentity != nil {
		out.Identity = res.VerifiedIdentity.SubjectAlternativeName.SubjectAlternativeName
		out.Issuer = res.VerifiedIdentity.Issuer.Issuer
	}
	if entries := b.GetVerificationMaterial().GetTlogEntries(); len(entries) > 0 {
		idx := entries[0].GetLogIndex()
		out.LogIndex = &idx
	}
}

// classify maps sigstore-go's errors onto dossier's reasons.
func classify(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no matching CertificateIdentity"), strings.Contains(msg, "identity"):
		return fmt.Errorf("%w: %v", ErrWrongIdentity, err)
	case strings.Contains(msg, "expired"), strings.Contains(msg, "not valid"),
		strings.Contains(msg, "threshold not met") && strings.Contains(msg, "timestamp"),
		strings.Contains(msg, "not enough verified log entries"):
		// a Fulcio certificate lives minutes: without a log entry or a
		// signed timestamp nothing shows it was valid at signing time
		return fmt.Errorf("%w: %v", ErrExpiredNoProof, err)
	case strings.Contains(msg, "digest"):
		return fmt.Errorf("%w: %v", ErrDigestMismatch, err)
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// mostSpecific reports the most telling failure among several bundles.
func mostSpecific(subject name.Digest, failures []error) error {
	for _, want := range []error{ErrWrongIdentity, ErrDigestMismatch, ErrExpiredNoProof, ErrInvalid} {
		for _, f := range failures {
			if errors.Is(f, want) {
				return fmt.Errorf("%s: %w", subject, f)
			}
		}
	}
	return fmt.Errorf("%s: %w", subject, ErrInvalid)
}

type statement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	raw json.RawMessage
}

func (s *statement) names(alg, hexDigest string) bool {
	for _, sub := range s.Subject {
		if sub.Digest[alg] == hexDigest {
			return true
		}
	}
	return false
}

func (s *statement) subjects() string {
	var out []string
	for _, sub := range s.Subject {
		for alg, h := range sub.Digest {
			out = append(out, alg+":"+h)
		}
	}
	return strings.Join(out, ", ")
}

// statementOf reads the in-toto statement from a bundle's DSSE envelope
// (before verification, to report digest mismatches precisely; nothing
// from it is trusted until the signature verifies).
func statementOf(b *sgbundle.Bundle) (*statement, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, fmt.Errorf("%w: the bundle holds no DSSE envelope", ErrInvalid)
	}
	if env.GetPayloadType() != InTotoPayloadType {
		return nil, fmt.Errorf("%w: payload type %q", ErrInvalid, env.GetPayloadType())
	}
	var s statement
	if err := json.Unmarshal(env.GetPayload(), &s); err != nil {
		return nil, fmt.Errorf("%w: payload is not an in-toto statement: %v", ErrInvalid, err)
	}
	s.raw = env.GetPayload()
	return &s, nil
}

// errOtherPredicate marks a bundle about something else (an attestation
// when a signature is wanted, or another predicate type): not a failure.
var errOtherPredicate = errors.New("other predicate type")

// referrers lists the manifests that name subject, through the referrers
// API or its tag schema.
func referrers(subject name.Digest, ropts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(subject, ropts...)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", subject, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", subject, err)
	}
	return m.Manifests, nil
}
