package jobs

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/store"
)

// rescanBatch re-matches the items' stored components, as a full rescan
// of those digests: new findings recorded, findings no longer matched
// resolved, coverage brought up to date.
func (r *Runner) rescanBatch(ctx context.Context, job store.MaintenanceJob, items []store.JobItem) (store.JobStep, []store.FindingHit, error) {
	subjects, err := r.Store.ComponentsOfItems(ctx, items)
	if err != nil {
		return store.JobStep{}, nil, err
	}
	status, err := r.DB.Freshness(ctx)
	if err != nil {
		return store.JobStep{}, nil, err
	}
	results, err := pipeline.Rematch(ctx, r.DB, subjects)
	if err != nil {
		return store.JobStep{}, nil, err
	}
	step := job.Step(items, len(items), nil)
	fresh, err := r.Store.RescannedForJob(ctx, r.Now(), status.LastImport, results, step)
	return step, fresh, err
}

// catalogueBatch catalogues the items again, Throttle.Concurrency at a
// time, and records the new SBOMs and findings together; a digest that
// cannot be read or catalogued is counted as failed, with why.
func (r *Runner) catalogueBatch(ctx context.Context, job store.MaintenanceJob, items []store.JobItem) (store.JobStep, []store.FindingHit, error) {
	records := make([]*store.Record, len(items))
	reasons := make([]error, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.Throttle.Concurrency, 1))
	for i, it := range items {
		g.Go(func() error {
			rec, err := r.recatalogue(gctx, it)
			switch {
			case gctx.Err() != nil:
				return gctx.Err() // stopped, not failed: the digest is done on resumption
			case err != nil:
				reasons[i] = err
			default:
				records[i] = &rec
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return store.JobStep{}, nil, err
	}
	var recs []store.Record
	var failures []store.JobFailure
	for i, it := range items {
		if reasons[i] != nil {
			failures = append(failures, store.JobFailure{Subject: it.Subject, Reason: reasons[i].Error(), At: r.Now()})
			continue
		}
		recs = append(recs, *records[i])
	}
	step := job.Step(items, len(recs), failures)
	if len(recs) == 0 {
		return step, nil, r.Store.AdvanceJob(ctx, step)
	}
	return step, nil, r.Store.RecordForJob(ctx, step, recs...)
}

// recatalogue reads a stored digest from its repository and catalogues
// it again (the platform of an index recorded with one), with its scan.
func (r *Runner) recatalogue(ctx context.Context, it store.JobItem) (store.Record, error) {
	ref := it.Subject.String()
	var opts oci.RegistryOptions
	if r.Reach != nil {
		opts = r.Reach(it.Subject.Repository)
	}
	art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: ref, Reference: ref}, opts)
	if err != nil {
		return store.Record{}, err // it names the digest and the registry's answer
	}
	var platform *v1.Platform
	if it.Platform != "" {
		if platform, err = v1.ParsePlatform(it.Platform); err != nil {
			return store.Record{}, fmt.Errorf("%s: the recorded platform %q: %w", ref, it.Platform, err)
		}
	}
	return pipeline.Recatalogue(ctx, r.Store, art, platform, r.DB, r.Exceptions, r.Now())
}
