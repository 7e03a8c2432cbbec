// Package store keeps the evidence about digests so that a responder can
// start from a digest, a component, an advisory, a tag or a signer and get
// answers without going back to registries: subjects, every tag move,
// SBOM components, findings with first and last seen, verified (and
// unverified) signatures and attestations, provenance, exceptions and
// decisions. One implementation over database/sql serves two backends:
// SQLite under the data directory (the embedded default) and PostgreSQL
// (shared by replicas). It imports only internal/evidence.
package store

import (
	"errors"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// ErrNewerSchema refuses a store written by a newer dossier.
var ErrNewerSchema = errors.New("the evidence store was written by a newer dossier")

// Record is what is known about one digest at one time. Every part is
// optional; a record is written whole or not at all, and recording the
// same evidence again changes nothing but last-seen times.
type Record struct {
	Subject   evidence.Subject
	MediaType string
	Platform  string
	// At is when the evidence was gathered.
	At time.Time
	// Tag, when set, is observed pointing to Subject now (from TagSource).
	Tag       string
	TagSource string
	// Components, when not nil, replace the digest's stored components.
	Components []evidence.Component
	// PackageKeys, when given, are the components' advisory-index packages
	// ("npm/lodash", in the order of Components), which rescans look up.
	PackageKeys []string
	// Cataloguer names what catalogued Components ("" when not dossier's
	// cataloguer, as an SBOM made elsewhere): catalogue-all jobs compare it
	// with the running one.
	Cataloguer string
	// Findings, when not nil, is the digest's current scan: findings not
	// in it are marked resolved.
	Findings *Scan
	// Signatures and Attestations that verified; Rejected ones are kept as
	// unverified, never as verified.
	Signatures   []evidence.VerifiedSignature
	Attestations []evidence.Attestation
	Rejected     []evidence.RejectedSignature
	Decision     *evidence.Decision
	Exceptions   []evidence.Exception
}

// Scan is a digest's findings and the advisory data they came from.
type Scan struct {
	Findings        []evidence.Finding
	DatabaseVersion time.Time
	// Coverage is what the scan checked (nil: not said). A rescan keeps
	// it: it matches the components of changed packages only.
	Coverage *evidence.Coverage
}

// AdvisoryFingerprint is an advisory's content hash and its packages.
type AdvisoryFingerprint struct {
	Hash     string   `json:"hash"`
	Packages []string `json:"packages"`
}

// SubjectComponents are a digest's components of some packages.
type SubjectComponents struct {
	Subject    evidence.Subject
	Components []evidence.Component
}

// RescanResult is one digest's findings of the changed advisories.
type RescanResult struct {
	Subject  evidence.Subject
	Findings []evidence.Finding
	// Rechecked is what the rescan made of the digest's components it
	// matched: each with why it was not checked, or no reason when it was.
	// The digest's recorded coverage follows it (a component not checked
	// for want of data is checked once the data is there).
	Rechecked []evidence.NotChecked
	// CoverageOnly: the digest was re-matched for its coverage alone (it
	// holds no package a changed advisory names), so its findings stand.
	CoverageOnly bool
}

// SubjectCoverage is what a digest's last scan could not check.
type SubjectCoverage struct {
	Subject  evidence.Subject
	Coverage evidence.Coverage
}

// Page asks for part of a wide answer: at most Limit hits (all when 0)
// after the first Offset, newest digests first. Deployed keeps only the
// digests seen deployed ("which running digests contain X").
type Page struct {
	Offset, Limit int
	// Deployed keeps to digests seen deployed; Running, when set, to
	// digests running now where it says.
	Deployed bool
	Running  *RunningFilter
	// Scope, when set, keeps to the repositories it sees: the total and
	// the page are counted and chosen among those only.
	Scope Scope
}

// ComponentQuery selects components by purl without version
// ("pkg:npm/lodash") or by name ("xz-utils", any ecosystem).
type ComponentQuery struct {
	What string
	// Accept, when set, decides on each stored version of each package
	// (purl without version) that What selects.
	Accept func(purlBase, version string) (bool, error)
	Page   Page
}

// ComponentPage is a page of component hits and how many there are.
type ComponentPage struct {
	Total  int            `json:"total"`
	Offset int            `json:"offset"`
	Hits   []ComponentHit `json:"hits"`
}

// FindingPage is a page of finding hits and how many there are.
type FindingPage struct {
	Total  int          `json:"total"`
	Offset int          `json:"offset"`
	Hits   []FindingHit `json:"hits"`
}

// Placement is where a digest is now: the tags that point to it, and when
// it was last seen deployed (admitted to a cluster), if ever.
type Placement struct {
	Tags     []string   `json:"tags"`
	Deployed *time.Time `json:"deployed,omitempty"`
	// Running is where the digest runs now.
	Running []RunningPlace `json:"running,omitempty"`
}

// RunningPlace is a workload's container that runs a digest now, in how
// many Pods.
type RunningPlace struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	Container string `json:"container"`
	Pods      int    `json:"pods"`
}

// ComponentHit is one package version in one digest (the locations of
// every copy of it there merged).
type ComponentHit struct {
	Subject evidence.Subject `json:"subject"`
	Placement
	Component evidence.Component `json:"component"`
}

// FindingHit is one finding in one digest.
type FindingHit struct {
	Subject evidence.Subject `json:"subject"`
	Placement
	Finding StoredFinding `json:"finding"`
}

// StoredFinding is a finding with its history.
type StoredFinding struct {
	evidence.Finding
	FirstSeen       time.Time  `json:"firstSeen"`
	LastSeen        time.Time  `json:"lastSeen"`
	ResolvedAt      *time.Time `json:"resolvedAt,omitempty"`
	DatabaseVersion time.Time  `json:"databaseVersion"`
}

// TagMove is one observation of a tag pointing to a new digest.
type TagMove struct {
	Repository string    `json:"repository"`
	Tag        string    `json:"tag"`
	Digest     string    `json:"digest"`
	ObservedAt time.Time `json:"observedAt"`
	Source     string    `json:"source"`
}

// SignerFilter selects signers: a key fingerprint, or a certificate
// identity (exact, or by Match) with an optional issuer.
type SignerFilter struct {
	KeyFingerprint string
	Identity       string
	// Match, when set, decides on identities (a regular expression the
	// caller compiled and bounded).
	Match  func(identity string) bool
	Issuer string
}

// SignedHit is one verified signature or attestation.
type SignedHit struct {
	Subject evidence.Subject `json:"subject"`
	Placement

	PredicateType string                `json:"predicateType"`
	Verification  evidence.Verification `json:"verification"`
}

// Dossier is everything stored about one digest.
type Dossier struct {
	Subject      evidence.Subject `json:"subject"`
	MediaType    string           `json:"mediaType,omitempty"`
	Platform     string           `json:"platform,omitempty"`
	FirstSeen    time.Time        `json:"firstSeen"`
	LastRecorded time.Time        `json:"lastRecorded"`
	Tags         []TagMove        `json:"tags"`
	// Scanned says when the digest was last scanned, and with which
	// advisory data (nil: never).
	Scanned      *ScanInfo                    `json:"scanned,omitempty"`
	Components   []evidence.Component         `json:"components"`
	Findings     []StoredFinding              `json:"findings"`
	Signatures   []evidence.VerifiedSignature `json:"signatures"`
	Attestations []evidence.Attestation       `json:"attestations"`
	Unverified   []evidence.RejectedSignature `json:"unverified"`
	Exceptions   []evidence.Exception         `json:"exceptions"`
	Decisions    []evidence.Decision          `json:"decisions"`
	Deployments  []Deployment                 `json:"deployments"`
	// Admissions are the latest admission decisions, newest first.
	Admissions []Admission `json:"admissions"`
}

// ScanInfo is a digest's last scan: when, and the advisory data's version.
type ScanInfo struct {
	At              time.Time          `json:"at"`
	DatabaseVersion time.Time          `json:"databaseVersion"`
	Coverage        *evidence.Coverage `json:"coverage,omitempty"`
}

// The outcomes of an admission decision about one image.
const (
	AdmissionAllowed = "allowed"
	AdmissionDenied  = "denied"
	// AdmissionAudited is admitted with audit-mode violations.
	AdmissionAudited = "audited"
	// AdmissionWaived is admitted because exceptions waived failures.
	AdmissionWaived = "waived"
	// AdmissionFailedOpen is admitted without verification because the
	// evidence could not be had and the webhook fails open.
	AdmissionFailedOpen = "failed-open"
)

// Admission is an admission decision about one image of a reviewed
// object.
type Admission struct {
	At time.Time `json:"at"`
	// Image is the reference as written; Subject the digest judged (unset
	// when it could not be resolved).
	Image   string           `json:"image"`
	Subject evidence.Subject `json:"subject"`
	// Cluster is the name of the cluster the webhook admits to ("" when
	// it was not named).
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace"`
	// Workload is "Kind/name" of the reviewed object; User who sent it.
	Workload string `json:"workload"`
	User     string `json:"user"`
	Outcome  string `json:"outcome"`
	// Reason says why, in the words the requester saw.
	Reason   string             `json:"reason"`
	Decision *evidence.Decision `json:"decision,omitempty"`
	// Deployed says the object runs the image (a Pod was admitted), so
	// that the digest is marked deployed.
	Deployed bool `json:"deployed"`
}

// Repository is the repository an admission decision is about: the
// digest's when it was resolved, else the image's as written.
func (a Admission) Repository() string {
	if a.Subject.Repository != "" {
		return a.Subject.Repository
	}
	return evidence.ImageRepository(a.Image)
}

// Scope is the repositories a reader may see (nil: every one). Questions
// asked with one are answered from those repositories only: counts and
// lists are made of what it sees, never of everything.
type Scope func(repository string) bool

func (s Scope) sees(repository string) bool { return s == nil || s(repository) }

// Deployment is where a digest was seen deployed: a workload in a
// namespace, first and last seen.
type Deployment struct {
	Subject   evidence.Subject `json:"subject"`
	Namespace string           `json:"namespace"`
	Workload  string           `json:"workload"`
	FirstSeen time.Time        `json:"firstSeen"`
	LastSeen  time.Time        `json:"lastSeen"`
}
