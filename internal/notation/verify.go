// Package notation verifies and makes Notation (Notary Project) signatures
// of image digests with notation-go: its verifier judges every signature
// against a trust policy and trust store (package trust), and its signer
// makes JWS or COSE envelopes. Signatures are read and written through
// dossier's own registry client (oci.Repository), in both storage forms:
// OCI 1.1 referrers and the referrers tag schema.
//
// Signatures are judged at the caller's clock (now, clock.go): the
// signature's expiry, and the signing chain's validity at now or, where
// the trust policy asks for a timestamp, at the time a trusted RFC 3161
// timestamp states. Only revocation is judged when the check is made:
// CRLs and OCSP responses are fetched then, and notation-core-go checks
// their freshness against the system clock, which it lets no caller set.
package notation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-core-go/signature"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
)

// Options bound what verification may do beyond the registry.
type Options struct {
	// RevocationTimeout bounds each CRL download and OCSP request made for
	// a revocation check the trust policy asks for (default 5s).
	RevocationTimeout time.Duration
	// Transport carries those requests (default http.DefaultTransport).
	Transport http.RoundTripper
}

// Verifier verifies Notation signatures with one trust configuration.
type Verifier struct {
	trust    *trust.Config
	verifier notationgo.Verifier
	// tsaRevocation checks timestamping chains (atClock)
	tsaRevocation revocation.Validator
}

// NewVerifier builds notation-go's verifier for cfg. Revocation is
// checked as the trust policy says, with CRLs and OCSP fetched over HTTP
// within opts' bounds.
func NewVerifier(cfg *trust.Config, opts Options) (*Verifier, error) {
	timeout := opts.RevocationTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	client := &http.Client{Timeout: timeout, Transport: opts.Transport}
	fetcher, err := crl.NewHTTPFetcher(client)
	if err != nil {
		return nil, err
	}
	codeSigning, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: client, CRLFetcher: fetcher, CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		return nil, err
	}
	timestamping, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: client, CRLFetcher: fetcher, CertChainPurpose: purpose.Timestamping})
	if err != nil {
		return nil, err
	}
	v, err := verifier.NewWithOptions(untimed(cfg.Policy()), cfg, nil, verifier.VerifierOptions{
		RevocationCodeSigningValidator:  anchoredRevocation{trusted: cfg.Certificates(), next: codeSigning},
		RevocationTimestampingValidator: unasked{},
	})
	if err != nil {
		return nil, err
	}
	return &Verifier{trust: cfg, verifier: v, tsaRevocation: timestamping}, nil
}

// anchoredRevocation checks the revocation of a signing certificate chain
// only when it holds a certificate of the trust configuration. At levels
// that only log authenticity (audit, or an override), notation-go checks
// revocation of an untrusted chain too, whose CRL and OCSP addresses are
// whoever pushed the signature's choice: dossier does not make requests
// to them. The validator it hands on to verifies the chain's signatures
// before any request, so a trusted root appended to a foreign chain does
// not pass either.
type anchoredRevocation struct {
	trusted []*x509.Certificate
	next    revocation.Validator
}

func (a anchoredRevocation) ValidateContext(ctx context.Context, opts revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	for _, c := range opts.CertChain {
		if slices.ContainsFunc(a.trusted, c.Equal) {
			return a.next.ValidateContext(ctx, opts)
		}
	}
	return nil, errors.New("the certificate chain holds no certificate of the trust store, so the revocation addresses it names were not contacted")
}

// Result is what verifying the Notation signatures of one digest found.
type Result struct {
	// Signatures verified, each with the signing certificate's subject.
	Signatures []evidence.VerifiedSignature
	// Rejected are signatures found that did not verify, with why.
	Rejected []evidence.RejectedSignature
	// Skipped names the trust policy statement that skips verification for
	// the digest's repository (level skip); nothing was read then.
	Skipped string
}

// ErrNoStatement says no trust policy statement covers a repository.
var ErrNoStatement = errors.New("no Notation trust policy statement covers it")

// Verify verifies every Notation signature attached to subject in repo
// (referrers API or tag schema). The trust policy statement is chosen by
// repo's name, as notation chooses it by registryScopes, both spelled as
// dossier names repositories (evidence.CanonicalRepository). Validity is
// judged at now, revocation when asked (see the package comment). An error
// means the signatures could not be read or judged at all.
func (v *Verifier) Verify(ctx context.Context, repo oci.Repository, subject v1.Descriptor, now time.Time) (Result, error) {
	if now.IsZero() {
		// nothing would ever have expired
		return Result{}, errors.New("verifying Notation signatures: no time to judge their validity at")
	}
	reference := evidence.CanonicalRepository(repo.Name()) + "@" + subject.Digest.String()
	statement, level, err := v.trust.Statement(reference)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w (%v)", repo.Name(), ErrNoStatement, err)
	}
	if level.Name == trustpolicy.LevelSkip.Name {
		return Result{Skipped: statement.Name}, nil
	}
	r := &repository{repo: repo}
	var manifests []ocispec.Descriptor
	if err := r.ListSignatures(ctx, toOCI(subject), func(d []ocispec.Descriptor) error { manifests = d; return nil }); err != nil {
		return Result{}, err
	}
	res := Result{Signatures: []evidence.VerifiedSignature{}}
	target := toOCI(subject)
	subj := evidence.Subject{Repository: repo.Name(), Digest: subject.Digest.String()}
	for _, md := range manifests {
		blob, layer, err := r.FetchSignatureBlob(ctx, md)
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, err
			}
			kind := evidence.FailureInvalid
			if errors.Is(err, oci.ErrDenied) || errors.Is(err, oci.ErrNotFound) {
				kind = evidence.FailureUnreadable
			}
			res.Rejected = append(res.Rejected, v.rejection(md, kind, err.Error()))
			continue
		}
		sig, rejected := v.judge(ctx, statement, level, reference, target, md, layer.MediaType, blob, now)
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if rejected != nil {
			res.Rejected = append(res.Rejected, *rejected)
			continue
		}
		sig.Subject = subj
		res.Signatures = append(res.Signatures, *sig)
	}
	return res, nil
}

// judge verifies one envelope (blob, of mediaType, stored in manifest md)
// over target at now with notation-go's verifier, under statement and its
// level: the verified signature, or the rejection saying why not.
func (v *Verifier) judge(ctx context.Context, statement *trustpolicy.TrustPolicy, level *trustpolicy.VerificationLevel, reference string, target, md ocispec.Descriptor, mediaType string, blob []byte, now time.Time) (*evidence.VerifiedSignature, *evidence.RejectedSignature) {
	if err := CheckEnvelopeType(mediaType); err != nil {
		r := v.rejection(md, evidence.FailureInvalid, err.Error())
		return nil, &r
	}
	// a signature made for another manifest is refused before it is
	// judged: notation-go compares the target last, after revocation
	// checks, and one trusted signature copied onto an image hundreds of
	// times would download the CA's CRL as many times
	if why := otherTarget(mediaType, blob, target); why != "" {
		r := v.rejection(md, evidence.FailureDigestMismatch, why)
		return nil, &r
	}
	outcome, err := v.verifier.Verify(ctx, target, blob, notationgo.VerifierVerifyOptions{ArtifactReference: reference, SignatureMediaType: mediaType})
	var results []*notationgo.ValidationResult
	var ts *tspclient.Timestamp
	if outcome != nil {
		results, ts = v.atClock(ctx, statement, level, outcome, now)
	}
	// the first check that failed under an enforcing action, in notation's
	// order; then whatever else notation-go refused (the target, say)
	for _, r := range results {
		if r.Error != nil && r.Action == trustpolicy.ActionEnforce {
			rj := v.rejection(md, failureKind(r.Type, r.Error), fmt.Sprintf("%s check failed: %v", r.Type, r.Error))
			return nil, &rj
		}
	}
	if err != nil {
		rj := v.rejection(md, evidence.FailureInvalid, err.Error())
		return nil, &rj
	}
	return &evidence.VerifiedSignature{Verification: v.verification(statement, level, md, mediaType, outcome.EnvelopeContent.SignerInfo, results, ts)}, nil
}

func (v *Verifier) rejection(md ocispec.Descriptor, kind, why string) evidence.RejectedSignature {
	return evidence.RejectedSignature{PredicateType: evidence.PredicateSignatures, StoredAt: md.Digest.String(), Kind: kind, Reason: "Notation signature: " + why, NotationTrust: v.trust.Digest()}
}

// verification is what the checks of an accepted signature (info)
// established; ts is the timestamp they verified, if any.
func (v *Verifier) verification(statement *trustpolicy.TrustPolicy, level *trustpolicy.VerificationLevel, md ocispec.Descriptor, mediaType string, info signature.SignerInfo, results []*notationgo.ValidationResult, ts *tspclient.Timestamp) evidence.Verification {
	nv := &evidence.NotationVerification{Statement: statement.Name, Level: level.Name, EnvelopeType: mediaType}
	timestampOK, authentic := false, false
	claimed := ""
	if len(info.CertificateChain) > 0 {
		claimed = info.CertificateChain[0].Subject.String()
	}
	for _, r := range results {
		if r.Type == trustpolicy.TypeAuthenticity && r.Error == nil {
			authentic = true
		}
		if r.Error != nil && r.Action == trustpolicy.ActionLog {
			line := fmt.Sprintf("%s: %v", r.Type, r.Error)
			if r.Type == trustpolicy.TypeAuthenticity {
				line += fmt.Sprintf(" (the signing certificate claims x509 subject %q, unverified)", claimed)
			}
			nv.Logged = append(nv.Logged, line)
		}
		if r.Type == trustpolicy.TypeAuthenticTimestamp && r.Error == nil && r.Action != trustpolicy.ActionSkip {
			timestampOK = true
		}
	}
	out := evidence.Verification{
		Signer:   evidence.Signer{NotationTrust: v.trust.Digest()},
		StoredAt: md.Digest.String(),
		Layout:   evidence.LayoutReferrer,
		Notation: nv,
	}
	if authentic {
		// who signed is only what the trust store vouches for: where the
		// level only logs authenticity, the subject is the pusher's claim
		out.Signer.CertificateSubject = claimed
	}
	switch {
	// a signingAuthority's signing time is the signer's word: established
	// only where the signer is; a timestamp is the TSA's, trusted apart
	case info.SignedAttributes.SigningScheme == signature.SigningSchemeX509SigningAuthority && timestampOK && authentic:
		t := info.SignedAttributes.SigningTime.UTC()
		out.SigningTime = &t
	case ts != nil:
		t := ts.Value.Add(-ts.Accuracy).UTC()
		out.SigningTime, nv.Timestamped = &t, true
	}
	return out
}

// otherTarget reads, unverified, the descriptor an envelope's payload
// signs and says how it is not target's, or "" when it is or cannot be
// read (notation-go's verifier then says why). It only ever refuses: the
// verifier compares the same descriptor, by media type, digest and size.
func otherTarget(mediaType string, blob []byte, target ocispec.Descriptor) string {
	env, err := signature.ParseEnvelope(mediaType, blob)
	if err != nil {
		return ""
	}
	content, err := env.Content()
	if err != nil {
		return ""
	}
	var p struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}
	if json.Unmarshal(content.Payload.Content, &p) != nil {
		return ""
	}
	signed := p.TargetArtifact
	switch {
	case signed.Digest != target.Digest:
		return fmt.Sprintf("made for %s, not %s", signed.Digest, target.Digest)
	case signed.MediaType != target.MediaType || signed.Size != target.Size:
		return fmt.Sprintf("made for %s as a %q of %d bytes, not a %q of %d bytes", signed.Digest, signed.MediaType, signed.Size, target.MediaType, target.Size)
	}
	return ""
}

func failureKind(t trustpolicy.ValidationType, err error) string {
	switch t {
	case trustpolicy.TypeAuthenticity:
		return evidence.FailureUntrustedKey
	case trustpolicy.TypeRevocation:
		if strings.Contains(err.Error(), "is revoked") {
			return evidence.FailureRevoked
		}
		return evidence.FailureRevocationUnknown
	case trustpolicy.TypeExpiry, trustpolicy.TypeAuthenticTimestamp:
		return evidence.FailureExpired
	}
	return evidence.FailureInvalid
}
