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
	// Coverage is what the scan could and could not check; nil when the
	// evidence does not say (a report of another scanner).
	Coverage *Coverage `json:"coverage,omitempty"`
}

// Coverage is what a scan checked: a component is checked only when there
// was advisory data for its ecosystem and release to check it against.
type Coverage struct {
	Checked    int          `json:"checked"`
	NotChecked []NotChecked `json:"notChecked"`
}

// NotChecked is a component a scan could not check, and why.
type NotChecked struct {
	Component Component `json:"component"`
	Reason    string    `json:"reason"`
}

// Evidence names used in Collected.Unavailable.
const (
	NeedSignatures      = "signatures"
	NeedVulnerabilities = "vulnerabilities"
)

// NeedNotation names the Notation signatures verified with one trust
// configuration (its digest, as Signer.NotationTrust).
func NeedNotation(trustDigest string) string { return "notation signatures " + trustDigest }

// NeedAttestation names attestations of one predicate type.
func NeedAttestation(predicateType string) string { return "attestation " + predicateType }

// OwnEvidence keeps of ev's signatures and attestations those about its
// subject's digest itself: what is attached to a platform manifest of an
// index (recorded in the index's dossier, naming the digest it is about)
// signs or attests that manifest, not the index a policy judges.
func OwnEvidence(ev *Collected) *Collected {
	own := *ev
	own.Signatures = nil
	for _, s := range ev.Signatures {
		if s.Subject.Digest == ev.Subject.Digest {
			own.Signatures = append(own.Signatures, s)
		}
	}
	own.Attestations = nil
	for _, a := range ev.Attestations {
		if a.Subject.Digest == ev.Subject.Digest {
			own.Attestations = append(own.Attestations, a)
		}
	}
	return &own
}
