// Package jobs runs dossier's maintenance jobs over every stored digest —
// rescan-all (every stored SBOM re-matched against the advisory database
// as it is now) and catalogue-all (stored digests catalogued again after
// a cataloguer upgrade, then scanned and recorded) — as durable jobs in
// the evidence store: batch by batch, each batch's results committed with
// the job's progress, under a lease so that one process runs a job at a
// time, throttled so that a server doing pushes and pulls keeps its
// latency. A job stopped anyhow (cancelled, killed) continues where it
// stopped when run again.
package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// DefaultLease is how long a job stays its process's without a renewal:
// the job of a process that died is taken over after it.
const DefaultLease = time.Minute

// Throttle bounds how fast a job goes.
type Throttle struct {
	// Rate bounds the digests done per second (0: unbounded).
	Rate float64
	// Concurrency bounds the digests catalogued at once (0: one).
	Concurrency int
	// Batch is how many digests a batch holds, committed together (0:
	// 100 for rescan-all, twice the concurrency for catalogue-all).
	Batch int
}

// MaxConcurrency and MaxBatch bound a throttle: every image of a batch
// is pulled and catalogued at once, each holding its layers.
const (
	MaxConcurrency = 64
	MaxBatch       = 10000
)

func (t Throttle) check() error {
	switch {
	case t.Batch < 0 || t.Concurrency < 0 || t.Rate < 0:
		return fmt.Errorf("throttle %+v: the rate, concurrency and batch size cannot be negative", t)
	case t.Concurrency > MaxConcurrency:
		return fmt.Errorf("a concurrency of %d: at most %d digests are catalogued at once", t.Concurrency, MaxConcurrency)
	case t.Batch > MaxBatch:
		return fmt.Errorf("a batch of %d: at most %d digests a batch", t.Batch, MaxBatch)
	}
	return nil
}

// Runner runs maintenance jobs.
type Runner struct {
	Store *store.Store
	// DB matches components with advisories: rescan-all needs it; without
	// it catalogue-all records SBOMs without findings.
	DB *vulndb.DB
	// Reach says how the registry holding a repository is read
	// (catalogue-all): its options and credentials.
	Reach func(repository string) oci.RegistryOptions
	// Exceptions apply to the findings of catalogue-all's scans.
	Exceptions []evidence.Exception
	// Now is the clock of leases and records.
	Now func() time.Time
	// Lease is how long a job stays this runner's without a renewal (0:
	// DefaultLease).
	Lease    time.Duration
	Throttle Throttle
	// Progress, when set, hears the job after each committed batch.
	Progress func(store.MaintenanceJob)
}

// Ran is what a run did.
type Ran struct {
	Job store.MaintenanceJob `json:"job"`
	// Created says the run created the job (else it continued one).
	Created bool `json:"created"`
	// New lists the findings a rescan-all run saw first (unfiltered).
	New []store.FindingHit `json:"new"`
}

// Start returns the unfinished job of kind, or creates one (created says
// which): catalogue-all over the digests another cataloguer made (every
// catalogued digest when force), rescan-all over every stored SBOM.
func (r *Runner) Start(ctx context.Context, kind string, force bool) (store.MaintenanceJob, bool, error) {
	scope := store.JobScope{Force: force}
	switch kind {
	case store.JobRescanAll:
		if r.DB == nil {
			return store.MaintenanceJob{}, false, errors.New("rescanning every SBOM needs the local advisory database (import one first)")
		}
		status, err := r.DB.Freshness(ctx)
		if err != nil {
			return store.MaintenanceJob{}, false, err
		}
		scope.Advisories = status.LastImport
	case store.JobCatalogueAll:
		if scope.Cataloguer = generate.Cataloguer(generate.Options{}); scope.Cataloguer == "" && !force {
			return store.MaintenanceJob{}, false, errors.New("the running cataloguer cannot be named (its modules' versions and its executable are unreadable): only a forced catalogue of every digest can run")
		}
	}
	return r.Store.OpenMaintenanceJob(ctx, kind, scope, r.Now())
}

// Run claims the job and does it to its end, or until ctx ends or an
// error stops it: the job is then given back with why, to be continued
// from its progress. ErrJobLeased: another process runs it.
func (r *Runner) Run(ctx context.Context, job store.MaintenanceJob) (*Ran, error) {
	lease := r.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	if err := r.Throttle.check(); err != nil {
		return nil, err
	}
	holder, err := newHolder()
	if err != nil {
		return nil, err
	}
	now := r.Now()
	if job, err = r.Store.ClaimMaintenanceJob(ctx, job.ID, holder, now, now.Add(lease)); err != nil {
		return nil, err
	}
	var batch func(context.Context, store.MaintenanceJob, []store.JobItem) (store.JobStep, []store.FindingHit, error)
	size := r.Throttle.Batch
	switch job.Kind {
	case store.JobRescanAll:
		if r.DB == nil {
			err = errors.New("rescanning every SBOM needs the local advisory database (import one first)")
		}
		batch, size = r.rescanBatch, cmp.Or(size, 100)
	case store.JobCatalogueAll:
		batch, size = r.catalogueBatch, cmp.Or(size, 2*max(r.Throttle.Concurrency, 1))
	default:
		err = fmt.Errorf("job %d: unknown kind of job %q", job.ID, job.Kind)
	}
	if err != nil {
		return nil, errors.Join(err, r.Store.PauseMaintenanceJob(context.WithoutCancel(ctx), job, err))
	}
	// the lease is renewed while the job runs; lost (the process stalled
	// past it and another took the job over), the run stops
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	id := job.ID
	go func() {
		defer close(renewed)
		r.renew(runCtx, cancel, id, holder, lease)
	}()
	defer func() { cancel(nil); <-renewed }()
	var limiter *rate.Limiter
	if r.Throttle.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(r.Throttle.Rate), size)
	}
	out := &Ran{}
	for {
		items, err := r.Store.JobItems(runCtx, job, size)
		if err == nil && len(items) == 0 {
			var state map[string]store.AdvisoryFingerprint
			if job.Kind == store.JobRescanAll {
				state, err = r.finalState(runCtx, job)
			}
			if err == nil {
				err = r.Store.FinishMaintenanceJob(runCtx, job, r.Now(), nil, state)
			}
			if err == nil {
				job.State = store.JobDone
				out.Job = job
				return out, nil
			}
		}
		if err == nil && limiter != nil {
			err = limiter.WaitN(runCtx, len(items))
		}
		var step store.JobStep
		var fresh []store.FindingHit
		if err == nil {
			step, fresh, err = batch(runCtx, job, items)
		}
		if err != nil {
			if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
				return nil, r.lost(ctx, job, cause) // nothing more is ours to write
			}
			if errors.Is(err, store.ErrLeaseLost) {
				return nil, r.lost(ctx, job, err)
			}
			if runCtx.Err() != nil {
				err = fmt.Errorf("interrupted after %d of %d digests: %w", job.Done+job.Failed, job.Total, err)
			}
			if perr := r.Store.PauseMaintenanceJob(context.WithoutCancel(ctx), job, err); perr != nil && !errors.Is(perr, store.ErrLeaseLost) {
				err = errors.Join(err, perr)
			}
			return nil, fmt.Errorf("job %d (%s): %w", job.ID, job.Kind, err)
		}
		job = job.Advanced(step)
		out.New = append(out.New, fresh...)
		if r.Progress != nil {
			r.Progress(job)
		}
	}
}

// lost says why a run lost its job: cancelled (ended by an admin), or
// taken over by another process after its lease ran out.
func (r *Runner) lost(ctx context.Context, job store.MaintenanceJob, err error) error {
	now, lookErr := r.Store.MaintenanceJob(context.WithoutCancel(ctx), job.ID)
	if lookErr == nil && now != nil && now.Finished() {
		return fmt.Errorf("job %d (%s) stopped after %d of %d digests: it was ended (%s): %s", job.ID, job.Kind, job.Done+job.Failed, job.Total, now.State, now.Error)
	}
	return fmt.Errorf("job %d (%s): %w", job.ID, job.Kind, err)
}

// finalState is the advisory state a finished rescan-all leaves for the
// next rescan: the database's, when every batch matched the data the job
// started with; nil (the state left as it was) when data was imported
// meanwhile, so that the next rescan re-matches what changed.
func (r *Runner) finalState(ctx context.Context, job store.MaintenanceJob) (map[string]store.AdvisoryFingerprint, error) {
	status, err := r.DB.Freshness(ctx)
	if err != nil || !status.LastImport.Equal(job.Scope.Advisories) {
		return nil, err
	}
	return pipeline.AdvisoryState(ctx, r.DB)
}

// renew keeps holder's lease until ctx ends; a lease lost cancels the run.
func (r *Runner) renew(ctx context.Context, cancel context.CancelCauseFunc, id int64, holder string, lease time.Duration) {
	tick := time.NewTicker(lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.Store.RenewMaintenanceJob(ctx, id, holder, r.Now().Add(lease))
		if errors.Is(err, store.ErrLeaseLost) {
			cancel(err)
			return
		}
	}
}

// newHolder names this run in the job's lease: host, process and a
// random part, so that two runs in one process are told apart too.
func newHolder() (string, error) {
	host, _ := os.Hostname()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b)), nil
}

// Shown is a job with the digests it could not do.
type Shown struct {
	store.MaintenanceJob
	Failures []store.JobFailure `json:"failures"`
}

// Show returns job id with its failed digests, at most limit (0: all).
func Show(ctx context.Context, st *store.Store, id int64, limit int) (*Shown, error) {
	job, err := st.MaintenanceJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if job == nil {
		return nil, fmt.Errorf("job %d %w", id, store.ErrNoSuchJob)
	}
	failures, err := st.JobFailures(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	return &Shown{MaintenanceJob: *job, Failures: failures}, nil
}

// ReachEverywhere reads every repository with opts: a command's registry
// options and credentials.
func ReachEverywhere(opts oci.RegistryOptions) func(string) oci.RegistryOptions {
	return func(string) oci.RegistryOptions { return opts }
}
