package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Day is what a team measures of one day: the admission decisions made in
// it, how many admitted images were written by digest and how many
// carried a verified signature, and the findings open at its end.
type Day struct {
	Start time.Time `json:"start"`
	// Admissions counts decisions by outcome (allowed, denied, audited,
	// waived, failed-open).
	Admissions map[string]int `json:"admissions"`
	// Admitted counts images admitted to run; Pinned those of them written
	// by digest, Signed those whose digest has a verified signature.
	Admitted int `json:"admitted"`
	Pinned   int `json:"pinned"`
	Signed   int `json:"signed"`
	// OpenFindings counts the findings open (neither resolved nor
	// suppressed) at the day's end, by severity rating.
	OpenFindings map[string]int `json:"openFindings"`
}

const day = 24 * time.Hour

// dayMicros is a day in the store's time unit.
var dayMicros = day.Microseconds()

// Trend measures the UTC days days starting at from's, oldest first, in
// the repositories scope sees: the sums are made of their counts only.
func (s *Store) Trend(ctx context.Context, from time.Time, days int, scope Scope) ([]Day, error) {
	defer s.timed("trend")()
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("a trend spans 1 to 366 days, not %d", days)
	}
	from = from.UTC().Truncate(day)
	out := make([]Day, days)
	for i := range out {
		out[i] = Day{Start: from.Add(time.Duration(i) * day), Admissions: map[string]int{}, OpenFindings: map[string]int{}}
	}
	start, end := micros(from), micros(from.Add(time.Duration(days)*day))
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT day, repository, outcome, decisions, pinned, signed FROM admission_repository_days WHERE day >= ? AND day < ?`), start, end)
	if err != nil {
		return nil, err
	}
	err = each(rows, func() error {
		var at int64
		var repository, outcome string
		var n, pinned, signed int
		if err := rows.Scan(&at, &repository, &outcome, &n, &pinned, &signed); err != nil {
			return err
		}
		if !scope.sees(repository) {
			return nil
		}
		d := &out[(at-start)/dayMicros]
		d.Admissions[outcome] += n
		if outcome != AdmissionDenied {
			d.Admitted += n
			d.Pinned += pinned
			d.Signed += signed
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, s.openFindings(ctx, out, scope)
}

// countDays adds a batch of admissions to admission_repository_days (per
// day, repository and outcome): a digest counts as signed when a verified
// signature of it is recorded.
func (s *Store) countDays(ctx context.Context, tx *sql.Tx, admissions []Admission, ids map[evidence.Subject]int64) error {
	var subjectIDs []any
	for _, id := range ids {
		subjectIDs = append(subjectIDs, id)
	}
	signed := map[int64]bool{}
	for len(subjectIDs) > 0 {
		chunk := subjectIDs[:min(len(subjectIDs), 500)]
		subjectIDs = subjectIDs[len(chunk):]
		rows, err := tx.QueryContext(ctx, s.q(`SELECT DISTINCT subject_id FROM signatures WHERE verified = 1 AND predicate_type = ? AND subject_id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`)`), append([]any{evidence.PredicateSignatures}, chunk...)...)
		if err != nil {
			return err
		}
		if err := each(rows, func() error {
			var id int64
			err := rows.Scan(&id)
			signed[id] = true
			return err
		}); err != nil {
			return err
		}
	}
	type key struct {
		day                 int64
		repository, outcome string
	}
	counts := map[key]*[3]int{}
	var keys []key
	for _, a := range admissions {
		k := key{micros(a.At.UTC().Truncate(day)), a.Repository(), a.Outcome}
		c, ok := counts[k]
		if !ok {
			c = &[3]int{}
			counts[k] = c
			keys = append(keys, k)
		}
		c[0]++
		if strings.Contains(a.Image, "@sha256:") {
			c[1]++
		}
		if id, ok := ids[a.Subject]; ok && signed[id] {
			c[2]++
		}
	}
	rows := make([][]any, len(keys))
	for i, k := range keys {
		c := counts[k]
		rows[i] = []any{k.day, k.repository, k.outcome, c[0], c[1], c[2]}
	}
	return inBatches(rows, 6, func(_ [][]any, values string, args []any) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO admission_repository_days (day, repository, outcome, decisions, pinned, signed) VALUES `+values+`
			ON CONFLICT (day, repository, outcome) DO UPDATE SET decisions = admission_repository_days.decisions + excluded.decisions,
			pinned = admission_repository_days.pinned + excluded.pinned, signed = admission_repository_days.signed + excluded.signed`), args...)
		return err
	})
}

// openFindings counts, per day end, the findings open then in the
// repositories scope sees: one pass over the findings that overlap the
// span, summed per finding document and repository (a document's
// severity is read once).
func (s *Store) openFindings(ctx context.Context, days []Day, scope Scope) error {
	var sums []string
	var args []any
	for i := range days {
		end := micros(days[i].Start.Add(day))
		sums = append(sums, `SUM(CASE WHEN f.first_seen < ? AND (f.resolved_at IS NULL OR f.resolved_at >= ?) THEN 1 ELSE 0 END)`)
		args = append(args, end, end)
	}
	first, last := micros(days[0].Start.Add(day)), micros(days[len(days)-1].Start.Add(day))
	args = append(args, last, first)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT f.document_id, s.repository, `+strings.Join(sums, ", ")+` FROM subject_findings f JOIN subjects s ON s.id = f.subject_id
		WHERE f.first_seen < ? AND (f.resolved_at IS NULL OR f.resolved_at >= ?) GROUP BY f.document_id, s.repository`), args...)
	if err != nil {
		return err
	}
	counts := map[int64][]int{}
	err = each(rows, func() error {
		var id int64
		var repository string
		n := make([]int, len(days))
		dest := []any{&id, &repository}
		for i := range n {
			dest = append(dest, &n[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if !scope.sees(repository) {
			return nil
		}
		if sum, ok := counts[id]; ok {
			for i := range sum {
				sum[i] += n[i]
			}
		} else {
			counts[id] = n
		}
		return nil
	})
	if err != nil || len(counts) == 0 {
		return err
	}
	ids := make([]int64, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	ratings, err := s.openRatings(ctx, ids)
	if err != nil {
		return err
	}
	for id, rating := range ratings {
		for i, c := range counts[id] {
			if c > 0 {
				days[i].OpenFindings[rating] += c
			}
		}
	}
	return nil
}

// openRatings reads the severity rating of each finding document (unknown
// when it has none); suppressed findings are left out.
func (s *Store) openRatings(ctx context.Context, documents []int64) (map[int64]string, error) {
	slices.Sort(documents)
	ids := make([]any, 0, len(documents))
	for _, id := range slices.Compact(documents) {
		ids = append(ids, id)
	}
	out := map[int64]string{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, finding FROM finding_documents WHERE id IN (`+placeholders(len(chunk))+`)`), chunk...)
		if err != nil {
			return nil, err
		}
		if err := each(rows, func() error {
			var id int64
			var doc []byte
			if err := rows.Scan(&id, &doc); err != nil {
				return err
			}
			var f struct {
				Severity    evidence.Severity     `json:"severity"`
				Suppression *evidence.Suppression `json:"suppression"`
			}
			if err := json.Unmarshal(doc, &f); err != nil {
				return fmt.Errorf("finding document %d: %w", id, err)
			}
			if f.Suppression != nil {
				return nil
			}
			out[id] = f.Severity.Rating
			if out[id] == "" {
				out[id] = evidence.SeverityUnknown
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Exceptions lists every stored exception, soonest expiry first.
func (s *Store) Exceptions(ctx context.Context) ([]evidence.Exception, error) {
	defer s.timed("exceptions")()
	rows, err := s.db.QueryContext(ctx, `SELECT exception FROM exceptions ORDER BY expires_at, namespace, name`)
	if err != nil {
		return nil, err
	}
	out := []evidence.Exception{}
	err = each(rows, func() error {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return err
		}
		var e evidence.Exception
		if err := json.Unmarshal(doc, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
