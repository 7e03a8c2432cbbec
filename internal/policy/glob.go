package policy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Glob matches image names the way Sigstore's policy-controller does, so
// that one glob means the same in both: "*" is any run of characters
// other than "/", "**" is any run at all, the whole name must match, and
// the bare globs "*" and "*/*" mean Docker Hub's library and user images.
type Glob struct {
	Pattern string
	re      *regexp.Regexp
}

var validGlob = regexp.MustCompile(`^[a-zA-Z0-9\-_:/*.@]+$`)

// lazyRegexp is a pattern compiled on first use. Bounded repetitions
// ({0,251}) compile to large programs: compiled at package init, every
// dossier command would pay for them at start.
type lazyRegexp func() *regexp.Regexp

func lazyPattern(expr string) lazyRegexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

func (l lazyRegexp) MatchString(s string) bool { return l().MatchString(s) }

// CompileGlob checks and compiles a glob.
func CompileGlob(pattern string) (Glob, error) {
	g := pattern
	switch g {
	case "*/*":
		g = "index.docker.io/*/*"
	case "*":
		g = "index.docker.io/library/*"
	}
	if len(g) > 512 {
		return Glob{}, fmt.Errorf("glob is longer than 512 characters")
	}
	if !validGlob.MatchString(g) {
		return Glob{}, fmt.Errorf("glob %q: only letters, digits and - _ : / * . @ are allowed", pattern)
	}
	if strings.Contains(g, "***") {
		return Glob{}, fmt.Errorf("glob %q: \"***\" means nothing; use * (within a path segment) or ** (across segments)", pattern)
	}
	expr := strings.ReplaceAll(g, ".", `\.`)
	expr = strings.ReplaceAll(expr, "**", "\x00")
	expr = strings.ReplaceAll(expr, "*", "[^/]*")
	expr = strings.ReplaceAll(expr, "\x00", ".*")
	re, err := regexp.Compile("^" + expr + "$")
	if err != nil {
		return Glob{}, fmt.Errorf("glob %q: %v", pattern, err)
	}
	return Glob{Pattern: pattern, re: re}, nil
}

// Match reports whether any of names (the forms an image is known by)
// matches.
func (g Glob) Match(names ...string) bool {
	for _, n := range names {
		if n != "" && g.re.MatchString(n) {
			return true
		}
	}
	return false
}

// compileGlobs compiles a document's image globs, naming the field of
// each that fails. A glob's registry host is spelled canonically, as
// images are before they are matched (evidence.CanonicalRepository:
// docker.io/acme/** matches index.docker.io/acme/app); the warnings name
// globs that can never match an image.
func compileGlobs(src, path string, patterns []string) ([]Glob, []string, error) {
	if len(patterns) == 0 {
		return nil, nil, fieldError(src, path, "list at least one image glob (\"**\" for every image)")
	}
	out := make([]Glob, 0, len(patterns))
	var warnings []string
	for i, p := range patterns {
		field := fmt.Sprintf("%s[%d]", path, i)
		canonical := evidence.CanonicalRepository(p)
		g, err := CompileGlob(canonical)
		if err != nil {
			return nil, nil, fieldError(src, field, "%v", err)
		}
		g.Pattern = p
		if why := neverMatches(canonical); why != "" {
			warnings = append(warnings, fmt.Sprintf("%s: %s %q never matches an image: %s", src, field, p, why))
		}
		out = append(out, g)
	}
	return out, warnings, nil
}

// neverMatches says why an image glob (canonical) can match no image name
// as the webhook and the gates spell them, or "".
func neverMatches(glob string) string {
	if glob == "*" || glob == "*/*" || strings.HasPrefix(glob, "**") {
		return ""
	}
	host, rest, ok := strings.Cut(glob, "/")
	switch {
	case !ok && !strings.Contains(glob, "*"):
		return "an image name has a registry host and a repository path; write host/path (index.docker.io/library/" + glob + " for Docker Hub)"
	case !strings.Contains(host, "*") && !evidence.LooksLikeHost(host):
		return fmt.Sprintf("%q is not a registry host (images are named host/path); for Docker Hub write index.docker.io/%s", host, glob)
	case strings.ToLower(rest) != rest:
		return "repository paths are lower case"
	case strings.Contains(rest, "//") || strings.HasSuffix(glob, "/"):
		return "it has an empty path segment"
	}
	return ""
}
