package evidence

import "strings"

// Severity ratings, lowest to highest; "unknown" when nothing scores it.
const (
	SeverityUnknown  = "unknown"
	SeverityNone     = "none"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

var severityRank = map[string]int{
	SeverityUnknown: 0, SeverityNone: 1, SeverityLow: 2, SeverityMedium: 3, SeverityHigh: 4, SeverityCritical: 5,
}

// SeverityRank orders ratings; unknown ratings rank lowest.
func SeverityRank(rating string) int {
	switch rating { // ratings dossier produces are lower case already
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityNone:
		return 1
	}
	return severityRank[strings.ToLower(rating)]
}

// ValidSeverity reports whether rating is one of the ratings above.
func ValidSeverity(rating string) bool {
	_, ok := severityRank[strings.ToLower(rating)]
	return ok
}

// Fix states of a finding.
const (
	FixFixed    = "fixed"     // a fixed version exists
	FixNotFixed = "not-fixed" // affected with no fix published
	FixUnknown  = "unknown"   // the advisory does not say
)

// Severity is a finding's rating and where it came from.
type Severity struct {
	Rating string  `json:"rating"`
	Score  float64 `json:"score,omitempty"`
	// Vector is the CVSS vector the score was computed from.
	Vector string `json:"vector,omitempty"`
	// Source is "CVSS_V3", "CVSS_V4", a distribution's own rating
	// ("Ubuntu") or "database_specific".
	Source string `json:"source,omitempty"`
	// From names the record the rating was taken from when none of the
	// finding's own records rates it: another record of the same
	// vulnerability (a DSA rated by its CVE's CVSS).
	From string `json:"from,omitempty"`
}

// Finding is one vulnerability in one component. A GHSA and its CVE are
// one finding: ID is the primary identifier and Aliases the rest.
type Finding struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// Advisories are the database records that matched (one per source
	// database when several describe the same vulnerability).
	Advisories []string  `json:"advisories"`
	Summary    string    `json:"summary,omitempty"`
	Component  Component `json:"component"`
	// Ecosystem is the advisory ecosystem matched ("Go", "Debian:12", …).
	Ecosystem     string   `json:"ecosystem"`
	Severity      Severity `json:"severity"`
	FixState      string   `json:"fixState"`
	FixedVersions []string `json:"fixedVersions,omitempty"`
	// Suppression, when set, says why the finding does not count for gates.
	Suppression *Suppression `json:"suppression,omitempty"`
}

// IDs is the finding's ID followed by its aliases.
func (f Finding) IDs() []string { return append([]string{f.ID}, f.Aliases...) }

// Suppression records a VEX statement or an ignore rule that applied.
type Suppression struct {
	// Kind is "vex" or "ignore".
	Kind string `json:"kind"`
	// Status is the VEX status (not_affected, fixed).
	Status        string `json:"status,omitempty"`
	Justification string `json:"justification,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Owner         string `json:"owner,omitempty"`
	Expires       string `json:"expires,omitempty"`
	// Source names the VEX document or ignore file.
	Source string `json:"source,omitempty"`
}
