package notation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-core-go/signature"
	nx509 "github.com/notaryproject/notation-core-go/x509"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
)

// notation-go's verifier reads the wall clock for its two time-dependent
// checks, expiry and authentic timestamp, and takes no clock. It is given
// a copy of the trust policy that only logs those two (untimed), so it
// never refuses on its own reading of the time; dossier discards its
// results of them and makes both checks again at the caller's clock, under
// the statement's own actions (atClock), as notation-go makes them.

// untimed is doc with expiry and authentic timestamp only logged in every
// statement that verifies. Statement names and scopes are unchanged, so
// the statement chosen is too.
func untimed(doc *trustpolicy.Document) *trustpolicy.Document {
	out := *doc
	out.TrustPolicies = slices.Clone(doc.TrustPolicies)
	for i := range out.TrustPolicies {
		sv := &out.TrustPolicies[i].SignatureVerification
		if sv.VerificationLevel == trustpolicy.LevelSkip.Name {
			continue
		}
		sv.Override = maps.Clone(sv.Override)
		if sv.Override == nil {
			sv.Override = map[trustpolicy.ValidationType]trustpolicy.ValidationAction{}
		}
		sv.Override[trustpolicy.TypeExpiry] = trustpolicy.ActionLog
		sv.Override[trustpolicy.TypeAuthenticTimestamp] = trustpolicy.ActionLog
	}
	return &out
}

// unasked is notation-go's timestamping revocation validator: its
// verification of a timestamp, at the wall clock, is discarded, so it
// makes no requests. atClock checks the timestamp's revocation.
type unasked struct{}

func (unasked) ValidateContext(context.Context, revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	return nil, errors.New("not checked here: dossier verifies the timestamp at the decision's clock")
}

// atClock is outcome's check results with notation-go's expiry and
// authentic timestamp results replaced, in place, by the same checks made
// at now with level's actions; and the timestamp they verified, if any.
func (v *Verifier) atClock(ctx context.Context, statement *trustpolicy.TrustPolicy, level *trustpolicy.VerificationLevel, outcome *notationgo.VerificationOutcome, now time.Time) ([]*notationgo.ValidationResult, *tspclient.Timestamp) {
	results := slices.Clone(outcome.VerificationResults)
	var ts *tspclient.Timestamp
	for i, r := range results {
		var err error
		switch r.Type {
		case trustpolicy.TypeExpiry:
			err = expired(outcome.EnvelopeContent.SignerInfo, now)
		case trustpolicy.TypeAuthenticTimestamp:
			ts, err = v.authenticTimestamp(ctx, statement, outcome.EnvelopeContent.SignerInfo, now)
		default:
			continue
		}
		results[i] = &notationgo.ValidationResult{Type: r.Type, Action: level.Enforcement[r.Type], Error: err}
	}
	return results, ts
}

// expired is notation's expiry check at now.
func expired(info signature.SignerInfo, now time.Time) error {
	if expiry := info.SignedAttributes.Expiry; !expiry.IsZero() && !now.Before(expiry) {
		return fmt.Errorf("digital signature has expired on %q", expiry.Format(time.RFC1123Z))
	}
	return nil
}

// authenticTimestamp is notation's authentic timestamp check at now: the
// signing chain valid at now, or, where the statement names a TSA store
// and asks for it always or the chain has expired by now, at the time an
// RFC 3161 timestamp from a trusted TSA states (returned). Under the
// signingAuthority scheme, the chain valid at the signed signing time.
func (v *Verifier) authenticTimestamp(ctx context.Context, statement *trustpolicy.TrustPolicy, info signature.SignerInfo, now time.Time) (*tspclient.Timestamp, error) {
	chain := info.CertificateChain
	if info.SignedAttributes.SigningScheme != signature.SigningSchemeX509 {
		at := info.SignedAttributes.SigningTime
		for _, c := range chain {
			if at.Before(c.NotBefore) || at.After(c.NotAfter) {
				return nil, fmt.Errorf("certificate %q was not valid when the digital signature was produced at %q", c.Subject, at.Format(time.RFC1123Z))
			}
		}
		return nil, nil
	}
	var tsa []string
	for _, s := range statement.TrustStores {
		if typ, name, _ := strings.Cut(s, ":"); truststore.Type(typ) == truststore.TypeTSA {
			tsa = append(tsa, name)
		}
	}
	stamped := len(tsa) > 0
	if stamped && statement.SignatureVerification.VerifyTimestamp == trustpolicy.OptionAfterCertExpiry {
		stamped = slices.ContainsFunc(chain, func(c *x509.Certificate) bool { return now.After(c.NotAfter) })
	}
	if !stamped {
		for _, c := range chain {
			if now.Before(c.NotBefore) {
				return nil, fmt.Errorf("verification time is before certificate %q validity period, it will be valid from %q", c.Subject, c.NotBefore.Format(time.RFC1123Z))
			}
			if now.After(c.NotAfter) {
				return nil, fmt.Errorf("verification time is after certificate %q validity period, it was expired at %q", c.Subject, c.NotAfter.Format(time.RFC1123Z))
			}
		}
		return nil, nil
	}
	return v.timestamp(ctx, tsa, info)
}

// timestamp verifies the signature's RFC 3161 countersignature as
// notation-go does: made over the signature by a TSA chaining to a root of
// the named tsa stores and valid at the time it states, that time within
// the signing chain's validity, the TSA chain not revoked.
func (v *Verifier) timestamp(ctx context.Context, stores []string, info signature.SignerInfo) (*tspclient.Timestamp, error) {
	if len(info.UnsignedAttributes.TimestampSignature) == 0 {
		return nil, errors.New("no timestamp countersignature was found in the signature envelope")
	}
	token, err := tspclient.ParseSignedToken(info.UnsignedAttributes.TimestampSignature)
	if err != nil {
		return nil, fmt.Errorf("failed to parse timestamp countersignature with error: %w", err)
	}
	tst, err := token.Info()
	if err != nil {
		return nil, fmt.Errorf("failed to get the timestamp TSTInfo with error: %w", err)
	}
	ts, err := tst.Validate(info.Signature)
	if err != nil {
		return nil, fmt.Errorf("failed to get timestamp from timestamp countersignature with error: %w", err)
	}
	roots := x509.NewCertPool()
	for _, name := range stores {
		certs, err := v.trust.GetCertificates(ctx, truststore.TypeTSA, name)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	tsaChain, err := token.Verify(ctx, x509.VerifyOptions{CurrentTime: ts.Value, Roots: roots})
	if err != nil {
		return nil, fmt.Errorf("failed to verify the timestamp countersignature with error: %w", err)
	}
	if err := nx509.ValidateTimestampingCertChain(tsaChain); err != nil {
		return nil, fmt.Errorf("failed to validate the timestamping certificate chain with error: %w", err)
	}
	for _, c := range info.CertificateChain {
		if !ts.BoundedAfter(c.NotBefore) {
			return nil, fmt.Errorf("timestamp can be before certificate %q validity period, it will be valid from %q", c.Subject, c.NotBefore.Format(time.RFC1123Z))
		}
		if !ts.BoundedBefore(c.NotAfter) {
			return nil, fmt.Errorf("timestamp can be after certificate %q validity period, it was expired at %q", c.Subject, c.NotAfter.Format(time.RFC1123Z))
		}
	}
	results, err := v.tsaRevocation.ValidateContext(ctx, revocation.ValidateContextOptions{CertChain: tsaChain})
	if err != nil {
		return nil, fmt.Errorf("failed to check timestamping certificate chain revocation with error: %w", err)
	}
	if err := revocationError(results, tsaChain); err != nil {
		return nil, err
	}
	return ts, nil
}

// revocationError folds a TSA chain's revocation results as notation-go
// does: revoked if a certificate is, else unknown if one's status is
// neither good nor unrevocable; the certificate named is the one nearest
// the leaf.
func revocationError(results []*result.CertRevocationResult, chain []*x509.Certificate) error {
	var revoked, unknown *x509.Certificate
	for i, r := range results {
		switch r.Result {
		case result.ResultOK, result.ResultNonRevokable:
		case result.ResultRevoked:
			if revoked == nil {
				revoked = chain[i]
			}
		default:
			if unknown == nil {
				unknown = chain[i]
			}
		}
	}
	switch {
	case revoked != nil:
		return fmt.Errorf("timestamping certificate with subject %q is revoked", revoked.Subject)
	case unknown != nil:
		return fmt.Errorf("timestamping certificate with subject %q revocation status is unknown", unknown.Subject)
	}
	return nil
}
