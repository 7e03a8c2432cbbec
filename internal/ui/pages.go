package ui

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/query"
	"github.com/dossier-dev/dossier/internal/store"
)

const day = 24 * time.Hour

// outcomes in the order charts stack them.
var outcomes = []string{store.AdmissionAllowed, store.AdmissionAudited, store.AdmissionWaived, store.AdmissionFailedOpen, store.AdmissionDenied}

// severities, highest first.
var severities = []string{evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityMedium, evidence.SeverityLow, evidence.SeverityNone, evidence.SeverityUnknown}

type overviewPage struct {
	Days int
	// Scoped says the totals and charts count only the repositories the
	// viewer's token reaches.
	Scoped                    bool
	Admitted, Denied, Waived  int
	PinnedShare, SignedShare  string
	OpenFindings              []count
	Admissions, Shares, Trend template.HTML
	Denials                   []store.Admission
	Expiring                  int
	// Running is what runs now in the inventoried clusters: counts by
	// state, the clusters' last reports, and the containers no dossier
	// decision admitted (unjudged, drifted) first.
	Running        store.RunningPage
	RunningStates  []count
	NotAdmitted    []store.RunningHit
	StaleInventory []store.ClusterState
}

type count struct {
	Name string
	N    int
}

func (u *UI) overview(w http.ResponseWriter, req *http.Request, v *viewer) {
	now := u.o.Now().UTC()
	from := now.Truncate(day).Add(-time.Duration(u.o.Days-1) * day)
	// the totals, charts and denials are made of what the viewer sees,
	// never of everything then hidden
	p := overviewPage{Days: u.o.Days, Scoped: !v.SeesEverything()}
	scope := v.scope()
	days, err := u.o.Store.Trend(req.Context(), from, u.o.Days, scope)
	if err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	var pinned, signed int
	starts := make([]time.Time, len(days))
	admissions := make([][]int, len(outcomes))
	findings := make([][]int, len(severities))
	pinnedShare, signedShare := make([]float64, len(days)), make([]float64, len(days))
	for i, d := range days {
		starts[i] = d.Start
		for j, o := range outcomes {
			admissions[j] = append(admissions[j], d.Admissions[o])
		}
		for j, s := range severities {
			findings[j] = append(findings[j], d.OpenFindings[s])
		}
		p.Admitted += d.Admitted
		p.Denied += d.Admissions[store.AdmissionDenied]
		p.Waived += d.Admissions[store.AdmissionWaived]
		pinned += d.Pinned
		signed += d.Signed
		pinnedShare[i], signedShare[i] = -1, -1 // no admissions: no point
		if d.Admitted > 0 {
			pinnedShare[i] = 100 * float64(d.Pinned) / float64(d.Admitted)
			signedShare[i] = 100 * float64(d.Signed) / float64(d.Admitted)
		}
	}
	p.PinnedShare, p.SignedShare = share(pinned, p.Admitted), share(signed, p.Admitted)
	if n := len(days); n > 0 {
		for _, s := range severities {
			if c := days[n-1].OpenFindings[s]; c > 0 {
				p.OpenFindings = append(p.OpenFindings, count{s, c})
			}
		}
	}
	p.Admissions = stackedBars("Admission decisions per day", starts, seriesOf(outcomes, admissions))
	p.Shares = percentLines("Share of admitted images written by digest and signed, per day", starts,
		[]series{{Name: "pinned", Values: pinnedShare}, {Name: "signed", Values: signedShare}})
	p.Trend = stackedBars("Open findings by severity at each day's end", starts, seriesOf(severities, findings))
	if p.Denials, err = u.o.Store.Admissions(req.Context(), from, store.AdmissionDenied, 10, scope); err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	exceptions, err := u.allExceptions(req, v)
	if err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	for _, e := range exceptions {
		if e.Expiring {
			p.Expiring++
		}
	}
	if err := u.whatRuns(req, scope, now, &p); err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	u.render(w, req, http.StatusOK, "overview", v, p)
}

// maxNotAdmitted bounds the overview's list of containers that run
// without a dossier decision, per state.
const maxNotAdmitted = 10

// staleInventory is how long a cluster's watch may be silent before the
// overview says its inventory may be out of date.
const staleInventory = 5 * time.Minute

// whatRuns fills the overview's inventory section, within scope.
func (u *UI) whatRuns(req *http.Request, scope store.Scope, now time.Time, p *overviewPage) error {
	for _, state := range []string{store.RunningUnjudged, store.RunningDrifted} {
		page, err := u.o.Store.Running(req.Context(), store.RunningQuery{State: state, Limit: maxNotAdmitted, Scope: scope})
		if err != nil {
			return err
		}
		p.Running = page
		p.NotAdmitted = append(p.NotAdmitted, page.Hits...)
	}
	for _, state := range []string{store.RunningAdmitted, store.RunningUnjudged, store.RunningDrifted, store.RunningUnresolved} {
		p.RunningStates = append(p.RunningStates, count{state, p.Running.States[state]})
	}
	for _, c := range p.Running.Clusters {
		if now.Sub(c.SeenAt) > staleInventory {
			p.StaleInventory = append(p.StaleInventory, c)
		}
	}
	return nil
}

func share(n, of int) string {
	if of == 0 {
		return "–"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*float64(n)/float64(of)), ".0") + "%"
}

type artifactPage struct {
	Ref        string
	Dossier    *store.Dossier
	Current    []string
	Filter     string
	Components []evidence.Component
	Hidden     int
	ByType     []count
	Open       []store.StoredFinding
	Resolved   []store.StoredFinding
	Provenance []*evidence.Attestation
	Audits     []evidence.WorkflowAudit
	Exceptions []exceptionView
}

// maxComponentRows bounds the component table; the filter narrows it.
const maxComponentRows = 500

func (u *UI) artifact(w http.ResponseWriter, req *http.Request, v *viewer) {
	ref := strings.TrimSpace(req.URL.Query().Get("ref"))
	subject, err := evidence.ParseSubject(ref)
	if err != nil {
		u.fail(w, req, v, http.StatusBadRequest, "ref: "+err.Error())
		return
	}
	if !v.Sees(subject.Repository) {
		// the same answer as for an unknown digest: what a token cannot
		// reach, it cannot learn exists
		u.fail(w, req, v, http.StatusNotFound, "nothing is recorded about "+subject.String())
		return
	}
	d, err := u.o.Store.Dossier(req.Context(), subject)
	if err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	if d == nil {
		u.fail(w, req, v, http.StatusNotFound, "nothing is recorded about "+subject.String())
		return
	}
	p := artifactPage{Ref: subject.String(), Dossier: d, Filter: strings.TrimSpace(req.URL.Query().Get("component"))}
	current := map[string]bool{}
	for _, t := range d.Tags {
		current[t.Tag] = true
	}
	// a tag is current unless a later move of it went elsewhere: the store
	// lists this digest's moves only, so ask each tag's history
	for tag := range current {
		history, err := u.o.Store.TagHistory(req.Context(), subject.Repository, tag)
		if err != nil {
			u.storeFailed(w, req, v, err)
			return
		}
		if n := len(history); n > 0 && history[n-1].Digest == subject.Digest {
			p.Current = append(p.Current, tag)
		}
	}
	slices.Sort(p.Current)
	types := map[string]int{}
	for _, c := range d.Components {
		types[cmp.Or(c.Ecosystem(), c.Type, "unknown")]++
		if p.Filter != "" && !strings.Contains(strings.ToLower(c.Name+" "+c.PURL), strings.ToLower(p.Filter)) {
			continue
		}
		if len(p.Components) == maxComponentRows {
			p.Hidden++
			continue
		}
		p.Components = append(p.Components, c)
	}
	for t, n := range types {
		p.ByType = append(p.ByType, count{t, n})
	}
	slices.SortFunc(p.ByType, func(a, b count) int { return cmp.Or(b.N-a.N, strings.Compare(a.Name, b.Name)) })
	for _, f := range d.Findings {
		if f.ResolvedAt != nil {
			p.Resolved = append(p.Resolved, f)
		} else {
			p.Open = append(p.Open, f)
		}
	}
	bySeverity := func(a, b store.StoredFinding) int {
		return cmp.Or(evidence.SeverityRank(b.Severity.Rating)-evidence.SeverityRank(a.Severity.Rating), strings.Compare(a.ID, b.ID))
	}
	slices.SortFunc(p.Open, bySeverity)
	slices.SortFunc(p.Resolved, bySeverity)
	for i, a := range d.Attestations {
		var audit evidence.WorkflowAudit
		switch {
		case a.Provenance != nil:
			p.Provenance = append(p.Provenance, &d.Attestations[i])
		case a.PredicateType == evidence.PredicateWorkflowAudit && json.Unmarshal(a.Predicate, &audit) == nil:
			p.Audits = append(p.Audits, audit)
		}
	}
	exceptions, err := u.allExceptions(req, v)
	if err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	for _, e := range exceptions {
		if e.Covers(subject) {
			p.Exceptions = append(p.Exceptions, e)
		}
	}
	u.render(w, req, http.StatusOK, "artifact", v, p)
}

type searchPage struct {
	Query, Kind, Error string
	// Deployed hits come first: what runs is what responders act on.
	Deployed, Others []hit
	Total            int
}

// hit is one digest a search found, with why.
type hit struct {
	Subject evidence.Subject
	store.Placement
	What     string
	Severity string
}

var advisoryID = regexp.MustCompile(`^[A-Z][A-Z0-9]+-[A-Za-z0-9._:-]+$`)

// searchLimit bounds each section of a search's answer.
const searchLimit = 200

func (u *UI) search(w http.ResponseWriter, req *http.Request, v *viewer) {
	q := strings.TrimSpace(req.URL.Query().Get("q"))
	p := searchPage{Query: q}
	if q == "" {
		u.render(w, req, http.StatusOK, "search", v, p)
		return
	}
	var hits [2][]hit
	for i, deployed := range []bool{true, false} {
		page := store.Page{Limit: searchLimit, Deployed: deployed, Scope: v.scope()}
		if advisoryID.MatchString(q) {
			p.Kind = "advisory"
			found, err := u.o.Store.Affected(req.Context(), q, page)
			if err != nil {
				u.storeFailed(w, req, v, err)
				return
			}
			for _, h := range found.Hits {
				hits[i] = append(hits[i], hit{Subject: h.Subject, Placement: h.Placement, What: h.Finding.Component.Name + " " + h.Finding.Component.Version + " (" + h.Finding.ID + ")", Severity: h.Finding.Severity.Rating})
			}
			if !deployed {
				p.Total = found.Total
			}
			continue
		}
		p.Kind = "component"
		spec, err := query.ParseComponent(q)
		if err != nil {
			p.Error = err.Error()
			u.render(w, req, http.StatusBadRequest, "search", v, p)
			return
		}
		found, err := query.Components(req.Context(), u.o.Store, spec, page)
		if err != nil {
			u.storeFailed(w, req, v, err)
			return
		}
		for _, h := range found.Hits {
			hits[i] = append(hits[i], hit{Subject: h.Subject, Placement: h.Placement, What: cmp.Or(h.Component.PURL, h.Component.Name+" "+h.Component.Version)})
		}
		if !deployed {
			p.Total = found.Total
		}
	}
	deployed := map[string]bool{}
	// the store answered within the viewer's scope
	for _, h := range hits[0] {
		p.Deployed = append(p.Deployed, h)
		deployed[h.Subject.String()+" "+h.What] = true
	}
	for _, h := range hits[1] {
		if !deployed[h.Subject.String()+" "+h.What] {
			p.Others = append(p.Others, h)
		}
	}
	u.render(w, req, http.StatusOK, "search", v, p)
}

// exceptionView is an exception as the pages show it.
type exceptionView struct {
	evidence.Exception
	Expired, Expiring bool
	// Left is the time until it expires, or since it expired.
	Left time.Duration
	// From is where it is kept: "store" or its file.
	From string
}

// allExceptions merges the files' exceptions with the stored ones (a
// file's wins over a stored one of the same namespace and name), keeps
// those the viewer sees, soonest expiry first.
func (u *UI) allExceptions(req *http.Request, v *viewer) ([]exceptionView, error) {
	stored, err := u.o.Store.Exceptions(req.Context())
	if err != nil {
		return nil, err
	}
	var files []evidence.Exception
	if u.o.Exceptions != nil {
		files = u.o.Exceptions()
	}
	now := u.o.Now()
	var out []exceptionView
	for _, e := range evidence.MergeExceptions(files, stored) {
		if e.Subject.Repository != "" && !v.Sees(e.Subject.Repository) || e.Subject.Repository == "" && !v.Sees("**") {
			continue
		}
		from := "evidence store"
		if e.Source != "" {
			from = e.Source
		}
		left := e.ExpiresAt.Sub(now)
		out = append(out, exceptionView{Exception: e, Expired: e.Expired(now), Expiring: e.Expiring(now), Left: left, From: from})
	}
	slices.SortStableFunc(out, func(a, b exceptionView) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return out, nil
}

type exceptionsPage struct {
	Active, Expired []exceptionView
}

func (u *UI) exceptions(w http.ResponseWriter, req *http.Request, v *viewer) {
	all, err := u.allExceptions(req, v)
	if err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	var p exceptionsPage
	for _, e := range all {
		if e.Expired {
			p.Expired = append(p.Expired, e)
		} else {
			p.Active = append(p.Active, e)
		}
	}
	// the most recently expired first
	slices.Reverse(p.Expired)
	u.render(w, req, http.StatusOK, "exceptions", v, p)
}

func (u *UI) tokens(w http.ResponseWriter, req *http.Request, v *viewer) {
	if !v.Admin() {
		u.fail(w, req, v, http.StatusForbidden, v.actor.Name+" may not list tokens (admin)")
		return
	}
	list, err := u.o.Store.Tokens(req.Context())
	if err != nil {
		u.storeFailed(w, req, v, err)
		return
	}
	u.render(w, req, http.StatusOK, "tokens", v, list)
}
