// Package evidence is dossier's shared vocabulary: plain types with no I/O.
// Producers (sbom, scan, sign, attest) return these; policy, store and
// admission consume only these.
package evidence

import (
	"fmt"
	"regexp"
	"strings"
)

// Subject is the only identity that counts: a repository (or local source)
// and the digest of the exact content an action was taken on.
type Subject struct {
	// Repository names where the content lives: "registry.example/team/app",
	// or a local source such as "oci-layout:/path/to/dir".
	Repository string `json:"repository"`
	// Digest is "sha256:<64 hex>" (or another algorithm:hex pair).
	Digest string `json:"digest"`
}

var digestPattern = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$`)

// ValidDigest reports whether d has the OCI "algorithm:encoded" form.
func ValidDigest(d string) bool { return digestPattern.MatchString(d) }

// String renders the subject as "repository@digest".
func (s Subject) String() string {
	if s.Digest == "" {
		return s.Repository
	}
	return s.Repository + "@" + s.Digest
}

// ParseSubject splits "repository@algorithm:hex" into a Subject, its
// repository spelled canonically (CanonicalRepository).
func ParseSubject(ref string) (Subject, error) {
	i := strings.LastIndex(ref, "@")
	if i <= 0 {
		return Subject{}, fmt.Errorf("subject %q: want repository@sha256:<hex>", ref)
	}
	s := Subject{Repository: CanonicalRepository(ref[:i]), Digest: ref[i+1:]}
	if !ValidDigest(s.Digest) {
		return Subject{}, fmt.Errorf("subject %q: %q is not a digest (want algorithm:hex)", ref, s.Digest)
	}
	return s, nil
}

// SplitTag splits "repository:tag" at the tag's colon, the last one after
// the last slash (a registry's port is not a tag); ok is false when the
// reference names no tag, or names a digest.
func SplitTag(ref string) (repository, tag string, ok bool) {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash || colon == 0 || colon == len(ref)-1 || strings.Contains(ref, "@") {
		return "", "", false
	}
	return ref[:colon], ref[colon+1:], true
}
