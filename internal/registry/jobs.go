package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// Processor does one job. transport reads the job's repository of this
// registry in-process (and nothing else), for reading what was pushed.
type Processor func(ctx context.Context, job store.Job, transport http.RoundTripper) error

// A claimed job is leased for jobLease and the lease renewed while its
// worker runs, so that the job of a worker that died (kill -9, a lost
// replica) is claimed again within a lease; maxAttempts bounds how often
// a failing job is tried.
const (
	jobLease    = time.Minute
	maxAttempts = 3
	jobPoll     = 2 * time.Second
)

// enqueue queues the work a successful manifest push calls for: the
// verification of evidence attached to a subject, else a scan of what was
// pushed (an image, an index, any other artifact). The push has
// succeeded: a queue that cannot be written is reported, not answered.
func (r *Registry) enqueue(ctx context.Context, repository, tag string, body []byte, digest string) {
	kind, target := store.JobScan, digest
	if subject, ok := evidenceSubject(body, tag); ok {
		if subject == "" {
			return // evidence naming no subject: nothing to verify it against
		}
		kind, target = store.JobVerify, subject
	}
	if err := r.store.Enqueue(ctx, kind, repository, target, r.now()); err != nil {
		r.report(fmt.Errorf("queueing a %s of %s@%s: %w", kind, repository, target, err))
		return
	}
	r.wakeWorker()
}

// wakeWorker tells an idle worker a job was queued.
func (r *Registry) wakeWorker() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// RunWorkers runs n workers doing queued jobs until ctx ends; wait
// returns when they have stopped. A job still running at the end is
// given grace to finish; one that does not is put back in the queue.
func (r *Registry) RunWorkers(ctx context.Context, n int, grace time.Duration, process Processor) (wait func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { r.work(ctx, grace, process) })
	}
	return wg.Wait
}

func (r *Registry) work(ctx context.Context, grace time.Duration, process Processor) {
	for ctx.Err() == nil {
		now := r.now()
		job, err := r.store.ClaimJob(context.WithoutCancel(ctx), now, now.Add(r.jobLease), maxAttempts)
		if err != nil {
			r.report(fmt.Errorf("claiming a job: %w", err))
		}
		if job == nil {
			select {
			case <-ctx.Done():
			case <-r.wake:
			case <-time.After(jobPoll):
			}
			continue
		}
		// a job outlives the server's end by grace, no more
		jobCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, func() {
			t := time.AfterFunc(grace, cancel)
			<-jobCtx.Done()
			t.Stop()
		})
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			r.renewLease(jobCtx, job.ID)
		}()
		started := time.Now()
		err = protect(func() error { return process(jobCtx, *job, r.readOnly(job.Repository)) })
		r.metrics.Scan(job.Kind, err != nil, time.Since(started))
		if err == nil && (job.Kind == store.JobScan || job.Kind == store.JobVerify) && r.summaries != nil {
			if serr := r.publishSummary(jobCtx, *job); serr != nil {
				r.report(fmt.Errorf("the verification summary of %s@%s: %w", job.Repository, job.Digest, serr))
			}
		}
		if jobCtx.Err() != nil && err != nil {
			err = fmt.Errorf("interrupted by shutdown: %w", err)
		}
		stop()
		cancel()
		<-renewed
		if ferr := r.store.FinishJob(context.WithoutCancel(ctx), job.ID, r.now(), err, maxAttempts); ferr != nil {
			r.report(fmt.Errorf("finishing job %d: %w", job.ID, ferr))
		}
		if err != nil {
			r.report(fmt.Errorf("%s of %s@%s (attempt %d): %w", job.Kind, job.Repository, job.Digest, job.Attempts, err))
		}
	}
}

// renewLease keeps a running job's lease until ctx ends.
func (r *Registry) renewLease(ctx context.Context, id int64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.leaseTick(r.jobLease / 3):
		}
		if err := r.store.RenewJob(ctx, id, r.now().Add(r.jobLease)); err != nil && ctx.Err() == nil {
			r.report(fmt.Errorf("renewing the lease of job %d: %w", id, err))
		}
	}
}

// protect turns a panic of a job into its error: a malformed image must
// not take the registry down.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// internalActor is the registry's own reader, for jobs: requests carrying
// it in their context come from this process, never from the network.
var internalActor = &tokens.Actor{Name: "dossier", Role: store.RoleAdmin, Repositories: tokens.All}

func internal(req *http.Request) bool {
	a, _ := req.Context().Value(actorKey{}).(*tokens.Actor)
	return a == internalActor
}

// readOnly reaches this registry in-process, with the right to read one
// of its repositories and nothing else: a job reads what was pushed
// there, and a manifest naming another repository's blobs (a foreign
// layer's URL) or another host cannot make it read them.
func (r *Registry) readOnly(repository string) http.RoundTripper {
	return inProcess{h: r, host: r.name, path: strings.TrimPrefix(repository, r.name+"/")}
}

// Reader reaches this registry in-process with the right to read one of
// its repositories and nothing else, as its own jobs do.
func (r *Registry) Reader(repository string) http.RoundTripper { return r.readOnly(repository) }

type inProcess struct {
	h          http.Handler
	host, path string
	// write allows adding to the repository (uploads and manifests)
	write bool
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rt, ok := parseRoute(req.URL.Path)
	adds := req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch
	switch {
	case req.Method != http.MethodGet && req.Method != http.MethodHead && !(t.write && adds):
		return nil, fmt.Errorf("in-process registry reads only: %s %s refused", req.Method, req.URL)
	case req.URL.Query().Has("from"):
		return nil, fmt.Errorf("in-process registry mounts nothing: %s refused", req.URL)
	case evidence.CanonicalHost(req.URL.Host) != t.host || !ok || rt.catalog || (rt.name != "" && rt.name != t.path):
		return nil, fmt.Errorf("in-process registry reads are confined to %s/%s: %s refused", t.host, t.path, req.URL)
	}
	body, pw := io.Pipe()
	rw := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{})}
	req = req.WithContext(withActor(req.Context(), internalActor))
	if req.Body == nil {
		// a server's request always has a body; handlers read it
		req.Body = http.NoBody
	}
	go func() {
		t.h.ServeHTTP(rw, req)
		rw.WriteHeader(http.StatusOK) // when the handler wrote nothing
		pw.Close()
	}()
	select {
	case <-rw.ready:
	case <-req.Context().Done():
		pw.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	return &http.Response{Status: http.StatusText(rw.status), StatusCode: rw.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rw.sent, Body: body, ContentLength: -1, Request: req}, nil
}

// pipeResponse streams a handler's answer to the in-process client.
type pipeResponse struct {
	header http.Header
	// sent is the header as it was when the status was written
	sent   http.Header
	status int
	body   *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
}

func (p *pipeResponse) Header() http.Header { return p.header }

func (p *pipeResponse) WriteHeader(status int) {
	p.once.Do(func() {
		p.status, p.sent = status, p.header.Clone()
		close(p.ready)
	})
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.body.Write(b)
}
