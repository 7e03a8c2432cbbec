package scan

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/version"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Advisories is what the matcher needs of the database.
type Advisories interface {
	Lookup(ctx context.Context, ecosystem, name string) ([]*vulndb.Record, error)
	// Coverage is every ecosystem the live (not withdrawn) records name,
	// releases included.
	Coverage(ctx context.Context) (map[string]bool, error)
	// Names maps names of vulnerabilities to the IDs of the records
	// about them; Records reads records by ID.
	Names(ctx context.Context, names []string) (map[string][]string, error)
	Records(ctx context.Context, ids []string) ([]*vulndb.Record, error)
}

// Unmatched is a component that could not be checked, and why.
type Unmatched = evidence.NotChecked

// Stats counts what the matcher saw.
type Stats struct {
	Components int `json:"components"`
	Checked    int `json:"checked"`
	Unmatched  int `json:"unmatched"`
	// GitRangesIgnored counts GIT ranges, which name commits, not versions.
	GitRangesIgnored int `json:"gitRangesIgnored"`
	// WithdrawnIgnored counts withdrawn advisories that named a component.
	WithdrawnIgnored int `json:"withdrawnIgnored"`
}

// Matches is the result of matching a set of components.
type Matches struct {
	Findings  []evidence.Finding `json:"findings"`
	Unmatched []Unmatched        `json:"unmatched"`
	Stats     Stats              `json:"stats"`
	// Coverage counts per ecosystem (as OSV names it, release included)
	// the components checked and not checked; those whose ecosystem is
	// unknown (no purl, an unmapped type) are counted under "".
	Coverage []EcosystemCoverage `json:"coverage"`
	// coverageAt indexes Coverage by ecosystem while it is counted
	coverageAt map[string]int
}

// EcosystemCoverage is how much of one ecosystem a scan checked.
type EcosystemCoverage struct {
	Ecosystem  string `json:"ecosystem"`
	Checked    int    `json:"checked"`
	NotChecked int    `json:"notChecked"`
}

// count adds one component of ecosystem to the coverage.
func (m *Matches) count(ecosystem string, checked bool) {
	i, ok := m.coverageAt[ecosystem]
	if !ok {
		if m.coverageAt == nil {
			m.coverageAt = map[string]int{}
		}
		m.Coverage = append(m.Coverage, EcosystemCoverage{Ecosystem: ecosystem})
		i = len(m.Coverage) - 1
		m.coverageAt[ecosystem] = i
	}
	if checked {
		m.Coverage[i].Checked++
	} else {
		m.Coverage[i].NotChecked++
	}
}

// Match checks every component against the advisories. Components that
// cannot be checked are listed with the reason, never dropped silently.
// Components are matched in parallel; the result does not depend on it.
func Match(ctx context.Context, db Advisories, components []evidence.Component) (*Matches, error) {
	m := &Matches{Findings: []evidence.Finding{}, Unmatched: []Unmatched{}, Coverage: []EcosystemCoverage{}}
	type job struct {
		component evidence.Component
		pkg       Package
		installed version.Version
	}
	var jobs []job
	seen := map[string]bool{}
	var held coverage            // read when a component first needs it
	covered := map[string]bool{} // by the package's ecosystem and releases
	for _, c := range components {
		m.Stats.Components++
		if c.PURL == "" {
			m.unmatched(c, "", "no purl")
			continue
		}
		pkg, err := MapPURL(c.PURL)
		if err != nil {
			m.unmatched(c, "", err.Error())
			continue
		}
		// a component whose ecosystem or release the database holds no
		// record for is not checked: "no finding" would be a guess
		key := pkg.Ecosystem + "\x00" + strings.Join(pkg.Releases, "\x00")
		ok, known := covered[key]
		if !known {
			if held == nil {
				ecosystems, err := db.Coverage(ctx)
				if err != nil {
					return nil, err
				}
				held = coverageOf(ecosystems)
			}
			ok = pkg.coveredBy(held)
			covered[key] = ok
		}
		if !ok {
			m.unmatched(c, pkg.osvEcosystem(), fmt.Sprintf("no advisory data for %s in the database: import the %s records", pkg.osvEcosystem(), pkg.Ecosystem))
			continue
		}
		installed, err := version.Parse(pkg.Ecosystem, pkg.Version)
		if err != nil {
			m.unmatched(c, pkg.osvEcosystem(), err.Error())
			continue
		}
		// one component may be listed several times (at several paths)
		if seen[c.PURL] {
			continue
		}
		seen[c.PURL] = true
		m.Stats.Checked++
		m.count(pkg.osvEcosystem(), true)
		jobs = append(jobs, job{c, pkg, installed})
	}

	type result struct {
		findings           []evidence.Finding
		gitRanges, skipped int
	}
	results := make([]result, len(jobs))
	lookups := &lookupCache{db: db, records: map[[2]string][]*vulndb.Record{}}
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		for i := range jobs {
			select {
			case next <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			versions := versionCache{}
			for i := range next {
				j := jobs[i]
				records, err := lookups.get(gctx, j.pkg)
				if err != nil {
					return err
				}
				var hits []hit
				res := &results[i]
				for _, r := range records {
					if r.Withdrawn != nil {
						res.skipped++
						continue
					}
					for k := range r.Affected {
						a := &r.Affected[k]
						if !samePackage(a.Package, j.pkg) {
							continue
						}
						h, gitRanges := evaluate(j.installed, r, k, versions)
						res.gitRanges += gitRanges
						if h.affected {
							h.record, h.affectedEntry = r, a
							hits = append(hits, h)
						}
					}
				}
				res.findings = merge(j.component, j.pkg, hits)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, r := range results {
		m.Findings = append(m.Findings, r.findings...)
		m.Stats.GitRangesIgnored += r.gitRanges
		m.Stats.WithdrawnIgnored += r.skipped
	}
	if err := rateFromNames(ctx, db, m.Findings); err != nil {
		return nil, err
	}
	slices.SortFunc(m.Coverage, func(a, b EcosystemCoverage) int { return strings.Compare(a.Ecosystem, b.Ecosystem) })
	m.coverageAt = nil // the order it indexed is gone
	// pointers are sorted, not the findings: a Finding is a large struct,
	// and moving thousands of them was most of a warm scan
	order := make([]*evidence.Finding, len(m.Findings))
	for i := range m.Findings {
		order[i] = &m.Findings[i]
	}
	slices.SortStableFunc(order, func(a, b *evidence.Finding) int {
		if ra, rb := evidence.SeverityRank(a.Severity.Rating), evidence.SeverityRank(b.Severity.Rating); ra != rb {
			return rb - ra
		}
		if c := strings.Compare(a.Component.PURL, b.Component.PURL); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	sorted := make([]evidence.Finding, len(order))
	for i, f := range order {
		sorted[i] = *f
	}
	m.Findings = sorted
	return m, nil
}

// lookupCache shares database lookups between workers: components of one
// package at several versions cost one query.
type lookupCache struct {
	db      Advisories
	mu      sync.Mutex
	records map[[2]string][]*vulndb.Record
}

func (c *lookupCache) get(ctx context.Context, pkg Package) ([]*vulndb.Record, error) {
	key := [2]string{pkg.Ecosystem, vulndb.NormalizeName(pkg.Ecosystem, pkg.Name)}
	c.mu.Lock()
	records, ok := c.records[key]
	c.mu.Unlock()
	if ok {
		return records, nil
	}
	records, err := c.db.Lookup(ctx, key[0], key[1])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.records[key] = records
	c.mu.Unlock()
	return records, nil
}

// versionCache parses each advisory version string once per worker.
type versionCache map[[2]string]*version.Version

func (vc versionCache) parse(ecosystem, s string) *version.Version {
	key := [2]string{ecosystem, s}
	if v, ok := vc[key]; ok {
		return v
	}
	var pv *version.Version
	if v, err := version.Parse(ecosystem, s); err == nil {
		pv = &v
	}
	vc[key] = pv
	return pv
}

func (m *Matches) unmatched(c evidence.Component, ecosystem, reason string) {
	m.Stats.Unmatched++
	m.count(ecosystem, false)
	m.Unmatched = append(m.Unmatched, Unmatched{Component: c, Reason: reason})
}

// samePackage compares an advisory's package with the component's, the
// release included when the advisory names one.
func samePackage(p vulndb.Package, pkg Package) bool {
	eco, release, _ := strings.Cut(p.Ecosystem, ":")
	return eco == pkg.Ecosystem && vulndb.NormalizeName(eco, p.Name) == vulndb.NormalizeName(eco, pkg.Name) && pkg.inRelease(release)
}

type hit struct {
	affected      bool
	fixed         []string
	lastAffected  bool
	byRange       bool
	record        *vulndb.Record
	affectedEntry *vulndb.Affected
	// noticeIDs, when set, are the vulnerabilities a notice's own finding
	// names: those its record names that no other record matched (all of
	// them when it joined none)
	noticeIDs []string
}

// named is what a notice's finding names.
func (h hit) named() []string {
	if h.noticeIDs != nil {
		return h.noticeIDs
	}
	return h.record.NoticeIDs()
}

// evaluate decides whether installed is affected by a, per the OSV
// specification: listed in versions, or inside a SEMVER/ECOSYSTEM range.
func evaluate(installed version.Version, r *vulndb.Record, k int, vc versionCache) (hit, int) {
	var h hit
	a := &r.Affected[k]
	gitRanges := 0
	if slices.Contains(a.Versions, installed.String()) {
		h.affected = true
	}
	for j := range a.Ranges {
		if a.Ranges[j].Type == "GIT" {
			gitRanges++
			continue
		}
		in, fixed, last := inRange(installed, orderedEvents(r, k, j, installed.Ecosystem(), vc))
		if in {
			h.affected, h.byRange = true, true
			h.fixed = append(h.fixed, fixed...)
			h.lastAffected = h.lastAffected || last
		}
	}
	return h, gitRanges
}

// orderedRange is a range's events in version order, each with its
// version parsed for one ecosystem (nil where it does not parse, and for
// an introduced "0", which opens the range without a comparison).
type orderedRange struct {
	events   []vulndb.Event
	versions []*version.Version
}

type rangeKey struct {
	affected, rng int
	ecosystem     string
}

// orderedEvents orders the j-th range of the record's k-th affected
// package for ecosystem once for as long as the record is kept (a warm
// database's records serve many scans).
func orderedEvents(r *vulndb.Record, k, j int, ecosystem string, vc versionCache) orderedRange {
	return r.Memo().Get(rangeKey{k, j, ecosystem}, func() any {
		events := sortEvents(ecosystem, r.Affected[k].Ranges[j].Events, vc)
		o := orderedRange{events: events, versions: make([]*version.Version, len(events))}
		for i, e := range events {
			if e.Introduced != "0" {
				o.versions[i] = vc.parse(ecosystem, eventVersion(e))
			}
		}
		return o
	}).(orderedRange)
}

// eventVersion is the version an event names, whichever kind it is.
func eventVersion(e vulndb.Event) string {
	return e.Introduced + e.Fixed + e.LastAffected + e.Limit
}

// inRange walks the events in version order: an introduced at or below
// the version opens the range, a fixed at or below it (or a last_affected
// or limit below it) closes it. It returns the fix versions above the
// installed one, and whether the range ends in last_affected.
func inRange(installed version.Version, o orderedRange) (bool, []string, bool) {
	affected := false
	for i, e := range o.events {
		switch {
		case e.Introduced != "":
			if !affected {
				affected = e.Introduced == "0" || compareTo(installed, o.versions[i]) >= 0
			}
		case e.Fixed != "":
			if affected && compareTo(installed, o.versions[i]) >= 0 {
				affected = false
			}
		case e.LastAffected != "":
			if affected && compareTo(installed, o.versions[i]) > 0 {
				affected = false
			}
		case e.Limit != "":
			if compareTo(installed, o.versions[i]) >= 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, nil, false
	}
	var fixed []string
	last := false
	for i, e := range o.events {
		if e.Fixed != "" && compareTo(installed, o.versions[i]) < 0 {
			fixed = append(fixed, e.Fixed)
			break // the first fix above the installed version
		}
		last = last || (e.LastAffected != "" && compareTo(installed, o.versions[i]) <= 0)
	}
	return true, fixed, last && len(fixed) == 0
}

// compareTo orders installed against an event's version; one that does
// not parse sorts as equal, which neither opens nor closes a range wrongly
// for the common "0" introduced.
func compareTo(installed version.Version, other *version.Version) int {
	if other == nil {
		return 0
	}
	c, err := installed.CompareVersion(*other)
	if err != nil {
		return 0
	}
	return c
}

func sortEvents(ecosystem string, events []vulndb.Event, vc versionCache) []vulndb.Event {
	sorted := slices.Clone(events)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := eventVersion(sorted[i]), eventVersion(sorted[j])
		if a == "0" || b == "0" {
			return a == "0" && b != "0"
		}
		va, vb := vc.parse(ecosystem, a), vc.parse(ecosystem, b)
		if va == nil || vb == nil {
			return false
		}
		c, err := va.CompareVersion(*vb)
		return err == nil && c < 0
	})
	return sorted
}

// merge turns the hits on one component into findings, one per
// vulnerability: records that name the same vulnerability become one
// finding, and a notice about several (a USN; a DSA whose aliases name
// several CVEs) joins the finding of each it names; it stands as its own
// finding, naming the rest, when some of them matched no other record —
// so that none of its vulnerabilities goes unreported.
func merge(c evidence.Component, pkg Package, hits []hit) []evidence.Finding {
	if len(hits) == 0 {
		return nil
	}
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	notice := make([]bool, len(hits))
	owner := map[string]int{}
	for i, h := range hits {
		notice[i] = h.record.Notice()
		for _, id := range h.record.AllIDs() {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]int{} // root → hits
	var roots []int
	for i := range hits {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	// a notice joins the findings of the vulnerabilities it names
	joined := map[int]bool{}
	rest := map[int][]string{}
	for i, h := range hits {
		if !notice[i] {
			continue
		}
		names := h.record.NoticeIDs()
		covered := map[string]bool{}
		for _, r := range roots {
			if r == find(i) {
				continue
			}
			matched := false
			for _, j := range groups[r] {
				if notice[j] {
					continue
				}
				for _, id := range hits[j].record.AllIDs() {
					if slices.Contains(names, id) {
						covered[vulnerabilityOf(id)], matched = true, true
					}
				}
			}
			if matched {
				groups[r] = append(groups[r], i)
				joined[i] = true
			}
		}
		if joined[i] {
			rest[i] = slices.DeleteFunc(slices.Clone(names), func(id string) bool { return covered[vulnerabilityOf(id)] })
		}
	}
	var out []evidence.Finding
	for _, r := range roots {
		var group []hit
		for _, i := range groups[r] {
			h := hits[i]
			// in its own group a notice names its vulnerabilities (those
			// left when it joined others), even beside a record that is no
			// notice (one aliasing the notice's ID)
			switch {
			case notice[i] && find(i) == r && joined[i]:
				if len(rest[i]) == 0 {
					continue
				}
				h.noticeIDs = rest[i]
			case notice[i] && find(i) == r:
				h.noticeIDs = h.record.NoticeIDs()
			}
			group = append(group, h)
		}
		if len(group) > 0 {
			out = append(out, finding(c, pkg, group))
		}
	}
	return out
}

// vulnerabilityOf is the CVE a distribution's per-CVE record is named
// after ("UBUNTU-CVE-2024-0727" is CVE-2024-0727), else id itself.
func vulnerabilityOf(id string) string {
	if cve := vulndb.DistributionCVE(id); cve != "" {
		return cve
	}
	return id
}

func finding(c evidence.Component, pkg Package, group []hit) evidence.Finding {
	var advisories, ids, fixed []string
	f := evidence.Finding{Component: c, Ecosystem: pkg.osvEcosystem(), Severity: evidence.Severity{Rating: evidence.SeverityUnknown}}
	byRange, last := false, false
	onlyNotices := !slices.ContainsFunc(group, func(h hit) bool { return !h.record.Notice() })
	for _, h := range group {
		advisories = append(advisories, h.record.ID)
		switch {
		case !h.record.Notice():
			ids = append(ids, h.record.AllIDs()...)
		case onlyNotices || h.noticeIDs != nil:
			ids = append(ids, append([]string{h.record.ID}, h.named()...)...)
		default:
			ids = append(ids, h.record.ID)
		}
		fixed = append(fixed, h.fixed...)
		byRange = byRange || h.byRange
		last = last || h.lastAffected
		s := severityOf(h.record, h.affectedEntry)
		if evidence.SeverityRank(s.Rating) > evidence.SeverityRank(f.Severity.Rating) || (s.Rating == f.Severity.Rating && s.Score > f.Severity.Score) {
			f.Severity = s
		}
	}
	slices.Sort(advisories)
	advisories = slices.Compact(advisories)
	f.Advisories = advisories
	f.ID = advisories[0]
	for _, h := range group {
		if h.record.ID == f.ID && f.Summary == "" {
			f.Summary = h.record.Summary
		}
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if id != f.ID {
			f.Aliases = append(f.Aliases, id)
		}
	}
	f.FixedVersions = sortVersions(pkg.Ecosystem, fixed)
	switch {
	case len(f.FixedVersions) > 0:
		f.FixState = evidence.FixFixed
	case byRange && !last:
		f.FixState = evidence.FixNotFixed
	default:
		f.FixState = evidence.FixUnknown
	}
	return f
}

func sortVersions(ecosystem string, vs []string) []string {
	slices.Sort(vs)
	vs = slices.Compact(vs)
	sort.SliceStable(vs, func(i, j int) bool {
		c, err := version.Compare(ecosystem, vs[i], vs[j])
		return err == nil && c < 0
	})
	return vs
}
