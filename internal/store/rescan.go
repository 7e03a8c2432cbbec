package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// AdvisoryState is the advisory fingerprints the last rescan saw.
func (s *Store) AdvisoryState(ctx context.Context) (map[string]AdvisoryFingerprint, error) {
	defer s.timed("advisory_state")()
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

// idList is an IN list of row IDs: numbers, written into the statement.
func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ", ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// ComponentsOf lists, per digest, the stored components of the given
// advisory-index packages.
func (s *Store) ComponentsOf(ctx context.Context, packageKeys []string) ([]SubjectComponents, error) {
	defer s.timed("components_of")()
	// one package at a time, by its index: asked for hundreds at once, a
	// planner expecting millions of rows reads the whole table instead
	stmt, err := s.db.PrepareContext(ctx, s.q(`SELECT c.subject_id, `+componentColumns+` FROM components c WHERE c.package_key = ?`))
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	bySubject := map[int64][]evidence.Component{}
	for _, key := range packageKeys {
		rows, err := stmt.QueryContext(ctx, key)
		if err != nil {
			return nil, err
		}
		err = each(rows, func() error {
			var id int64
			var name, version, typ, purl string
			var doc []byte
			if err := rows.Scan(&id, &name, &version, &typ, &purl, &doc); err != nil {
				return err
			}
			c, err := decodeComponent(name, version, typ, purl, doc)
			bySubject[id] = append(bySubject[id], c)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	ids := make([]int64, 0, len(bySubject))
	for id := range bySubject {
		ids = append(ids, id)
	}
	out := make([]SubjectComponents, 0, len(bySubject))
	for start := 0; start < len(ids); start += 1000 {
		rows, err := s.db.QueryContext(ctx, `SELECT id, repository, digest FROM subjects WHERE id IN (`+idList(ids[start:min(start+1000, len(ids))])+`)`)
		if err != nil {
			return nil, err
		}
		if err := each(rows, func() error {
			var id int64
			var sc SubjectComponents
			err := rows.Scan(&id, &sc.Subject.Repository, &sc.Subject.Digest)
			sc.Components = bySubject[id]
			out = append(out, sc)
			return err
		}); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b SubjectComponents) int {
		return cmp.Or(strings.Compare(a.Subject.Repository, b.Subject.Repository), strings.Compare(a.Subject.Digest, b.Subject.Digest))
	})
	return out, nil
}

// Rescanned writes a rescan's results in a few statements however many
// digests it re-matched: changed nil means every advisory was re-evaluated
// (the first rescan).
func (s *Store) Rescanned(ctx context.Context, at, databaseVersion time.Time, changed []string, results []RescanResult, state map[string]AdvisoryFingerprint) ([]FindingHit, error) {
	defer s.timed("rescanned")()
	return s.rescanned(ctx, at, databaseVersion, changed, results, state, nil)
}

// RescannedForJob writes a batch of a rescan of every digest as a full
// rescan of those digests (every finding in scope, the advisory state
// left alone), and commits step with it: both or neither.
func (s *Store) RescannedForJob(ctx context.Context, at, databaseVersion time.Time, results []RescanResult, step JobStep) ([]FindingHit, error) {
	defer s.timed("rescanned_for_job")()
	return s.rescanned(ctx, at, databaseVersion, nil, results, nil, &step)
}

func (s *Store) rescanned(ctx context.Context, at, databaseVersion time.Time, changed []string, results []RescanResult, state map[string]AdvisoryFingerprint, step *JobStep) ([]FindingHit, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := micros(at)
	ids, err := s.subjectIDs(ctx, tx, results)
	if err != nil {
		return nil, err
	}
	all := make([]subjectFindings, 0, len(results))
	subjectOf := make(map[int64]evidence.Subject, len(results))
	for _, r := range results {
		if !r.CoverageOnly {
			all = append(all, subjectFindings{ids[r.Subject], r.Findings})
		}
		subjectOf[ids[r.Subject]] = r.Subject
	}
	fresh, err := s.upsertFindings(ctx, tx, now, micros(databaseVersion), all)
	if err != nil {
		return nil, fmt.Errorf("rescan: %w", err)
	}
	if err := s.resolveMissing(ctx, tx, now, changed, all); err != nil {
		return nil, fmt.Errorf("rescan: %w", err)
	}
	if step == nil {
		if err := s.saveState(ctx, tx, changed, state); err != nil {
			return nil, err
		}
	}
	for _, r := range results {
		if err := s.recheck(ctx, tx, ids[r.Subject], r.Rechecked); err != nil {
			return nil, fmt.Errorf("rescan: the coverage of %s: %w", r.Subject, err)
		}
	}
	if step != nil {
		if err := s.advance(ctx, tx, *step); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	hits := make([]FindingHit, len(fresh))
	for i, f := range fresh {
		hits[i] = FindingHit{Subject: subjectOf[f.subjectID], Finding: StoredFinding{Finding: f.finding, FirstSeen: at, LastSeen: at, DatabaseVersion: databaseVersion.UTC()}}
	}
	return hits, s.place(ctx, len(hits), nil, func(i int) (evidence.Subject, *Placement) { return hits[i].Subject, &hits[i].Placement })
}

// subjectIDs finds the row IDs of the results' digests.
func (s *Store) subjectIDs(ctx context.Context, tx *sql.Tx, results []RescanResult) (map[evidence.Subject]int64, error) {
	digests := make([]string, 0, len(results))
	for _, r := range results {
		digests = append(digests, r.Subject.Digest)
	}
	slices.Sort(digests)
	ids := make(map[evidence.Subject]int64, len(results))
	for _, chunk := range chunks(slices.Compact(digests), 1000) {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, repository, digest FROM subjects WHERE digest IN (`+placeholders(len(chunk))+`)`), anys(chunk)...)
		if err != nil {
			return nil, err
		}
		if err := each(rows, func() error {
			var id int64
			var subject evidence.Subject
			err := rows.Scan(&id, &subject.Repository, &subject.Digest)
			ids[subject] = id
			return err
		}); err != nil {
			return nil, err
		}
	}
	for _, r := range results {
		if _, ok := ids[r.Subject]; !ok {
			return nil, fmt.Errorf("rescan of %s: the digest is not in the store", r.Subject)
		}
	}
	return ids, nil
}

// resolveMissing resolves the open findings a rescan did not see again:
// after a full rescan, those of the re-matched digests; else those of the
// changed advisory records, in any digest (a digest that holds the
// package was re-matched; one that no longer does has no support for the
// finding either).
func (s *Store) resolveMissing(ctx context.Context, tx *sql.Tx, now int64, changed []string, all []subjectFindings) error {
	const resolve = `UPDATE subject_findings SET resolved_at = ? WHERE resolved_at IS NULL AND last_seen < ?`
	if changed == nil {
		subjects := make([]int64, len(all))
		for i, sf := range all {
			subjects[i] = sf.subjectID
		}
		for start := 0; start < len(subjects); start += 1000 {
			if _, err := tx.ExecContext(ctx, s.q(resolve+` AND subject_id IN (`+idList(subjects[start:min(start+1000, len(subjects))])+`)`), now, now); err != nil {
				return err
			}
		}
		return nil
	}
	for _, chunk := range chunks(changed, 1000) {
		if _, err := tx.ExecContext(ctx, s.q(resolve+` AND document_id IN (SELECT document_id FROM finding_document_ids WHERE record = 1 AND advisory_id IN (`+placeholders(len(chunk))+`))`),
			append([]any{now, now}, anys(chunk)...)...); err != nil {
			return err
		}
	}
	return nil
}

// saveState writes the advisory state: every advisory after a full rescan,
// else only the changed ones (removed ones deleted).
func (s *Store) saveState(ctx context.Context, tx *sql.Tx, changed []string, state map[string]AdvisoryFingerprint) error {
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

// recheck brings a digest's recorded coverage up to what a rescan made of
// some of its components: those now checked leave its not-checked list
// (and count as checked), those now not checked join it with the reason.
func (s *Store) recheck(ctx context.Context, tx *sql.Tx, id int64, rechecked []evidence.NotChecked) error {
	if len(rechecked) == 0 {
		return nil
	}
	var raw sql.NullString
	if err := tx.QueryRowContext(ctx, s.q(`SELECT scan_coverage FROM subjects WHERE id = ?`), id).Scan(&raw); err != nil || !raw.Valid {
		return err // a digest recorded without a scan's coverage has none to keep
	}
	var c evidence.Coverage
	if err := json.Unmarshal([]byte(raw.String), &c); err != nil {
		return err
	}
	now := map[string]bool{}
	for _, r := range rechecked {
		now[r.Component.PURL] = true
	}
	wasNot := map[string]bool{}
	kept := c.NotChecked[:0]
	for _, n := range c.NotChecked {
		if n.Component.PURL != "" && now[n.Component.PURL] {
			wasNot[n.Component.PURL] = true
			continue
		}
		kept = append(kept, n)
	}
	c.NotChecked = kept
	for _, r := range rechecked {
		switch {
		case r.Reason == "" && wasNot[r.Component.PURL]:
			c.Checked++
		case r.Reason != "":
			if !wasNot[r.Component.PURL] && c.Checked > 0 {
				c.Checked--
			}
			c.NotChecked = append(c.NotChecked, r)
		}
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE subjects SET scan_coverage = ? WHERE id = ?`), mustJSON(c), id)
	return err
}

// NotCheckedCoverage lists the digests whose last scan could not check
// some of their components, with what it could not: a rescan asks again.
func (s *Store) NotCheckedCoverage(ctx context.Context) ([]SubjectCoverage, error) {
	defer s.timed("not_checked_coverage")()
	rows, err := s.db.QueryContext(ctx, `SELECT repository, digest, scan_coverage FROM subjects WHERE scan_coverage LIKE '%"reason"%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SubjectCoverage
	for rows.Next() {
		var sc SubjectCoverage
		var raw string
		if err := rows.Scan(&sc.Subject.Repository, &sc.Subject.Digest, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &sc.Coverage); err != nil {
			return nil, fmt.Errorf("the scan coverage of %s: %w", sc.Subject, err)
		}
		if len(sc.Coverage.NotChecked) > 0 {
			out = append(out, sc)
		}
	}
	return out, rows.Err()
}
