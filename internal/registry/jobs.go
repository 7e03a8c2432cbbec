package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// The kinds of work the registry queues about a pushed digest.
const (
	// JobScan catalogues, scans and records an image or index pushed.
	JobScan = "scan"
	// JobVerify verifies and records what was attached to a digest
	// (signatures, attestations pushed as referrers or cosign's tags).
	JobVerify = "verify"
)

// Processor does one job. transport reaches this registry in-process
// with every right, for reading what was pushed.
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

// cosignTag is a tag cosign's legacy layout attaches to a digest.
var cosignTag = regexp.MustCompile(`^(sha256)-([0-9a-f]{64})\.(sig|att|sbom)$`)

// enqueue queues the work a successful manifest push calls for: a scan of
// an image or index, or the verification of what was attached to a
// subject. The push has succeeded: a queue that cannot be written is
// reported, not answered.
func (r *Registry) enqueue(ctx context.Context, repository, tag string, fields *manifestFields, digest string) {
	kind, target := JobScan, digest
	switch {
	case fields.Subject != nil && fields.Subject.Digest != "":
		kind, target = JobVerify, fields.Subject.Digest
	case cosignTag.MatchString(tag):
		m := cosignTag.FindStringSubmatch(tag)
		kind, target = JobVerify, m[1]+":"+m[2]
	case fields.ArtifactType != "" || (fields.Config != nil && !imageConfig(fields.Config.MediaType)):
		return // an artifact that is not an image: nothing to catalogue
	}
	if err := r.store.Enqueue(ctx, kind, repository, target, r.now()); err != nil {
		r.report(fmt.Errorf("queueing a %s of %s@%s: %w", kind, repository, target, err))
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func imageConfig(mediaType string) bool {
	return mediaType == "application/vnd.oci.image.config.v1+json" || mediaType == "application/vnd.docker.container.image.v1+json"
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
	transport := r.Transport()
	for ctx.Err() == nil {
		now := r.now()
		job, err := r.store.ClaimJob(context.WithoutCancel(ctx), now, now.Add(r.jobLease))
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
		err = protect(func() error { return process(jobCtx, *job, transport) })
		r.metrics.Scan(job.Kind, err != nil, time.Since(started))
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
		case <-time.After(r.jobLease / 3):
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

// Transport reaches this registry in-process, with every right: what jobs
// read what was pushed with, whatever host name it was pushed to.
func (r *Registry) Transport() http.RoundTripper { return inProcess{r} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "" {
		return nil, errors.New("in-process registry request without a path")
	}
	body, pw := io.Pipe()
	rw := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{})}
	req = req.WithContext(withActor(req.Context(), internalActor))
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
