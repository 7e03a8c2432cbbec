package registry

import (
	"context"
	"errors"
	"net/http"
	"sync"
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
	claimed, err := s.st.ClaimJob(ctx, now, now.Add(time.Minute), maxAttempts)
	if err != nil || claimed == nil {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	if again, err := s.st.ClaimJob(ctx, now.Add(30*time.Second), now.Add(2*time.Minute), maxAttempts); err != nil || again != nil {
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

// A job longer than its lease keeps it while its worker renews the
// lease: a second replica's worker does not take it up meanwhile, however
// many leases long the job runs; once renewals stop (its worker died),
// the job is claimed again when the lease ends. The clock and the
// renewals' pace are the test's, so no sleep decides the outcome.
func TestLeaseRenewed(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{at: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	s := newServerWith(t, func(o *Options) { o.Now = clock.Now })
	if err := remote.Write(s.ref(t, "team/app:v1"), randomImage(t), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	const lease = time.Minute
	renewTick, renewed := make(chan time.Time), make(chan error)
	s.reg.jobLease = lease
	s.reg.leaseTick = func(time.Duration) <-chan time.Time { return renewTick }
	s.reg.store = leaseObserver{Store: s.reg.store, renewed: renewed}
	claims := make(chan *store.Job)
	other, err := New(ctx, Options{Name: s.host, RootDirectory: t.TempDir(), Store: leaseObserver{Store: s.st, claims: claims}, JobLease: lease, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	started, release := make(chan string, 2), make(chan struct{})
	process := func(worker string) Processor {
		return func(ctx context.Context, _ store.Job, _ http.RoundTripper) error {
			started <- worker
			<-release
			return nil
		}
	}
	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	waitA := s.reg.RunWorkers(workCtx, 1, time.Second, process("first"))
	if w := within(t, started, "the first worker's start"); w != "first" {
		t.Fatalf("%s worker started the job", w)
	}
	waitB := other.RunWorkers(workCtx, 1, time.Second, process("second"))
	claimAgain := func() *store.Job {
		other.wakeWorker()
		return within(t, claims, "the second worker's claim")
	}
	if job := within(t, claims, "the second worker's claim"); job != nil {
		t.Fatalf("the second worker claimed job %d, leased to the first", job.ID)
	}
	// a renewal each five sixths of a lease, the second worker claiming
	// in between (and whenever it polls): six rounds are five leases long
	for range 6 {
		clock.Advance(lease / 2)
		renewTick <- clock.Now()
		if err := within(t, renewed, "the lease's renewal"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(lease / 3)
		if job := claimAgain(); job != nil {
			t.Fatalf("at %v the second worker claimed job %d, whose lease was renewed", clock.Now(), job.ID)
		}
	}
	clock.Advance(lease + time.Second) // no renewal: the first worker is as good as dead
	job := claimAgain()
	if job == nil { // a poll of the second worker's own may have claimed before the clock moved
		job = claimAgain()
	}
	if job == nil {
		t.Fatal("the job was not claimed again once its lease ended")
	}
	if w := within(t, started, "the second worker's start"); w != "second" {
		t.Fatalf("%s worker started the job again", w)
	}
	close(release)
	waitJobs(t, s.st, func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			return j.State == store.JobDone
		}
		return false
	})
	stop()
	go func() {
		for range claims {
		}
	}()
	go func() {
		for range renewed {
		}
	}()
	waitA()
	waitB()
}

// within receives from ch, failing the test after 10 s.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10 s for %s", what)
		panic("unreachable")
	}
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// leaseObserver tells the test each lease renewal's result and each
// claim's job.
type leaseObserver struct {
	Store
	renewed chan<- error
	claims  chan<- *store.Job
}

func (o leaseObserver) RenewJob(ctx context.Context, id int64, until time.Time) error {
	err := o.Store.RenewJob(ctx, id, until)
	if o.renewed != nil {
		o.renewed <- err
	}
	return err
}

func (o leaseObserver) ClaimJob(ctx context.Context, now, until time.Time, maxAttempts int) (*store.Job, error) {
	job, err := o.Store.ClaimJob(ctx, now, until, maxAttempts)
	if o.claims != nil {
		o.claims <- job
	}
	return job, err
}
