package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// SeenDeployed records that a digest was admitted to run in a
// namespace's workload at a time (the digest need not be recorded).
func (s *Store) SeenDeployed(ctx context.Context, subject evidence.Subject, namespace, workload string, at time.Time) error {
	defer s.timed("seen_deployed")()
	if !evidence.ValidDigest(subject.Digest) || subject.Repository == "" {
		return fmt.Errorf("deployment of %q: a deployment needs a repository and a digest", subject)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := s.subjectID(ctx, tx, subject, at)
	if err == nil {
		err = s.deployed(ctx, tx, [][]any{{id, namespace, workload, micros(at), micros(at)}})
	}
	if err != nil {
		return fmt.Errorf("deployment of %s: %w", subject, err)
	}
	return tx.Commit()
}

// subjectID finds a digest's row, creating it (first seen at) when the
// digest was never recorded.
func (s *Store) subjectID(ctx context.Context, tx *sql.Tx, subject evidence.Subject, at time.Time) (int64, error) {
	var id int64
	// most digests are known: a read, not a write
	err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM subjects WHERE repository = ? AND digest = ?`), subject.Repository, subject.Digest).Scan(&id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO subjects (repository, digest, first_seen, last_recorded) VALUES (?, ?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET repository = excluded.repository RETURNING id`),
		subject.Repository, subject.Digest, micros(at), micros(at)).Scan(&id)
	return id, err
}

// deployed widens digests' deployments in workloads to include first
// and last: rows of subject ID, namespace, workload, first, last (one
// row per deployment).
func (s *Store) deployed(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	return inBatches(rows, 5, func(_ [][]any, values string, args []any) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO deployments (subject_id, namespace, workload, first_seen, last_seen) VALUES `+values+`
		ON CONFLICT (subject_id, namespace, workload) DO UPDATE SET
			first_seen = CASE WHEN excluded.first_seen < deployments.first_seen THEN excluded.first_seen ELSE deployments.first_seen END,
			last_seen = CASE WHEN excluded.last_seen > deployments.last_seen THEN excluded.last_seen ELSE deployments.last_seen END`), args...)
		return err
	})
}

// Admitted records admission decisions in one transaction; the images
// admitted to run are marked deployed in their namespace's workload.
func (s *Store) Admitted(ctx context.Context, admissions []Admission) error {
	defer s.timed("admitted")()
	for _, a := range admissions {
		if a.At.IsZero() || a.Image == "" || a.Outcome == "" {
			return fmt.Errorf("admission of %q: a decision needs a time, an image and an outcome", a.Image)
		}
		if a.Subject.Digest != "" && (!evidence.ValidDigest(a.Subject.Digest) || a.Subject.Repository == "") {
			return fmt.Errorf("admission of %q: %q is not a digest of a repository", a.Image, a.Subject)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.admitted(ctx, tx, admissions); err != nil {
		return err
	}
	return tx.Commit()
}

// admitted writes a batch of admissions. A webhook's batch repeats a few
// digests, workloads and decisions many times: each subject is looked up
// once, each deployment widened once, each decision document stored
// once, and the rows go in a few statements.
func (s *Store) admitted(ctx context.Context, tx *sql.Tx, admissions []Admission) error {
	ids := map[evidence.Subject]int64{}
	type placement struct {
		id                  int64
		namespace, workload string
	}
	spans := map[placement][2]time.Time{}
	var placements []placement
	hashes := make([]string, len(admissions))
	var docRows [][]any
	seenDoc := map[string]bool{}
	for i, a := range admissions {
		if a.Decision != nil {
			doc, hash := decisionDocument(*a.Decision)
			if !seenDoc[hash] {
				seenDoc[hash] = true
				docRows = append(docRows, []any{hash, doc})
			}
			hashes[i] = hash
		}
		if a.Subject.Digest == "" {
			continue
		}
		sid, ok := ids[a.Subject]
		if !ok {
			var err error
			if sid, err = s.subjectID(ctx, tx, a.Subject, a.At); err != nil {
				return fmt.Errorf("admission of %s: %w", a.Image, err)
			}
			ids[a.Subject] = sid
		}
		if a.Deployed && a.Outcome != AdmissionDenied {
			p := placement{sid, a.Namespace, a.Workload}
			span, ok := spans[p]
			if !ok {
				placements = append(placements, p)
				span = [2]time.Time{a.At, a.At}
			}
			if a.At.Before(span[0]) {
				span[0] = a.At
			}
			if a.At.After(span[1]) {
				span[1] = a.At
			}
			spans[p] = span
		}
	}
	docIDs, _, err := s.intern(ctx, tx, "decision_documents", []string{"hash", "decision"}, docRows)
	if err != nil {
		return fmt.Errorf("admission decisions: %w", err)
	}
	rows := make([][]any, len(admissions))
	for i, a := range admissions {
		var subject, decision *int64
		if sid, ok := ids[a.Subject]; ok {
			subject = &sid
		}
		if id, ok := docIDs[hashes[i]]; ok {
			decision = &id
		}
		image := storable(a.Image)
		rows[i] = []any{micros(a.At), subject, image, imageKey(image), storable(a.Repository()), storable(a.Cluster), storable(a.Namespace), storable(a.Workload),
			storable(a.User), a.Outcome, storable(a.Reason), decision}
	}
	if err := inBatches(rows, 12, func(_ [][]any, values string, args []any) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO admissions (at, subject_id, image, image_key, repository, cluster, namespace, workload, username, outcome, reason, decision_id) VALUES `+values), args...)
		return err
	}); err != nil {
		return fmt.Errorf("admissions: %w", err)
	}
	if err := s.countDays(ctx, tx, admissions, ids); err != nil {
		return fmt.Errorf("admissions per day: %w", err)
	}
	deployments := make([][]any, len(placements))
	for i, p := range placements {
		deployments[i] = []any{p.id, p.namespace, p.workload, micros(spans[p][0]), micros(spans[p][1])}
	}
	if err := s.deployed(ctx, tx, deployments); err != nil {
		return fmt.Errorf("deployments: %w", err)
	}
	return nil
}

// decisionDocument is an admission decision as stored, without its
// evaluation time (the admission's time stands for it), and its hash.
func decisionDocument(d evidence.Decision) (doc, hash string) {
	d.EvaluatedAt = time.Time{}
	doc = mustJSON(d)
	sum := sha256.Sum256([]byte(doc))
	return doc, hex.EncodeToString(sum[:])
}

// Admissions lists admission decisions made at or after since, newest
// first, at most limit (all when 0), of one outcome when given.
func (s *Store) Admissions(ctx context.Context, since time.Time, outcome string, limit int, scope Scope) ([]Admission, error) {
	defer s.timed("admissions")()
	where, args := `a.at >= ?`, []any{micros(since)}
	if outcome != "" {
		where, args = where+` AND a.outcome = ?`, append(args, outcome)
	}
	if scope != nil {
		// the repositories with decisions since then, as counted per day,
		// that the scope sees
		repositories, err := s.decidedRepositories(ctx, since, scope)
		if err != nil || len(repositories) == 0 {
			return []Admission{}, err
		}
		where += ` AND a.repository IN (?` + strings.Repeat(", ?", len(repositories)-1) + `)`
		args = append(args, repositories...)
	}
	if limit <= 0 {
		limit = 1<<31 - 1
	}
	return s.admissions(ctx, where, args, limit)
}

// ClusterAdmissions lists the admission decisions of one outcome made in
// a cluster at or after since, newest first, at most limit.
func (s *Store) ClusterAdmissions(ctx context.Context, cluster string, since time.Time, outcome string, limit int) ([]Admission, error) {
	defer s.timed("cluster_admissions")()
	return s.admissions(ctx, `a.cluster = ? AND a.at >= ? AND a.outcome = ?`, []any{cluster, micros(since), outcome}, limit)
}

// decidedRepositories are the repositories in scope with admission
// decisions from the day of since on.
func (s *Store) decidedRepositories(ctx context.Context, since time.Time, scope Scope) ([]any, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT repository FROM admission_repository_days WHERE day >= ?`), micros(since.UTC().Truncate(day)))
	if err != nil {
		return nil, err
	}
	var out []any
	err = each(rows, func() error {
		var repository string
		if err := rows.Scan(&repository); err != nil {
			return err
		}
		if scope(repository) {
			out = append(out, repository)
		}
		return nil
	})
	return out, err
}

// admissions reads admission decisions, newest first.
func (s *Store) admissions(ctx context.Context, where string, args []any, limit int) ([]Admission, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT a.at, a.image, COALESCE(s.repository, ''), COALESCE(s.digest, ''), a.cluster, a.namespace, a.workload, a.username, a.outcome, a.reason, d.decision
		FROM admissions a LEFT JOIN subjects s ON s.id = a.subject_id LEFT JOIN decision_documents d ON d.id = a.decision_id
		WHERE `+where+` ORDER BY a.at DESC, a.id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	out := []Admission{}
	err = each(rows, func() error {
		var a Admission
		var at int64
		var decision sql.NullString
		if err := rows.Scan(&at, &a.Image, &a.Subject.Repository, &a.Subject.Digest, &a.Cluster, &a.Namespace, &a.Workload, &a.User, &a.Outcome, &a.Reason, &decision); err != nil {
			return err
		}
		a.At = fromMicros(at)
		if decision.Valid {
			a.Decision = &evidence.Decision{}
			if err := json.Unmarshal([]byte(decision.String), a.Decision); err != nil {
				return err
			}
			a.Decision.EvaluatedAt = a.At
		}
		out = append(out, a)
		return nil
	})
	return out, err
}
