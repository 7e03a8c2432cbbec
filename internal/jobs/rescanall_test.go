package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

const (
	lodashRecord   = "ghsa/GHSA-35jh-r3h4-6jhm.json"
	minimistRecord = "ghsa/GHSA-xvch-5gv4-984h.json"
	lodashPURL     = "pkg:npm/lodash@4.17.20"
	minimistPURL   = "pkg:npm/minimist@1.2.5"
)

// database imports real advisory records into a database in dir.
func database(t testing.TB, dir string, records ...string) *vulndb.DB {
	t.Helper()
	var paths []string
	for _, r := range records {
		paths = append(paths, filepath.Join(testutil.VulnData(t), "records", r))
	}
	if _, err := vulndb.Import(context.Background(), dir, paths, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func stores(t *testing.T) map[string]func(t *testing.T) *store.Store {
	return map[string]func(t *testing.T) *store.Store{
		"sqlite":   func(t *testing.T) *store.Store { return openStore(t, t.TempDir(), "") },
		"postgres": func(t *testing.T) *store.Store { return openStore(t, "", testutil.PostgresDatabase(t)) },
	}
}

func openStore(t testing.TB, dir, url string) *store.Store {
	st, err := store.Open(context.Background(), dir, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func subject(i int) evidence.Subject {
	return evidence.Subject{Repository: fmt.Sprintf("registry.example/team/app%d", i%3), Digest: fmt.Sprintf("sha256:%064x", i+1)}
}

func recordComponents(t testing.TB, st *store.Store, s evidence.Subject, at time.Time, findings []evidence.Finding, purls ...string) {
	t.Helper()
	r := store.Record{Subject: s, At: at, Components: []evidence.Component{}}
	for _, p := range purls {
		c := evidence.Component{PURL: p, Type: "library"}
		c.Name, c.Version, _ = strings.Cut(p[strings.LastIndex(p, "/")+1:], "@")
		r.Components = append(r.Components, c)
		r.PackageKeys = append(r.PackageKeys, scan.PackageKey(c))
	}
	if findings != nil {
		r.Findings = &store.Scan{Findings: findings, DatabaseVersion: at}
	}
	if err := st.Record(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// clock is a settable clock.
type clock struct{ at atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.at.Store(t.UnixMicro()) }
func (c *clock) now() time.Time   { return time.UnixMicro(c.at.Load()).UTC() }

// lastSeen is when the open finding id of s was last seen (zero: none).
func lastSeen(t testing.TB, st *store.Store, s evidence.Subject, id string) (first, last time.Time, open int) {
	t.Helper()
	d, err := st.Dossier(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Findings {
		if f.ID == id && f.ResolvedAt == nil {
			open++
			first, last = f.FirstSeen, f.LastSeen
		}
	}
	return first, last, open
}

// rescan --all re-matches every stored SBOM, not only those holding
// packages whose advisories changed: after an incremental rescan, a new
// minimist advisory is imported; the job re-matches the digest holding
// lodash (unchanged advisory: its finding seen again) as well as the one
// holding minimist (its finding recorded), resolves a finding the data no
// longer supports, and leaves the advisory state so that the next
// incremental rescan has nothing to do.
func TestRescanAllRematchesEverySBOM(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			t1 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			withLodash, withMinimist := subject(0), subject(1)
			stale := evidence.Finding{ID: "GHSA-0000-0000-0000", Advisories: []string{"GHSA-0000-0000-0000"}, Component: evidence.Component{PURL: lodashPURL, Name: "lodash", Version: "4.17.20"},
				Ecosystem: "npm", Severity: evidence.Severity{Rating: "high"}}
			recordComponents(t, st, withLodash, t1, []evidence.Finding{stale}, lodashPURL)
			recordComponents(t, st, withMinimist, t1, nil, minimistPURL)
			dir := t.TempDir()
			if _, err := pipeline.Rescan(ctx, st, database(t, dir, lodashRecord), "", t1); err != nil {
				t.Fatal(err)
			}
			db := database(t, dir, lodashRecord, minimistRecord)
			t2 := t1.Add(time.Hour)
			r := &Runner{Store: st, DB: db, Now: func() time.Time { return t2 }}
			job, created, err := r.Start(ctx, store.JobRescanAll, false)
			if err != nil || !created || job.Total != 2 {
				t.Fatalf("start: %+v created %v: %v", job, created, err)
			}
			ran, err := r.Run(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if ran.Job.State != store.JobDone || ran.Job.Done != 2 || ran.Job.Failed != 0 {
				t.Errorf("the job: %+v", ran.Job)
			}
			var fresh []string
			for _, h := range ran.New {
				fresh = append(fresh, h.Subject.String()+" "+h.Finding.ID)
			}
			if strings.Join(fresh, ",") != withMinimist.String()+" GHSA-xvch-5gv4-984h" {
				t.Errorf("new findings: %v", fresh)
			}
			if first, last, n := lastSeen(t, st, withLodash, "GHSA-35jh-r3h4-6jhm"); n != 1 || !first.Equal(t1) || !last.Equal(t2) {
				t.Errorf("the unchanged advisory's finding: first %s, last %s, %d open: not re-matched at %s", first, last, n, t2)
			}
			if first, _, n := lastSeen(t, st, withMinimist, "GHSA-xvch-5gv4-984h"); n != 1 || !first.Equal(t2) {
				t.Errorf("the new advisory's finding: first seen %s, %d open", first, n)
			}
			if _, _, n := lastSeen(t, st, withLodash, stale.ID); n != 0 {
				t.Errorf("a finding no advisory supports is still open")
			}
			if again, err := pipeline.Rescan(ctx, st, db, "", t2); err != nil || again.Changed != 0 {
				t.Errorf("the incremental rescan after rescan --all: %+v, %v", again, err)
			}
			jobs, err := st.MaintenanceJobs(ctx, 0)
			if err != nil || len(jobs) != 1 || jobs[0].State != store.JobDone || jobs[0].FinishedAt == nil || !jobs[0].FinishedAt.Equal(t2) {
				t.Errorf("the jobs listed: %+v, %v", jobs, err)
			}
		})
	}
}

// A rescan --all cancelled mid-run continues, when run again, from the
// batch after the last one committed: every digest is re-matched once —
// those of the first run's batches at its time, the others at the
// second's — none twice and none skipped.
func TestRescanAllResumesAfterCancellation(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			const digests = 23
			for i := range digests {
				recordComponents(t, st, subject(i), t0, nil, lodashPURL)
			}
			db := database(t, t.TempDir(), lodashRecord)
			clk := newClock(t0.Add(time.Hour))
			first := t0.Add(time.Hour)
			runCtx, cancel := context.WithCancel(ctx)
			batches := 0
			r := &Runner{Store: st, DB: db, Now: clk.now, Throttle: Throttle{Batch: 4}, Progress: func(store.MaintenanceJob) {
				if batches++; batches == 2 {
					cancel()
				}
			}}
			job, _, err := r.Start(ctx, store.JobRescanAll, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Run(runCtx, job); !errors.Is(err, context.Canceled) {
				t.Fatalf("the cancelled run: %v", err)
			}
			paused, err := st.MaintenanceJob(ctx, job.ID)
			if err != nil || paused.State != store.JobQueued || paused.Done != 8 || !strings.Contains(paused.Error, "interrupted after 8 of 23") {
				t.Fatalf("the paused job: %+v, %v", paused, err)
			}
			second := t0.Add(2 * time.Hour)
			clk.set(second)
			r.Progress = nil
			again, created, err := r.Start(ctx, store.JobRescanAll, false)
			if err != nil || created || again.ID != job.ID {
				t.Fatalf("run again: %+v created %v: %v", again, created, err)
			}
			ran, err := r.Run(ctx, again)
			if err != nil || ran.Job.Done != digests || ran.Job.State != store.JobDone {
				t.Fatalf("the resumed run: %+v, %v", ran, err)
			}
			if len(ran.New) != digests-8 {
				t.Errorf("the resumed run saw %d findings first, want those of the %d digests the first run did not reach", len(ran.New), digests-8)
			}
			atFirst, atSecond := 0, 0
			for i := range digests {
				_, last, n := lastSeen(t, st, subject(i), "GHSA-35jh-r3h4-6jhm")
				switch {
				case n != 1:
					t.Errorf("%s: %d open findings", subject(i), n)
				case last.Equal(first):
					atFirst++
				case last.Equal(second):
					atSecond++
				default:
					t.Errorf("%s: last seen %s, by neither run", subject(i), last)
				}
			}
			if atFirst != 8 || atSecond != digests-8 {
				t.Errorf("re-matched by the first run %d, by the second %d: want 8 and %d", atFirst, atSecond, digests-8)
			}
		})
	}
}

// Two processes starting rescan --all at once share one job, and only one
// of them runs it; a process that stopped without giving the job back
// (its lease still running) keeps it until the lease runs out.
func TestRescanAllIsRunOnce(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			for i := range 40 {
				recordComponents(t, st, subject(i), t0, nil, lodashPURL, minimistPURL)
			}
			db := database(t, t.TempDir(), lodashRecord, minimistRecord)
			now := func() time.Time { return t0.Add(time.Hour) }
			var wg sync.WaitGroup
			var ran, leased atomic.Int32
			ids := make(chan int64, 4)
			var started sync.WaitGroup // all have started before any runs
			started.Add(4)
			for range 4 {
				wg.Go(func() {
					r := &Runner{Store: st, DB: db, Now: now, Throttle: Throttle{Batch: 5}}
					job, _, err := r.Start(ctx, store.JobRescanAll, false)
					started.Done()
					if err != nil {
						t.Error(err)
						return
					}
					ids <- job.ID
					started.Wait()
					out, err := r.Run(ctx, job)
					switch {
					case err == nil && out.Job.Done == 40:
						ran.Add(1)
					case errors.Is(err, store.ErrJobLeased), err != nil && strings.Contains(err.Error(), "has ended"):
						leased.Add(1)
					default:
						t.Errorf("run: %+v, %v", out, err)
					}
				})
			}
			wg.Wait()
			close(ids)
			var first int64
			for id := range ids {
				if first == 0 {
					first = id
				}
				if id != first {
					t.Errorf("two jobs made: %d and %d", first, id)
				}
			}
			if ran.Load() != 1 || leased.Load() != 3 {
				t.Errorf("%d runs did the job, %d were refused: want 1 and 3", ran.Load(), leased.Load())
			}
			jobs, _ := st.MaintenanceJobs(ctx, 0)
			if len(jobs) != 1 || jobs[0].Done != 40 {
				t.Errorf("jobs: %+v", jobs)
			}

			// a holder that stopped without giving the job back
			r := &Runner{Store: st, DB: db, Now: now, Lease: time.Minute}
			job, created, err := r.Start(ctx, store.JobRescanAll, false)
			if err != nil || !created {
				t.Fatal(job, err)
			}
			if _, err := st.ClaimMaintenanceJob(ctx, job.ID, "a process killed", now(), now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Run(ctx, job); !errors.Is(err, store.ErrJobLeased) {
				t.Fatalf("a job leased to another: %v", err)
			}
			later := &Runner{Store: st, DB: db, Now: func() time.Time { return now().Add(2 * time.Minute) }}
			if out, err := later.Run(ctx, job); err != nil || out.Job.Done != 40 {
				t.Errorf("after the lease ran out: %+v, %v", out, err)
			}
		})
	}
}

// A digest stored before the job was made but catalogued only after (its
// first scan ended later) is gone through too, and the job's total says
// so: progress never reads "3 of 2".
func TestJobCountsDigestsThatEnterItsScope(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			recordComponents(t, st, subject(0), t0, nil, lodashPURL)
			recordComponents(t, st, subject(1), t0, nil, lodashPURL)
			// known (deployed) but not catalogued when the job is made
			if err := st.SeenDeployed(ctx, subject(2), "prod", "Deployment/web", t0); err != nil {
				t.Fatal(err)
			}
			r := &Runner{Store: st, DB: database(t, t.TempDir(), lodashRecord), Now: func() time.Time { return t0.Add(time.Hour) }, Throttle: Throttle{Batch: 1}}
			job, _, err := r.Start(ctx, store.JobRescanAll, false)
			if err != nil || job.Total != 2 {
				t.Fatalf("start: %+v %v", job, err)
			}
			recordComponents(t, st, subject(2), t0.Add(time.Minute), nil, lodashPURL)
			ran, err := r.Run(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := st.MaintenanceJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range []store.MaintenanceJob{ran.Job, *stored} {
				if j.Done != 3 || j.Total != 3 {
					t.Errorf("the job: %d of %d digests done, want 3 of 3", j.Done, j.Total)
				}
			}
		})
	}
}
