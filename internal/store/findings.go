package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// findingKey names a finding within a digest: its advisory and component.
func findingKey(f evidence.Finding) string {
	component := f.Component.PURL
	if component == "" {
		component = f.Component.Name + "@" + f.Component.Version
	}
	return f.ID + " " + component
}

// subjectFindings are findings of one digest, by its row ID.
type subjectFindings struct {
	subjectID int64
	findings  []evidence.Finding
}

// freshFinding is a finding a write saw first.
type freshFinding struct {
	subjectID int64
	finding   evidence.Finding
}

// upsertFindings writes findings of digests seen at at: each document once
// per content, each digest's finding as a row pointing to it (first seen
// kept, last seen moved, a resolved finding reopened). It returns the
// findings seen for the first time.
func (s *Store) upsertFindings(ctx context.Context, tx *sql.Tx, at, databaseVersion int64, all []subjectFindings) ([]freshFinding, error) {
	type row struct {
		subjectID int64
		key, hash string
	}
	var rows []row
	findingOf := map[string]evidence.Finding{} // by document hash
	keyRows, docRows := [][]any{}, [][]any{}
	seenKey := map[string]bool{}
	for _, sf := range all {
		byKey := map[string]evidence.Finding{}
		for _, f := range sf.findings {
			byKey[findingKey(f)] = f // one row per key: the last finding wins
		}
		for key, f := range byKey {
			doc := mustJSON(f)
			sum := sha256.Sum256([]byte(doc))
			hash := hex.EncodeToString(sum[:])
			rows = append(rows, row{sf.subjectID, key, hash})
			if !seenKey[key] {
				seenKey[key] = true
				keyRows = append(keyRows, []any{key})
			}
			if _, ok := findingOf[hash]; !ok {
				findingOf[hash] = f
				docRows = append(docRows, []any{hash, doc})
			}
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	keyIDs, _, err := s.intern(ctx, tx, "finding_keys", []string{"key"}, keyRows)
	if err != nil {
		return nil, err
	}
	docIDs, created, err := s.intern(ctx, tx, "finding_documents", []string{"hash", "finding"}, docRows)
	if err != nil {
		return nil, err
	}
	var idRows [][]any
	for _, hash := range created {
		f := findingOf[hash]
		record := map[string]int{}
		for _, id := range f.IDs() {
			record[id] = 0
		}
		for _, id := range f.Advisories {
			record[id] = 1
		}
		for id, isRecord := range record {
			idRows = append(idRows, []any{id, docIDs[hash], isRecord})
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO finding_document_ids (advisory_id, document_id, record) VALUES `, 3,
		` ON CONFLICT (advisory_id, document_id) DO NOTHING`, idRows); err != nil {
		return nil, err
	}
	values := make([][]any, len(rows))
	for i, r := range rows {
		values[i] = []any{r.subjectID, keyIDs[r.key], docIDs[r.hash], at, at, databaseVersion}
	}
	// the same order in every transaction, so that concurrent writers of
	// one digest cannot deadlock
	slices.SortFunc(values, func(a, b []any) int {
		return cmp.Or(cmp.Compare(a[0].(int64), b[0].(int64)), cmp.Compare(a[1].(int64), b[1].(int64)))
	})
	docOf := map[int64]string{}
	for hash, id := range docIDs {
		docOf[id] = hash
	}
	var fresh []freshFinding
	err = inBatches(values, 6, func(_ [][]any, list string, args []any) error {
		q, err := tx.QueryContext(ctx, s.q(`INSERT INTO subject_findings (subject_id, key_id, document_id, first_seen, last_seen, database_version) VALUES `+list+
			` ON CONFLICT (subject_id, key_id) DO UPDATE SET last_seen = excluded.last_seen, resolved_at = NULL,
			document_id = excluded.document_id, database_version = excluded.database_version
			RETURNING subject_id, document_id, first_seen`), args...)
		if err != nil {
			return err
		}
		return each(q, func() error {
			var subjectID, documentID, firstSeen int64
			if err := q.Scan(&subjectID, &documentID, &firstSeen); err != nil {
				return err
			}
			if firstSeen == at {
				fresh = append(fresh, freshFinding{subjectID, findingOf[docOf[documentID]]})
			}
			return nil
		})
	})
	return fresh, err
}

// maxParameters bounds one statement's parameters, below both backends'
// limits.
const maxParameters = 30000

// insertRows inserts rows of cols values with as few statements as the
// parameter limit allows.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, insert string, cols int, suffix string, rows [][]any) error {
	return inBatches(rows, cols, func(batch [][]any, values string, args []any) error {
		_, err := tx.ExecContext(ctx, s.q(insert+values+suffix), args...)
		return err
	})
}

// inBatches hands f the rows in batches, each with its VALUES list and
// flattened arguments.
func inBatches(rows [][]any, cols int, f func(batch [][]any, values string, args []any) error) error {
	per := max(1, min(1000, maxParameters/cols))
	row := "(" + placeholders(cols) + ")"
	for start := 0; start < len(rows); start += per {
		batch := rows[start:min(start+per, len(rows))]
		args := make([]any, 0, len(batch)*cols)
		for _, r := range batch {
			args = append(args, r...)
		}
		values := strings.TrimSuffix(strings.Repeat(row+", ", len(batch)), ", ")
		if err := f(batch, values, args); err != nil {
			return err
		}
	}
	return nil
}

// intern finds or creates rows identified by their first column (unique)
// and returns their IDs by that value, and the values it created. Rows go
// in sorted, so that concurrent writers take locks in the same order.
func (s *Store) intern(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any) (map[string]int64, []string, error) {
	slices.SortFunc(rows, func(a, b []any) int { return strings.Compare(a[0].(string), b[0].(string)) })
	ids := make(map[string]int64, len(rows))
	var created []string
	err := inBatches(rows, len(cols), func(batch [][]any, values string, args []any) error {
		q, err := tx.QueryContext(ctx, s.q(`INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES `+values+
			` ON CONFLICT (`+cols[0]+`) DO NOTHING RETURNING id, `+cols[0]), args...)
		if err != nil {
			return err
		}
		if err := each(q, func() error {
			var id int64
			var v string
			err := q.Scan(&id, &v)
			ids[v] = id
			created = append(created, v)
			return err
		}); err != nil {
			return err
		}
		var existing []any
		for _, r := range batch {
			if _, ok := ids[r[0].(string)]; !ok {
				existing = append(existing, r[0])
			}
		}
		if len(existing) == 0 {
			return nil
		}
		q, err = tx.QueryContext(ctx, s.q(`SELECT id, `+cols[0]+` FROM `+table+` WHERE `+cols[0]+` IN (`+placeholders(len(existing))+`)`), existing...)
		if err != nil {
			return err
		}
		return each(q, func() error {
			var id int64
			var v string
			err := q.Scan(&id, &v)
			ids[v] = id
			return err
		})
	})
	if err == nil && len(ids) != len(rows) {
		err = fmt.Errorf("%s: %d of %d rows found after writing them", table, len(ids), len(rows))
	}
	return ids, created, err
}

// storedFinding reads a finding row's document and times.
func storedFinding(doc []byte, firstSeen, lastSeen, databaseVersion int64, resolved sql.NullInt64) (StoredFinding, error) {
	var f StoredFinding
	if err := json.Unmarshal(doc, &f.Finding); err != nil {
		return f, err
	}
	f.FirstSeen, f.LastSeen, f.DatabaseVersion = fromMicros(firstSeen), fromMicros(lastSeen), fromMicros(databaseVersion)
	if resolved.Valid {
		t := fromMicros(resolved.Int64)
		f.ResolvedAt = &t
	}
	return f, nil
}
