package scan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// SARIF is the subset of SARIF 2.1.0 that GitHub code scanning reads.
type SARIF struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription sarifText      `json:"shortDescription"`
	FullDescription  sarifText      `json:"fullDescription"`
	HelpURI          string         `json:"helpUri"`
	Help             sarifText      `json:"help"`
	Properties       map[string]any `json:"properties"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region struct {
			StartLine int `json:"startLine"`
		} `json:"region"`
	} `json:"physicalLocation"`
}

// ToSARIF renders the reported findings as SARIF 2.1.0: one rule per
// vulnerability with GitHub's security-severity, one result per finding,
// located at the file the component was found in (or fallbackURI).
func (r *Report) ToSARIF(toolVersion, fallbackURI string) SARIF {
	rules := map[string]sarifRule{}
	var results []sarifResult
	for _, f := range r.Findings {
		if _, ok := rules[f.ID]; !ok {
			rules[f.ID] = sarifRule{
				ID: f.ID, Name: strings.ReplaceAll(f.ID, "-", ""),
				ShortDescription: sarifText{Text: orText(f.Summary, f.ID)},
				FullDescription:  sarifText{Text: fmt.Sprintf("%s (aliases: %s)", orText(f.Summary, f.ID), orText(strings.Join(f.Aliases, ", "), "none"))},
				HelpURI:          "https://osv.dev/vulnerability/" + f.ID,
				Help:             sarifText{Text: fixAdvice(f)},
				Properties: map[string]any{
					"security-severity": fmt.Sprintf("%.1f", securitySeverity(f.Severity)),
					"tags":              []string{"security", "vulnerability", f.Ecosystem},
				},
			}
		}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(firstOr(f.Component.Locations, fallbackURI), "/")
		loc.PhysicalLocation.Region.StartLine = 1
		results = append(results, sarifResult{
			RuleID:    f.ID,
			Level:     sarifLevel(f.Severity.Rating),
			Message:   sarifText{Text: fmt.Sprintf("%s %s is affected by %s (%s). %s", f.Component.Name, f.Component.Version, f.ID, f.Severity.Rating, fixAdvice(f))},
			Locations: []sarifLocation{loc},
		})
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	driver := sarifDriver{Name: "dossier", Version: toolVersion, InformationURI: "https://github.com/dossier-dev/dossier", Rules: []sarifRule{}}
	for _, id := range ids {
		driver.Rules = append(driver.Rules, rules[id])
	}
	if results == nil {
		results = []sarifResult{}
	}
	return SARIF{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	}
}

func fixAdvice(f evidence.Finding) string {
	switch f.FixState {
	case evidence.FixFixed:
		return "Fixed in " + strings.Join(f.FixedVersions, ", ") + "."
	case evidence.FixNotFixed:
		return "No fixed version is published."
	}
	return "The advisory does not say whether a fix exists."
}

// securitySeverity is the score GitHub sorts alerts by.
func securitySeverity(s evidence.Severity) float64 {
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
	return 5.0 // unknown: shown, not hidden
}

func sarifLevel(rating string) string {
	switch rating {
	case evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityUnknown:
		return "error"
	case evidence.SeverityMedium:
		return "warning"
	}
	return "note"
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func firstOr(list []string, fallback string) string {
	if len(list) > 0 && list[0] != "" {
		return list[0]
	}
	return fallback
}
