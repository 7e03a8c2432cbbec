package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Record writes records in one transaction: all of them or none (a
// backfill writes many at once, paying for the indexes' pages once).
func (s *Store) Record(ctx context.Context, records ...Record) error {
	defer s.timed("record")()
	return s.recordAll(ctx, nil, records)
}

// RecordForJob writes records as Record does, and commits step with them:
// a maintenance job's batch and its progress, both or neither.
func (s *Store) RecordForJob(ctx context.Context, step JobStep, records ...Record) error {
	defer s.timed("record_for_job")()
	return s.recordAll(ctx, &step, records)
}

func (s *Store) recordAll(ctx context.Context, step *JobStep, records []Record) error {
	for _, r := range records {
		if !evidence.ValidDigest(r.Subject.Digest) || r.Subject.Repository == "" {
			return fmt.Errorf("recording %q: a record needs a repository and a digest", r.Subject)
		}
		if r.At.IsZero() {
			return fmt.Errorf("recording %s: the record has no time", r.Subject)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	defer tx.Rollback()
	for _, r := range records {
		if err := s.record(ctx, tx, r); err != nil {
			return fmt.Errorf("recording %s: %w", r.Subject, err)
		}
	}
	if step != nil {
		if err := s.advance(ctx, tx, *step); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

func (s *Store) record(ctx context.Context, tx *sql.Tx, r Record) error {
	at := micros(r.At)
	var id int64
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO subjects (repository, digest, media_type, platform, first_seen, last_recorded)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET last_recorded = excluded.last_recorded,
			media_type = CASE WHEN excluded.media_type <> '' THEN excluded.media_type ELSE subjects.media_type END,
			platform = CASE WHEN excluded.platform <> '' THEN excluded.platform ELSE subjects.platform END
		RETURNING id`), r.Subject.Repository, r.Subject.Digest, r.MediaType, r.Platform, at, at).Scan(&id)
	if err != nil {
		return err
	}
	if r.Tag != "" {
		var latest string
		err := tx.QueryRowContext(ctx, s.q(`SELECT digest FROM tag_moves WHERE repository = ? AND tag = ? ORDER BY observed_at DESC, id DESC LIMIT 1`),
			r.Subject.Repository, r.Tag).Scan(&latest)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if latest != r.Subject.Digest {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO tag_moves (repository, tag, digest, observed_at, source) VALUES (?, ?, ?, ?, ?)`),
				r.Subject.Repository, r.Tag, r.Subject.Digest, at, r.TagSource); err != nil {
				return err
			}
		}
	}
	if r.Components != nil {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM components WHERE subject_id = ?`), id); err != nil {
			return err
		}
		if r.PackageKeys != nil && len(r.PackageKeys) != len(r.Components) {
			return fmt.Errorf("%d package keys for %d components", len(r.PackageKeys), len(r.Components))
		}
		if err := s.insertComponents(ctx, tx, id, r.Components, r.PackageKeys); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE subjects SET catalogued_by = ? WHERE id = ?`), r.Cataloguer, id); err != nil {
			return err
		}
	}
	if r.Findings != nil {
		if err := s.recordFindings(ctx, tx, id, at, r.Findings); err != nil {
			return err
		}
	}
	for _, v := range r.Signatures {
		if err := s.recordSignature(ctx, tx, id, at, evidence.PredicateSignatures, true, v.Verification, mustJSON(v)); err != nil {
			return err
		}
	}
	for _, a := range r.Attestations {
		if err := s.recordSignature(ctx, tx, id, at, a.PredicateType, true, a.Verification, mustJSON(a)); err != nil {
			return err
		}
	}
	for _, rej := range r.Rejected {
		v := evidence.Verification{StoredAt: rej.StoredAt}
		if err := s.recordSignature(ctx, tx, id, at, rej.PredicateType, false, v, mustJSON(rej)); err != nil {
			return err
		}
	}
	for _, e := range r.Exceptions {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO exceptions (namespace, name, digest, expires_at, exception) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (namespace, name) DO UPDATE SET digest = excluded.digest, expires_at = excluded.expires_at, exception = excluded.exception`),
			e.Namespace, e.Name, e.Subject.Digest, micros(e.ExpiresAt), mustJSON(e)); err != nil {
			return err
		}
	}
	if r.Decision != nil {
		return s.recordDecision(ctx, tx, id, r.Decision)
	}
	return nil
}

// insertComponents writes a digest's components, lean: the columns, and a
// document with only what they do not hold.
func (s *Store) insertComponents(ctx context.Context, tx *sql.Tx, id int64, comps []evidence.Component, keys []string) error {
	rows := make([][]any, len(comps))
	for i, c := range comps {
		key := ""
		if keys != nil {
			key = keys[i]
		}
		rows[i] = []any{id, purlBase(c.PURL), c.PURL, c.Name, c.Version, c.Type, leanDocument(c), key}
	}
	return s.insertRows(ctx, tx, `INSERT INTO components (subject_id, purl_base, purl, name, version, type, component, package_key) VALUES `, 8, "", rows)
}

// leanDocument keeps what the component columns do not.
func leanDocument(c evidence.Component) string {
	if len(c.Locations) == 0 && len(c.Licenses) == 0 {
		return "{}"
	}
	return mustJSON(evidence.Component{Locations: c.Locations, Licenses: c.Licenses})
}

// decodeComponent rebuilds a component from its columns and document
// (older rows hold the whole component in the document).
func decodeComponent(name, version, typ, purl string, doc []byte) (evidence.Component, error) {
	var c evidence.Component
	if err := json.Unmarshal(doc, &c); err != nil {
		return c, err
	}
	c.Name, c.Version, c.Type = name, version, typ
	if purl != "" {
		c.PURL = purl
	}
	return c, nil
}

// recordFindings upserts the scan's findings and marks resolved the
// digest's findings the scan no longer has.
func (s *Store) recordFindings(ctx context.Context, tx *sql.Tx, id, at int64, scan *Scan) error {
	if _, err := s.upsertFindings(ctx, tx, at, micros(scan.DatabaseVersion), []subjectFindings{{id, scan.Findings}}); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE subject_findings SET resolved_at = ? WHERE subject_id = ? AND resolved_at IS NULL AND last_seen < ?`), at, id, at); err != nil {
		return err
	}
	var coverage *string
	if scan.Coverage != nil {
		c := mustJSON(scan.Coverage)
		coverage = &c
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE subjects SET scanned_at = ?, scan_database_version = ?, scan_coverage = ? WHERE id = ?`), at, micros(scan.DatabaseVersion), coverage, id)
	return err
}

func (s *Store) recordSignature(ctx context.Context, tx *sql.Tx, id, at int64, predicateType string, verified bool, v evidence.Verification, doc string) error {
	signedAt := at
	var signingTime *int64
	if v.SigningTime != nil {
		t := micros(*v.SigningTime)
		signingTime, signedAt = &t, t
	}
	flag := 0
	if verified {
		flag = 1
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO signatures (subject_id, predicate_type, stored_at, verified, key_fingerprint, identity, issuer, signing_time, signed_at, evidence)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subject_id, predicate_type, stored_at, key_fingerprint, identity, issuer) DO UPDATE SET verified = excluded.verified, evidence = excluded.evidence`),
		id, predicateType, v.StoredAt, flag, v.Signer.KeyFingerprint, signerIdentity(v.Signer), v.Signer.Issuer, signingTime, signedAt, doc)
	return err
}

// signerIdentity is what the identity column holds: the keyless identity,
// or a Notation signer's certificate subject (so that queries by identity
// find both).
func signerIdentity(s evidence.Signer) string {
	if s.CertificateSubject != "" {
		return s.CertificateSubject
	}
	return s.Identity
}

// recordDecision appends a decision unless it repeats the latest one.
func (s *Store) recordDecision(ctx context.Context, tx *sql.Tx, id int64, d *evidence.Decision) error {
	var latest string
	err := tx.QueryRowContext(ctx, s.q(`SELECT decision FROM decisions WHERE subject_id = ? ORDER BY evaluated_at DESC LIMIT 1`), id).Scan(&latest)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if latest != "" {
		var prev evidence.Decision
		if json.Unmarshal([]byte(latest), &prev) == nil && prev.Allowed == d.Allowed && mustJSON(prev.Rules) == mustJSON(d.Rules) {
			return nil
		}
	}
	allowed := 0
	if d.Allowed {
		allowed = 1
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO decisions (subject_id, evaluated_at, allowed, decision) VALUES (?, ?, ?, ?)`), id, micros(d.EvaluatedAt), allowed, mustJSON(d))
	return err
}
