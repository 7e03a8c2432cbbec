package policy

import (
	"slices"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
)

// Needs is the evidence the policies that match an image ask for, so that
// a collector gathers exactly that and nothing more.
type Needs struct {
	Signatures bool
	// PredicateTypes lists the attestation types to read.
	PredicateTypes []string
	// Vulnerabilities says a vulnerability rule matched.
	Vulnerabilities bool
	// Notation lists the Notation trust configurations signature rules
	// name (one each), to verify Notation signatures with.
	Notation []*trust.Config
}

// Needs derives what to gather for the image ev names (its subject,
// reference and namespace; nothing else of ev is read).
func (s *Set) Needs(ev *evidence.Collected) Needs {
	return s.needs(ev, func(*Policy, Rule) bool { return false })
}

// AcceptsSummaries reports whether a policy matching ev's image accepts
// verification summaries in place of some of its rules.
func (s *Set) AcceptsSummaries(ev *evidence.Collected) bool {
	return slices.ContainsFunc(s.Policies, func(p *Policy) bool { return len(p.Summaries) > 0 && p.Matches(ev) })
}

// NeedsBeyondSummaries is what remains to gather once ev holds the
// verification summaries: the needs of the rules no accepted summary
// passes at now. A decision the summaries settle reads nothing else.
func (s *Set) NeedsBeyondSummaries(ev *evidence.Collected, now time.Time) Needs {
	e := evaluator{ev: ev, now: now}
	n := s.needs(ev, e.settledBySummary)
	n.PredicateTypes = slices.DeleteFunc(n.PredicateTypes, func(t string) bool { return t == evidence.PredicateVSA })
	return n
}

// settledBySummary reports whether an accepted verification summary in
// the evidence passes the policy's top-level rule r.
func (e *evaluator) settledBySummary(p *Policy, r Rule) bool {
	accepted := p.summariesFor(r.Name)
	if len(accepted) == 0 {
		return false
	}
	passed, _ := e.summary(accepted)
	return passed != ""
}

// needs is Needs of every top-level rule settled does not pass.
func (s *Set) needs(ev *evidence.Collected, settled func(*Policy, Rule) bool) Needs {
	var n Needs
	for _, p := range s.Policies {
		if !p.Matches(ev) {
			continue
		}
		if len(p.Summaries) > 0 {
			n.addType(evidence.PredicateVSA)
		}
		for _, top := range p.Rules {
			if settled(p, top) {
				continue
			}
			eachRule([]Rule{top}, func(r Rule) {
				switch {
				case r.Signature != nil:
					for _, s := range r.Signature.Signers {
						if s.Notation == nil {
							n.Signatures = true
						} else {
							n.Notation = appendTrust(n.Notation, s.Notation)
						}
					}
				case r.Attestation != nil:
					n.addType(r.Attestation.PredicateType)
					if r.Attestation.WorkflowAudit != nil {
						n.addType(evidence.PredicateWorkflowAudit)
					}
				case r.CEL != nil:
					r.CEL.program.needs(&n)
				case r.Vulnerabilities != nil:
					n.Vulnerabilities = true
					if r.Vulnerabilities.Attestation != nil {
						n.addType(evidence.PredicateVuln)
					}
				}
			})
		}
	}
	return n
}

// NotationTrusts lists every Notation trust configuration the set's
// signers name (one each); nil for a nil set.
func (s *Set) NotationTrusts() []*trust.Config {
	if s == nil {
		return nil
	}
	var out []*trust.Config
	for _, sg := range s.Signers() {
		if sg.Notation != nil {
			out = appendTrust(out, sg.Notation)
		}
	}
	return out
}

// appendTrust adds cfg to list unless a configuration of the same content
// is there.
func appendTrust(list []*trust.Config, cfg *trust.Config) []*trust.Config {
	if slices.ContainsFunc(list, func(c *trust.Config) bool { return c.Digest() == cfg.Digest() }) {
		return list
	}
	return append(list, cfg)
}

func (n *Needs) addType(t string) {
	if !slices.Contains(n.PredicateTypes, t) {
		n.PredicateTypes = append(n.PredicateTypes, t)
	}
}

// NeedsLocalScan reports whether a matching vulnerability rule has no
// usable signed vuln attestation among ev's attestations (nor an accepted
// verification summary that passes it), so that the artifact must be
// scanned against the local database.
func (s *Set) NeedsLocalScan(ev *evidence.Collected, now time.Time) bool {
	e := evaluator{ev: ev, now: now}
	for _, p := range s.Policies {
		if !p.Matches(ev) {
			continue
		}
		for _, r := range p.Rules {
			if v := r.Vulnerabilities; v != nil && !e.settledBySummary(p, r) {
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
