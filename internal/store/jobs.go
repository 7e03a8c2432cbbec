package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The kinds of work the registry queues about a digest.
const (
	// JobScan catalogues, scans and records an image or index pushed.
	JobScan = "scan"
	// JobScanRemote catalogues, scans and records a digest pushed to a
	// registry dossier does not host, read over the network.
	JobScanRemote = "scan-remote"
	// JobVerify verifies and records what was attached to a digest
	// (signatures, attestations pushed as referrers or cosign's tags).
	JobVerify = "verify"
)

// JobKinds are all the kinds of job.
var JobKinds = []string{JobScan, JobScanRemote, JobVerify}

// The states of a registry job.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// Job is work the registry queued about a digest: scanning and recording
// what was pushed ("scan"), or verifying and recording what was attached
// to it ("verify").
type Job struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`
	Repository string     `json:"repository"`
	Digest     string     `json:"digest"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	QueuedAt   time.Time  `json:"queuedAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// Enqueue adds a job unless the same kind of job for the digest is
// already queued or running.
func (s *Store) Enqueue(ctx context.Context, kind, repository, digest string, at time.Time) error {
	defer s.timed("enqueue")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var pending int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM registry_jobs WHERE kind = ? AND repository = ? AND digest = ? AND state IN ('queued', 'running')`),
		kind, repository, digest).Scan(&pending); err != nil {
		return err
	}
	if pending == 0 {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO registry_jobs (kind, repository, digest, state, attempts, queued_at) VALUES (?, ?, ?, 'queued', 0, ?)`),
			kind, repository, digest, micros(at)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const jobColumns = `id, kind, repository, digest, state, attempts, queued_at, started_at, finished_at, error`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var queued int64
	var started, finished sql.NullInt64
	if err := row.Scan(&j.ID, &j.Kind, &j.Repository, &j.Digest, &j.State, &j.Attempts, &queued, &started, &finished, &j.Error); err != nil {
		return j, err
	}
	j.QueuedAt = fromMicros(queued)
	if started.Valid {
		t := fromMicros(started.Int64)
		j.StartedAt = &t
	}
	if finished.Valid {
		t := fromMicros(finished.Int64)
		j.FinishedAt = &t
	}
	return j, nil
}

// ClaimJob leases the oldest claimable job until leaseUntil (nil when
// there is none): a queued one, or a running one whose lease ran out
// (its worker stopped) unless it was tried maxAttempts times already,
// which fails it.
func (s *Store) ClaimJob(ctx context.Context, now, leaseUntil time.Time, maxAttempts int) (*Job, error) {
	defer s.timed("claim_job")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// a job whose worker stopped (its lease ran out) maxAttempts times is
	// given up: one that ends its process at every try must not end every
	// replica's in turn
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE registry_jobs SET state = 'failed', finished_at = ?, error = ?
		WHERE state = 'running' AND lease_until < ? AND attempts >= ?`), micros(now),
		fmt.Sprintf("given up: its worker stopped before finishing it %d times (the process ended or lost the store)", maxAttempts), micros(now), maxAttempts); err != nil {
		return nil, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, s.q(`SELECT id FROM registry_jobs WHERE state = 'queued' OR (state = 'running' AND lease_until < ?) ORDER BY id LIMIT 1`+s.skipLocked()), micros(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tx.Commit() // the jobs given up stay given up
	}
	if err != nil {
		return nil, err
	}
	j, err := scanJob(tx.QueryRowContext(ctx, s.q(`UPDATE registry_jobs SET state = 'running', attempts = attempts + 1, started_at = ?, lease_until = ?
		WHERE id = ? RETURNING `+jobColumns), micros(now), micros(leaseUntil), id))
	if err != nil {
		return nil, err
	}
	return &j, tx.Commit()
}

// RenewJob extends a running job's lease (its worker is alive).
func (s *Store) RenewJob(ctx context.Context, id int64, leaseUntil time.Time) error {
	defer s.timed("renew_job")()
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE registry_jobs SET lease_until = ? WHERE id = ? AND state = 'running'`), micros(leaseUntil), id)
	return err
}

// FinishJob records a job's end: done, or failed with why (failed jobs
// with attempts left are queued again).
func (s *Store) FinishJob(ctx context.Context, id int64, at time.Time, jobErr error, maxAttempts int) error {
	defer s.timed("finish_job")()
	if jobErr == nil {
		_, err := s.db.ExecContext(ctx, s.q(`UPDATE registry_jobs SET state = 'done', finished_at = ?, error = '' WHERE id = ?`), micros(at), id)
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE registry_jobs SET state = CASE WHEN attempts < ? THEN 'queued' ELSE 'failed' END, finished_at = ?, error = ? WHERE id = ?`),
		maxAttempts, micros(at), jobErr.Error(), id)
	return err
}

// Jobs lists a digest's jobs, newest first (every digest's when
// digest is empty), at most limit (all when 0).
func (s *Store) Jobs(ctx context.Context, repository, digest string, limit int) ([]Job, error) {
	defer s.timed("jobs")()
	if limit <= 0 {
		limit = 1<<31 - 1
	}
	query, args := `SELECT `+jobColumns+` FROM registry_jobs`, []any{}
	if digest != "" {
		query += ` WHERE repository = ? AND digest = ?`
		args = append(args, repository, digest)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	out := []Job{}
	err = each(rows, func() error {
		j, err := scanJob(rows)
		out = append(out, j)
		return err
	})
	return out, err
}

// QueuedJobs counts the jobs waiting or running.
func (s *Store) QueuedJobs(ctx context.Context) (int, error) {
	defer s.timed("queued_jobs")()
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM registry_jobs WHERE state IN ('queued', 'running')`).Scan(&n)
	return n, err
}
