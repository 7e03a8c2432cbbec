// Package sarif is the subset of SARIF 2.1.0 that GitHub code scanning
// reads, shared by the reports dossier writes as SARIF: scan findings and
// workflow audit findings.
package sarif

import (
	"slices"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Log is a SARIF file.
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []Run  `json:"runs"`
}

// Run is one tool's run.
type Run struct {
	Tool    Tool     `json:"tool"`
	Results []Result `json:"results"`
	// Properties is the run's property bag (SARIF §3.8).
	Properties map[string]any `json:"properties,omitempty"`
}

// Tool names dossier and its rules.
type Tool struct {
	Driver Driver `json:"driver"`
}

// Driver is the tool and the rules its results refer to.
type Driver struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	InformationURI string `json:"informationUri"`
	Rules          []Rule `json:"rules"`
}

// Text is a message.
type Text struct {
	Text string `json:"text"`
}

// Rule is one rule results refer to by ID.
type Rule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription Text           `json:"shortDescription"`
	FullDescription  Text           `json:"fullDescription"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Help             Text           `json:"help"`
	Properties       map[string]any `json:"properties"`
}

// Result is one finding at one place.
type Result struct {
	RuleID    string     `json:"ruleId"`
	Level     string     `json:"level"`
	Message   Text       `json:"message"`
	Locations []Location `json:"locations"`
	// Suppressions mark a result accepted (a waiver): code scanning shows
	// it dismissed.
	Suppressions []Suppression `json:"suppressions,omitempty"`
}

// Suppression is why a result is accepted.
type Suppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification"`
}

// Location is a file and a region of it.
type Location struct {
	PhysicalLocation PhysicalLocation `json:"physicalLocation"`
}

// PhysicalLocation is where in which file.
type PhysicalLocation struct {
	ArtifactLocation ArtifactLocation `json:"artifactLocation"`
	Region           Region           `json:"region"`
}

// ArtifactLocation is a file, relative to the repository root.
type ArtifactLocation struct {
	URI string `json:"uri"`
}

// Region is a line (and column) in a file.
type Region struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// At is a location at a file's line and column.
func At(uri string, line, column int) Location {
	return Location{PhysicalLocation{ArtifactLocation{strings.TrimPrefix(uri, "/")}, Region{StartLine: max(line, 1), StartColumn: column}}}
}

// New is a log of one run of dossier: rules sorted by ID, results in the
// order given (empty lists, never null, for code scanning).
func New(toolVersion string, rules []Rule, results []Result) Log {
	rules = slices.Clone(rules)
	slices.SortFunc(rules, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	if rules == nil {
		rules = []Rule{}
	}
	if results == nil {
		results = []Result{}
	}
	return Log{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []Run{{Tool: Tool{Driver: Driver{Name: "dossier", Version: toolVersion, InformationURI: "https://github.com/dossier-dev/dossier", Rules: rules}},
			Results: results}},
	}
}

// Level is the SARIF level of a severity rating: unknown ratings are
// shown as errors, not hidden.
func Level(rating string) string {
	switch rating {
	case evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityUnknown:
		return "error"
	case evidence.SeverityMedium:
		return "warning"
	}
	return "note"
}

// SecuritySeverity is the score GitHub sorts security alerts by.
func SecuritySeverity(s evidence.Severity) float64 {
	if s.Score > 0 {
		return s.Score
	}
	switch s.Rating {
	case evidence.SeverityCritical:
		return 9.5
	case evidence.SeverityHigh:
		return 8.0
	case evidence.SeverityMedium:
		return 5.5
	case evidence.SeverityLow:
		return 2.0
	}
	return 5.0
}
