package registry

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

func jobsOf(t *testing.T, st *store.Store) map[string]store.Job {
	t.Helper()
	list, err := st.Jobs(context.Background(), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Job{}
	for _, j := range list {
		out[j.Kind+" "+j.Repository+"@"+j.Digest] = j
	}
	return out
}

// Pushes queue work: an image a scan, a signature (referrer or cosign
// tag) a verification of its subject; workers read what was pushed
// in-process and finish the jobs; failures are retried, then failed.
func TestJobsQueuedAndDone(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	digest := digestOfImage(t, img)
	repo, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	jobs := jobsOf(t, s.st)
	scan, verify := jobs["scan "+s.host+"/team/app@"+digest], jobs["verify "+s.host+"/team/app@"+digest]
	if len(jobs) != 2 || scan.State != store.JobQueued || verify.State != store.JobQueued {
		t.Fatalf("jobs after an image and its signature: %+v", jobs)
	}
	// the workers read the pushed manifest through the in-process transport
	var runs atomic.Int32
	workCtx, stop := context.WithCancel(ctx)
	wait := s.reg.RunWorkers(workCtx, 2, time.Second, func(ctx context.Context, job store.Job, transport http.RoundTripper) error {
		runs.Add(1)
		repo, err := oci.OpenRegistry(job.Repository, oci.RegistryOptions{Transport: transport})
		if err != nil {
			return err
		}
		_, err = repo.Resolve(ctx, job.Digest)
		return err
	})
	waitJobs(t, s.st, func(jobs map[string]store.Job) bool {
		return jobs["scan "+s.host+"/team/app@"+digest].State == store.JobDone && jobs["verify "+s.host+"/team/app@"+digest].State == store.JobDone
	})
	stop()
	wait()
	if runs.Load() != 2 {
		t.Errorf("%d runs for two jobs", runs.Load())
	}

	// a job that keeps failing is tried three times, then failed (and
	// reported each time)
	var reported atomic.Int32
	s.reg.onError = func(error) { reported.Add(1) }
	if err := remote.Write(s.ref(t, "team/broken:v1"), randomImage(t), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	workCtx, stop = context.WithCancel(ctx)
	wait = s.reg.RunWorkers(workCtx, 1, time.Second, func(context.Context, store.Job, http.RoundTripper) error { return errors.New("no advisory data") })
	waitJobs(t, s.st, func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			if j.Repository == s.host+"/team/broken" {
				return j.State == store.JobFailed && j.Attempts == 3 && j.Error == "no advisory data"
			}
		}
		return false
	})
	stop()
	wait()
	if reported.Load() != 3 {
		t.Errorf("%d failures reported, want 3", reported.Load())
	}
}

func waitJobs(t *testing.T, st *store.Store, ok func(map[string]store.Job) bool) {
	t.Helper()
	// a guard against hangs, not a speed check: under -race, beside the
	// plain test run on two cores, one catalogue has taken over 20 s
	deadline := time.Now().Add(2 * time.Minute)
	for !ok(jobsOf(t, st)) {
		if time.Now().After(deadline) {
			t.Fatalf("jobs: %+v", jobsOf(t, st))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Jobs survive the server: one interrupted by a shutdown goes back to the
// queue after the grace; a worker that died leaves its job to be claimed
// again when the lease ends; a new server does what the old one left.
func TestJobsSurviveRestarts(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
	s.reg.onError = func(err error) { t.Log(err) } // the interruption is reported
	if err := remote.Write(s.ref(t, "team/app:v1"), randomImage(t), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	workCtx, stop := context.WithCancel(ctx)
	wait := s.reg.RunWorkers(workCtx, 1, 100*time.Millisecond, func(ctx context.Context, job store.Job, _ http.RoundTripper) error {
		close(started)
		<-ctx.Done() // a scan longer than the grace
		return ctx.Err()
	})
	<-started
	stop()
	wait()
	list, err := s.st.Jobs(ctx, "", "", 0)
	if err != nil || len(list) != 1 || list[0].State != store.JobQueued || list[0].Attempts != 1 {
		t.Fatalf("after an interrupted job: %+v %v", list, err)
	}
	// a worker of another replica claims it and dies: its lease ends
	now := time.Now()
	claimed, err := s.st.ClaimJob(ctx, now, now.Add(time.Minute))
	if err != nil || claimed == nil {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	if again, err := s.st.ClaimJob(ctx, now.Add(30*time.Second), now.Add(2*time.Minute)); err != nil || again != nil {
		t.Fatalf("a leased job was claimed again: %+v %v", again, err)
	}
	// a new registry on the same store, after the lease ended, does it
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }
	reg, err := New(ctx, Options{Name: s.host, RootDirectory: t.TempDir(), Store: s.st, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	workCtx, stop = context.WithCancel(ctx)
	wait = reg.RunWorkers(workCtx, 1, time.Second, func(context.Context, store.Job, http.RoundTripper) error { return nil })
	waitJobs(t, s.st, func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			return j.State == store.JobDone && j.Attempts == 3
		}
		return false
	})
	stop()
	wait()
}

// A job longer than its lease keeps it while its worker lives: a second
// replica's worker does not take it up meanwhile.
func TestLeaseRenewed(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), randomImage(t), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	other, err := New(ctx, Options{Name: s.host, RootDirectory: t.TempDir(), Store: s.st, JobLease: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.reg.jobLease = 300 * time.Millisecond
	var running, most, runs atomic.Int32
	process := func(ctx context.Context, _ store.Job, _ http.RoundTripper) error {
		runs.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(1500 * time.Millisecond) // five leases long
		return nil
	}
	workCtx, stop := context.WithCancel(ctx)
	waitA := s.reg.RunWorkers(workCtx, 1, time.Second, process)
	waitB := other.RunWorkers(workCtx, 1, time.Second, process)
	waitJobs(t, s.st, func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			return j.State == store.JobDone
		}
		return false
	})
	stop()
	waitA()
	waitB()
	if most.Load() != 1 || runs.Load() != 1 {
		t.Errorf("the job ran %d times, %d at once", runs.Load(), most.Load())
	}
}
