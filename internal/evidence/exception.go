package evidence

import (
	"strings"
	"time"
)

// Exception waives vulnerabilities or policy rules for one digest, owned
// by a team, for a reason, until it expires.
type Exception struct {
	Name string `json:"name"`
	// Namespace, when set, limits the exception to that namespace at
	// admission.
	Namespace string `json:"namespace,omitempty"`
	Owner     string `json:"owner"`
	// Subject is the one digest the exception applies to; Subject.Repository
	// may be empty when the exception names only the digest.
	Subject Subject `json:"subject"`
	// AllDigests marks a rule of scan's older ignore-file format that named
	// no digest; SupplyChainException documents always name one.
	AllDigests           bool      `json:"allDigests,omitempty"`
	Reason               string    `json:"reason"`
	CompensatingControls []string  `json:"compensatingControls,omitempty"`
	ExpiresAt            time.Time `json:"expiresAt"`
	// Vulnerabilities lists advisory IDs (or aliases) waived.
	Vulnerabilities []string `json:"vulnerabilities,omitempty"`
	// Package narrows vulnerability waivers to one package (purl or name).
	Package string `json:"package,omitempty"`
	// Policies lists "policy" or "policy/rule" names waived.
	Policies []string `json:"policies,omitempty"`
	// Source is the file the exception was read from.
	Source string `json:"source,omitempty"`
}

// Expired reports whether the exception no longer applies at now.
func (e Exception) Expired(now time.Time) bool { return !now.Before(e.ExpiresAt) }

// ExpiringWithin is how soon an exception's expiry is called near: the
// UI highlights it, the metrics count it, policy lint notes it.
const ExpiringWithin = 7 * 24 * time.Hour

// Expiring reports whether the exception still applies at now and expires
// within ExpiringWithin.
func (e Exception) Expiring(now time.Time) bool {
	return !e.Expired(now) && e.ExpiresAt.Sub(now) <= ExpiringWithin
}

// Covers reports whether the exception's digest scope includes subject.
// An exception never applies to a tag or to another digest.
func (e Exception) Covers(subject Subject) bool {
	if e.AllDigests {
		return true
	}
	if subject.Digest == "" || e.Subject.Digest != subject.Digest {
		return false
	}
	return e.Subject.Repository == "" || e.Subject.Repository == subject.Repository
}

// Waiver records that an exception turned a failure into a pass.
type Waiver struct {
	Exception string    `json:"exception"`
	Owner     string    `json:"owner"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expiresAt"`
	Source    string    `json:"source,omitempty"`
}

// WaivesFinding reports whether the exception names the finding (by ID or
// alias) and, when it names a package, the finding's component. Scope and
// expiry are judged separately (Covers, Expired).
func (e *Exception) WaivesFinding(f *Finding) bool {
	named := false
	for _, v := range e.Vulnerabilities {
		if v == f.ID {
			named = true
			break
		}
		for _, alias := range f.Aliases {
			if v == alias {
				named = true
			}
		}
	}
	return named && (e.Package == "" || packageMatches(e.Package, f.Component))
}

// packageMatches compares a package given as a purl (with or without a
// version) or a plain name with a component.
func packageMatches(want string, c Component) bool {
	if !strings.HasPrefix(want, "pkg:") {
		return want == c.Name
	}
	wantBase, wantVersion := SplitPURL(want)
	haveBase, haveVersion := SplitPURL(c.PURL)
	return strings.EqualFold(wantBase, haveBase) && (wantVersion == "" || wantVersion == haveVersion)
}

// SplitPURL returns "pkg:type/namespace/name" and the version, dropping
// qualifiers and subpath (in a purl "@" only separates the version: an npm
// scope's "@" is written %40).
func SplitPURL(p string) (base, version string) {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	base, version, _ = strings.Cut(p, "@")
	return base, version
}

// MergeExceptions lists first's exceptions, then those of second that
// first has none of the same namespace and name of: where one kind of
// source (policy files) overrides another (the evidence store).
func MergeExceptions(first, second []Exception) []Exception {
	seen := map[[2]string]bool{}
	out := make([]Exception, 0, len(first)+len(second))
	for _, e := range append(append([]Exception{}, first...), second...) {
		key := [2]string{e.Namespace, e.Name}
		if !seen[key] {
			seen[key] = true
			out = append(out, e)
		}
	}
	return out
}
