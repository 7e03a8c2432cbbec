package policy

import (
	"fmt"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Unclaimed is the answer for an image no policy claims (none whose
// images and namespaces match it). Admission and the background
// judgement of what runs give the same answer with the same setting.
type Unclaimed string

const (
	// UnclaimedDeny refuses it: an image nobody wrote a policy for is not
	// shown to be allowed.
	UnclaimedDeny Unclaimed = "deny"
	// UnclaimedWarn admits it with a warning and a recorded decision.
	UnclaimedWarn Unclaimed = "warn"
	// UnclaimedAllow admits it, unjudged.
	UnclaimedAllow Unclaimed = "allow"
)

// ParseUnclaimed reads deny, warn or allow ("" is deny).
func ParseUnclaimed(s string) (Unclaimed, error) {
	switch u := Unclaimed(s); u {
	case "":
		return UnclaimedDeny, nil
	case UnclaimedDeny, UnclaimedWarn, UnclaimedAllow:
		return u, nil
	}
	return "", fmt.Errorf("unclaimed images: %q: want deny, warn or allow", s)
}

// Decide is the decision about an image no policy of set claims (ev names
// the image and its namespace), and whether there is one. In a namespace
// an enforcing policy covers, the answer u ("" is deny: a registry
// spelled differently, or an image nobody wrote a policy for, is not
// admitted unjudged); where only audit policies cover it, at most a
// warning; a namespace no policy covers, and allow, get no decision.
// labels reads the namespace's labels, asked only when a policy selects
// namespaces by label; labels that cannot be read count as covering, so
// that the answer fails closed.
func (u Unclaimed) Decide(set *Set, ev *evidence.Collected, labels func() (map[string]string, error), now time.Time) (evidence.Decision, bool) {
	if u == UnclaimedAllow {
		return evidence.Decision{}, false
	}
	var known map[string]string
	var labelsErr error
	labelsRead := false
	covered, enforced := false, false
	for _, p := range set.Policies {
		bySelector := p.Namespaces != nil && len(p.Namespaces.MatchLabels) > 0
		if bySelector && !labelsRead {
			known, labelsErr = labels()
			labelsRead = true
		}
		if p.CoversNamespace(ev.Namespace, known) || (bySelector && labelsErr != nil) {
			covered = true
			enforced = enforced || p.Mode == evidence.ModeEnforce
		}
	}
	if !covered {
		return evidence.Decision{}, false
	}
	return u.Unmatched(ev, enforced, now), true
}

// Unmatched is the decision about an image no policy claims where the
// answer is u's: the unmatched rule alone (no policy's rules or exceptions
// apply), a refusal where an enforcing policy covers the image's place
// and u is deny, else a warning.
func (u Unclaimed) Unmatched(ev *evidence.Collected, enforced bool, now time.Time) evidence.Decision {
	d := Evaluate(&Set{}, ev, now)
	if u == UnclaimedWarn || !enforced {
		d.Allowed, d.Mode = true, evidence.ModeAudit
		for i := range d.Rules {
			d.Rules[i].Mode = evidence.ModeAudit
		}
	}
	return d
}
