package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// The kinds of maintenance job: work over every stored digest.
const (
	// JobRescanAll re-matches every stored SBOM against the advisory
	// database as it is now.
	JobRescanAll = "rescan-all"
	// JobCatalogueAll catalogues stored digests again (those another
	// cataloguer made, or all when forced), then scans and records them.
	JobCatalogueAll = "catalogue-all"
)

// MaintenanceKinds are all the kinds of maintenance job.
var MaintenanceKinds = []string{JobRescanAll, JobCatalogueAll}

// JobScope says which stored digests a maintenance job goes over: every
// digest with a stored SBOM; for a catalogue-all job, only those another
// cataloguer than Cataloguer made, unless Force.
type JobScope struct {
	Cataloguer string `json:"cataloguer,omitempty"`
	Force      bool   `json:"force,omitempty"`
	// Advisories is when the advisory data a rescan-all job started with
	// was imported: its end keeps the advisory state for the next rescan
	// only if every batch matched that data.
	Advisories time.Time `json:"advisories,omitzero"`
}

// MaintenanceJob is a job over every stored digest and its progress.
// Items are digests, taken in the order of their row IDs up to the last
// one stored when the job was created.
type MaintenanceJob struct {
	ID    int64    `json:"id"`
	Kind  string   `json:"kind"`
	State string   `json:"state"`
	Scope JobScope `json:"scope"`
	// Total is how many digests were in scope when the job was created,
	// and any that entered it since (a first scan ended after); Done and
	// Failed, how many it went through (a digest that left the scope
	// meanwhile, catalogued by a push, is neither).
	Total      int64      `json:"total"`
	Done       int64      `json:"done"`
	Failed     int64      `json:"failed"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
	// Error is the last error that stopped the job (it resumes from where
	// it stopped when run again).
	Error string `json:"error,omitempty"`

	lastSubject, untilSubject int64
	holder                    string
}

// Finished reports whether the job has ended.
func (j MaintenanceJob) Finished() bool { return j.State == JobDone || j.State == JobFailed }

// JobFailure is a digest a maintenance job could not do, and why.
type JobFailure struct {
	Subject evidence.Subject `json:"subject"`
	Reason  string           `json:"reason"`
	At      time.Time        `json:"at"`
}

// JobItem is a digest a maintenance job goes over.
type JobItem struct {
	ID       int64
	Subject  evidence.Subject
	Platform string
}

// JobStep is the progress one batch makes, committed with its results:
// the job advances from the digest after From to To, unless another
// process holds its lease now or advanced it first.
type JobStep struct {
	Job      int64
	Holder   string
	From, To int64
	Done     int
	Failures []JobFailure
	// Total is the job's total after the step (Step).
	Total int64
}

// ErrJobLeased is returned when another process runs the job.
var ErrJobLeased = errors.New("the job is being run by another process")

// ErrLeaseLost is returned when a job's lease was taken over (it ran out
// while this process was stopped or slow): its batch is not committed.
var ErrLeaseLost = errors.New("the job's lease was lost to another process")

const maintenanceColumns = `id, kind, state, scope, total, done, failed, last_subject, until_subject, created_at, started_at, finished_at, holder, lease_until, error`

func scanMaintenanceJob(row interface{ Scan(...any) error }) (MaintenanceJob, error) {
	var j MaintenanceJob
	var scope string
	var created int64
	var started, finished, lease sql.NullInt64
	if err := row.Scan(&j.ID, &j.Kind, &j.State, &scope, &j.Total, &j.Done, &j.Failed, &j.lastSubject, &j.untilSubject, &created, &started, &finished, &j.holder, &lease, &j.Error); err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(scope), &j.Scope); err != nil {
		return j, fmt.Errorf("the scope of job %d: %w", j.ID, err)
	}
	j.CreatedAt = fromMicros(created)
	for _, t := range []struct {
		v   sql.NullInt64
		dst **time.Time
	}{{started, &j.StartedAt}, {finished, &j.FinishedAt}, {lease, &j.LeaseUntil}} {
		if t.v.Valid {
			at := fromMicros(t.v.Int64)
			*t.dst = &at
		}
	}
	return j, nil
}

// catalogued is the digests with a stored SBOM (or a scan of one).
const catalogued = `(subjects.catalogued_by IS NOT NULL OR subjects.scanned_at IS NOT NULL OR EXISTS (SELECT 1 FROM components c WHERE c.subject_id = subjects.id))`

// inScope is the condition on subjects of a job's scope, with its
// arguments.
func inScope(kind string, scope JobScope) (string, []any) {
	if kind != JobCatalogueAll || scope.Force {
		return catalogued, nil
	}
	return catalogued + ` AND (subjects.catalogued_by IS NULL OR subjects.catalogued_by <> ?)`, []any{scope.Cataloguer}
}

// OpenMaintenanceJob returns the unfinished job of kind, or creates one
// over the digests in scope now (created says which). An unfinished
// job is continued as it was made, whatever scope is asked now.
func (s *Store) OpenMaintenanceJob(ctx context.Context, kind string, scope JobScope, at time.Time) (job MaintenanceJob, created bool, err error) {
	defer s.timed("open_maintenance_job")()
	switch kind {
	case JobRescanAll, JobCatalogueAll:
	default:
		return job, false, fmt.Errorf("unknown kind of job %q (known: %s, %s)", kind, JobRescanAll, JobCatalogueAll)
	}
	if kind == JobCatalogueAll && scope.Cataloguer == "" && !scope.Force {
		return job, false, errors.New("a catalogue-all job needs the running cataloguer's name to tell which digests another made")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return job, false, err
	}
	defer tx.Rollback()
	job, err = scanMaintenanceJob(tx.QueryRowContext(ctx, s.q(`SELECT `+maintenanceColumns+` FROM maintenance_jobs WHERE kind = ? AND state IN ('queued', 'running')`), kind))
	if err == nil {
		return job, false, tx.Commit()
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return job, false, err
	}
	var until int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM subjects`).Scan(&until); err != nil {
		return job, false, err
	}
	where, args := inScope(kind, scope)
	var total int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM subjects WHERE id <= ? AND `+where), append([]any{until}, args...)...).Scan(&total); err != nil {
		return job, false, err
	}
	// two processes starting the same kind at once: the unique index on
	// unfinished jobs lets one insert, the other finds its job
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO maintenance_jobs (kind, state, scope, total, done, failed, last_subject, until_subject, created_at)
		VALUES (?, 'queued', ?, ?, 0, 0, 0, ?, ?) ON CONFLICT DO NOTHING`), kind, mustJSON(scope), total, until, micros(at))
	if err != nil {
		return job, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return job, false, err
	}
	job, err = scanMaintenanceJob(tx.QueryRowContext(ctx, s.q(`SELECT `+maintenanceColumns+` FROM maintenance_jobs WHERE kind = ? AND state IN ('queued', 'running')`), kind))
	if err != nil {
		return job, false, err
	}
	return job, n == 1, tx.Commit()
}

// ClaimMaintenanceJob gives holder the job's lease until leaseUntil,
// unless another holds a lease that has not run out (ErrJobLeased) or
// the job has ended.
func (s *Store) ClaimMaintenanceJob(ctx context.Context, id int64, holder string, now, leaseUntil time.Time) (MaintenanceJob, error) {
	defer s.timed("claim_maintenance_job")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return MaintenanceJob{}, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE maintenance_jobs SET state = 'running', holder = ?, lease_until = ?, started_at = COALESCE(started_at, ?)
		WHERE id = ? AND (state = 'queued' OR (state = 'running' AND (holder = ? OR lease_until < ?)))`),
		holder, micros(leaseUntil), micros(now), id, holder, micros(now))
	if err != nil {
		return MaintenanceJob{}, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return MaintenanceJob{}, err
	}
	job, err := scanMaintenanceJob(tx.QueryRowContext(ctx, s.q(`SELECT `+maintenanceColumns+` FROM maintenance_jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return job, fmt.Errorf("job %d is not in the store", id)
	}
	if err != nil {
		return job, err
	}
	if n == 0 {
		if job.Finished() {
			return job, fmt.Errorf("job %d (%s): %w (%s)", id, job.Kind, ErrJobEnded, job.State)
		}
		return job, fmt.Errorf("job %d (%s): %w (its lease runs to %s)", id, job.Kind, ErrJobLeased, job.LeaseUntil.Format(time.RFC3339))
	}
	return job, tx.Commit()
}

// RenewMaintenanceJob extends holder's lease of the job (ErrLeaseLost when
// it is no longer holder's).
func (s *Store) RenewMaintenanceJob(ctx context.Context, id int64, holder string, leaseUntil time.Time) error {
	defer s.timed("renew_maintenance_job")()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE maintenance_jobs SET lease_until = ? WHERE id = ? AND holder = ? AND state = 'running'`), micros(leaseUntil), id, holder)
	return affectedOne(res, err, id)
}

func affectedOne(res sql.Result, err error, id int64) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("job %d: %w", id, ErrLeaseLost)
	}
	return nil
}

// JobItems lists the next digests in the job's scope after its progress,
// at most limit.
func (s *Store) JobItems(ctx context.Context, job MaintenanceJob, limit int) ([]JobItem, error) {
	defer s.timed("job_items")()
	where, args := inScope(job.Kind, job.Scope)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, repository, digest, platform FROM subjects WHERE id > ? AND id <= ? AND `+where+` ORDER BY id LIMIT ?`),
		append(append([]any{job.lastSubject, job.untilSubject}, args...), limit)...)
	if err != nil {
		return nil, err
	}
	var out []JobItem
	err = each(rows, func() error {
		var it JobItem
		err := rows.Scan(&it.ID, &it.Subject.Repository, &it.Subject.Digest, &it.Platform)
		out = append(out, it)
		return err
	})
	return out, err
}

// Step is the progress a batch of items makes: through the last of them,
// done counted as done and failures as failed.
func (j MaintenanceJob) Step(items []JobItem, done int, failures []JobFailure) JobStep {
	to := j.lastSubject
	if len(items) > 0 {
		to = items[len(items)-1].ID
	}
	// a digest that entered the scope after the job was made (its first
	// scan ended later) is gone through too, and counted in the total
	total := max(j.Total, j.Done+j.Failed+int64(done+len(failures)))
	return JobStep{Job: j.ID, Holder: j.holder, From: j.lastSubject, To: to, Done: done, Failures: failures, Total: total}
}

// Advanced is the job as a committed step leaves it.
func (j MaintenanceJob) Advanced(step JobStep) MaintenanceJob {
	j.lastSubject = step.To
	j.Total = max(j.Total, step.Total)
	j.Done += int64(step.Done)
	j.Failed += int64(len(step.Failures))
	return j
}

// advance commits step within tx: refused when the job is no longer the
// step's holder's, or moved on since (another process did the batch).
func (s *Store) advance(ctx context.Context, tx *sql.Tx, step JobStep) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE maintenance_jobs SET last_subject = ?, done = done + ?, failed = failed + ?, total = CASE WHEN total < ? THEN ? ELSE total END
		WHERE id = ? AND holder = ? AND state = 'running' AND last_subject = ?`), step.To, step.Done, len(step.Failures), step.Total, step.Total, step.Job, step.Holder, step.From)
	if err := affectedOne(res, err, step.Job); err != nil {
		return err
	}
	for _, f := range step.Failures {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO maintenance_job_failures (job_id, repository, digest, reason, at) VALUES (?, ?, ?, ?, ?)`),
			step.Job, f.Subject.Repository, f.Subject.Digest, storable(f.Reason), micros(f.At)); err != nil {
			return err
		}
	}
	return nil
}

// AdvanceJob commits a step that writes nothing else (a batch whose
// every item failed).
func (s *Store) AdvanceJob(ctx context.Context, step JobStep) error {
	defer s.timed("advance_job")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.advance(ctx, tx, step); err != nil {
		return err
	}
	return tx.Commit()
}

// FinishMaintenanceJob ends holder's job: done (state, when not nil, is
// then saved as the advisory state the next rescan compares with), or
// failed with why.
func (s *Store) FinishMaintenanceJob(ctx context.Context, job MaintenanceJob, at time.Time, jobErr error, state map[string]AdvisoryFingerprint) error {
	defer s.timed("finish_maintenance_job")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	final, reason := JobDone, ""
	if jobErr != nil {
		final, reason = JobFailed, storable(jobErr.Error())
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE maintenance_jobs SET state = ?, finished_at = ?, error = ?, holder = '', lease_until = NULL WHERE id = ? AND holder = ? AND state = 'running'`),
		final, micros(at), reason, job.ID, job.holder)
	if err := affectedOne(res, err, job.ID); err != nil {
		return err
	}
	if state != nil && jobErr == nil {
		if err := s.saveState(ctx, tx, nil, state); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// PauseMaintenanceJob gives holder's job back, with why it stopped: it is
// continued from its progress when run again.
func (s *Store) PauseMaintenanceJob(ctx context.Context, job MaintenanceJob, why error) error {
	defer s.timed("pause_maintenance_job")()
	reason := ""
	if why != nil {
		reason = storable(why.Error())
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE maintenance_jobs SET state = 'queued', holder = '', lease_until = NULL, error = ? WHERE id = ? AND holder = ? AND state = 'running'`),
		reason, job.ID, job.holder)
	return affectedOne(res, err, job.ID)
}

// ErrJobEnded is returned when a job asked to change has already ended.
var ErrJobEnded = errors.New("the job has ended")

// ErrNoSuchJob says a job asked for is not stored ("job N " precedes it).
var ErrNoSuchJob = errors.New("is not in the evidence store")

// CancelMaintenanceJob ends an unfinished job as failed, with why (who
// cancelled it): whichever process runs it loses its lease, commits
// nothing more and stops, and the next job of its kind starts afresh.
// ErrJobEnded when it had ended; nil and no error when there is no such
// job.
func (s *Store) CancelMaintenanceJob(ctx context.Context, id int64, at time.Time, why string) (*MaintenanceJob, error) {
	defer s.timed("cancel_maintenance_job")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE maintenance_jobs SET state = 'failed', finished_at = ?, error = ?, holder = '', lease_until = NULL WHERE id = ? AND state IN ('queued', 'running')`),
		micros(at), storable(why), id)
	if err != nil {
		return nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, err
	}
	job, err := scanMaintenanceJob(tx.QueryRowContext(ctx, s.q(`SELECT `+maintenanceColumns+` FROM maintenance_jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return &job, fmt.Errorf("job %d (%s): %w (%s)", id, job.Kind, ErrJobEnded, job.State)
	}
	return &job, tx.Commit()
}

// MaintenanceJob returns a job by ID (nil when there is none).
func (s *Store) MaintenanceJob(ctx context.Context, id int64) (*MaintenanceJob, error) {
	defer s.timed("maintenance_job")()
	j, err := scanMaintenanceJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+maintenanceColumns+` FROM maintenance_jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// MaintenanceJobs lists the jobs, newest first, at most limit (all when 0).
func (s *Store) MaintenanceJobs(ctx context.Context, limit int) ([]MaintenanceJob, error) {
	defer s.timed("maintenance_jobs")()
	if limit <= 0 {
		limit = 1<<31 - 1
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+maintenanceColumns+` FROM maintenance_jobs ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, err
	}
	out := []MaintenanceJob{}
	err = each(rows, func() error {
		j, err := scanMaintenanceJob(rows)
		out = append(out, j)
		return err
	})
	return out, err
}

// JobFailures lists the digests a job could not do, in the order it met
// them, at most limit (all when 0).
func (s *Store) JobFailures(ctx context.Context, id int64, limit int) ([]JobFailure, error) {
	defer s.timed("job_failures")()
	if limit <= 0 {
		limit = 1<<31 - 1
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT repository, digest, reason, at FROM maintenance_job_failures WHERE job_id = ? ORDER BY at, repository, digest LIMIT ?`), id, limit)
	if err != nil {
		return nil, err
	}
	out := []JobFailure{}
	err = each(rows, func() error {
		var f JobFailure
		var at int64
		err := rows.Scan(&f.Subject.Repository, &f.Subject.Digest, &f.Reason, &at)
		f.At = fromMicros(at)
		out = append(out, f)
		return err
	})
	return out, err
}

// ComponentsOfItems lists every stored component of the items' digests,
// in the items' order.
func (s *Store) ComponentsOfItems(ctx context.Context, items []JobItem) ([]SubjectComponents, error) {
	defer s.timed("components_of_items")()
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	bySubject := map[int64][]evidence.Component{}
	for start := 0; start < len(ids); start += 1000 {
		rows, err := s.db.QueryContext(ctx, `SELECT c.subject_id, `+componentColumns+` FROM components c WHERE c.subject_id IN (`+idList(ids[start:min(start+1000, len(ids))])+`)`)
		if err != nil {
			return nil, err
		}
		if err := each(rows, func() error {
			var id int64
			var name, version, typ, purl string
			var doc []byte
			if err := rows.Scan(&id, &name, &version, &typ, &purl, &doc); err != nil {
				return err
			}
			c, err := decodeComponent(name, version, typ, purl, doc)
			bySubject[id] = append(bySubject[id], c)
			return err
		}); err != nil {
			return nil, err
		}
	}
	out := make([]SubjectComponents, len(items))
	for i, it := range items {
		out[i] = SubjectComponents{Subject: it.Subject, Components: bySubject[it.ID]}
	}
	return out, nil
}
