package scan

import (
	"fmt"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/sarif"
)

// ToSARIF renders the reported findings as SARIF 2.1.0: one rule per
// vulnerability with GitHub's security-severity, one result per finding,
// located at the file the component was found in (or fallbackURI).
func (r *Report) ToSARIF(toolVersion, fallbackURI string) sarif.Log {
	seen := map[string]bool{}
	var rules []sarif.Rule
	var results []sarif.Result
	for _, f := range r.Findings {
		if !seen[f.ID] {
			seen[f.ID] = true
			rules = append(rules, sarif.Rule{
				ID: f.ID, Name: strings.ReplaceAll(f.ID, "-", ""),
				ShortDescription: sarif.Text{Text: orText(f.Summary, f.ID)},
				FullDescription:  sarif.Text{Text: fmt.Sprintf("%s (aliases: %s)", orText(f.Summary, f.ID), orText(strings.Join(f.Aliases, ", "), "none"))},
				HelpURI:          "https://osv.dev/vulnerability/" + f.ID,
				Help:             sarif.Text{Text: fixAdvice(f)},
				Properties: map[string]any{
					"security-severity": fmt.Sprintf("%.1f", sarif.SecuritySeverity(f.Severity)),
					"tags":              []string{"security", "vulnerability", f.Ecosystem},
				},
			})
		}
		results = append(results, sarif.Result{
			RuleID:    f.ID,
			Level:     sarif.Level(f.Severity.Rating),
			Message:   sarif.Text{Text: fmt.Sprintf("%s %s is affected by %s (%s). %s", f.Component.Name, f.Component.Version, f.ID, f.Severity.Rating, fixAdvice(f))},
			Locations: []sarif.Location{sarif.At(firstOr(f.Component.Locations, fallbackURI), 1, 0)},
		})
	}
	log := sarif.New(toolVersion, rules, results)
	// what was not checked travels with the results: no result is not "clean"
	log.Runs[0].Properties = map[string]any{"coverage": r.Coverage, "notChecked": r.Unmatched}
	return log
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
