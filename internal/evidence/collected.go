package evidence

import "time"

// Collected is the evidence gathered about one subject for a decision.
// Whatever could not be gathered is listed in Unavailable, so a policy
// fails the rules that needed it instead of passing them.
type Collected struct {
	Subject Subject `json:"subject"`
	// Reference is the reference as given (a tag, say), when it was one:
	// policies that match on tags see it; decisions are about Subject.
	Reference string `json:"reference,omitempty"`
	// Namespace and NamespaceLabels describe the Kubernetes namespace at
	// admission; empty elsewhere.
	Namespace       string              `json:"namespace,omitempty"`
	NamespaceLabels map[string]string   `json:"namespaceLabels,omitempty"`
	Signatures      []VerifiedSignature `json:"signatures"`
	Attestations    []Attestation       `json:"attestations"`
	Rejected        []RejectedSignature `json:"rejected,omitempty"`
	// Vulnerabilities is the scan result, when one was gathered.
	Vulnerabilities *VulnerabilityEvidence `json:"vulnerabilities,omitempty"`
	// Unavailable maps what could not be gathered ("signatures",
	// "attestation <type>", "vulnerabilities") to why.
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// VulnerabilityEvidence is a scan of the subject: its findings (VEX
// suppressions already marked) and the advisory data behind them.
type VulnerabilityEvidence struct {
	Findings []Finding `json:"findings"`
	// DatabaseUpdated is when the advisory data was last imported.
	DatabaseUpdated time.Time `json:"databaseUpdated"`
	// ScannedAt is when the scan ran.
	ScannedAt time.Time `json:"scannedAt"`
	// Source is "local-database" or "attestation <storedAt> by <signer>".
	Source string `json:"source"`
}

// Evidence names used in Collected.Unavailable.
const (
	NeedSignatures      = "signatures"
	NeedVulnerabilities = "vulnerabilities"
)

// NeedAttestation names attestations of one predicate type.
func NeedAttestation(predicateType string) string { return "attestation " + predicateType }
