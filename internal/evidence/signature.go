package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// Signer is who made a signature, as verification established it: a
// public key (by fingerprint), or a certificate identity and the OIDC
// issuer that vouched for it.
type Signer struct {
	// KeyFingerprint is "sha256:<hex>" of the DER public key (key-based).
	KeyFingerprint string `json:"keyFingerprint,omitempty"`
	// Identity is the certificate's subject alternative name (keyless).
	Identity string `json:"identity,omitempty"`
	// Issuer is the OIDC issuer in the certificate (keyless).
	Issuer string `json:"issuer,omitempty"`
	// CertificateSubject is the x509 subject (distinguished name) of the
	// certificate a Notation signature was made with.
	CertificateSubject string `json:"certificateSubject,omitempty"`
	// NotationTrust names the Notation trust policy and trust store that
	// verified it ("sha256:<hex>" of their content): a Notation signer is
	// who signed as that trust configuration judged it, and only a policy
	// signer with the same configuration accepts it.
	NotationTrust string `json:"notationTrust,omitempty"`
}

// Keyless reports whether the signer is a certificate identity.
func (s Signer) Keyless() bool { return s.Identity != "" }

// String names the signer for people.
func (s Signer) String() string {
	if s.CertificateSubject != "" {
		return "x509 subject " + strconv.Quote(s.CertificateSubject) + " (Notation)"
	}
	if s.Keyless() {
		return s.Identity + " (issuer " + s.Issuer + ")"
	}
	if s.KeyFingerprint != "" {
		return "key " + s.KeyFingerprint
	}
	return "unknown signer"
}

// Storage layouts evidence is read from.
const (
	LayoutReferrer  = "referrer"   // OCI 1.1 referrer (API or tag schema)
	LayoutLegacyTag = "legacy-tag" // cosign's sha256-<hex>.sig / .att tags
)

// NotationSignatureType is the artifactType of a Notation (Notary Project)
// signature manifest, and the media types of its one layer, the envelope.
const (
	NotationSignatureType = "application/vnd.cncf.notary.signature"
	NotationJWS           = "application/jose+json"
	NotationCOSE          = "application/cose"
)

// NotationVerification is what the Notation verifier said about a
// signature beyond who signed: the trust policy statement that applied,
// its verification level, and the failures that level only logs.
type NotationVerification struct {
	// Statement is the trust policy statement (by name) that applied.
	Statement string `json:"statement"`
	// Level is strict, permissive, audit or custom (overrides).
	Level string `json:"level"`
	// EnvelopeType is the envelope's media type (JWS or COSE).
	EnvelopeType string `json:"envelopeType"`
	// Logged are the checks that failed but the level only logs
	// ("expiry: …", "revocation: …").
	Logged []string `json:"logged,omitempty"`
	// Timestamped says an RFC 3161 timestamp from a trusted TSA was verified.
	Timestamped bool `json:"timestamped,omitempty"`
}

// Verification is what verifying a signature established: who signed,
// when (if a log or timestamp proves it), and where it was stored.
type Verification struct {
	Signer Signer `json:"signer"`
	// SigningTime is the verified time (log entry or timestamp), if any.
	SigningTime *time.Time `json:"signingTime,omitempty"`
	LogIndex    *int64     `json:"logIndex,omitempty"`
	// StoredAt is the referrer manifest digest or the legacy tag.
	StoredAt string `json:"storedAt"`
	Layout   string `json:"layout"`
	// TransparencyLogSkipped marks a key-based signature accepted without a
	// log entry (the opt-out cosign calls --insecure-ignore-tlog).
	TransparencyLogSkipped bool `json:"transparencyLogSkipped,omitempty"`
	// NoSCT marks a keyless signature whose certificate carries no signed
	// certificate timestamp from a trusted CT log: only a signer that waives
	// certificate transparency (insecureIgnoreSCT) accepts it.
	NoSCT bool `json:"noSCT,omitempty"`
	// Notation is set for a Notation signature.
	Notation *NotationVerification `json:"notation,omitempty"`
}

// VerifiedSignature is a signature over Subject whose cryptography, chain
// and (when required) log proof verified. Whether the Signer is acceptable
// is the policy's question, not the verifier's.
type VerifiedSignature struct {
	Subject Subject `json:"subject"`
	Verification
}

// Attestation is a verified in-toto statement about Subject.
type Attestation struct {
	Subject       Subject         `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
	Verification
	// StatedTime is the time the signed predicate itself states (SLSA
	// finishedOn, CycloneDX timestamp, …), when it states one.
	StatedTime *time.Time `json:"statedTime,omitempty"`
	// Provenance summarises a SLSA provenance predicate, when it is one.
	Provenance *Provenance `json:"provenance,omitempty"`
}

// Provenance is what a SLSA provenance predicate says about the build.
type Provenance struct {
	BuilderID        string `json:"builderId"`
	BuildType        string `json:"buildType,omitempty"`
	SourceRepository string `json:"sourceRepository,omitempty"`
	Commit           string `json:"commit,omitempty"`
	Ref              string `json:"ref,omitempty"`
	// Trigger is the event that started the build (push, tag,
	// pull_request, workflow_dispatch, …) when the predicate says.
	Trigger string `json:"trigger,omitempty"`
	// StartedOn is when the build started, when the predicate says.
	StartedOn *time.Time `json:"startedOn,omitempty"`
}

// Signature failure kinds, for evidence that was found but did not verify.
const (
	FailureNoSignature    = "no-signature"
	FailureInvalid        = "invalid"
	FailureDigestMismatch = "digest-mismatch"
	FailureNoProof        = "no-log-or-timestamp-proof"
	FailureUntrustedKey   = "untrusted-key"
	// FailureUnreadable is one the registry lists or tags but will not
	// serve (held, or gone since it was listed).
	FailureUnreadable = "unreadable"
	// Notation's verifier refuses a certificate a CRL or OCSP responder
	// says is revoked, one whose status could not be had when the trust
	// policy enforces revocation, and a signature or certificate that was
	// not valid at signing or verification time.
	FailureRevoked           = "revoked"
	FailureRevocationUnknown = "revocation-unknown"
	FailureExpired           = "expired"
)

// RejectedSignature is a signature or attestation that was found for
// Subject but did not verify; policies report it, never count it.
type RejectedSignature struct {
	PredicateType string `json:"predicateType"`
	StoredAt      string `json:"storedAt"`
	Kind          string `json:"kind"`
	Reason        string `json:"reason"`
	// NotationTrust is set on a Notation signature: the trust
	// configuration that refused it (see Signer.NotationTrust).
	NotationTrust string `json:"notationTrust,omitempty"`
}

// KeyFingerprint names a public key by the SHA-256 of its DER
// (SubjectPublicKeyInfo) encoding: "sha256:<hex>".
func KeyFingerprint(spkiDER []byte) string {
	sum := sha256.Sum256(spkiDER)
	return "sha256:" + hex.EncodeToString(sum[:])
}
