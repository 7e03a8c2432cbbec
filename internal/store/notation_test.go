package store

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// TestNotationSignaturesStored: a Notation signature is recorded beside
// cosign's, read back with what its verification said, and found by its
// certificate subject as a keyless signature is by its identity.
func TestNotationSignaturesStored(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			rec := fullRecord(app1, t0)
			notation := evidence.VerifiedSignature{Subject: app1, Verification: evidence.Verification{
				Signer:   evidence.Signer{CertificateSubject: "CN=release,O=Acme,ST=WA,C=US", NotationTrust: "sha256:7777"},
				StoredAt: "sha256:notation", Layout: evidence.LayoutReferrer,
				Notation: &evidence.NotationVerification{Statement: "app", Level: "strict", EnvelopeType: evidence.NotationCOSE}}}
			rec.Signatures = append(rec.Signatures, notation)
			if err := s.Record(ctx, rec); err != nil {
				t.Fatal(err)
			}
			d, err := s.Dossier(ctx, app1)
			if err != nil {
				t.Fatal(err)
			}
			var found *evidence.VerifiedSignature
			for i, sig := range d.Signatures {
				if sig.Signer.CertificateSubject != "" {
					found = &d.Signatures[i]
				}
			}
			if len(d.Signatures) != 2 || found == nil || found.Notation == nil || found.Notation.EnvelopeType != evidence.NotationCOSE || found.Signer.NotationTrust != "sha256:7777" {
				t.Fatalf("signatures %+v", d.Signatures)
			}
			for _, f := range []SignerFilter{{Identity: "CN=release,O=Acme,ST=WA,C=US"}, {Match: regexp.MustCompile(`^CN=release,`).MatchString}} {
				hits, err := s.Signed(ctx, f, t0.Add(-time.Hour), t0.Add(time.Hour))
				if err != nil || len(hits) != 1 || hits[0].Verification.Signer.CertificateSubject != "CN=release,O=Acme,ST=WA,C=US" {
					t.Errorf("signed by the subject: %+v, %v", hits, err)
				}
			}
		})
	}
}
