package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Kyverno's wildcards (its ext/wildcard, IGLOU-EU/go-wildcard): "*" is any
// run of characters, "/" included, "?" is one character, the whole string
// must match, case-sensitively, and there is no escaping.

// wildcardRegexp compiles a Kyverno wildcard pattern.
func wildcardRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String()) // every literal is quoted
}

// wildcardMatch reports whether name matches a Kyverno wildcard pattern.
func wildcardMatch(pattern, name string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == name
	}
	re, _ := regexps.get(pattern, func(p string) (*regexp.Regexp, error) { return wildcardRegexp(p), nil })
	return re.MatchString(name)
}

// compileWildcard makes an image pattern of a Kyverno policy a Glob.
func compileWildcard(pattern string) (Glob, error) {
	if pattern == "" {
		return Glob{}, fmt.Errorf("empty image reference")
	}
	if len(pattern) > 512 {
		return Glob{}, fmt.Errorf("longer than 512 characters")
	}
	return Glob{Pattern: pattern, re: wildcardRegexp(pattern)}, nil
}

// kyvernoImageNames are the names Kyverno matches an image by: the
// reference as written, normalized as Kyverno does (registry added,
// "latest" when no tag; a digest drops the tag), and the subject
// repository@digest. Docker Hub is docker.io, with and without library/.
func kyvernoImageNames(ev *evidence.Collected) []string {
	var out []string
	add := func(repo, suffix string) {
		host, path, _ := strings.Cut(repo, "/")
		if host != evidence.DockerHub {
			out = append(out, repo+suffix)
			return
		}
		out = append(out, "docker.io/"+path+suffix)
		if short, ok := strings.CutPrefix(path, "library/"); ok {
			out = append(out, "docker.io/"+short+suffix)
		}
	}
	if ev.Reference != "" {
		name, digest, hasDigest := strings.Cut(ev.Reference, "@")
		tag := "latest"
		if repo, t, ok := splitKyvernoTag(name); ok {
			name, tag = repo, t
		}
		if hasDigest {
			add(kyvernoRepository(name), "@"+digest)
		} else {
			add(kyvernoRepository(name), ":"+tag)
		}
	}
	if ev.Subject.Digest != "" {
		add(evidence.CanonicalRepository(ev.Subject.Repository), "@"+ev.Subject.Digest)
	}
	return out
}

// kyvernoRepository is the canonical repository of an image name: on
// Docker Hub when its first segment is no registry host.
func kyvernoRepository(name string) string {
	if first, _, ok := strings.Cut(name, "/"); !ok || !evidence.LooksLikeHost(first) {
		return evidence.CanonicalRepository(evidence.DockerHub + "/" + name)
	}
	return evidence.CanonicalRepository(name)
}
