package evidence

import "time"

// Modes of a policy.
const (
	ModeEnforce = "enforce" // a failure denies
	ModeAudit   = "audit"   // a failure is reported and admitted
)

// Outcomes of one rule.
const (
	OutcomePass          = "pass"
	OutcomeFail          = "fail"
	OutcomeWaived        = "waived"
	OutcomeNotApplicable = "not-applicable"
)

// Decision is the verdict about one subject: allowed or not, and every
// rule that led there.
type Decision struct {
	Subject   Subject `json:"subject"`
	Namespace string  `json:"namespace,omitempty"`
	Allowed   bool    `json:"allowed"`
	// Mode is enforce when an enforcing policy matched, else audit.
	Mode        string       `json:"mode"`
	EvaluatedAt time.Time    `json:"evaluatedAt"`
	Rules       []RuleResult `json:"rules"`
	// Policies lists the policies that matched the subject.
	Policies []string `json:"policies"`
	// Violations counts failed rules, audit ones included.
	Violations int `json:"violations"`
	// ExpiredExceptions names exceptions for this subject that have ended.
	ExpiredExceptions []string `json:"expiredExceptions,omitempty"`
}

// RuleResult is one rule's outcome for one subject.
type RuleResult struct {
	Policy  string `json:"policy"`
	Rule    string `json:"rule"`
	Mode    string `json:"mode"`
	Outcome string `json:"outcome"`
	// Reason says what was found, or what is missing or wrong.
	Reason string `json:"reason"`
	// Fix is the command that produces the missing evidence.
	Fix    string  `json:"fix,omitempty"`
	Waiver *Waiver `json:"waiver,omitempty"`
	// BySummary says the rule passed on a verification summary, not on
	// its own evidence: a new summary does not repeat it.
	BySummary bool `json:"bySummary,omitempty"`
	// Findings lists the advisory ID of each finding behind a vulnerability
	// failure, in the scan's order (an advisory on two components is listed
	// twice).
	Findings []string `json:"findings,omitempty"`
}

// Failed lists the rules that failed (audit and enforce).
func (d Decision) Failed() []RuleResult {
	var out []RuleResult
	for _, r := range d.Rules {
		if r.Outcome == OutcomeFail {
			out = append(out, r)
		}
	}
	return out
}

// Refusals are the failed enforcing rules of a decision, each as "policy P
// rule R: reason (fix: command)": what refused the subject and how to
// change that.
func (d Decision) Refusals() []string {
	var out []string
	for _, r := range d.Rules {
		if r.Outcome != OutcomeFail || r.Mode != ModeEnforce {
			continue
		}
		s := r.Reason
		if r.Policy != "" {
			s = "policy " + r.Policy + " rule " + r.Rule + ": " + s
		}
		if r.Fix != "" {
			s += " (fix: " + r.Fix + ")"
		}
		out = append(out, s)
	}
	return out
}
