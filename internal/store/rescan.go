package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

func (s *sqlStore) AdvisoryState(ctx context.Context) (map[string]AdvisoryFingerprint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, fingerprint, packages FROM advisory_state`)
	if err != nil {
		return nil, err
	}
	out := map[string]AdvisoryFingerprint{}
	err = each(rows, func() error {
		var id, packages string
		var f AdvisoryFingerprint
		if err := rows.Scan(&id, &f.Hash, &packages); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(packages), &f.Packages); err != nil {
			return err
		}
		out[id] = f
		return nil
	})
	return out, err
}

// chunks splits values for IN lists both backends accept.
func chunks(values []string, size int) [][]string {
	var out [][]string
	for len(values) > size {
		out = append(out, values[:size])
		values = values[size:]
	}
	if len(values) > 0 {
		out = append(out, values)
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func (s *sqlStore) ComponentsOf(ctx context.Context, packageKeys []string) ([]SubjectComponents, error) {
	bySubject := map[evidence.Subject]*SubjectComponents{}
	var order []evidence.Subject
	for _, chunk := range chunks(packageKeys, 500) {
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT s.repository, s.digest, `+componentColumns+` FROM components c JOIN subjects s ON s.id = c.subject_id
			WHERE c.package_key IN (`+placeholders(len(chunk))+`) ORDER BY s.repository, s.digest`), args...)
		if err != nil {
			return nil, err
		}
		err = each(rows, func() error {
			var subject evidence.Subject
			var name, version, typ, purl string
			var doc []byte
			if err := rows.Scan(&subject.Repository, &subject.Digest, &name, &version, &typ, &purl, &doc); err != nil {
				return err
			}
			c, err := decodeComponent(name, version, typ, purl, doc)
			if err != nil {
				return err
			}
			sc, ok := bySubject[subject]
			if !ok {
				sc = &SubjectComponents{Subject: subject}
				bySubject[subject] = sc
				order = append(order, subject)
			}
			sc.Components = append(sc.Components, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]SubjectComponents, 0, len(order))
	for _, subject := range order {
		out = append(out, *bySubject[subject])
	}
	return out, nil
}

// Rescanned writes a rescan's results: changed nil means every advisory
// was re-evaluated (the first rescan).
func (s *sqlStore) Rescanned(ctx context.Context, at, databaseVersion time.Time, changed []string, results []RescanResult, state map[string]AdvisoryFingerprint) ([]FindingHit, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := micros(at)
	var fresh []FindingHit
	for _, r := range results {
		var id int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM subjects WHERE repository = ? AND digest = ?`), r.Subject.Repository, r.Subject.Digest).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("rescan of %s: %w", r.Subject, err)
		}
		if err := s.upsertFindings(ctx, tx, id, now, r.Findings, micros(databaseVersion)); err != nil {
			return nil, fmt.Errorf("rescan of %s: %w", r.Subject, err)
		}
		if err := s.resolveMissing(ctx, tx, id, now, changed); err != nil {
			return nil, fmt.Errorf("rescan of %s: %w", r.Subject, err)
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT d.finding FROM subject_findings f JOIN finding_documents d ON d.id = f.document_id
			WHERE f.subject_id = ? AND f.first_seen = ?`), id, now)
		if err != nil {
			return nil, err
		}
		err = each(rows, func() error {
			h := FindingHit{Subject: r.Subject, Tags: []string{}}
			var doc string
			if err := rows.Scan(&doc); err != nil {
				return err
			}
			h.Finding.FirstSeen, h.Finding.LastSeen, h.Finding.DatabaseVersion = at, at, databaseVersion.UTC()
			fresh = append(fresh, h)
			return json.Unmarshal([]byte(doc), &fresh[len(fresh)-1].Finding.Finding)
		})
		if err != nil {
			return nil, err
		}
	}
	if err := s.saveState(ctx, tx, changed, state); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return fresh, s.fillTags(ctx, len(fresh), func(i int) (evidence.Subject, *[]string) { return fresh[i].Subject, &fresh[i].Tags })
}

// resolveMissing resolves a digest's open findings of the changed
// advisories that the rescan did not see again.
func (s *sqlStore) resolveMissing(ctx context.Context, tx *sql.Tx, id, now int64, changed []string) error {
	const resolve = `UPDATE subject_findings SET resolved_at = ? WHERE subject_id = ? AND resolved_at IS NULL AND last_seen < ?`
	if changed == nil {
		_, err := tx.ExecContext(ctx, s.q(resolve), now, id, now)
		return err
	}
	for _, chunk := range chunks(changed, 500) {
		args := []any{now, id, now}
		for _, c := range chunk {
			args = append(args, c)
		}
		if _, err := tx.ExecContext(ctx, s.q(resolve+` AND document_id IN (SELECT document_id FROM finding_document_ids WHERE advisory_id IN (`+placeholders(len(chunk))+`))`), args...); err != nil {
			return err
		}
	}
	return nil
}

// saveState writes the advisory state: every advisory after a full rescan,
// else only the changed ones (removed ones deleted).
func (s *sqlStore) saveState(ctx context.Context, tx *sql.Tx, changed []string, state map[string]AdvisoryFingerprint) error {
	ids := changed
	if changed == nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM advisory_state`); err != nil {
			return err
		}
		for id := range state {
			ids = append(ids, id)
		}
	}
	upsert, err := tx.PrepareContext(ctx, s.q(`INSERT INTO advisory_state (id, fingerprint, packages) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, packages = excluded.packages`))
	if err != nil {
		return err
	}
	defer upsert.Close()
	for _, id := range ids {
		f, ok := state[id]
		if !ok {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM advisory_state WHERE id = ?`), id); err != nil {
				return err
			}
			continue
		}
		if _, err := upsert.ExecContext(ctx, id, f.Hash, mustJSON(f.Packages)); err != nil {
			return err
		}
	}
	return nil
}
