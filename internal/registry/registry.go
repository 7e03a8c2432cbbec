// Package registry is dossier's OCI registry: the CNCF distribution
// registry (filesystem or S3 storage) behind a front that reads every path
// with distribution's own router, authenticates every request with
// dossier's tokens, serves the OCI referrers API (which distribution
// lacks) from an index kept in the evidence store, refuses overwrites and
// deletions of immutable tags and attachments verifiers could not read,
// queues scans and verifications in a leased job queue, holds what
// quarantine rules have not passed (manifests and the blobs only they
// name), sweeps by retention rules, and records every tag move and
// refusal in the store.
package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	// the filesystem storage driver; the S3 driver (and the AWS SDK it
	// brings) is linked where the registry is composed (internal/serving),
	// as distribution's own command links its drivers, so that this
	// package's tests and their race build do not compile it
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/distribution/reference"
	"github.com/gorilla/mux"
	godigest "github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/metrics"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// MaxManifestBytes bounds a manifest push, as distribution does and as
// dossier's readers bound what they read.
const MaxManifestBytes = oci.MaxManifestBytes

// S3 is an S3 bucket (or an S3-compatible server) holding the blobs and
// manifests, through distribution's S3 driver. Empty keys use the usual
// AWS credential chain (environment, instance role).
type S3 struct {
	Bucket, Region string
	// Endpoint is an S3-compatible server's URL (https://…, or http:// on
	// loopback); empty for AWS.
	Endpoint             string
	AccessKey, SecretKey string
	// Prefix is a directory within the bucket.
	Prefix string
}

// Options configure a registry.
type Options struct {
	// Name is the host clients reach the registry by (host[:port]): the one
	// name its repositories are recorded, judged and kept under, whatever
	// name or Host header a request arrives with.
	Name string
	// RootDirectory holds the blobs and manifests, unless S3 is set.
	RootDirectory string
	S3            *S3
	// Store keeps tokens, the referrers and blob indexes, tag moves, the
	// job queue and the audit trail; replicas sharing it share all of them.
	Store Store
	// ImmutableTags are tags that, once pushed, never point elsewhere.
	ImmutableTags []TagRule
	// AnonymousPull lets requests without a token pull (never push).
	AnonymousPull bool
	// Quarantine keeps images from being pulled until they pass a policy.
	Quarantine []QuarantineRule
	// Retention deletes old untagged digests that are unsigned or fail
	// their quarantine policy (see Sweep).
	Retention []RetentionRule
	// HookHosts are the registries whose push notifications
	// (/api/v1/hooks/…) are accepted; a notification naming another host,
	// or this registry's own name, is refused. None: hooks refuse all.
	HookHosts []string
	// JobLease is how long a claimed job stays its worker's without a
	// renewal (default a minute).
	JobLease time.Duration
	// OnError hears of bookkeeping that failed after a request succeeded
	// (a referrer not indexed, a tag move or an event not recorded).
	OnError func(error)
	// Summaries, when set, publishes the quarantine's allow decisions as
	// signed verification summaries on the digests.
	Summaries *Summaries
	// Metrics, when set, observes scan jobs.
	Metrics *metrics.Metrics
	Now     func() time.Time
	// heldBounds, when not zero, replaces the bounds on one search of
	// what immutable tags hold (tests make them small)
	heldBounds heldBounds
}

// TagRule selects tags of repositories by glob ("team/**", "v*").
type TagRule struct {
	Text         string
	Repositories policy.Glob
	Tags         policy.Glob
}

// ParseTagRule reads REPOSITORY_GLOB:TAG_GLOB.
func ParseTagRule(text string) (TagRule, error) {
	repos, tags, ok := strings.Cut(text, ":")
	if !ok || repos == "" || tags == "" {
		return TagRule{}, fmt.Errorf("immutable tag rule %q: want REPOSITORY_GLOB:TAG_GLOB", text)
	}
	r, err := policy.CompileGlob(repos)
	if err != nil {
		return TagRule{}, fmt.Errorf("immutable tag rule %q: %w", text, err)
	}
	t, err := policy.CompileGlob(tags)
	if err != nil {
		return TagRule{}, fmt.Errorf("immutable tag rule %q: %w", text, err)
	}
	return TagRule{Text: text, Repositories: r, Tags: t}, nil
}

// Registry serves the OCI distribution API at /v2/.
type Registry struct {
	// name is the registry's canonical host: repositories are name/path
	name          string
	app           http.Handler
	store         Store
	rules         []TagRule
	auth          *tokens.Authenticator
	metrics       *metrics.Metrics
	now           func() time.Time
	anonymousPull bool
	hookHosts     map[string]bool
	onError       func(error)
	// wake tells an idle worker a job was queued
	wake       chan struct{}
	quarantine *quarantine
	retention  []RetentionRule
	jobLease   time.Duration
	// leaseTick paces a running job's lease renewals (time.After; a test
	// ticks by hand)
	leaseTick func(time.Duration) <-chan time.Time
	// heldSearches runs the searches of what immutable tags hold, within
	// heldBounds each
	heldSearches *turns
	heldBounds   heldBounds
	// attaching takes referrer pushes to one subject one at a time, so
	// that their count is checked before each
	attaching *turns
	// content is distribution's storage read directly, the same the app
	// serves from, for what the HTTP API would only redirect (S3 blobs)
	content   distribution.Namespace
	summaries *Summaries
}

// quietLogs silences distribution's global logger once: it logs every
// request, and every client error as an error. What matters reaches the
// registry's OnError: answers of 500 and above, seen by ServeHTTP.
var quietLogs sync.Once

// New makes a registry. Distribution's constructor panics on a bad
// configuration: that is returned as an error.
func New(ctx context.Context, o Options) (reg *Registry, err error) {
	if o.Store == nil || (o.RootDirectory == "") == (o.S3 == nil) {
		return nil, errors.New("registry: a store and one storage, a directory or an S3 bucket, are needed")
	}
	if !evidence.ValidHost(o.Name) {
		return nil, fmt.Errorf("registry: its name %q is not a host[:port] clients can name images by (with a dot or a port, or localhost)", o.Name)
	}
	name := evidence.CanonicalHost(o.Name)
	hookHosts := map[string]bool{}
	for _, h := range o.HookHosts {
		if !evidence.ValidHost(h) {
			return nil, fmt.Errorf("registry: notifications host %q is not a host[:port]", h)
		}
		if evidence.CanonicalHost(h) == name {
			return nil, fmt.Errorf("registry: notifications host %q is this registry itself, whose pushes it sees", h)
		}
		hookHosts[evidence.CanonicalHost(h)] = true
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.JobLease <= 0 {
		o.JobLease = jobLease
	}
	quietLogs.Do(func() { logrus.SetOutput(io.Discard) })
	// uploads in progress are signed with a secret every replica must
	// share: it lives in the store
	secret, err := o.Store.Setting(ctx, "registry-http-secret", func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: its upload secret: %w", err)
	}
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": o.RootDirectory},
		"delete":     configuration.Parameters{"enabled": true},
	}
	if o.S3 != nil {
		params, err := o.S3.parameters()
		if err != nil {
			return nil, err
		}
		cfg.Storage = configuration.Storage{"s3": params, "delete": configuration.Parameters{"enabled": true}}
	}
	cfg.HTTP.Secret = secret
	cfg.Log.Level = "error"
	// non-distributable layers name where they are fetched from: https
	// only (distribution's default refuses every URL, with a 500)
	cfg.Validation.Manifests.URLs.Allow = []string{"^https://"}
	defer func() {
		if r := recover(); r != nil {
			reg, err = nil, fmt.Errorf("registry: %v", r)
		}
	}()
	if o.heldBounds == (heldBounds{}) {
		o.heldBounds = defaultHeldBounds
	}
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		return nil, fmt.Errorf("registry: its storage: %w", err)
	}
	content, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return nil, fmt.Errorf("registry: its storage: %w", err)
	}
	app := handlers.NewApp(ctx, cfg)
	reg = &Registry{name: name, app: app, store: o.Store, rules: o.ImmutableTags, auth: tokens.NewAuthenticator(o.Store, o.Now), now: o.Now, metrics: o.Metrics, anonymousPull: o.AnonymousPull, onError: o.OnError,
		wake: make(chan struct{}, 1), quarantine: &quarantine{rules: o.Quarantine, cache: map[string]verdict{}},
		retention: o.Retention, jobLease: o.JobLease, leaseTick: time.After, hookHosts: hookHosts, heldSearches: newTurns(maxHeldSearches), attaching: newTurns(0), content: content, heldBounds: o.heldBounds, summaries: o.Summaries}
	if len(o.Quarantine) > 0 {
		go func() {
			if err := reg.indexStoredBlobs(ctx); err != nil {
				reg.report(fmt.Errorf("the blobs of manifests pushed before they were indexed are served as before: %w", err))
			}
		}()
	}
	return reg, nil
}

// Name is the canonical host the registry records its repositories under.
func (r *Registry) Name() string { return r.name }

// repository is the full name of a repository path of this registry.
func (r *Registry) repository(path string) string { return r.name + "/" + path }

// RouteOf names the kind of registry route a path is: manifests, blobs,
// uploads, tags, referrers, catalog, base, or unknown.
func RouteOf(path string) string {
	rt, ok := parseRoute(path)
	switch {
	case !ok:
		return "unknown"
	case rt.catalog:
		return "catalog"
	case rt.kind == "":
		return "base"
	}
	return rt.kind
}

// ServeHTTP authenticates and authorizes the request, then serves it:
// referrers and the gates here, the rest by distribution.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	defer r.recoverRequest(w, req)
	if _, err := url.Parse(req.URL.String()); err != nil {
		// the router redirects by re-parsing the URL and cannot handle
		// one that does not parse (a control character, say)
		writeError(w, http.StatusBadRequest, "UNSUPPORTED", "the request's URL does not parse: "+err.Error())
		return
	}
	rt, ok := parseRoute(req.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such route: "+req.URL.Path)
		return
	}
	if rt.name != "" && !repositoryName.MatchString(rt.name) {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("%q is not a repository name", rt.name))
		return
	}
	if rt.kind == "manifests" && !tagName().MatchString(rt.reference) && !evidence.ValidDigest(rt.reference) {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", fmt.Sprintf("%q is neither a tag nor a digest", rt.reference))
		return
	}
	if rt.kind == "uploads" && formBody(req) {
		// distribution would read a blob mount's source from the form,
		// where the authorisation below does not look
		writeError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED", "a blob upload is not a form: send its parameters in the query and the blob as application/octet-stream")
		return
	}
	actor := internalActor
	if !internal(req) {
		var err error
		if actor, err = r.auth.Request(req); err != nil {
			var down *tokens.UnavailableError
			if errors.As(err, &down) {
				// the cause (a database address, say) stays in the log
				r.report(down.Cause)
				writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
				return
			}
			challenge(w, err.Error())
			return
		}
	}
	if actor == nil && r.anonymousPull {
		actor = &tokens.Actor{Name: "anonymous", Role: store.RolePull, Repositories: tokens.All}
	}
	if actor == nil {
		challenge(w, "authentication required: a dossier token as the password (dossier token create)")
		return
	}
	if missing := lacks(actor, rt, req); missing != "" {
		writeError(w, http.StatusForbidden, "DENIED", fmt.Sprintf("%s may not %s", actor.Name, missing))
		return
	}
	req = req.WithContext(withActor(req.Context(), actor))
	switch {
	case rt.catalog && actor.Repositories.Pattern != tokens.All.Pattern:
		r.scopedCatalog(w, req, actor)
	case rt.kind == "referrers" && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		r.referrers(w, req, rt)
	case rt.kind == "referrers":
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the referrers API is read-only")
	case rt.kind == "manifests" && req.Method == http.MethodGet && !r.gate(w, req, rt, actor):
		// a quarantined image's content is refused; HEAD (existence,
		// digest, size: what signing needs) is not
	case rt.kind == "blobs" && req.Method == http.MethodGet && !r.gateBlob(w, req, rt, actor):
		// a held image's layers and config are held with it; HEAD is not
	case rt.kind == "uploads" && req.Method == http.MethodPost && !r.gateMount(w, req, actor):
		// nor are they mounted elsewhere
	case rt.kind == "manifests" && req.Method == http.MethodPut:
		r.putManifest(w, req, rt, actor)
	case rt.kind == "manifests" && req.Method == http.MethodDelete:
		r.deleteManifest(w, req, rt, actor)
	case rt.kind == "blobs" && req.Method == http.MethodDelete:
		r.deleteBlob(w, req, rt, actor)
	default:
		status := &statusRecorder{ResponseWriter: w}
		r.app.ServeHTTP(status, req)
		if status.status >= http.StatusInternalServerError {
			r.report(fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, status.status))
		}
	}
}

// scopedCatalog lists the repositories an admin scoped to a glob reaches,
// never the names of the others.
func (r *Registry) scopedCatalog(w http.ResponseWriter, req *http.Request, actor *tokens.Actor) {
	reached := []string{}
	last := ""
	for {
		page, err := http.NewRequestWithContext(req.Context(), http.MethodGet, "/v2/_catalog?n=1000&last="+url.QueryEscape(last), nil)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
			return
		}
		rec := &bodyRecorder{headRecorder: headRecorder{header: http.Header{}}}
		r.app.ServeHTTP(rec, page)
		var list struct {
			Repositories []string `json:"repositories"`
		}
		if rec.status != http.StatusOK || json.Unmarshal(rec.body, &list) != nil {
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", fmt.Sprintf("the catalog cannot be read now (status %d)", rec.status))
			return
		}
		for _, name := range list.Repositories {
			if actor.Reaches(name) {
				reached = append(reached, name)
			}
		}
		if len(list.Repositories) == 0 || rec.header.Get("Link") == "" {
			break
		}
		last = list.Repositories[len(list.Repositories)-1]
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string][]string{"repositories": reached})
}

// formBody says a request's body is a form, which Go's and distribution's
// form readers merge with the query.
func formBody(req *http.Request) bool {
	mediaType, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil {
		return req.Header.Get("Content-Type") != ""
	}
	return mediaType == "application/x-www-form-urlencoded" || mediaType == "multipart/form-data" || mediaType == "multipart/mixed"
}

// parameters are distribution's S3 driver parameters for the bucket.
func (s *S3) parameters() (configuration.Parameters, error) {
	if s.Bucket == "" || s.Region == "" {
		return nil, errors.New("registry: S3 storage needs a bucket and a region")
	}
	p := configuration.Parameters{"bucket": s.Bucket, "region": s.Region, "accesskey": s.AccessKey, "secretkey": s.SecretKey,
		"rootdirectory": s.Prefix, "v4auth": true, "secure": true}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("registry: S3 endpoint %q: want https://host[:port]", s.Endpoint)
		}
		if u.Scheme == "http" && !oci.IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("registry: S3 endpoint %q: plain HTTP only to a loopback address", s.Endpoint)
		}
		p["regionendpoint"], p["forcepathstyle"], p["secure"] = s.Endpoint, true, u.Scheme == "https"
	}
	return p, nil
}

// recoverRequest answers 500 for a request whose handling panicked
// (distribution's, on content it stored but cannot read back), instead of
// the process ending: requests reach the registry in-process too, from
// goroutines nothing else recovers.
func (r *Registry) recoverRequest(w http.ResponseWriter, req *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	r.report(fmt.Errorf("%s %s panicked: %v\n%s", req.Method, req.URL.Path, p, debug.Stack()))
	writeError(w, http.StatusInternalServerError, "UNKNOWN", "the registry could not answer this request: what it stores for it cannot be read")
}

func (r *Registry) report(err error) {
	if r.onError != nil {
		r.onError(err)
	}
}

// Store is what the registry asks of the evidence store.
type Store interface {
	tokens.Lookup
	Enqueue(ctx context.Context, kind, repository, digest string, at time.Time) error
	ClaimJob(ctx context.Context, now, leaseUntil time.Time, maxAttempts int) (*store.Job, error)
	RenewJob(ctx context.Context, id int64, leaseUntil time.Time) error
	FinishJob(ctx context.Context, id int64, at time.Time, jobErr error, maxAttempts int) error
	Jobs(ctx context.Context, repository, digest string, limit int) ([]store.Job, error)
	AddReferrer(ctx context.Context, repository string, r store.Referrer) error
	RemoveReferrer(ctx context.Context, repository, digest string) error
	Referrers(ctx context.Context, repository, subject, artifactType string) ([]store.Referrer, error)
	IndexBlobs(ctx context.Context, repository, manifest string, evidence bool, blobs []string) error
	UnindexBlobs(ctx context.Context, repository, manifest string) error
	ManifestsOfBlob(ctx context.Context, repository, blob string, evidence bool, limit int) ([]string, error)
	ClaimTag(ctx context.Context, repository, tag, digest string, at time.Time) (string, error)
	ReleaseTag(ctx context.Context, repository, tag, digest string) error
	AddRegistryEvent(ctx context.Context, e store.RegistryEvent) error
	Setting(ctx context.Context, name string, make func() (string, error)) (string, error)
	Record(ctx context.Context, records ...store.Record) error
	Dossier(ctx context.Context, subject evidence.Subject) (*store.Dossier, error)
	RecordedEvidence(ctx context.Context, subject evidence.Subject, reference string) (*evidence.Collected, error)
}

// The distribution spec's grammar of repository names and tags; the
// tag's bounded repetition compiles to a large program, built on first use.
var (
	repositoryName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagName        = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`) })
)

// route is what a /v2/ path names.
type route struct {
	// name is the repository, kind manifests, blobs, uploads, tags,
	// referrers, or "" for the base and catalog routes.
	name, kind, reference string
	catalog               bool
}

// distributionRoutes is distribution's own router: a path is read as
// distribution will act on it, never by a reading of dossier's own that
// could disagree (a repository named team/app/blobs/uploads/x is one
// distribution serves manifests of). Routers and patterns are built on
// first use: every dossier command would pay for them at start.
var distributionRoutes = sync.OnceValue(v2.Router)

// referrersRoute is the one route dossier serves that distribution has not.
var referrersRoute = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^/v2/(` + reference.NameRegexp.String() + `)/referrers/(` + godigest.DigestRegexp.String() + `)$`)
})

func parseRoute(path string) (route, bool) {
	var match mux.RouteMatch
	if distributionRoutes().Match(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}}, &match) && match.Route != nil {
		name := match.Vars["name"]
		switch match.Route.GetName() {
		case v2.RouteNameBase:
			return route{}, true
		case v2.RouteNameCatalog:
			return route{catalog: true}, true
		case v2.RouteNameTags:
			return route{name: name, kind: "tags"}, true
		case v2.RouteNameManifest:
			return route{name: name, kind: "manifests", reference: match.Vars["reference"]}, true
		case v2.RouteNameBlob:
			return route{name: name, kind: "blobs", reference: match.Vars["digest"]}, true
		case v2.RouteNameBlobUpload, v2.RouteNameBlobUploadChunk:
			return route{name: name, kind: "uploads", reference: match.Vars["uuid"]}, true
		}
		return route{}, false
	}
	if m := referrersRoute().FindStringSubmatch(path); m != nil {
		return route{name: m[1], kind: "referrers", reference: m[2]}, true
	}
	return route{}, false
}

// writeError answers in the distribution spec's error format.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}

func challenge(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="dossier"`)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", message)
}

// recorder captures the status distribution answered, and lets headers
// be added just before it is written.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	beforeWrite func(status int, h http.Header)
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
		if s.beforeWrite != nil {
			s.beforeWrite(status, s.Header())
		}
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// readBody reads a request body of at most limit bytes.
func readBody(req *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return data, nil
}

// forward hands a request whose body was read to distribution.
func (r *Registry) forward(w http.ResponseWriter, req *http.Request, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	r.app.ServeHTTP(w, req)
}
