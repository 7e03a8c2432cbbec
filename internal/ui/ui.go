// Package ui is dossier's web interface: server-rendered pages over the
// evidence store — an overview of what a mature team measures, the dossier
// of one digest, the responder's search, the exceptions in force and the
// tokens. Pages are plain HTML with embedded styles and SVG charts drawn
// here: nothing is fetched from elsewhere, no script runs, and they work
// offline, on a narrow window and with the keyboard alone. Every page
// needs a dossier token (the registry's); a token sees only the
// repositories it reaches, and only admins see the token list.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/query"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Store is what the pages ask of the evidence store.
type Store interface {
	query.ComponentStore
	tokens.Sessions
	Trend(ctx context.Context, from time.Time, days int, scope store.Scope) ([]store.Day, error)
	Admissions(ctx context.Context, since time.Time, outcome string, limit int, scope store.Scope) ([]store.Admission, error)
	Dossier(ctx context.Context, subject evidence.Subject) (*store.Dossier, error)
	TagHistory(ctx context.Context, repository, tag string) ([]store.TagMove, error)
	Affected(ctx context.Context, advisory string, page store.Page) (store.FindingPage, error)
	Exceptions(ctx context.Context) ([]evidence.Exception, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	Running(ctx context.Context, q store.RunningQuery) (store.RunningPage, error)
	MaintenanceJobs(ctx context.Context, limit int) ([]store.MaintenanceJob, error)
	MaintenanceJob(ctx context.Context, id int64) (*store.MaintenanceJob, error)
	JobFailures(ctx context.Context, id int64, limit int) ([]store.JobFailure, error)
}

// Jobs starts and cancels the jobs over every stored digest (in the
// server's background).
type Jobs interface {
	// StartJob starts the job of kind or continues the unfinished one;
	// busy says it runs already.
	StartJob(ctx context.Context, kind string, force bool) (job store.MaintenanceJob, busy bool, err error)
	// Cancel ends an unfinished job, saying who cancelled it.
	Cancel(ctx context.Context, id int64, by string) (*store.MaintenanceJob, error)
}

// Options configure the UI.
type Options struct {
	Store Store
	// Auth finds the actor of a token.
	Auth *tokens.Authenticator
	// Now is the clock expiries and the overview's days are judged by.
	Now func() time.Time
	// Exceptions, when set, returns the exceptions in force from files
	// (the server's policy files), shown next to the stored ones.
	Exceptions func() []evidence.Exception
	// Days is how many days the overview spans (30 when 0).
	Days int
	// Registry is the canonical name of the registry whose tokens log in:
	// a token's globs ("team/**") name its repositories, and no other
	// registry's.
	Registry string
	// SecureCookies marks the session cookie Secure even when a request
	// arrives without TLS (TLS ends at a proxy in front).
	SecureCookies bool
	// Jobs, when set, lets admins of every repository start and cancel
	// jobs over every stored digest from the jobs page.
	Jobs Jobs
}

// UI serves the pages under /ui/.
type UI struct {
	o     Options
	pages map[string]*template.Template
}

// cookieName holds a browser's session: a secret of its own, bound to
// the token it logged in with, never that token.
const cookieName = "dossier_session"

// sessionTTL is how long a login lasts at most.
const sessionTTL = 12 * time.Hour

// crossOrigin refuses logins and logouts a page of another site submits
// (login CSRF): browsers say where a form comes from.
var crossOrigin = http.NewCrossOriginProtection()

// New parses the pages and returns the UI.
func New(o Options) (*UI, error) {
	if o.Store == nil || o.Auth == nil {
		return nil, errors.New("the UI needs the evidence store and the token authenticator")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry != "" {
		o.Registry = evidence.CanonicalHost(o.Registry)
	}
	if o.Days == 0 {
		o.Days = 30
	}
	u := &UI{o: o, pages: map[string]*template.Template{}}
	for _, page := range []string{"login", "overview", "artifact", "search", "exceptions", "tokens", "jobs", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", page, err)
		}
		u.pages[page] = t
	}
	return u, nil
}

// ServeHTTP routes /ui/….
func (u *UI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	// nothing runs and nothing is fetched from elsewhere
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	path := strings.TrimPrefix(req.URL.Path, "/ui")
	if strings.HasPrefix(path, "/static/") {
		h.Set("Cache-Control", "max-age=3600")
		sub, _ := fs.Sub(staticFiles, "static")
		http.StripPrefix("/ui/static/", http.FileServerFS(sub)).ServeHTTP(w, req)
		return
	}
	switch path {
	case "/login":
		u.login(w, req)
		return
	case "/logout":
		u.logout(w, req)
		return
	}
	changes := path == "/jobs" && req.Method == http.MethodPost
	if req.Method != http.MethodGet && req.Method != http.MethodHead && !changes {
		w.Header().Set("Allow", "GET, HEAD")
		u.fail(w, req, nil, http.StatusMethodNotAllowed, "these pages are read-only")
		return
	}
	actor, err := u.actor(req)
	if err != nil {
		u.render(w, req, http.StatusUnauthorized, "login", nil, loginPage{Next: req.URL.RequestURI(), Error: err.Error()})
		return
	}
	if actor == nil {
		http.Redirect(w, req, "/ui/login?next="+url.QueryEscape(req.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	v := &viewer{actor: actor, registry: u.o.Registry}
	if changes {
		u.jobAction(w, req, v)
		return
	}
	switch path {
	case "", "/":
		u.overview(w, req, v)
	case "/artifact":
		u.artifact(w, req, v)
	case "/search":
		u.search(w, req, v)
	case "/exceptions":
		u.exceptions(w, req, v)
	case "/tokens":
		u.tokens(w, req, v)
	case "/jobs":
		u.jobs(w, req, v, jobsPage{})
	default:
		u.fail(w, req, v, http.StatusNotFound, "no such page: "+req.URL.Path)
	}
}

// actor is the token's actor from the Authorization header or the login
// cookie: nil when there is neither.
func (u *UI) actor(req *http.Request) (*tokens.Actor, error) {
	if req.Header.Get("Authorization") != "" {
		return u.o.Auth.Request(req)
	}
	c, err := req.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	a, err := u.o.Auth.Session(req.Context(), c.Value)
	if err != nil {
		return nil, fmt.Errorf("log in again: %w", err)
	}
	return a, nil
}

type loginPage struct {
	Next, Error string
}

// maxLoginBytes bounds the login form.
const maxLoginBytes = 4 << 10

func (u *UI) login(w http.ResponseWriter, req *http.Request) {
	next := safeNext(req.FormValue("next"))
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		u.render(w, req, http.StatusOK, "login", nil, loginPage{Next: next})
	case http.MethodPost:
		if err := crossOrigin.Check(req); err != nil {
			u.render(w, req, http.StatusForbidden, "login", nil, loginPage{Next: next, Error: "a login must come from this site's own form"})
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, maxLoginBytes)
		if err := req.ParseForm(); err != nil {
			u.render(w, req, http.StatusBadRequest, "login", nil, loginPage{Next: next, Error: "the form could not be read: " + err.Error()})
			return
		}
		secret := strings.TrimSpace(req.PostForm.Get("token"))
		session, expires, err := u.o.Auth.StartSession(req.Context(), u.o.Store, secret, sessionTTL)
		if err != nil {
			code := http.StatusUnauthorized
			if errors.As(err, new(*tokens.UnavailableError)) {
				code = http.StatusServiceUnavailable
			}
			u.render(w, req, code, "login", nil, loginPage{Next: next, Error: err.Error()})
			return
		}
		http.SetCookie(w, u.cookie(req, session, int(expires.Sub(u.o.Now()).Seconds())))
		http.Redirect(w, req, next, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		u.fail(w, req, nil, http.StatusMethodNotAllowed, "log in with GET or POST")
	}
}

func (u *UI) logout(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		u.fail(w, req, nil, http.StatusMethodNotAllowed, "log out with POST")
		return
	}
	if err := crossOrigin.Check(req); err != nil {
		u.fail(w, req, nil, http.StatusForbidden, "a logout must come from this site's own pages")
		return
	}
	if c, err := req.Cookie(cookieName); err == nil {
		if err := u.o.Auth.EndSession(req.Context(), u.o.Store, c.Value); err != nil {
			u.fail(w, req, nil, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	http.SetCookie(w, u.cookie(req, "", -1))
	http.Redirect(w, req, "/ui/login", http.StatusSeeOther)
}

// cookie is the session cookie: scripts cannot read it, other sites'
// requests do not carry it, and it travels only over TLS when the UI is
// served or proxied with TLS.
func (u *UI) cookie(req *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: "/ui/", HttpOnly: true, Secure: u.o.SecureCookies || req.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
}

// safeNext keeps a login's destination on these pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// viewer is the actor a page is rendered for, on the registry named.
type viewer struct {
	actor    *tokens.Actor
	registry string
}

// Sees reports whether the viewer may see a repository's evidence. Stored
// repositories name their registry host ("registry.example/team/app");
// tokens name this registry's repositories as it does ("team/app"), and
// other registries' by their full names. A notify token sees nothing.
func (v *viewer) Sees(repository string) bool {
	if !v.actor.Has(store.RolePull) {
		return false
	}
	if v.actor.Reaches(repository) {
		return true
	}
	host, rest, ok := strings.Cut(repository, "/")
	return ok && v.registry != "" && host == v.registry && v.actor.Reaches(rest)
}

// scope is what the viewer sees, for the store's questions (nil: every
// repository, which the store answers without looking).
func (v *viewer) scope() store.Scope {
	if v.SeesEverything() {
		return nil
	}
	return v.Sees
}

// Admin reports whether the viewer sees the token list: an admin of every
// repository, since a token's glob says nothing of the others'.
func (v *viewer) Admin() bool {
	return v.actor.Has(store.RoleAdmin) && v.SeesEverything()
}

// SeesEverything reports whether the viewer may see every repository's
// evidence, and so the store-wide totals.
func (v *viewer) SeesEverything() bool {
	return v.actor.Has(store.RolePull) && v.actor.Repositories.Pattern == tokens.All.Pattern
}

// Name is who is logged in.
func (v *viewer) Name() string { return v.actor.Name + " (" + v.actor.Role + ")" }

// page is what every page's layout reads.
type page struct {
	Title  string
	Viewer *viewer
	Now    time.Time
	Data   any
}

func (u *UI) render(w http.ResponseWriter, req *http.Request, status int, name string, v *viewer, data any) {
	var b strings.Builder
	title := map[string]string{"login": "Log in", "overview": "Overview", "artifact": "Artifact", "search": "Search",
		"exceptions": "Exceptions", "tokens": "Tokens", "jobs": "Jobs", "error": "Error"}[name]
	if err := u.pages[name].Execute(&b, page{Title: title, Viewer: v, Now: u.o.Now(), Data: data}); err != nil {
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		fmt.Fprint(w, b.String())
	}
}

type errorPage struct {
	Status  int
	Message string
}

func (u *UI) fail(w http.ResponseWriter, req *http.Request, v *viewer, status int, message string) {
	u.render(w, req, status, "error", v, errorPage{Status: status, Message: message})
}

// storeFailed reports a store that could not answer.
func (u *UI) storeFailed(w http.ResponseWriter, req *http.Request, v *viewer, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	u.fail(w, req, v, http.StatusServiceUnavailable, "the evidence store could not answer: "+err.Error())
}
