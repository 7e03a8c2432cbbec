package sign

import (
	"errors"
	"fmt"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
)

// Verification failures, each a distinct reason a user can act on.
var (
	ErrNoSignature    = errors.New("no signature found")
	ErrInvalid        = errors.New("signature does not verify")
	ErrDigestMismatch = errors.New("signature was made for another digest")
	ErrTagMoved       = errors.New("the tag now points to a digest other than the one that was signed")
	ErrExpiredNoProof = errors.New("certificate expired and there is no valid log or timestamp proof")
	ErrUntrustedKey   = errors.New("signed by a key that is not trusted")
	ErrTrustedRoot    = errors.New("trusted root missing or stale")
	ErrNoTrustedRoot  = errors.New("keyless signature, but no trusted root was given to verify certificates against")
	// ErrMalformedTag is a cosign .sig or .att tag whose manifest dossier
	// cannot read (a digest of another algorithm, broken JSON) or that is
	// past the read bound: a rejection, as one unreadable signature is, so
	// that what a push token put there does not end every verifier's read.
	ErrMalformedTag = errors.New("the cosign tag holds no signature manifest dossier reads")
)

// Unreadable says whether err is a registry declining to serve content it
// lists or tags (denied, or not found): that one signature or attestation
// is rejected, and the rest are still read — one junk referrer held by a
// quarantine must not hide every real signature of its subject.
func Unreadable(err error) bool {
	return errors.Is(err, oci.ErrDenied) || errors.Is(err, oci.ErrNotFound)
}

// failureKind names a verification error for evidence.RejectedSignature.
func failureKind(err error) string {
	switch {
	case Unreadable(err):
		return evidence.FailureUnreadable
	case errors.Is(err, ErrDigestMismatch):
		return evidence.FailureDigestMismatch
	case errors.Is(err, ErrExpiredNoProof):
		return evidence.FailureNoProof
	case errors.Is(err, ErrUntrustedKey), errors.Is(err, ErrNoTrustedRoot):
		return evidence.FailureUntrustedKey
	}
	return evidence.FailureInvalid
}

// Rejection records one signature that was found and failed.
func Rejection(predicateType, storedAt string, err error) evidence.RejectedSignature {
	return evidence.RejectedSignature{PredicateType: predicateType, StoredAt: storedAt, Kind: failureKind(err), Reason: err.Error()}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
