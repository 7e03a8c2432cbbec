package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
)

// maxHookBytes bounds a notification's body.
const maxHookBytes = 1 << 20

// Hooks serves the push notifications of registries dossier guards but
// does not host, at /api/v1/hooks/distribution (the distribution
// registry's events, application/vnd.docker.distribution.events.v2+json)
// and /api/v1/hooks/harbor (Harbor's webhook payload): each pushed
// manifest is queued for the same scan and record as a push here, and
// each pushed tag recorded. They need an admin token, as the
// notification's Authorization header.
func (r *Registry) Hooks() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/hooks/distribution", r.hook(distributionPushes))
	mux.HandleFunc("POST /api/v1/hooks/harbor", r.hook(harborPushes))
	return mux
}

// pushed is one manifest a notification announces.
type pushed struct {
	repository, digest, tag string
}

func (r *Registry) hook(parse func([]byte) ([]pushed, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		actor, err := r.auth.Request(req)
		if err != nil || actor == nil {
			challenge(w, "notifications need an admin token in their Authorization header")
			return
		}
		if actor.Role != store.RoleNotify && !actor.Has(store.RoleAdmin) {
			writeError(w, http.StatusForbidden, "DENIED", actor.Name+" may not send notifications (notify or admin)")
			return
		}
		body, err := readBody(req, maxHookBytes)
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "notification: "+err.Error())
			return
		}
		pushes, err := parse(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "UNSUPPORTED", "notification: "+err.Error())
			return
		}
		// all or nothing: every repository must be one this registry
		// accepts notifications of, and within the token's globs
		for _, p := range pushes {
			host, _, _ := strings.Cut(p.repository, "/")
			if !r.hookHosts[host] {
				writeError(w, http.StatusForbidden, "DENIED", fmt.Sprintf("notifications of %s are not accepted (hook hosts: %s)", host, r.hookHostList()))
				return
			}
			if !actor.Reaches(p.repository) {
				writeError(w, http.StatusForbidden, "DENIED", fmt.Sprintf("%s may not send notifications of %s", actor.Name, p.repository))
				return
			}
		}
		ctx := req.Context()
		for _, p := range pushes {
			if err := r.store.Enqueue(ctx, store.JobScanRemote, p.repository, p.digest, r.now()); err != nil {
				writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "queueing the scan: "+err.Error())
				return
			}
			if p.tag != "" {
				rec := store.Record{Subject: evidence.Subject{Repository: p.repository, Digest: p.digest}, At: r.now(), Tag: p.tag, TagSource: "notification to " + actor.Name}
				if err := r.store.Record(ctx, rec); err != nil {
					writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "recording the tag: "+err.Error())
					return
				}
			}
		}
		r.wakeWorker()
		w.WriteHeader(http.StatusAccepted)
	}
}

// distributionPushes reads the distribution registry's event envelope:
// the push events of manifests.
func distributionPushes(body []byte) ([]pushed, error) {
	var envelope struct {
		Events []struct {
			Action string `json:"action"`
			Target struct {
				MediaType  string `json:"mediaType"`
				Digest     string `json:"digest"`
				Repository string `json:"repository"`
				URL        string `json:"url"`
				Tag        string `json:"tag"`
			} `json:"target"`
			Request struct {
				Host string `json:"host"`
			} `json:"request"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return nil, fmt.Errorf("not a distribution event envelope: %w", err)
	}
	var out []pushed
	for i, e := range envelope.Events {
		if e.Action != "push" || !manifestMediaType(e.Target.MediaType) {
			continue
		}
		host := e.Request.Host
		if u, err := url.Parse(e.Target.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		if !evidence.ValidHost(host) || !repositoryName.MatchString(e.Target.Repository) || !evidence.ValidDigest(e.Target.Digest) {
			return nil, fmt.Errorf("event %d: a push needs a registry host, a repository and a digest", i)
		}
		out = append(out, pushed{repository: evidence.CanonicalRepository(host + "/" + e.Target.Repository), digest: e.Target.Digest, tag: e.Target.Tag})
	}
	return out, nil
}

func manifestMediaType(mediaType string) bool { return slices.Contains(manifestMediaTypes, mediaType) }

// harborPushes reads a Harbor webhook: the artifacts of a PUSH_ARTIFACT
// event.
func harborPushes(body []byte) ([]pushed, error) {
	var event struct {
		Type      string `json:"type"`
		EventData struct {
			Resources []struct {
				Digest      string `json:"digest"`
				Tag         string `json:"tag"`
				ResourceURL string `json:"resource_url"`
			} `json:"resources"`
		} `json:"event_data"`
	}
	if err := json.Unmarshal(body, &event); err != nil {
		return nil, fmt.Errorf("not a Harbor webhook payload: %w", err)
	}
	if event.Type != "PUSH_ARTIFACT" {
		return nil, nil
	}
	var out []pushed
	for i, res := range event.EventData.Resources {
		repository := res.ResourceURL
		if at := strings.LastIndex(repository, "@"); at >= 0 {
			repository = repository[:at]
		} else if colon := strings.LastIndex(repository, ":"); colon > strings.LastIndex(repository, "/") {
			repository = repository[:colon]
		}
		host, path, ok := strings.Cut(repository, "/")
		if !ok || !evidence.ValidHost(host) || !repositoryName.MatchString(path) || !evidence.ValidDigest(res.Digest) {
			return nil, fmt.Errorf("resource %d: %q with digest %q is not a pushed artifact", i, res.ResourceURL, res.Digest)
		}
		out = append(out, pushed{repository: evidence.CanonicalRepository(repository), digest: res.Digest, tag: res.Tag})
	}
	return out, nil
}

func (r *Registry) hookHostList() string {
	if len(r.hookHosts) == 0 {
		return "none configured"
	}
	return strings.Join(slices.Sorted(maps.Keys(r.hookHosts)), ", ")
}
