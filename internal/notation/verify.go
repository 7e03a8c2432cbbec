// Package notation verifies and makes Notation (Notary Project) signatures
// of image digests with notation-go: its verifier judges every signature
// against a trust policy and trust store (package trust), and its signer
// makes JWS or COSE envelopes. Signatures are read and written through
// dossier's own registry client (oci.Repository), in both storage forms:
// OCI 1.1 referrers and the referrers tag schema.
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
	v, err := verifier.NewWithOptions(cfg.Policy(), cfg, nil, verifier.VerifierOptions{
		RevocationCodeSigningValidator:  anchoredRevocation{trusted: cfg.Certificates(), next: codeSigning},
		RevocationTimestampingValidator: timestamping,
	})
	if err != nil {
		return nil, err
	}
	return &Verifier{trust: cfg, verifier: v}, nil
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
// dossier names repositories (evidence.CanonicalRepository). An error means
// the signatures could not be read or judged at all.
func (v *Verifier) Verify(ctx context.Context, repo oci.Repository, subject v1.Descriptor) (Result, error) {
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
		sig, rejected := v.judge(ctx, statement, reference, target, md, layer.MediaType, blob)
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
// over target with notation-go's verifier: the verified signature, or the
// rejection saying why not.
func (v *Verifier) judge(ctx context.Context, statement *trustpolicy.TrustPolicy, reference string, target, md ocispec.Descriptor, mediaType string, blob []byte) (*evidence.VerifiedSignature, *evidence.RejectedSignature) {
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
	if err != nil {
		kind, why := failure(outcome, err)
		r := v.rejection(md, kind, why)
		return nil, &r
	}
	return &evidence.VerifiedSignature{Verification: v.verification(statement, md, mediaType, outcome)}, nil
}

func (v *Verifier) rejection(md ocispec.Descriptor, kind, why string) evidence.RejectedSignature {
	return evidence.RejectedSignature{PredicateType: evidence.PredicateSignatures, StoredAt: md.Digest.String(), Kind: kind, Reason: "Notation signature: " + why, NotationTrust: v.trust.Digest()}
}

// verification is what a successful outcome established.
func (v *Verifier) verification(statement *trustpolicy.TrustPolicy, md ocispec.Descriptor, mediaType string, outcome *notationgo.VerificationOutcome) evidence.Verification {
	info := outcome.EnvelopeContent.SignerInfo
	nv := &evidence.NotationVerification{Statement: statement.Name, Level: outcome.VerificationLevel.Name, EnvelopeType: mediaType}
	timestampOK, authentic := false, false
	claimed := ""
	if len(info.CertificateChain) > 0 {
		claimed = info.CertificateChain[0].Subject.String()
	}
	for _, r := range outcome.VerificationResults {
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
	case info.SignedAttributes.SigningScheme == signature.SigningSchemeX509SigningAuthority && timestampOK:
		t := info.SignedAttributes.SigningTime.UTC()
		out.SigningTime = &t
	case len(info.UnsignedAttributes.TimestampSignature) > 0 && timestampOK && timestampChecked(statement, info):
		if t, ok := timestampOf(info); ok {
			out.SigningTime, nv.Timestamped = &t, true
		}
	}
	return out
}

// timestampChecked says notation's verifier checked the timestamp: the
// statement names a TSA store, and asks for it always or the signing
// chain has expired.
func timestampChecked(statement *trustpolicy.TrustPolicy, info signature.SignerInfo) bool {
	tsa := false
	for _, s := range statement.TrustStores {
		tsa = tsa || strings.HasPrefix(s, "tsa:")
	}
	if !tsa {
		return false
	}
	if statement.SignatureVerification.VerifyTimestamp != trustpolicy.OptionAfterCertExpiry {
		return true
	}
	for _, c := range info.CertificateChain {
		if time.Now().After(c.NotAfter) {
			return true
		}
	}
	return false
}

// timestampOf reads the time an RFC 3161 countersignature (verified by
// notation's verifier) states: the earliest it may have been.
func timestampOf(info signature.SignerInfo) (time.Time, bool) {
	token, err := tspclient.ParseSignedToken(info.UnsignedAttributes.TimestampSignature)
	if err != nil {
		return time.Time{}, false
	}
	tst, err := token.Info()
	if err != nil {
		return time.Time{}, false
	}
	ts, err := tst.Validate(info.Signature)
	if err != nil {
		return time.Time{}, false
	}
	t := ts.Value.Add(-ts.Accuracy).UTC()
	return t, true
}

// failure names why notation's verifier refused a signature: the check
// that failed under an enforcing action, and what it said.
func failure(outcome *notationgo.VerificationOutcome, err error) (kind, why string) {
	if outcome != nil {
		for _, r := range outcome.VerificationResults {
			if r.Error == nil || r.Action != trustpolicy.ActionEnforce {
				continue
			}
			return failureKind(r.Type, r.Error), fmt.Sprintf("%s check failed: %v", r.Type, r.Error)
		}
	}
	return evidence.FailureInvalid, err.Error()
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
