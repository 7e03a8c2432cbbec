package policy

import (
	"fmt"
	"slices"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Policies built from command-line options: `dossier scan --fail-on`,
// `dossier verify` and `dossier verify-attestation` decide through the
// same engine as policy documents.

// everything matches every image: a gate asked for on the command line
// applies to what the command was given.
var everything = mustGlob("**")

func mustGlob(pattern string) Glob {
	g, err := CompileGlob(pattern)
	if err != nil {
		panic(err) // a constant pattern
	}
	return g
}

func gate(name string, r Rule) *Policy {
	return &Policy{Name: name, Kind: "command line", Source: "command line", Mode: evidence.ModeEnforce,
		Images: []Glob{everything}, Rules: []Rule{r}, Digest: contentDigest(name, fmt.Sprintf("%+v", r))}
}

// VulnerabilityGate fails on findings at or above failOn (unknown
// severities included); ignoreUnfixed lets findings with no fix pass.
func VulnerabilityGate(failOn string, ignoreUnfixed bool) (*Policy, error) {
	if !slices.Contains([]string{evidence.SeverityLow, evidence.SeverityMedium, evidence.SeverityHigh, evidence.SeverityCritical}, failOn) {
		return nil, fmt.Errorf("severity threshold %q: want low, medium, high or critical", failOn)
	}
	return gate("fail-on-"+failOn, Rule{Name: "vulnerabilities", Vulnerabilities: &VulnerabilityRule{FailOn: failOn, IgnoreUnfixed: ignoreUnfixed}}), nil
}

// SignatureGate requires a signature by one of signers.
func SignatureGate(signers ...Signer) *Policy {
	return gate("verify", Rule{Name: "signature", Signature: &SignatureRule{Signers: signers}})
}

// AttestationGate requires an attestation of predicateType by one of signers.
func AttestationGate(predicateType string, signers ...Signer) *Policy {
	return gate("verify-attestation", Rule{Name: "attestation-" + evidence.PredicateShortName(predicateType),
		Attestation: &AttestationRule{PredicateType: predicateType, Signers: signers}})
}

// KeySigner trusts the PEM public key read from file, named by the file as
// given: the gates built of it report to whoever named the file, where
// policies name their signers themselves.
func KeySigner(file string, pemText []byte) (Signer, error) {
	key, fp, err := publicKey(string(pemText))
	if err != nil {
		return Signer{}, fmt.Errorf("%s: %v", file, err)
	}
	return Signer{Name: file, Key: key, KeyFingerprint: fp}, nil
}

// KeylessSigner trusts one certificate identity. Regular expressions keep
// cosign's meaning (a match anywhere); an unanchored one is accepted with a
// warning that says so. insecureIgnoreSCT accepts certificates no
// certificate-transparency log has seen.
func KeylessSigner(id IdentitySpec, insecureIgnoreSCT bool) (Signer, []string, error) {
	identity, warnings, err := compileIdentity("command line", "certificate identity", id, false)
	if err != nil {
		return Signer{}, nil, err
	}
	return Signer{Name: "certificate identity", Identities: []Identity{identity}, InsecureIgnoreSCT: insecureIgnoreSCT}, warnings, nil
}
