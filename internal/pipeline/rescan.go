package pipeline

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Rescanned says what a rescan did.
type Rescanned struct {
	// Full is the first rescan of a store: every stored component matched.
	Full bool `json:"full"`
	// Changed counts advisories added, changed, withdrawn or removed since
	// the last rescan; Packages the packages they name.
	Changed  int `json:"changed"`
	Packages int `json:"packages"`
	// Digests counts the digests re-matched (those holding such packages);
	// Rechecked those only asked again about components their scan could
	// not check (the data they wanted may have arrived).
	Digests   int `json:"digests"`
	Rechecked int `json:"rechecked"`
	// New lists findings first seen by this rescan at or above the
	// threshold (unknown severities included): in digests seen deployed
	// first, then most severe first.
	New      []store.FindingHit `json:"new"`
	Duration time.Duration      `json:"duration"`
}

// Rescan re-matches, across every stored SBOM, only the components whose
// packages had advisories added, changed or withdrawn since the last
// rescan, and records new and resolved findings: its cost follows the
// advisory change, not the size of the store.
func Rescan(ctx context.Context, st *store.Store, db *vulndb.DB, threshold string, now time.Time) (*Rescanned, error) {
	started := time.Now()
	state, err := AdvisoryState(ctx, db)
	if err != nil {
		return nil, err
	}
	previous, err := st.AdvisoryState(ctx)
	if err != nil {
		return nil, err
	}
	out := &Rescanned{Full: len(previous) == 0}
	keys := map[string]bool{}
	var changed []string
	scope := map[string]bool{}
	add := func(id string, fs ...store.AdvisoryFingerprint) {
		changed = append(changed, id)
		scope[id] = true
		for _, f := range fs {
			for _, k := range f.Packages {
				keys[k] = true
			}
		}
	}
	for id, fp := range state {
		if p, ok := previous[id]; !ok || p.Hash != fp.Hash {
			add(id, fp, p)
		}
	}
	for id, p := range previous {
		if _, ok := state[id]; !ok {
			add(id, p)
		}
	}
	out.Changed, out.Packages = len(changed), len(keys)
	if len(changed) == 0 {
		out.Duration = time.Since(started)
		return out, nil
	}
	packageKeys := make([]string, 0, len(keys))
	for k := range keys {
		packageKeys = append(packageKeys, k)
	}
	sort.Strings(packageKeys)
	subjects, err := st.ComponentsOf(ctx, packageKeys)
	if err != nil {
		return nil, err
	}
	// what a scan could not check is asked again: the data it wanted may
	// be here now, for components whose packages no change named
	unchecked, err := st.NotCheckedCoverage(ctx)
	if err != nil {
		return nil, err
	}
	matched := len(subjects)
	subjects = withNotChecked(subjects, unchecked)
	status, err := db.Freshness(ctx)
	if err != nil {
		return nil, err
	}
	inScope := func(f evidence.Finding) bool {
		return out.Full || slices.ContainsFunc(f.Advisories, func(a string) bool { return scope[a] })
	}
	results, err := rematch(ctx, db, subjects, inScope, matched)
	if err != nil {
		return nil, err
	}
	out.Digests, out.Rechecked = matched, len(results)-matched
	if out.Full {
		changed = nil // every advisory: every finding of these digests is in scope
	}
	fresh, err := st.Rescanned(ctx, now, status.LastImport, changed, results, state)
	if err != nil {
		return nil, err
	}
	out.New = NewFindings(fresh, threshold)
	out.Duration = time.Since(started)
	return out, nil
}

// AdvisoryState is the advisory database's fingerprints as the store
// keeps them for the next rescan to compare with.
func AdvisoryState(ctx context.Context, db *vulndb.DB) (map[string]store.AdvisoryFingerprint, error) {
	current, err := db.Fingerprints(ctx)
	if err != nil {
		return nil, err
	}
	state := make(map[string]store.AdvisoryFingerprint, len(current))
	for id, f := range current {
		state[id] = store.AdvisoryFingerprint{Hash: f.Hash, Packages: f.Packages}
	}
	return state, nil
}

// Rematch matches every component of the digests against db: each
// digest's findings, and what was made of each of its components, for
// Store.Rescanned (a rescan of every digest, done batch by batch).
func Rematch(ctx context.Context, db *vulndb.DB, subjects []store.SubjectComponents) ([]store.RescanResult, error) {
	return rematch(ctx, db, subjects, func(evidence.Finding) bool { return true }, len(subjects))
}

// rematch matches the digests' components, each package version once
// however many digests hold it, keeping the findings inScope keeps; the
// digests from coverageFrom on are re-matched for their coverage alone.
func rematch(ctx context.Context, db *vulndb.DB, subjects []store.SubjectComponents, inScope func(evidence.Finding) bool, coverageFrom int) ([]store.RescanResult, error) {
	distinct := map[string]evidence.Component{}
	for _, sc := range subjects {
		for _, c := range sc.Components {
			if _, ok := distinct[c.PURL]; !ok && c.PURL != "" {
				distinct[c.PURL] = c
			}
		}
	}
	list := make([]evidence.Component, 0, len(distinct))
	for _, c := range distinct {
		list = append(list, c)
	}
	m, err := scan.Match(ctx, db, list)
	if err != nil {
		return nil, err
	}
	findingsOf := map[string][]evidence.Finding{}
	for _, f := range m.Findings {
		if inScope(f) {
			findingsOf[f.Component.PURL] = append(findingsOf[f.Component.PURL], f)
		}
	}
	notChecked := map[string]string{}
	for _, u := range m.Unmatched {
		notChecked[u.Component.PURL] = u.Reason
	}
	results := make([]store.RescanResult, 0, len(subjects))
	for i, sc := range subjects {
		r := store.RescanResult{Subject: sc.Subject, CoverageOnly: i >= coverageFrom}
		seen := map[string]bool{}
		for _, c := range sc.Components {
			if seen[c.PURL] || c.PURL == "" {
				continue // one component listed at several paths: its first
			}
			seen[c.PURL] = true
			r.Rechecked = append(r.Rechecked, evidence.NotChecked{Component: c, Reason: notChecked[c.PURL]})
			for _, f := range findingsOf[c.PURL] {
				f.Component = c // the digest's own component, with its locations
				r.Findings = append(r.Findings, f)
			}
		}
		results = append(results, r)
	}
	return results, nil
}

// NewFindings keeps the findings a rescan saw first at or above threshold
// (all when ""; unknown severities always), in digests seen deployed
// first, then most severe first.
func NewFindings(fresh []store.FindingHit, threshold string) []store.FindingHit {
	var out []store.FindingHit
	rank := evidence.SeverityRank(threshold)
	for _, h := range fresh {
		if threshold == "" || h.Finding.Severity.Rating == evidence.SeverityUnknown || evidence.SeverityRank(h.Finding.Severity.Rating) >= rank {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Deployed != nil) != (b.Deployed != nil) {
			return a.Deployed != nil
		}
		return evidence.SeverityRank(a.Finding.Severity.Rating) > evidence.SeverityRank(b.Finding.Severity.Rating)
	})
	return out
}

// withNotChecked adds to the digests to re-match the components their
// last scan could not check; digests it adds come after the others.
func withNotChecked(subjects []store.SubjectComponents, unchecked []store.SubjectCoverage) []store.SubjectComponents {
	at := map[evidence.Subject]int{}
	for i, sc := range subjects {
		at[sc.Subject] = i
	}
	for _, u := range unchecked {
		i, ok := at[u.Subject]
		if !ok {
			i = len(subjects)
			at[u.Subject] = i
			subjects = append(subjects, store.SubjectComponents{Subject: u.Subject})
		}
		for _, n := range u.Coverage.NotChecked {
			subjects[i].Components = append(subjects[i].Components, n.Component)
		}
	}
	return subjects
}
