package ui

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/dossier-dev/dossier/internal/store"
)

type jobsPage struct {
	Jobs  []store.MaintenanceJob
	Shown *shownJob
	Error string
}

// shownJob is a job with the digests it could not do.
type shownJob struct {
	store.MaintenanceJob
	Failures []store.JobFailure
}

// jobs lists the jobs over every stored digest, and with ?id= one job's
// failed digests: for admins of every repository, as the jobs touch
// every digest.
func (u *UI) jobs(w http.ResponseWriter, req *http.Request, v *viewer, p jobsPage) {
	status := http.StatusOK
	if p.Error != "" {
		status = http.StatusConflict
	}
	if !v.Admin() {
		u.fail(w, req, v, http.StatusForbidden, v.actor.Name+" may not see or start jobs over every digest (admin of every repository)")
		return
	}
	var err error
	if p.Jobs, err = u.o.Store.MaintenanceJobs(req.Context(), 50); err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	if raw := req.URL.Query().Get("id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		var job *store.MaintenanceJob
		if err == nil {
			if job, err = u.o.Store.MaintenanceJob(req.Context(), id); err != nil {
				u.storeFailed(w, req, v, err)
				return
			}
		}
		if job == nil {
			u.fail(w, req, v, http.StatusNotFound, fmt.Sprintf("no job %q", raw))
			return
		}
		failures, err := u.o.Store.JobFailures(req.Context(), id, 1000)
		if err != nil {
			u.storeFailed(w, req, v, err)
			return
		}
		p.Shown = &shownJob{MaintenanceJob: *job, Failures: failures}
	}
	u.render(w, req, status, "jobs", v, p)
}

// jobAction starts or cancels a job from the jobs page's forms, then
// shows that job.
func (u *UI) jobAction(w http.ResponseWriter, req *http.Request, v *viewer) {
	if err := crossOrigin.Check(req); err != nil {
		u.fail(w, req, v, http.StatusForbidden, "a job must be started or cancelled from this site's own page")
		return
	}
	if !v.Admin() {
		u.fail(w, req, v, http.StatusForbidden, v.actor.Name+" may not start or cancel jobs over every digest (admin of every repository)")
		return
	}
	if u.o.Jobs == nil {
		u.fail(w, req, v, http.StatusServiceUnavailable, "this server runs no jobs")
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, maxLoginBytes)
	if err := req.ParseForm(); err != nil {
		u.fail(w, req, v, http.StatusBadRequest, "the form could not be read: "+err.Error())
		return
	}
	var job *store.MaintenanceJob
	var err error
	switch form := req.PostForm; form.Get("action") {
	case "start":
		kind := form.Get("kind")
		if !slices.Contains(store.MaintenanceKinds, kind) {
			u.fail(w, req, v, http.StatusBadRequest, fmt.Sprintf("no kind of job %q", kind))
			return
		}
		var started store.MaintenanceJob
		started, _, err = u.o.Jobs.StartJob(req.Context(), kind, form.Get("force") == "true")
		job = &started
	case "cancel":
		id, perr := strconv.ParseInt(form.Get("id"), 10, 64)
		if perr != nil {
			u.fail(w, req, v, http.StatusBadRequest, fmt.Sprintf("no job %q: jobs are numbered", form.Get("id")))
			return
		}
		job, err = u.o.Jobs.Cancel(req.Context(), id, v.actor.Name)
	default:
		u.fail(w, req, v, http.StatusBadRequest, fmt.Sprintf("no action %q: start or cancel", form.Get("action")))
		return
	}
	switch {
	case errors.Is(err, store.ErrNoSuchJob):
		u.fail(w, req, v, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrJobEnded):
		u.jobs(w, req, v, jobsPage{Error: err.Error()})
	case err != nil:
		u.fail(w, req, v, http.StatusServiceUnavailable, err.Error())
	default:
		http.Redirect(w, req, fmt.Sprintf("/ui/jobs?id=%d", job.ID), http.StatusSeeOther)
	}
}
