package policy

import (
	"slices"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Needs is the evidence the policies that match an image ask for, so that
// a collector gathers exactly that and nothing more.
type Needs struct {
	Signatures bool
	// PredicateTypes lists the attestation types to read.
	PredicateTypes []string
	// Vulnerabilities says a vulnerability rule matched.
	Vulnerabilities bool
}

// Needs derives what to gather for the image ev names (its subject,
// reference and namespace; nothing else of ev is read).
func (s *Set) Needs(ev *evidence.Collected) Needs {
	var n Needs
	for _, p := range s.Policies {
		if !p.Matches(ev) {
			continue
		}
		if len(p.Summaries) > 0 {
			n.addType(evidence.PredicateVSA)
		}
		p.EachRule(func(r Rule) {
			switch {
			case r.Signature != nil:
				n.Signatures = true
			case r.Attestation != nil:
				n.addType(r.Attestation.PredicateType)
				if r.Attestation.WorkflowAudit != nil {
					n.addType(evidence.PredicateWorkflowAudit)
				}
			case r.Vulnerabilities != nil:
				n.Vulnerabilities = true
				if r.Vulnerabilities.Attestation != nil {
					n.addType(evidence.PredicateVuln)
				}
			}
		})
	}
	return n
}

func (n *Needs) addType(t string) {
	if !slices.Contains(n.PredicateTypes, t) {
		n.PredicateTypes = append(n.PredicateTypes, t)
	}
}

// NeedsLocalScan reports whether a matching vulnerability rule has no
// usable signed vuln attestation among ev's attestations, so that the
// artifact must be scanned against the local database.
func (s *Set) NeedsLocalScan(ev *evidence.Collected, now time.Time) bool {
	e := evaluator{ev: ev, now: now}
	for _, p := range s.Policies {
		if !p.Matches(ev) {
			continue
		}
		for _, r := range p.Rules {
			if v := r.Vulnerabilities; v != nil {
				if v.Attestation == nil {
					return true
				}
				withoutLocal := *ev
				withoutLocal.Vulnerabilities = nil
				e.ev = &withoutLocal
				if found, _ := e.vulnEvidence(v); found == nil {
					return true
				}
			}
		}
	}
	return false
}
