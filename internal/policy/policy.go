// Package policy decides about artifacts: policy documents (dossier's own
// SupplyChainPolicy and Sigstore's ClusterImagePolicy) and
// SupplyChainException documents are decoded and validated here, and
// Evaluate turns evidence, policies and a clock into a Decision. Evaluation
// is pure: no network, no files, no clock of its own. It imports only
// internal/evidence.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
)

// API versions and kinds this package reads.
const (
	APIVersion        = "dossier.dev/v1alpha1"
	KindPolicy        = "SupplyChainPolicy"
	KindException     = "SupplyChainException"
	KindClusterPolicy = "ClusterImagePolicy"
)

// Policy is a loaded, validated policy in dossier's model, whichever
// document format it came from.
type Policy struct {
	Name string
	// Kind is the document kind it was read from.
	Kind string
	// Source is the file (and document number) it was read from.
	Source string
	Mode   string
	Images []Glob
	// Namespaces limits the policy at admission; nil matches every namespace.
	Namespaces *NamespaceSelector
	Rules      []Rule
	// Summaries are the verification summaries the policy accepts in place
	// of verifying the rules they name itself.
	Summaries []SummaryAcceptance
	// Digest identifies this exact policy content (for caches and records).
	Digest string
	// Warnings are things the loader accepted but a reader should know
	// (unanchored regular expressions, for example).
	Warnings []string
	// Explanation says, for a policy of a foreign format, what each of its
	// rules became in dossier's model (policy lint prints it).
	Explanation []string
	// ExcludeNamespaces are namespaces the policy never applies in.
	ExcludeNamespaces []string
	// ExcludeImages are images of Images the policy does not claim (a
	// Ratify executor's more specific scopes, routed elsewhere).
	ExcludeImages []Glob
	// wildcardNames matches images as Kyverno names them (docker.io/x:tag,
	// registry/path@digest) rather than by dossier's canonical names.
	wildcardNames bool
	// ivp is a Kyverno ImageValidatingPolicy's compiled program: it
	// matches images in place of Images, and its CEL rules evaluate it.
	ivp *ivpProgram
}

// SummaryAcceptance accepts a SLSA verification summary by Verifier,
// signed by one of Signers, no older than MaxAge and carrying every one of
// Levels, as satisfying Rules of the policy: a cluster trusts the gate's
// judgement instead of verifying each piece again.
type SummaryAcceptance struct {
	Verifier string
	Signers  []Signer
	MaxAge   time.Duration
	Levels   []string
	Rules    []string
}

// NamespaceSelector matches namespaces by name or by labels.
type NamespaceSelector struct {
	Names       []string
	MatchLabels map[string]string
}

// Rule is one requirement of a policy. Exactly one of its kinds is set.
type Rule struct {
	Name string
	// Signature requires a signature by one of the signers.
	Signature *SignatureRule
	// Attestation requires a verified attestation of a predicate type.
	Attestation *AttestationRule
	// Vulnerabilities is the vulnerability gate.
	Vulnerabilities *VulnerabilityRule
	// AnyOf passes when every rule of one alternative passes
	// (ClusterImagePolicy authorities).
	AnyOf []Alternative
	// Static passes or fails unconditionally (ClusterImagePolicy static
	// authorities): "pass" or "fail", with Message.
	Static *StaticRule
	// AllOf passes when every one of its rules passes (a Kyverno
	// verifyImages entry: its attestor sets and attestations).
	AllOf []Rule
	// AtLeast is how many AnyOf alternatives must pass (0: one); a
	// Kyverno attestor set's count.
	AtLeast int
	// Digest requires the image to be named by digest, not by a tag alone
	// (Kyverno's verifyDigest without mutateDigest).
	Digest bool
	// CEL is a validation of a Kyverno ImageValidatingPolicy (or its
	// required check).
	CEL *CELRule
	// Mode, when set, is this rule's mode in place of the policy's (Kyverno
	// rules each have their failure action).
	Mode string
	// Scope limits the rule to some of the policy's images; nil applies
	// it to all of them.
	Scope *ImageScope
	// Verifier is the type of the Ratify verifier a rule was read from
	// (notation, cosign), which Ratify's reports name.
	Verifier string
}

// ImageScope is the images a rule applies to: those Images match, but
// not those Skip matches (which the rule reports as skipped).
type ImageScope struct {
	Images []Glob
	Skip   []Glob
}

// Alternative is one way of satisfying an AnyOf rule.
type Alternative struct {
	Name  string
	Rules []Rule
}

// StaticRule is a fixed outcome.
type StaticRule struct {
	Pass    bool
	Message string
	// Reason, when set, is the whole reason given (a Kyverno key whose
	// Secret holds none), in place of a static authority's wording.
	Reason string
}

// SignatureRule requires a verified signature by one of Signers.
type SignatureRule struct {
	Signers []Signer
}

// AttestationRule requires a verified attestation of PredicateType by one
// of Signers that meets the conditions.
type AttestationRule struct {
	PredicateType string
	Signers       []Signer
	// MaxAge bounds how old the attestation may be (0: no bound).
	MaxAge time.Duration
	// BuilderIDs and SourceRepositories, when set, must contain the
	// provenance's builder id and source repository.
	BuilderIDs         []string
	SourceRepositories []string
	// Refs, when set, must match the ref the provenance says was built
	// (refs/heads/main, refs/tags/v*); Triggers must contain the event
	// that started the build (never a pull request's).
	Refs     []RefGlob
	Triggers []string
	// WorkflowAudit, when set, judges the attested audit of the workflow
	// at the commit the provenance names.
	WorkflowAudit *WorkflowAuditCondition
	// Conditions, when set, judge the predicate (Kyverno attestation
	// conditions).
	Conditions PredicateConditions
	// EveryStatement requires every attestation of the type by an
	// accepted signer to meet the conditions, not just one (as Kyverno
	// judges them).
	EveryStatement bool
}

// PredicateConditions judge an attestation's predicate for the image it
// is about, at now: they say what is wrong, or "" when it meets them.
type PredicateConditions interface {
	Check(predicate []byte, image ImageFacts, now time.Time) string
}

// ImageFacts name the image being judged, as conditions may refer to it.
type ImageFacts struct {
	Reference string
	Subject   evidence.Subject
}

// RefGlob is a ref pattern and its text.
type RefGlob struct {
	Text string
	Glob Glob
}

// WorkflowAuditCondition fails a build whose workflow, audited at the
// built commit, has a finding at or above FailOn that no waiver covers;
// Required fails one with no such audit.
type WorkflowAuditCondition struct {
	FailOn   string
	Required bool
}

// VulnerabilityRule is the vulnerability gate.
type VulnerabilityRule struct {
	// FailOn is the lowest severity that fails; unknown severities fail
	// every threshold.
	FailOn string
	// IgnoreUnfixed lets findings with no published fix pass (findings of
	// unknown fix state still count).
	IgnoreUnfixed bool
	// MaxDatabaseAge bounds the age of the advisory data (0: no bound).
	MaxDatabaseAge time.Duration
	// RequireCoverage fails a subject any of whose components was not
	// checked (no advisory data for its ecosystem or release, no purl…),
	// or whose evidence does not say what was checked.
	RequireCoverage bool
	// DenyIDs fail the rule when a finding has one of these IDs or
	// aliases, whatever its severity (Ratify's denylistCVEs).
	DenyIDs []string
	// Attestation, when set, accepts a signed vuln attestation instead of
	// a scan against the local database.
	Attestation *VulnAttestation
}

// VulnAttestation says whose vulnerability reports are accepted.
type VulnAttestation struct {
	Signers []Signer
	MaxAge  time.Duration
}

// Signer is a trusted signer: a public key, or keyless identities (any of).
type Signer struct {
	Name string
	// Key is a PEM public key; KeyFingerprint its "sha256:<hex>".
	Key            string
	KeyFingerprint string
	Identities     []Identity
	// InsecureIgnoreSCT accepts keyless certificates that carry no signed
	// certificate timestamp from a trusted CT log (a named opt-out).
	InsecureIgnoreSCT bool
	// TrustRootRef names the policy-controller TrustRoot a
	// ClusterImagePolicy verifies this signer against: dossier then needs
	// that trusted root given explicitly.
	TrustRootRef string
	// Notation, when set, makes this a Notation signer: a Notation
	// signature that this trust policy and trust store verify.
	Notation *trust.Config
}

// Keyless reports whether the signer is certificate identities.
func (s Signer) Keyless() bool { return len(s.Identities) > 0 }

// Identity is one acceptable keyless signer: issuer and subject, each
// exact or a regular expression.
type Identity struct {
	Issuer        string
	IssuerRegExp  string
	Subject       string
	SubjectRegExp string

	issuerRE, subjectRE *regexp.Regexp
}

// Matches reports whether a verified signer is this identity.
func (id Identity) Matches(s evidence.Signer) bool {
	if !s.Keyless() {
		return false
	}
	issuerOK := id.Issuer == s.Issuer || (id.issuerRE != nil && id.issuerRE.MatchString(s.Issuer))
	subjectOK := id.Subject == s.Identity || (id.subjectRE != nil && id.subjectRE.MatchString(s.Identity))
	return issuerOK && subjectOK
}

// String describes the identity for messages.
func (id Identity) String() string {
	subject, issuer := id.Subject, id.Issuer
	if id.SubjectRegExp != "" {
		subject = "/" + id.SubjectRegExp + "/"
	}
	if id.IssuerRegExp != "" {
		issuer = "/" + id.IssuerRegExp + "/"
	}
	return subject + " (issuer " + issuer + ")"
}

// Accepts reports whether a verified signature was made by this trusted
// signer and meets its requirements (an SCT, unless waived).
func (s Signer) Accepts(v evidence.Verification) bool {
	return s.Matches(v.Signer) && (!v.NoSCT || s.InsecureIgnoreSCT)
}

// Matches reports whether the verified signer s is this trusted signer.
func (s Signer) Matches(v evidence.Signer) bool {
	if s.Notation != nil {
		return v.NotationTrust == s.Notation.Digest()
	}
	if s.KeyFingerprint != "" {
		return v.KeyFingerprint == s.KeyFingerprint
	}
	for _, id := range s.Identities {
		if id.Matches(v) {
			return true
		}
	}
	return false
}

// String describes the signer for messages: a key by its name and
// fingerprint, never by the file it was read from — decisions are read by
// cluster users and registry clients, to whom a path on dossier's host
// means nothing and tells too much.
func (s Signer) String() string {
	if s.Notation != nil {
		return "Notation signer " + s.Name + " (trust policy and store " + s.Notation.Digest() + ")"
	}
	if s.KeyFingerprint != "" {
		if s.Name == "" {
			return "key " + s.KeyFingerprint
		}
		return "key " + s.Name + " (" + s.KeyFingerprint + ")"
	}
	out := ""
	for i, id := range s.Identities {
		if i > 0 {
			out += " or "
		}
		out += id.String()
	}
	return out
}

// EachRule calls fn with every rule of the policy, the rules of AnyOf
// alternatives included.
func (p *Policy) EachRule(fn func(Rule)) { eachRule(p.Rules, fn) }

func eachRule(rules []Rule, fn func(Rule)) {
	for _, r := range rules {
		fn(r)
		for _, alt := range r.AnyOf {
			eachRule(alt.Rules, fn)
		}
		eachRule(r.AllOf, fn)
	}
}

// Signers lists every trusted signer the set's rules name.
func (s *Set) Signers() []Signer {
	var out []Signer
	for _, p := range s.Policies {
		if p.ivp != nil {
			out = append(out, p.ivp.signers()...)
		}
		p.EachRule(func(r Rule) {
			switch {
			case r.Signature != nil:
				out = append(out, r.Signature.Signers...)
			case r.Attestation != nil:
				out = append(out, r.Attestation.Signers...)
			case r.Vulnerabilities != nil && r.Vulnerabilities.Attestation != nil:
				out = append(out, r.Vulnerabilities.Attestation.Signers...)
			}
		})
		for _, a := range p.Summaries {
			out = append(out, a.Signers...)
		}
	}
	return out
}

// HasVulnerabilityRules reports whether any policy has a vulnerability gate.
func (s *Set) HasVulnerabilityRules() bool {
	found := false
	for _, p := range s.Policies {
		p.EachRule(func(r Rule) { found = found || r.Vulnerabilities != nil })
	}
	return found
}

// Set is what a decision is made with: policies and exceptions.
type Set struct {
	Policies   []*Policy
	Exceptions []evidence.Exception
	// AllowUnmatched admits a subject no policy matches; by default such a
	// subject is denied (fail closed).
	AllowUnmatched bool
}

func contentDigest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
