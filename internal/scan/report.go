package scan

import (
	"fmt"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// ReportSchemaVersion versions the JSON report; additions keep it, changes
// to existing fields bump it.
const ReportSchemaVersion = "1"

// Report is the result of a scan, as `dossier scan -o json` prints it.
type Report struct {
	SchemaVersion string            `json:"schemaVersion"`
	Subject       *evidence.Subject `json:"subject,omitempty"`
	// Source is what was scanned, as given.
	Source   string             `json:"source"`
	Database DatabaseInfo       `json:"database"`
	Summary  Summary            `json:"summary"`
	Findings []evidence.Finding `json:"findings"`
	// Suppressed findings matched but a VEX statement or ignore rule applies.
	Suppressed []evidence.Finding `json:"suppressed"`
	Unmatched  []Unmatched        `json:"unmatched"`
	Stats      Stats              `json:"stats"`
	Warnings   []string           `json:"warnings,omitempty"`
}

// DatabaseInfo says which advisory data a scan used and how old it is.
type DatabaseInfo struct {
	Path           string    `json:"path"`
	LastImport     time.Time `json:"lastImport"`
	NewestModified time.Time `json:"newestModified"`
	AgeHours       float64   `json:"ageHours"`
}

// Summary counts the reported findings.
type Summary struct {
	Total      int            `json:"total"`
	BySeverity map[string]int `json:"bySeverity"`
	ByFixState map[string]int `json:"byFixState"`
	Suppressed int            `json:"suppressed"`
	// HiddenNotFixed counts findings --only-fixed hid; UnknownFixState
	// counts reported findings whose advisories do not say whether a fix
	// exists (--only-fixed keeps them, so a gate never silently passes).
	HiddenNotFixed  int `json:"hiddenNotFixed"`
	UnknownFixState int `json:"unknownFixState"`
}

// Options filter a report.
type Options struct {
	// OnlyFixed hides findings that have no fix (state not-fixed). Findings
	// whose fix state is unknown are kept and counted.
	OnlyFixed bool
}

// NewReport assembles a report from matches.
func NewReport(source string, subject *evidence.Subject, db DatabaseInfo, m *Matches, opts Options) *Report {
	r := &Report{
		SchemaVersion: ReportSchemaVersion, Subject: subject, Source: source, Database: db,
		Findings: []evidence.Finding{}, Suppressed: []evidence.Finding{}, Unmatched: m.Unmatched, Stats: m.Stats,
		Summary: Summary{BySeverity: map[string]int{}, ByFixState: map[string]int{}},
	}
	for _, f := range m.Findings {
		switch {
		case f.Suppression != nil:
			r.Suppressed = append(r.Suppressed, f)
			r.Summary.Suppressed++
			continue
		case opts.OnlyFixed && f.FixState == evidence.FixNotFixed:
			r.Summary.HiddenNotFixed++
			continue
		}
		r.Findings = append(r.Findings, f)
	}
	for _, f := range r.Findings {
		r.Summary.Total++
		r.Summary.BySeverity[f.Severity.Rating]++
		r.Summary.ByFixState[f.FixState]++
		if f.FixState == evidence.FixUnknown {
			r.Summary.UnknownFixState++
		}
	}
	return r
}

// Gate returns the findings at or above threshold that still count.
// Findings of unknown severity (no CVSS vector, no database rating — the Go
// database rates nothing) fail every threshold: a gate fails closed.
func (r *Report) Gate(threshold string) ([]evidence.Finding, error) {
	if !evidence.ValidSeverity(threshold) || threshold == evidence.SeverityUnknown || threshold == evidence.SeverityNone {
		return nil, fmt.Errorf("--fail-on %q: want low, medium, high or critical", threshold)
	}
	var failing []evidence.Finding
	for _, f := range r.Findings {
		if f.Severity.Rating == evidence.SeverityUnknown || evidence.SeverityRank(f.Severity.Rating) >= evidence.SeverityRank(threshold) {
			failing = append(failing, f)
		}
	}
	return failing, nil
}
