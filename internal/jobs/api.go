package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// Authenticator says who sent a request (tokens.Authenticator).
type Authenticator interface {
	Request(req *http.Request) (*tokens.Actor, error)
}

// Started is what POST /api/jobs/{kind} takes: Force for a catalogue-all
// job, and its throttle (the runner's when zero).
type Started struct {
	Force       bool    `json:"force,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
}

// Service runs maintenance jobs in a server's background: started by an
// admin (the jobs API, the UI), each runs until the server's context ends
// and is then given back, to be continued by the next start.
type Service struct {
	runner  Runner
	ctx     context.Context
	report  func(error)
	running sync.WaitGroup
}

// Serve returns the service of r's jobs, running them until ctx ends;
// report hears the errors that stop them.
func (r *Runner) Serve(ctx context.Context, report func(error)) *Service {
	return &Service{runner: *r, ctx: ctx, report: report}
}

// Wait returns once the background runs have stopped.
func (s *Service) Wait() { s.running.Wait() }

// Launch starts the job of kind (or continues the unfinished one) in the
// background with opts; busy says it runs already (in this process or
// another), and was left to it.
func (s *Service) Launch(ctx context.Context, kind string, opts Started) (job store.MaintenanceJob, busy bool, err error) {
	if !slices.Contains(store.MaintenanceKinds, kind) {
		return job, false, fmt.Errorf("no kind of job %q (kinds: %s)", kind, strings.Join(store.MaintenanceKinds, ", "))
	}
	run := s.runner
	run.Progress = nil
	if opts.Rate != 0 {
		run.Throttle.Rate = opts.Rate
	}
	if opts.Concurrency != 0 {
		run.Throttle.Concurrency = opts.Concurrency
	}
	if err := run.Throttle.check(); err != nil {
		return job, false, err
	}
	job, _, err = run.Start(ctx, kind, opts.Force)
	if err != nil {
		return job, false, err
	}
	if job.State == store.JobRunning && job.LeaseUntil != nil && job.LeaseUntil.After(run.Now()) {
		return job, true, nil
	}
	s.running.Go(func() {
		// a job cancelled before its run claimed it has ended as asked,
		// and one another run claimed first (a start beside this one, here
		// or on another replica) runs as asked: neither is a failure
		_, err := run.Run(s.ctx, job)
		if err != nil && !errors.Is(err, store.ErrJobEnded) && !errors.Is(err, store.ErrJobLeased) && s.report != nil {
			s.report(err)
		}
	})
	return job, false, nil
}

// StartJob is Launch with the runner's throttle.
func (s *Service) StartJob(ctx context.Context, kind string, force bool) (store.MaintenanceJob, bool, error) {
	return s.Launch(ctx, kind, Started{Force: force})
}

// Cancel ends job id as failed, saying who cancelled it (Cancel).
func (s *Service) Cancel(ctx context.Context, id int64, by string) (*store.MaintenanceJob, error) {
	return Cancel(ctx, s.runner.Store, id, s.runner.Now(), by)
}

// Cancel ends job id as failed at at, saying who cancelled it: the
// process running it stops at its next batch or lease renewal,
// committing nothing more, and the next start of its kind makes a new
// job.
func Cancel(ctx context.Context, st *store.Store, id int64, at time.Time, by string) (*store.MaintenanceJob, error) {
	job, err := st.CancelMaintenanceJob(ctx, id, at, "cancelled by "+by)
	if err == nil && job == nil {
		err = fmt.Errorf("job %d %w", id, store.ErrNoSuchJob)
	}
	return job, err
}

// Handler serves the jobs to admins of every repository (the jobs touch
// every digest): POST /api/jobs/{rescan-all|catalogue-all} starts the
// job (or continues the unfinished one), POST /api/jobs/{id}/cancel ends
// one, GET /api/jobs lists the jobs, GET /api/jobs/{id} shows one with its
// failed digests.
func (s *Service) Handler(auth Authenticator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs/{kind}", func(w http.ResponseWriter, req *http.Request) {
		kind := req.PathValue("kind")
		if !slices.Contains(store.MaintenanceKinds, kind) {
			apiError(w, http.StatusNotFound, fmt.Sprintf("no kind of job %q (kinds: %s)", kind, strings.Join(store.MaintenanceKinds, ", ")))
			return
		}
		var opts Started
		body, err := io.ReadAll(io.LimitReader(req.Body, 4<<10+1))
		if err == nil && len(body) > 4<<10 {
			err = errors.New("over 4 KiB")
		}
		if err == nil && len(strings.TrimSpace(string(body))) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			err = dec.Decode(&opts)
			// one object: a text/plain form's "name=value" reads as JSON
			// with trailing data, which is refused
			if _, end := dec.Token(); err == nil && end != io.EOF {
				err = errors.New("more than one JSON object")
			}
		}
		if err == nil {
			err = (Throttle{Rate: opts.Rate, Concurrency: opts.Concurrency}).check()
		}
		if err != nil {
			apiError(w, http.StatusBadRequest, "the job's options (JSON: force, rate, concurrency): "+err.Error())
			return
		}
		job, busy, err := s.Launch(req.Context(), kind, opts)
		switch {
		case err != nil:
			apiError(w, http.StatusServiceUnavailable, err.Error())
		case busy:
			writeJSON(w, http.StatusConflict, job) // another process, or this one, runs it
		default:
			writeJSON(w, http.StatusAccepted, job)
		}
	})
	mux.HandleFunc("POST /api/jobs/{id}/cancel", func(w http.ResponseWriter, req *http.Request) {
		id, ok := jobID(w, req)
		if !ok {
			return
		}
		job, err := s.Cancel(req.Context(), id, actorOf(req).Name)
		switch {
		case errors.Is(err, store.ErrNoSuchJob):
			apiError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, store.ErrJobEnded):
			writeJSON(w, http.StatusConflict, job)
		case err != nil:
			apiError(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeJSON(w, http.StatusOK, job)
		}
	})
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, req *http.Request) {
		list, err := s.runner.Store.MaintenanceJobs(req.Context(), 100)
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, req *http.Request) {
		id, ok := jobID(w, req)
		if !ok {
			return
		}
		shown, err := Show(req.Context(), s.runner.Store, id, 1000)
		switch {
		case errors.Is(err, store.ErrNoSuchJob):
			apiError(w, http.StatusNotFound, err.Error())
		case err != nil:
			apiError(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeJSON(w, http.StatusOK, shown)
		}
	})
	// a browser that was given a token at this API's Basic prompt sends it
	// with any site's form or fetch: what another site's page sends is
	// refused, as by the jobs page; clients that are no browsers send no
	// Origin or Sec-Fetch-Site and are not affected
	crossOrigin := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := crossOrigin.Check(req); err != nil {
			apiError(w, http.StatusForbidden, "the jobs API does not take requests another site's page sends")
			return
		}
		actor, err := auth.Request(req)
		if err != nil || actor == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="dossier"`)
			apiError(w, http.StatusUnauthorized, "the jobs API needs an admin token of every repository in the Authorization header")
			return
		}
		if !actor.Has(store.RoleAdmin) || actor.Repositories.Pattern != tokens.All.Pattern {
			apiError(w, http.StatusForbidden, actor.Name+" may not see, start or cancel jobs over every digest (an admin token of every repository)")
			return
		}
		mux.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), actorKey{}, actor)))
	})
}

type actorKey struct{}

func actorOf(req *http.Request) *tokens.Actor { return req.Context().Value(actorKey{}).(*tokens.Actor) }

// jobID reads the {id} of a job's path, answering 404 when it is no number.
func jobID(w http.ResponseWriter, req *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no job %q: jobs are numbered", req.PathValue("id")))
		return 0, false
	}
	return id, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}

// ReachOwn reads the repositories of the registry named name through
// reader (in process: no credentials to send, no host to reach), and any
// other with reach.
func ReachOwn(name string, reader func(repository string) http.RoundTripper, reach oci.RegistryOptions) func(string) oci.RegistryOptions {
	return func(repository string) oci.RegistryOptions {
		if host, _, _ := strings.Cut(repository, "/"); host != name {
			return reach
		}
		opts := reach
		opts.Transport, opts.Keychain = reader(repository), authn.NewMultiKeychain()
		return opts
	}
}
