package sign

import "errors"

// Verification failures, each a distinct reason a user can act on.
var (
	ErrNoSignature    = errors.New("no signature found")
	ErrInvalid        = errors.New("signature does not verify")
	ErrWrongIdentity  = errors.New("signed by another identity or issuer")
	ErrDigestMismatch = errors.New("signature was made for another digest")
	ErrTagMoved       = errors.New("the tag now points to a digest other than the one that was signed")
	ErrExpiredNoProof = errors.New("certificate expired and there is no valid log or timestamp proof")
	ErrTrustedRoot    = errors.New("trusted root missing or stale")
)
