package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// moveAdmissionDecisions moves the decisions version-9 stores kept in
// each admission row into shared documents.
func moveAdmissionDecisions(ctx context.Context, s *Store, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, decision FROM admissions WHERE decision IS NOT NULL`)
	if err != nil {
		return err
	}
	byHash := map[string][]int64{}
	var docRows [][]any
	if err := each(rows, func() error {
		var id int64
		var doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return err
		}
		var d evidence.Decision
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return fmt.Errorf("admission %d: its decision: %w", id, err)
		}
		doc, hash := decisionDocument(d)
		if _, ok := byHash[hash]; !ok {
			docRows = append(docRows, []any{hash, doc})
		}
		byHash[hash] = append(byHash[hash], id)
		return nil
	}); err != nil {
		return err
	}
	docIDs, _, err := s.intern(ctx, tx, "decision_documents", []string{"hash", "decision"}, docRows)
	if err != nil {
		return err
	}
	for hash, admissions := range byHash {
		for len(admissions) > 0 {
			chunk := admissions[:min(1000, len(admissions))]
			admissions = admissions[len(chunk):]
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE admissions SET decision_id = ? WHERE id IN (`+idList(chunk)+`)`), docIDs[hash]); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `ALTER TABLE admissions DROP COLUMN decision`)
	return err
}

// moveFindings brings version 3 findings (a whole document per digest and
// finding, with its IDs in finding_ids) into the shared layout.
func moveFindings(ctx context.Context, s *Store, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT subject_id, finding, first_seen, last_seen, resolved_at, database_version FROM findings ORDER BY subject_id`)
	if err != nil {
		return err
	}
	type old struct {
		subject, first, last, dbv int64
		resolved                  sql.NullInt64
		finding                   evidence.Finding
	}
	var all []old
	err = each(rows, func() error {
		var o old
		var doc []byte
		if err := rows.Scan(&o.subject, &doc, &o.first, &o.last, &o.resolved, &o.dbv); err != nil {
			return err
		}
		all = append(all, o)
		return json.Unmarshal(doc, &all[len(all)-1].finding)
	})
	if err != nil {
		return err
	}
	for _, o := range all {
		if _, err := s.upsertFindings(ctx, tx, o.last, o.dbv, []subjectFindings{{o.subject, []evidence.Finding{o.finding}}}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE subject_findings SET first_seen = ?, resolved_at = ? WHERE subject_id = ? AND key_id = (SELECT id FROM finding_keys WHERE key = ?)`),
			o.first, o.resolved, o.subject, findingKey(o.finding)); err != nil {
			return err
		}
	}
	for _, stmt := range []string{`DROP TABLE finding_ids`, `DROP TABLE findings`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// countAdmissionRepositoryDays names the repository of each admission
// recorded before, fills admission_repository_days from them, in batches,
// and drops the per-day counts it replaces.
func countAdmissionRepositoryDays(ctx context.Context, s *Store, tx *sql.Tx) error {
	after := int64(0)
	for {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT a.id, a.at, a.image, a.outcome, COALESCE(s.repository, ''), COALESCE(s.digest, ''), a.subject_id
			FROM admissions a LEFT JOIN subjects s ON s.id = a.subject_id WHERE a.id > ? ORDER BY a.id LIMIT 5000`), after)
		if err != nil {
			return err
		}
		var batch []Admission
		var batchIDs []int64
		ids := map[evidence.Subject]int64{}
		err = each(rows, func() error {
			var a Admission
			var at int64
			var subject sql.NullInt64
			if err := rows.Scan(&after, &at, &a.Image, &a.Outcome, &a.Subject.Repository, &a.Subject.Digest, &subject); err != nil {
				return err
			}
			a.At = fromMicros(at)
			if subject.Valid {
				ids[a.Subject] = subject.Int64
			}
			batch, batchIDs = append(batch, a), append(batchIDs, after)
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		if err := s.countDays(ctx, tx, batch, ids); err != nil {
			return err
		}
		for i, a := range batch {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE admissions SET repository = ? WHERE id = ?`), a.Repository(), batchIDs[i]); err != nil {
				return err
			}
		}
	}
	_, err := tx.ExecContext(ctx, `DROP TABLE admission_days`)
	return err
}

// countAdmissionDays fills admission_days from the admissions recorded
// before it existed.
func countAdmissionDays(ctx context.Context, s *Store, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO admission_days (day, outcome, decisions, pinned, signed)
		SELECT day, outcome, COUNT(*), SUM(pinned), SUM(signed) FROM (SELECT (a.at / ?) * ? AS day, a.outcome,
			CASE WHEN a.image LIKE '%@sha256:%' THEN 1 ELSE 0 END AS pinned,
			CASE WHEN EXISTS (SELECT 1 FROM signatures g WHERE g.subject_id = a.subject_id AND g.verified = 1 AND g.predicate_type = ?) THEN 1 ELSE 0 END AS signed
		FROM admissions a) counted GROUP BY day, outcome`), dayMicros, dayMicros, evidence.PredicateSignatures)
	return err
}

// keyLongImages gives the admissions whose image is too long to be its own
// key the image's hash as one (the shorter ones were keyed by a statement).
func keyLongImages(ctx context.Context, s *Store, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, image FROM admissions WHERE length(image) > 256`)
	if err != nil {
		return err
	}
	keys := map[int64]string{}
	if err := each(rows, func() error {
		var id int64
		var image string
		err := rows.Scan(&id, &image)
		keys[id] = imageKey(image)
		return err
	}); err != nil {
		return err
	}
	for id, key := range keys {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE admissions SET image_key = ? WHERE id = ?`), key, id); err != nil {
			return err
		}
	}
	return nil
}
