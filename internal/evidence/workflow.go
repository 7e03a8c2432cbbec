package evidence

import "time"

// PredicateWorkflowAudit is dossier's audit of the CI workflow that built
// a digest, attested next to its provenance.
const PredicateWorkflowAudit = "https://dossier.dev/workflow-audit/v1"

// WorkflowAudit is that predicate: which workflow, of which repository,
// at which commit, and what the audit found in it.
type WorkflowAudit struct {
	Repository string            `json:"repository,omitempty"`
	Commit     string            `json:"commit"`
	Workflow   string            `json:"workflow"`
	AuditedAt  time.Time         `json:"auditedAt"`
	Findings   []WorkflowFinding `json:"findings"`
}

// WorkflowFinding is one audit finding; Waiver names the waiver it was
// accepted under, if any.
type WorkflowFinding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Message  string `json:"message"`
	Waiver   string `json:"waiver,omitempty"`
}
