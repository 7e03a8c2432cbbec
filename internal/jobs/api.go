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

// API serves the maintenance jobs to admins of every repository (the
// jobs touch every digest): POST /api/jobs/{rescan-all|catalogue-all}
// starts the job (or continues the unfinished one) and runs it in the
// background until ctx ends (it is then given back, to be continued by
// the next POST); GET /api/jobs lists the jobs, GET /api/jobs/{id} shows
// one with its failed digests. wait returns once the background runs have
// stopped. report hears the errors that stop them.
func (r *Runner) API(ctx context.Context, auth Authenticator, report func(error)) (handler http.Handler, wait func()) {
	var running sync.WaitGroup
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
		}
		if err == nil && (opts.Rate < 0 || opts.Concurrency < 0) {
			err = errors.New("rate and concurrency cannot be negative")
		}
		if err != nil {
			apiError(w, http.StatusBadRequest, "the job's options (JSON: force, rate, concurrency): "+err.Error())
			return
		}
		run := *r
		run.Progress = nil
		if opts.Rate > 0 {
			run.Throttle.Rate = opts.Rate
		}
		if opts.Concurrency > 0 {
			run.Throttle.Concurrency = opts.Concurrency
		}
		job, _, err := run.Start(req.Context(), kind, opts.Force)
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if job.State == store.JobRunning && job.LeaseUntil != nil && job.LeaseUntil.After(run.Now()) {
			writeJSON(w, http.StatusConflict, job) // another process, or this one, runs it
			return
		}
		running.Go(func() {
			if _, err := run.Run(ctx, job); err != nil && report != nil {
				report(err)
			}
		})
		writeJSON(w, http.StatusAccepted, job)
	})
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, req *http.Request) {
		list, err := r.Store.MaintenanceJobs(req.Context(), 100)
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
		if err != nil {
			apiError(w, http.StatusNotFound, fmt.Sprintf("no job %q: jobs are numbered", req.PathValue("id")))
			return
		}
		shown, err := Show(req.Context(), r.Store, id, 1000)
		switch {
		case err != nil && strings.Contains(err.Error(), "is not in the evidence store"):
			apiError(w, http.StatusNotFound, err.Error())
		case err != nil:
			apiError(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeJSON(w, http.StatusOK, shown)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		actor, err := auth.Request(req)
		if err != nil || actor == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="dossier"`)
			apiError(w, http.StatusUnauthorized, "the jobs API needs an admin token of every repository in the Authorization header")
			return
		}
		if !actor.Has(store.RoleAdmin) || actor.Repositories.Pattern != tokens.All.Pattern {
			apiError(w, http.StatusForbidden, actor.Name+" may not see or start jobs over every digest (an admin token of every repository)")
			return
		}
		mux.ServeHTTP(w, req)
	}), running.Wait
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
