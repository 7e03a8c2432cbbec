package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// denies says whether a finding is one the rule denies by ID.
func (r *VulnerabilityRule) denies(f *evidence.Finding) bool {
	for _, id := range f.IDs() {
		if slices.ContainsFunc(r.DenyIDs, func(d string) bool { return strings.EqualFold(d, id) }) {
			return true
		}
	}
	return false
}

// scope says which findings the rule counts.
func (r *VulnerabilityRule) scope() string {
	var parts []string
	if r.FailOn != "" {
		parts = append(parts, fmt.Sprintf("at or above %s (or of unknown severity)", r.FailOn))
	}
	if len(r.DenyIDs) > 0 {
		parts = append(parts, "denied by ID ("+strings.Join(r.DenyIDs, ", ")+")")
	}
	return strings.Join(parts, " or ")
}
