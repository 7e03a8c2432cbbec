package scan

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// severityOf scores a record: a distribution's own rating of its package
// where the record carries one (Ubuntu's priority), else the highest base
// score of its CVSS v3.x and v4 vectors (record-level and affected-level),
// else the database's own rating, else unknown.
func severityOf(r *vulndb.Record, a *vulndb.Affected) evidence.Severity {
	all := append([]vulndb.Severity{}, r.Severity...)
	if a != nil {
		all = append(all, a.Severity...)
	}
	for _, s := range all {
		if rt, ok := distributionRatings[s.Type][strings.ToLower(s.Score)]; ok {
			return evidence.Severity{Rating: rt, Source: s.Type}
		}
	}
	if best := highestCVSS(all); best.Source != "" {
		return best
	}
	for _, raw := range []json.RawMessage{r.DatabaseSpecific, affectedDBSpecific(a)} {
		if rt := databaseRating(raw); rt != "" {
			return evidence.Severity{Rating: rt, Source: "database_specific"}
		}
	}
	return evidence.Severity{Rating: evidence.SeverityUnknown}
}

// rateFromNames rates the findings no record of their own rates (a DSA,
// a USN) with the highest CVSS base score among the database's other
// records of the same vulnerability — found by its CVE, GHSA or
// distribution names — and names that record as the rating's origin. Two
// queries serve every finding.
func rateFromNames(ctx context.Context, db Advisories, findings []evidence.Finding) error {
	var unrated []*evidence.Finding
	var names []string
	for i := range findings {
		if f := &findings[i]; f.Severity.Rating == evidence.SeverityUnknown {
			unrated = append(unrated, f)
			names = append(names, f.IDs()...)
			names = append(names, f.Advisories...)
		}
	}
	if len(unrated) == 0 {
		return nil
	}
	slices.Sort(names)
	index, err := db.Names(ctx, slices.Compact(names))
	if err != nil {
		return err
	}
	// each finding's other records: those its names name, but its own
	others := make([][]string, len(unrated))
	var wanted []string
	for i, f := range unrated {
		for _, name := range slices.Concat(f.IDs(), f.Advisories) {
			for _, id := range index[name] {
				if !slices.Contains(f.Advisories, id) && !slices.Contains(others[i], id) {
					others[i] = append(others[i], id)
				}
			}
		}
		wanted = append(wanted, others[i]...)
	}
	if len(wanted) == 0 {
		return nil
	}
	slices.Sort(wanted)
	records, err := db.Records(ctx, slices.Compact(wanted))
	if err != nil {
		return err
	}
	rated := map[string]evidence.Severity{}
	for _, r := range records {
		if r.Withdrawn != nil {
			continue
		}
		if c := highestCVSS(r.Severity); c.Source != "" {
			c.From = r.ID
			rated[r.ID] = c
		}
	}
	for i, f := range unrated {
		slices.Sort(others[i]) // the first of equal scores, whatever the order found
		for _, id := range others[i] {
			if c, ok := rated[id]; ok && (f.Severity.Source == "" || c.Score > f.Severity.Score) {
				f.Severity = c
			}
		}
	}
	return nil
}

// distributionRatings read the severity types distributions rate their
// own packages with. Ubuntu's "negligible" is low: a real, if theoretical,
// problem.
var distributionRatings = map[string]map[string]string{
	"Ubuntu": {"negligible": evidence.SeverityLow, "low": evidence.SeverityLow, "medium": evidence.SeverityMedium,
		"high": evidence.SeverityHigh, "critical": evidence.SeverityCritical},
}

// highestCVSS is the severity of the highest CVSS v3.x or v4 base score
// among severities, or unknown with no Source.
func highestCVSS(severities []vulndb.Severity) evidence.Severity {
	best := evidence.Severity{Rating: evidence.SeverityUnknown}
	for _, s := range severities {
		score, ok := cvssBaseScore(s)
		if ok && (best.Source == "" || score > best.Score) {
			best = evidence.Severity{Rating: rating(score), Score: score, Vector: s.Score, Source: s.Type}
		}
	}
	return best
}

func affectedDBSpecific(a *vulndb.Affected) json.RawMessage {
	if a == nil {
		return nil
	}
	return a.DatabaseSpecific
}

func cvssBaseScore(s vulndb.Severity) (float64, bool) {
	switch s.Type {
	case "CVSS_V3":
		switch {
		case strings.HasPrefix(s.Score, "CVSS:3.1/"):
			v, err := cvss31.ParseVector(s.Score)
			if err == nil {
				return v.BaseScore(), true
			}
		case strings.HasPrefix(s.Score, "CVSS:3.0/"):
			v, err := cvss30.ParseVector(s.Score)
			if err == nil {
				return v.BaseScore(), true
			}
		}
	case "CVSS_V4":
		v, err := cvss40.ParseVector(s.Score)
		if err == nil {
			return v.Score(), true
		}
	}
	return 0, false
}

// rating maps a CVSS base score to its qualitative rating (the same bands
// in v3.x and v4).
func rating(score float64) string {
	switch {
	case score == 0:
		return evidence.SeverityNone
	case score < 4:
		return evidence.SeverityLow
	case score < 7:
		return evidence.SeverityMedium
	case score < 9:
		return evidence.SeverityHigh
	default:
		return evidence.SeverityCritical
	}
}

// databaseRating reads database_specific.severity ("HIGH", "MODERATE", …).
func databaseRating(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var ds struct {
		Severity any `json:"severity"`
	}
	if json.Unmarshal(raw, &ds) != nil {
		return ""
	}
	s, _ := ds.Severity.(string)
	switch strings.ToLower(s) {
	case "critical":
		return evidence.SeverityCritical
	case "high", "important":
		return evidence.SeverityHigh
	case "moderate", "medium":
		return evidence.SeverityMedium
	case "low":
		return evidence.SeverityLow
	}
	return ""
}
