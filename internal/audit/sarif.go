package audit

import (
	"fmt"
	"path/filepath"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/sarif"
)

// ToSARIF renders the report for GitHub code scanning: one rule per audit
// rule, one result per finding at its line and column, waived findings
// suppressed with their waiver. Paths are made relative to root.
func (r *Report) ToSARIF(toolVersion, root string) sarif.Log {
	var rules []sarif.Rule
	for _, rule := range Rules {
		rules = append(rules, sarif.Rule{ID: rule.ID, Name: rule.Title, ShortDescription: sarif.Text{Text: rule.Title},
			FullDescription: sarif.Text{Text: rule.Explanation}, Help: sarif.Text{Text: rule.Fix},
			Properties: map[string]any{"security-severity": fmt.Sprintf("%.1f", sarif.SecuritySeverity(evidence.Severity{Rating: rule.Severity})),
				"tags": []string{"security", "ci", "supply-chain"}}})
	}
	var results []sarif.Result
	for _, f := range r.Findings {
		uri := f.File
		if rel, err := filepath.Rel(root, f.File); err == nil && root != "" {
			uri = filepath.ToSlash(rel)
		}
		res := sarif.Result{RuleID: f.Rule, Level: sarif.Level(f.Severity), Message: sarif.Text{Text: f.Message + ". " + f.Fix},
			Locations: []sarif.Location{sarif.At(uri, f.Line, f.Column)}}
		if f.Waiver != nil {
			res.Suppressions = []sarif.Suppression{{Kind: "external", Justification: fmt.Sprintf("waiver %s (owner %s, until %s): %s",
				f.Waiver.Name, f.Waiver.Owner, f.Waiver.Expires.Format("2006-01-02"), f.Waiver.Reason)}}
		}
		results = append(results, res)
	}
	return sarif.New(toolVersion, rules, results)
}
