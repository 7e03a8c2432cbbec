package scan

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/version"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Advisories is what the matcher needs of the database.
type Advisories interface {
	Lookup(ctx context.Context, ecosystem, name string) ([]*vulndb.Record, error)
}

// Unmatched is a component that could not be checked, and why.
type Unmatched struct {
	Component evidence.Component `json:"component"`
	Reason    string             `json:"reason"`
}

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
}

// Match checks every component against the advisories. Components that
// cannot be checked are listed with the reason, never dropped silently.
func Match(ctx context.Context, db Advisories, components []evidence.Component) (*Matches, error) {
	m := &Matches{Findings: []evidence.Finding{}, Unmatched: []Unmatched{}}
	cache := map[[2]string][]*vulndb.Record{}
	seen := map[string]bool{}
	for _, c := range components {
		m.Stats.Components++
		if c.PURL == "" {
			m.unmatched(c, "no purl")
			continue
		}
		pkg, err := MapPURL(c.PURL)
		if err != nil {
			m.unmatched(c, err.Error())
			continue
		}
		installed, err := version.Parse(pkg.Ecosystem, pkg.Version)
		if err != nil {
			m.unmatched(c, err.Error())
			continue
		}
		// one component may be listed several times (at several paths)
		key := c.PURL
		if seen[key] {
			continue
		}
		seen[key] = true
		m.Stats.Checked++
		lookup := [2]string{pkg.Ecosystem, vulndb.NormalizeName(pkg.Ecosystem, pkg.Name)}
		records, ok := cache[lookup]
		if !ok {
			if records, err = db.Lookup(ctx, lookup[0], lookup[1]); err != nil {
				return nil, err
			}
			cache[lookup] = records
		}
		var hits []hit
		for _, r := range records {
			if r.Withdrawn != nil {
				m.Stats.WithdrawnIgnored++
				continue
			}
			for i := range r.Affected {
				a := &r.Affected[i]
				if !samePackage(a.Package, pkg) {
					continue
				}
				h, gitRanges := evaluate(installed, a)
				m.Stats.GitRangesIgnored += gitRanges
				if h.affected {
					h.record, h.affectedEntry = r, a
					hits = append(hits, h)
				}
			}
		}
		m.Findings = append(m.Findings, merge(c, pkg, hits)...)
	}
	sort.SliceStable(m.Findings, func(i, j int) bool {
		a, b := m.Findings[i], m.Findings[j]
		if ra, rb := evidence.SeverityRank(a.Severity.Rating), evidence.SeverityRank(b.Severity.Rating); ra != rb {
			return ra > rb
		}
		if a.Component.PURL != b.Component.PURL {
			return a.Component.PURL < b.Component.PURL
		}
		return a.ID < b.ID
	})
	return m, nil
}

func (m *Matches) unmatched(c evidence.Component, reason string) {
	m.Stats.Unmatched++
	m.Unmatched = append(m.Unmatched, Unmatched{Component: c, Reason: reason})
}

// samePackage compares an advisory's package with the component's, the
// release included when both name one.
func samePackage(p vulndb.Package, pkg Package) bool {
	eco, release, _ := strings.Cut(p.Ecosystem, ":")
	if eco != pkg.Ecosystem || vulndb.NormalizeName(eco, p.Name) != vulndb.NormalizeName(eco, pkg.Name) {
		return false
	}
	return release == "" || pkg.Release == "" || release == pkg.Release
}

type hit struct {
	affected      bool
	fixed         []string
	lastAffected  bool
	byRange       bool
	record        *vulndb.Record
	affectedEntry *vulndb.Affected
}

// evaluate decides whether installed is affected by a, per the OSV
// specification: listed in versions, or inside a SEMVER/ECOSYSTEM range.
func evaluate(installed version.Version, a *vulndb.Affected) (hit, int) {
	var h hit
	gitRanges := 0
	if slices.Contains(a.Versions, installed.String()) {
		h.affected = true
	}
	for _, r := range a.Ranges {
		if r.Type == "GIT" {
			gitRanges++
			continue
		}
		in, fixed, last := inRange(installed, r.Events)
		if in {
			h.affected, h.byRange = true, true
			h.fixed = append(h.fixed, fixed...)
			h.lastAffected = h.lastAffected || last
		}
	}
	return h, gitRanges
}

// inRange walks the events in version order: an introduced at or below
// the version opens the range, a fixed at or below it (or a last_affected
// or limit below it) closes it. It returns the fix versions above the
// installed one, and whether the range ends in last_affected.
func inRange(installed version.Version, events []vulndb.Event) (bool, []string, bool) {
	sorted := sortEvents(installed, events)
	affected := false
	for _, e := range sorted {
		switch {
		case e.Introduced != "":
			if !affected {
				affected = e.Introduced == "0" || cmp(installed, e.Introduced) >= 0
			}
		case e.Fixed != "":
			if affected && cmp(installed, e.Fixed) >= 0 {
				affected = false
			}
		case e.LastAffected != "":
			if affected && cmp(installed, e.LastAffected) > 0 {
				affected = false
			}
		case e.Limit != "":
			if cmp(installed, e.Limit) >= 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, nil, false
	}
	var fixed []string
	last := false
	for _, e := range sorted {
		if e.Fixed != "" && cmp(installed, e.Fixed) < 0 {
			fixed = append(fixed, e.Fixed)
			break // the first fix above the installed version
		}
		last = last || (e.LastAffected != "" && cmp(installed, e.LastAffected) <= 0)
	}
	return true, fixed, last && len(fixed) == 0
}

// cmp orders installed against s; an event version that does not parse
// sorts as equal, which neither opens nor closes a range wrongly for the
// common "0" introduced.
func cmp(installed version.Version, s string) int {
	c, err := installed.Compare(s)
	if err != nil {
		return 0
	}
	return c
}

func sortEvents(installed version.Version, events []vulndb.Event) []vulndb.Event {
	sorted := slices.Clone(events)
	value := func(e vulndb.Event) string {
		return e.Introduced + e.Fixed + e.LastAffected + e.Limit
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := value(sorted[i]), value(sorted[j])
		if a == "0" || b == "0" {
			return a == "0" && b != "0"
		}
		v, err := version.Parse(installed.Ecosystem(), a)
		if err != nil {
			return false
		}
		c, err := v.Compare(b)
		return err == nil && c < 0
	})
	return sorted
}

// merge turns the hits on one component into findings, one per
// vulnerability: records that alias each other become one finding.
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
	owner := map[string]int{}
	for i, h := range hits {
		for _, id := range h.record.AllIDs() {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]hit{}
	var roots []int
	for i, h := range hits {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], h)
	}
	var out []evidence.Finding
	for _, r := range roots {
		out = append(out, finding(c, pkg, groups[r]))
	}
	return out
}

func finding(c evidence.Component, pkg Package, group []hit) evidence.Finding {
	var advisories, ids, fixed []string
	f := evidence.Finding{Component: c, Ecosystem: pkg.osvEcosystem(), Severity: evidence.Severity{Rating: evidence.SeverityUnknown}}
	byRange, last := false, false
	for _, h := range group {
		advisories = append(advisories, h.record.ID)
		ids = append(ids, h.record.AllIDs()...)
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
