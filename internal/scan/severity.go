package scan

import (
	"encoding/json"
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
	best := evidence.Severity{Rating: evidence.SeverityUnknown}
	all := append([]vulndb.Severity{}, r.Severity...)
	if a != nil {
		all = append(all, a.Severity...)
	}
	for _, s := range all {
		if rt, ok := distributionRatings[s.Type][strings.ToLower(s.Score)]; ok {
			return evidence.Severity{Rating: rt, Source: s.Type}
		}
	}
	for _, s := range all {
		score, ok := cvssBaseScore(s)
		if ok && (best.Source == "" || score > best.Score) {
			best = evidence.Severity{Rating: rating(score), Score: score, Vector: s.Score, Source: s.Type}
		}
	}
	if best.Source != "" {
		return best
	}
	for _, raw := range []json.RawMessage{r.DatabaseSpecific, affectedDBSpecific(a)} {
		if rt := databaseRating(raw); rt != "" {
			return evidence.Severity{Rating: rt, Source: "database_specific"}
		}
	}
	return best
}

// distributionRatings read the severity types distributions rate their
// own packages with. Ubuntu's "negligible" is low: a real, if theoretical,
// problem.
var distributionRatings = map[string]map[string]string{
	"Ubuntu": {"negligible": evidence.SeverityLow, "low": evidence.SeverityLow, "medium": evidence.SeverityMedium,
		"high": evidence.SeverityHigh, "critical": evidence.SeverityCritical},
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
