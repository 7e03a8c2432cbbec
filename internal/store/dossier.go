package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Dossier gathers everything stored about one digest.
func (s *Store) Dossier(ctx context.Context, subject evidence.Subject) (*Dossier, error) {
	defer s.timed("dossier")()
	d := &Dossier{Subject: subject, Tags: []TagMove{}, Components: []evidence.Component{}, Findings: []StoredFinding{},
		Signatures: []evidence.VerifiedSignature{}, Attestations: []evidence.Attestation{}, Unverified: []evidence.RejectedSignature{},
		Exceptions: []evidence.Exception{}, Decisions: []evidence.Decision{}, Deployments: []Deployment{}, Admissions: []Admission{}}
	var id, first, last int64
	var scanned, scanDatabase sql.NullInt64
	var coverage sql.NullString
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, media_type, platform, first_seen, last_recorded, scanned_at, scan_database_version, scan_coverage FROM subjects WHERE repository = ? AND digest = ?`),
		subject.Repository, subject.Digest).Scan(&id, &d.MediaType, &d.Platform, &first, &last, &scanned, &scanDatabase, &coverage)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.FirstSeen, d.LastRecorded = fromMicros(first), fromMicros(last)
	if scanned.Valid {
		d.Scanned = &ScanInfo{At: fromMicros(scanned.Int64), DatabaseVersion: fromMicros(scanDatabase.Int64)}
		if coverage.Valid {
			if err := json.Unmarshal([]byte(coverage.String), &d.Scanned.Coverage); err != nil {
				return nil, fmt.Errorf("the scan coverage of %s: %w", subject, err)
			}
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT tag, observed_at, source FROM tag_moves WHERE repository = ? AND digest = ? ORDER BY observed_at, id`), subject.Repository, subject.Digest)
	if err != nil {
		return nil, err
	}
	err = each(rows, func() error {
		m := TagMove{Repository: subject.Repository, Digest: subject.Digest}
		var at int64
		if err := rows.Scan(&m.Tag, &at, &m.Source); err != nil {
			return err
		}
		m.ObservedAt = fromMicros(at)
		d.Tags = append(d.Tags, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT `+componentColumns+` FROM components c WHERE c.subject_id = ? ORDER BY c.name, c.version`), id)
	if err != nil {
		return nil, err
	}
	err = each(rows, func() error {
		var name, version, typ, purl string
		var doc []byte
		if err := rows.Scan(&name, &version, &typ, &purl, &doc); err != nil {
			return err
		}
		c, err := decodeComponent(name, version, typ, purl, doc)
		d.Components = append(d.Components, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	if d.Findings, err = s.findingsOf(ctx, id, false); err != nil {
		return nil, err
	}
	if d.Signatures, d.Attestations, d.Unverified, err = s.signaturesOf(ctx, id); err != nil {
		return nil, err
	}
	if err := s.decodeRows(ctx, `SELECT exception FROM exceptions WHERE digest = ? ORDER BY expires_at`, subject.Digest, func(doc []byte) error {
		var e evidence.Exception
		err := json.Unmarshal(doc, &e)
		if err == nil && e.Covers(subject) {
			d.Exceptions = append(d.Exceptions, e)
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.decodeRows(ctx, `SELECT decision FROM decisions WHERE subject_id = ? ORDER BY evaluated_at`, id, func(doc []byte) error {
		var dec evidence.Decision
		err := json.Unmarshal(doc, &dec)
		d.Decisions = append(d.Decisions, dec)
		return err
	}); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT namespace, workload, first_seen, last_seen FROM deployments WHERE subject_id = ? ORDER BY last_seen DESC, namespace, workload`), id)
	if err != nil {
		return nil, err
	}
	err = each(rows, func() error {
		dep := Deployment{Subject: subject}
		var first, last int64
		err := rows.Scan(&dep.Namespace, &dep.Workload, &first, &last)
		dep.FirstSeen, dep.LastSeen = fromMicros(first), fromMicros(last)
		d.Deployments = append(d.Deployments, dep)
		return err
	})
	if err != nil {
		return nil, err
	}
	if d.Admissions, err = s.admissions(ctx, `a.subject_id = ?`, []any{id}, dossierAdmissions); err != nil {
		return nil, err
	}
	return d, nil
}

// findingsOf reads a subject's findings (the open ones only when asked),
// in key order.
func (s *Store) findingsOf(ctx context.Context, id int64, openOnly bool) ([]StoredFinding, error) {
	open := ""
	if openOnly {
		open = ` AND f.resolved_at IS NULL`
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT d.finding, f.first_seen, f.last_seen, f.resolved_at, f.database_version
		FROM subject_findings f JOIN finding_keys k ON k.id = f.key_id JOIN finding_documents d ON d.id = f.document_id
		WHERE f.subject_id = ?`+open+` ORDER BY k.key`), id)
	if err != nil {
		return nil, err
	}
	out := []StoredFinding{}
	err = each(rows, func() error {
		var doc []byte
		var firstSeen, lastSeen, dbv int64
		var resolved sql.NullInt64
		if err := rows.Scan(&doc, &firstSeen, &lastSeen, &resolved, &dbv); err != nil {
			return err
		}
		f, err := storedFinding(doc, firstSeen, lastSeen, dbv, resolved)
		out = append(out, f)
		return err
	})
	return out, err
}

// signaturesOf reads a subject's verified signatures and attestations and
// the signatures that were found but not verified.
func (s *Store) signaturesOf(ctx context.Context, id int64) (sigs []evidence.VerifiedSignature, atts []evidence.Attestation, rejected []evidence.RejectedSignature, err error) {
	sigs, atts, rejected = []evidence.VerifiedSignature{}, []evidence.Attestation{}, []evidence.RejectedSignature{}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT predicate_type, verified, evidence FROM signatures WHERE subject_id = ? ORDER BY signed_at, stored_at`), id)
	if err != nil {
		return nil, nil, nil, err
	}
	err = each(rows, func() error {
		var pt, doc string
		var verified int
		if err := rows.Scan(&pt, &verified, &doc); err != nil {
			return err
		}
		switch {
		case verified == 0:
			rejected = append(rejected, evidence.RejectedSignature{})
			return json.Unmarshal([]byte(doc), &rejected[len(rejected)-1])
		case pt == evidence.PredicateSignatures:
			sigs = append(sigs, evidence.VerifiedSignature{})
			return json.Unmarshal([]byte(doc), &sigs[len(sigs)-1])
		default:
			atts = append(atts, evidence.Attestation{})
			return json.Unmarshal([]byte(doc), &atts[len(atts)-1])
		}
	})
	return sigs, atts, rejected, err
}

// RecordedEvidence is what the store holds about a digest, as the policy
// engine reads evidence: the signatures and attestations verified when
// recorded, those found but not verified, and the open findings of its
// last scan (unavailable when it was never scanned). Reference is the
// reference the digest was asked for by, when a tag. Nil when nothing is
// recorded about the digest.
func (s *Store) RecordedEvidence(ctx context.Context, subject evidence.Subject, reference string) (*evidence.Collected, error) {
	defer s.timed("recorded_evidence")()
	var id int64
	var scanned, scanDatabase sql.NullInt64
	var coverage sql.NullString
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, scanned_at, scan_database_version, scan_coverage FROM subjects WHERE repository = ? AND digest = ?`),
		subject.Repository, subject.Digest).Scan(&id, &scanned, &scanDatabase, &coverage)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ev := &evidence.Collected{Subject: subject, Reference: reference}
	if ev.Signatures, ev.Attestations, ev.Rejected, err = s.signaturesOf(ctx, id); err != nil {
		return nil, err
	}
	if !scanned.Valid {
		ev.Unavailable = map[string]string{evidence.NeedVulnerabilities: "the digest was never scanned with advisory data"}
		return ev, nil
	}
	vulns := &evidence.VulnerabilityEvidence{Findings: []evidence.Finding{}, DatabaseUpdated: fromMicros(scanDatabase.Int64), ScannedAt: fromMicros(scanned.Int64), Source: "local-database"}
	if coverage.Valid {
		if err := json.Unmarshal([]byte(coverage.String), &vulns.Coverage); err != nil {
			return nil, fmt.Errorf("the scan coverage of %s: %w", subject, err)
		}
	}
	open, err := s.findingsOf(ctx, id, true)
	if err != nil {
		return nil, err
	}
	for _, f := range open {
		vulns.Findings = append(vulns.Findings, f.Finding)
	}
	ev.Vulnerabilities = vulns
	return ev, nil
}

// dossierAdmissions bounds the admission decisions a dossier lists.
const dossierAdmissions = 100

// decodeRows runs a one-column query and hands each value to decode.
func (s *Store) decodeRows(ctx context.Context, query string, arg any, decode func([]byte) error) error {
	rows, err := s.db.QueryContext(ctx, s.q(query), arg)
	if err != nil {
		return err
	}
	return each(rows, func() error {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return err
		}
		return decode(doc)
	})
}

// each calls f for every row and closes rows.
func each(rows *sql.Rows, f func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := f(); err != nil {
			return err
		}
	}
	return rows.Err()
}
