package scan

import (
	"slices"
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
	// Coverage counts per ecosystem what was checked and what was not.
	Coverage []EcosystemCoverage `json:"coverage"`
	Warnings []string            `json:"warnings,omitempty"`
	// Config is the configuration the scan ran with.
	Config EffectiveConfig `json:"config"`

	// matched is every finding, before only-fixed filtering.
	matched   []evidence.Finding
	scannedAt time.Time
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
		Findings: []evidence.Finding{}, Suppressed: []evidence.Finding{}, Unmatched: m.Unmatched, Stats: m.Stats, Coverage: m.Coverage,
		Summary: Summary{BySeverity: map[string]int{}, ByFixState: map[string]int{}},
		matched: m.Findings,
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

// Evidence is the scan as policy evidence: every finding matched (VEX
// suppressions kept; the policy judges exceptions and fix state itself)
// and the age of the advisory data. Its source is "local-database", as the
// store reads it back: reasons quote it to Pod creators and registry
// clients, to whom the database file's path on dossier's host tells too
// much (the report itself keeps the path, for the operator).
func (r *Report) Evidence() *evidence.VulnerabilityEvidence {
	findings := make([]evidence.Finding, len(r.matched))
	for i, f := range r.matched {
		if f.Suppression != nil && f.Suppression.Kind != "vex" {
			f.Suppression = nil
		}
		findings[i] = f
	}
	return &evidence.VulnerabilityEvidence{Findings: findings, DatabaseUpdated: r.Database.LastImport, ScannedAt: r.scannedAt, Source: "local-database",
		Coverage: &evidence.Coverage{Checked: r.Stats.Checked, NotChecked: slices.Clone(r.Unmatched)}}
}
