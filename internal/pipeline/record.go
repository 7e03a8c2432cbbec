// Package pipeline runs dossier's multi-step flows over one digest: Record
// reads everything attached to an artifact, catalogues and scans it,
// decides with policies and writes it all to the evidence store; Release
// builds the evidence of a release in CI; Promote copies a digest where
// a destination's policies allow it; WatchOnce records a repository's new
// and moved tags; Jobs does the registry's scan and verify jobs; Rescan
// finds what new advisory data changes.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation"
	nottrust "github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// RecordOptions say what a record is verified, scanned and decided with.
type RecordOptions struct {
	// Trust verifies signatures and attestations; what does not verify is
	// stored as unverified.
	Trust *sign.Trust
	// DB scans the artifact's SBOM; nil records no findings.
	DB *vulndb.DB
	// Set decides; nil or without policies records no decision.
	Set      *policy.Set
	Platform *v1.Platform
	// Reference is the reference as given (a tag), for tag observations.
	Reference string
	Now       time.Time
	// Document and Report, when a caller already made them for this
	// artifact, are used instead of cataloguing and scanning again.
	Document *evidence.Document
	Report   *scan.Report
}

// Recorded summarises what a record wrote.
type Recorded struct {
	Subject      evidence.Subject   `json:"subject"`
	Tag          string             `json:"tag,omitempty"`
	Components   int                `json:"components"`
	Findings     int                `json:"findings"`
	Signatures   int                `json:"signatures"`
	Attestations int                `json:"attestations"`
	Unverified   int                `json:"unverified"`
	Decision     *evidence.Decision `json:"decision,omitempty"`
	// SignedBy lists who made the verified signatures.
	SignedBy []evidence.VerifiedSignature `json:"signedBy"`
}

// Record gathers everything about art and writes it to st in one
// transaction: signatures and every attestation attached (verified, or
// kept as unverified), the SBOM catalogued from the artifact itself, its
// findings against the local database, and the policies' decision.
func Record(ctx context.Context, st *store.Store, art *oci.Artifact, opts RecordOptions) (*Recorded, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	rec := store.Record{Subject: art.Subject, MediaType: art.MediaType, At: now, Tag: art.Tag, TagSource: "record"}
	repo, repoErr := art.Repository()
	if repoErr == nil {
		desc, err := art.SubjectDescriptor()
		if err != nil {
			return nil, err
		}
		if err := gatherSignatures(ctx, repo, desc, opts.Trust, opts.Set.NotationTrusts(), now, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", art.Subject, err)
		}
	}
	var exceptions []evidence.Exception
	if opts.Set != nil {
		exceptions = opts.Set.Exceptions
	}
	doc, report, err := catalogueAndScan(ctx, st, art, opts.Platform, opts.Document, opts.Report, opts.DB, exceptions, now, &rec)
	if err != nil {
		return nil, err
	}
	if doc.Subject != nil && doc.Subject.Digest != art.Subject.Digest {
		// what is attached to the catalogued platform's manifest (its SBOM
		// and scan attestations, signatures of a recursive signing) is part
		// of the index's dossier; each item names the digest it is about
		if repoErr == nil {
			desc, err := repo.Resolve(ctx, doc.Subject.Digest)
			if err != nil {
				return nil, fmt.Errorf("%s: platform %s: %w", art.Subject, rec.Platform, err)
			}
			var platform store.Record
			if err := gatherSignatures(ctx, repo, desc, opts.Trust, opts.Set.NotationTrusts(), now, &platform); err != nil {
				return nil, fmt.Errorf("%s: platform %s: %w", art.Subject, rec.Platform, err)
			}
			rec.Signatures = append(rec.Signatures, platform.Signatures...)
			rec.Attestations = append(rec.Attestations, platform.Attestations...)
			rec.Rejected = append(rec.Rejected, platform.Rejected...)
		}
	}
	var vulns *evidence.VulnerabilityEvidence
	if report != nil {
		vulns = report.Evidence()
	}
	out := &Recorded{Subject: art.Subject, Tag: art.Tag, Components: len(rec.Components), Signatures: len(rec.Signatures),
		Attestations: len(rec.Attestations), Unverified: len(rec.Rejected), SignedBy: rec.Signatures}
	if rec.Findings != nil {
		out.Findings = len(rec.Findings.Findings)
	}
	if opts.Set != nil && len(opts.Set.Policies) > 0 {
		// judged on what is attached to the subject itself: a platform
		// manifest's signature does not sign its index
		ev := evidence.OwnEvidence(&evidence.Collected{Subject: art.Subject, Reference: opts.Reference, Signatures: rec.Signatures, Attestations: rec.Attestations,
			Rejected: rec.Rejected, Vulnerabilities: vulns})
		if vulns == nil {
			ev.Unavailable = map[string]string{evidence.NeedVulnerabilities: "no local advisory database to scan with"}
		}
		d := policy.Evaluate(opts.Set, ev, now)
		rec.Decision, out.Decision = &d, &d
		rec.Exceptions = opts.Set.Exceptions
	}
	if err := st.Record(ctx, rec); err != nil {
		return nil, err
	}
	return out, nil
}

// Recatalogue catalogues art again (platform, when set, of an index) and
// scans the new SBOM with db (nil: no findings): the record that replaces
// the digest's stored SBOM and findings, leaving its signatures and
// decisions as they are.
func Recatalogue(ctx context.Context, st *store.Store, art *oci.Artifact, platform *v1.Platform, db *vulndb.DB, exceptions []evidence.Exception, now time.Time) (store.Record, error) {
	rec := store.Record{Subject: art.Subject, MediaType: art.MediaType, At: now}
	_, _, err := catalogueAndScan(ctx, st, art, platform, nil, nil, db, exceptions, now, &rec)
	return rec, err
}

// catalogueAndScan puts into rec the SBOM of art (doc, or catalogued
// now) and its scan (report, or made now with db when there is one).
func catalogueAndScan(ctx context.Context, st *store.Store, art *oci.Artifact, platform *v1.Platform, doc *evidence.Document, report *scan.Report,
	db *vulndb.DB, exceptions []evidence.Exception, now time.Time, rec *store.Record) (*evidence.Document, *scan.Report, error) {
	if doc == nil {
		var err error
		if doc, err = Catalogue(ctx, art, platform, LayerCache(st)); err != nil {
			return nil, nil, err
		}
	}
	rec.Components, rec.Cataloguer = doc.Components, doc.Cataloguer
	rec.PackageKeys = make([]string, len(doc.Components))
	for i, c := range doc.Components {
		rec.PackageKeys[i] = scan.PackageKey(c)
	}
	if doc.Subject != nil && doc.Subject.Digest != art.Subject.Digest {
		rec.Platform = platformOf(art, doc.Subject.Digest)
	}
	if report == nil && db != nil {
		var err error
		if report, err = scan.Scan(ctx, db, doc, scan.Config{Source: art.Source.Input, Exceptions: exceptions, Now: now}); err != nil {
			return nil, nil, err
		}
	}
	if report != nil {
		vulns := report.Evidence()
		rec.Findings = &store.Scan{Findings: vulns.Findings, DatabaseVersion: report.Database.LastImport, Coverage: vulns.Coverage}
	}
	return doc, report, nil
}

// RecordSignatures verifies what is attached to art — signatures and
// every attestation type, and Notation signatures with the set's trust
// configurations — and records it, leaving the digest's SBOM and findings
// as they are: what a registry does when a signature arrives.
func RecordSignatures(ctx context.Context, st *store.Store, art *oci.Artifact, trust *sign.Trust, set *policy.Set, now time.Time) (*Recorded, error) {
	repo, err := art.Repository()
	if err != nil {
		return nil, err
	}
	desc, err := art.SubjectDescriptor()
	if err != nil {
		return nil, err
	}
	rec := store.Record{Subject: art.Subject, MediaType: art.MediaType, At: now}
	if err := gatherSignatures(ctx, repo, desc, trust, set.NotationTrusts(), now, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", art.Subject, err)
	}
	if err := st.Record(ctx, rec); err != nil {
		return nil, err
	}
	return &Recorded{Subject: art.Subject, Signatures: len(rec.Signatures), Attestations: len(rec.Attestations), Unverified: len(rec.Rejected), SignedBy: rec.Signatures}, nil
}

// gatherSignatures verifies every signature and every attestation type
// attached to the subject, and its Notation signatures with each of the
// notations trust configurations whose trust policy covers the repository,
// at now.
func gatherSignatures(ctx context.Context, repo oci.Repository, desc v1.Descriptor, trust *sign.Trust, notations []*nottrust.Config, now time.Time, rec *store.Record) error {
	sigs, rejected, err := trust.VerifySignatures(ctx, repo, desc)
	if err != nil {
		return err
	}
	rec.Signatures, rec.Rejected = sigs, rejected
	for _, cfg := range notations {
		v, err := notation.NewVerifier(cfg, notation.Options{})
		if err != nil {
			return err
		}
		res, err := v.Verify(ctx, repo, desc, now)
		if errors.Is(err, notation.ErrNoStatement) {
			continue // this trust policy does not speak of the repository
		}
		if err != nil {
			return err
		}
		rec.Signatures = append(rec.Signatures, res.Signatures...)
		rec.Rejected = append(rec.Rejected, res.Rejected...)
	}
	tree, err := attest.Tree(ctx, repo, desc)
	if err != nil {
		return err
	}
	var types []string
	for _, a := range tree {
		if a.Kind == "attestation" && a.PredicateType != "" && !slices.Contains(types, a.PredicateType) {
			types = append(types, a.PredicateType)
		}
	}
	for _, pt := range types {
		atts, rej, err := attest.Verify(ctx, repo, desc, pt, trust)
		if err != nil {
			return err
		}
		rec.Attestations = append(rec.Attestations, atts...)
		rec.Rejected = append(rec.Rejected, rej...)
	}
	return nil
}

func platformOf(art *oci.Artifact, digest string) string {
	for _, p := range art.Platforms {
		if p.Digest == digest {
			return p.Platform
		}
	}
	return ""
}
