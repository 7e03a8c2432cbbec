package policy

import (
	"fmt"
	"regexp"
	"strings"
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
// each that fails.
func compileGlobs(src, path string, patterns []string) ([]Glob, error) {
	if len(patterns) == 0 {
		return nil, fieldError(src, path, "list at least one image glob (\"**\" for every image)")
	}
	out := make([]Glob, 0, len(patterns))
	for i, p := range patterns {
		g, err := CompileGlob(p)
		if err != nil {
			return nil, fieldError(src, fmt.Sprintf("%s[%d]", path, i), "%v", err)
		}
		out = append(out, g)
	}
	return out, nil
}
