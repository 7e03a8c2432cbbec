// Package collect gathers the evidence a decision needs about one artifact:
// exactly what the matching policies ask for — signatures and
// attestations verified with the trusted material, and vulnerability
// findings — with a time bound. Whatever cannot be gathered is recorded as
// unavailable, so the rules that needed it fail instead of passing.
package collect

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation"
	"github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
)

// Scanner scans an artifact against the local advisory database.
type Scanner interface {
	Scan(ctx context.Context, art *oci.Artifact) (*evidence.VulnerabilityEvidence, error)
}

// Options say what evidence is verified against and how long to wait.
type Options struct {
	// Trust verifies signatures and attestations (see sign.Trust).
	Trust *sign.Trust
	// Scanner scans when a vulnerability rule needs a local scan; nil
	// makes such rules fail with the reason.
	Scanner Scanner
	// NoScanner says why there is no Scanner (no advisory database, say).
	NoScanner string
	// Timeout bounds reading signatures and attestations (default 60s).
	Timeout time.Duration
	// Now is the clock used to judge attestations when deciding whether a
	// local scan is needed, and Notation signatures' validity.
	Now func() time.Time
	// Notation bounds Notation verification's revocation checks.
	Notation notation.Options
}

// Collect gathers the evidence about art that the policies of set
// matching it need. reference is the reference as the user gave it (a tag,
// say), so that policies matching on tags see it. When a matching policy
// accepts verification summaries, they are read first, and what the rules
// they pass would have needed is not gathered: a gate's signed word is one
// verification instead of every piece of evidence again.
func Collect(ctx context.Context, set *policy.Set, art *oci.Artifact, reference string, opts Options) *evidence.Collected {
	ev := &evidence.Collected{Subject: art.Subject, Reference: reference, Signatures: []evidence.VerifiedSignature{}, Attestations: []evidence.Attestation{}}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	opts.Now = now
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	needs := set.Needs(ev)
	if set.AcceptsSummaries(ev) {
		gather(rctx, ev, art, policy.Needs{PredicateTypes: []string{evidence.PredicateVSA}}, opts)
		needs = set.NeedsBeyondSummaries(ev, now())
	}
	gather(rctx, ev, art, needs, opts)
	if needs.Vulnerabilities && set.NeedsLocalScan(ev, now()) {
		switch {
		case opts.Scanner == nil:
			why := opts.NoScanner
			if why == "" {
				why = "no local advisory database to scan with"
			}
			unavailable(ev, evidence.NeedVulnerabilities, fmt.Errorf("%s", why))
		default:
			v, err := opts.Scanner.Scan(ctx, art)
			if err != nil {
				unavailable(ev, evidence.NeedVulnerabilities, err)
			}
			ev.Vulnerabilities = v
		}
	}
	return ev
}

// unavailable records why the evidence what could not be gathered.
func unavailable(ev *evidence.Collected, what string, err error) {
	if ev.Unavailable == nil {
		ev.Unavailable = map[string]string{}
	}
	ev.Unavailable[what] = err.Error()
}

// gather reads and verifies the signatures and attestations needs names
// into ev.
func gather(ctx context.Context, ev *evidence.Collected, art *oci.Artifact, needs policy.Needs, opts Options) {
	if !needs.Signatures && len(needs.PredicateTypes) == 0 && len(needs.Notation) == 0 {
		return
	}
	repo, subject, err := open(art)
	trustErr := err
	if err == nil && opts.Trust == nil {
		trustErr = fmt.Errorf("nothing to verify signatures against")
	}
	if trustErr != nil {
		if needs.Signatures {
			unavailable(ev, evidence.NeedSignatures, trustErr)
		}
		for _, pt := range needs.PredicateTypes {
			unavailable(ev, evidence.NeedAttestation(pt), trustErr)
		}
	} else {
		if needs.Signatures {
			sigs, rejected, err := opts.Trust.VerifySignatures(ctx, repo, subject)
			if err != nil {
				unavailable(ev, evidence.NeedSignatures, err)
			}
			ev.Signatures = append(ev.Signatures, sigs...)
			ev.Rejected = append(ev.Rejected, rejected...)
		}
		for _, pt := range needs.PredicateTypes {
			atts, rejected, err := attest.Verify(ctx, repo, subject, pt, opts.Trust)
			if err != nil {
				unavailable(ev, evidence.NeedAttestation(pt), err)
			}
			ev.Attestations = append(ev.Attestations, atts...)
			ev.Rejected = append(ev.Rejected, rejected...)
		}
	}
	for _, cfg := range needs.Notation {
		if err != nil {
			unavailable(ev, evidence.NeedNotation(cfg.Digest()), err)
			continue
		}
		res, verr := verifyNotation(ctx, cfg, repo, subject, opts.Notation, opts.Now())
		if verr != nil {
			unavailable(ev, evidence.NeedNotation(cfg.Digest()), verr)
		}
		ev.Signatures = append(ev.Signatures, res.Signatures...)
		ev.Rejected = append(ev.Rejected, res.Rejected...)
	}
}

// verifyNotation verifies the Notation signatures of subject with cfg at
// now.
func verifyNotation(ctx context.Context, cfg *trust.Config, repo oci.Repository, subject v1.Descriptor, opts notation.Options, now time.Time) (notation.Result, error) {
	v, err := notation.NewVerifier(cfg, opts)
	if err != nil {
		return notation.Result{}, err
	}
	return v.Verify(ctx, repo, subject, now)
}

// open is the repository and manifest descriptor evidence about art is
// attached to.
func open(art *oci.Artifact) (oci.Repository, v1.Descriptor, error) {
	repo, err := art.Repository()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	desc, err := art.SubjectDescriptor()
	return repo, desc, err
}
