package scan

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// IgnoreRule is an exception with an owner, a reason and an expiry,
// optionally narrowed to one package and one image digest.
type IgnoreRule struct {
	ID string `yaml:"id"`
	// Package is a purl (with or without version) or a package name.
	Package string `yaml:"package"`
	// Digest limits the rule to one image: "sha256:…" or repository@sha256:….
	Digest  string `yaml:"digest"`
	Reason  string `yaml:"reason"`
	Owner   string `yaml:"owner"`
	Expires string `yaml:"expires"`

	expires time.Time
}

// IgnoreRules is a loaded ignore file.
type IgnoreRules struct {
	path  string
	rules []IgnoreRule
}

// LoadIgnoreFile reads rules from YAML of the form `ignore: [ {id, …}, … ]`.
// Every rule needs an id, a reason, an owner and an expiry date: an
// exception nobody owns and that never ends is refused.
func LoadIgnoreFile(path string) (*IgnoreRules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		Ignore []IgnoreRule `yaml:"ignore"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range file.Ignore {
		r := &file.Ignore[i]
		var missing []string
		for _, f := range []struct{ name, value string }{{"id", r.ID}, {"reason", r.Reason}, {"owner", r.Owner}, {"expires", r.Expires}} {
			if strings.TrimSpace(f.value) == "" {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: ignore[%d] (%s): missing %s", path, i, r.ID, strings.Join(missing, ", "))
		}
		t, err := parseExpiry(r.Expires)
		if err != nil {
			return nil, fmt.Errorf("%s: ignore[%d] (%s): expires: %w", path, i, r.ID, err)
		}
		r.expires = t
		if r.Digest != "" && !evidence.ValidDigest(digestOf(r.Digest)) {
			return nil, fmt.Errorf("%s: ignore[%d] (%s): digest %q is not sha256:<hex> or repository@sha256:<hex>", path, i, r.ID, r.Digest)
		}
	}
	return &IgnoreRules{path: path, rules: file.Ignore}, nil
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("want a date (2026-12-31) or an RFC 3339 time")
	}
	return t.Add(24*time.Hour - time.Nanosecond), nil // the whole day
}

func digestOf(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Apply suppresses the findings rules cover and returns warnings for rules
// that have expired (and so no longer apply).
func (ir *IgnoreRules) Apply(findings []evidence.Finding, subject *evidence.Subject, now time.Time) []string {
	var warnings []string
	for _, r := range ir.rules {
		if now.After(r.expires) {
			warnings = append(warnings, fmt.Sprintf("%s: ignore rule for %s (owner %s) expired on %s and no longer applies", ir.path, r.ID, r.Owner, r.Expires))
		}
	}
	for i := range findings {
		f := &findings[i]
		if f.Suppression != nil {
			continue
		}
		for _, r := range ir.rules {
			if now.After(r.expires) || !r.covers(f, subject) {
				continue
			}
			f.Suppression = &evidence.Suppression{Kind: "ignore", Reason: r.Reason, Owner: r.Owner, Expires: r.Expires, Source: ir.path}
			break
		}
	}
	return warnings
}

func (r IgnoreRule) covers(f *evidence.Finding, subject *evidence.Subject) bool {
	if !slices.Contains(f.IDs(), r.ID) {
		return false
	}
	if r.Digest != "" {
		// a digest-scoped rule never applies to another digest, nor when the
		// scanned artifact has none
		if subject == nil || subject.Digest != digestOf(r.Digest) {
			return false
		}
		if strings.Contains(r.Digest, "@") && r.Digest != subject.String() {
			return false
		}
	}
	return r.Package == "" || packageMatches(r.Package, f.Component)
}

// packageMatches compares a rule's package (purl, with or without version,
// or plain name) with a component.
func packageMatches(want string, c evidence.Component) bool {
	if !strings.HasPrefix(want, "pkg:") {
		return want == c.Name
	}
	w, err := packageurl.FromString(want)
	if err != nil {
		return false
	}
	have, err := packageurl.FromString(c.PURL)
	if err != nil {
		return false
	}
	return w.Type == have.Type && w.Namespace == have.Namespace && w.Name == have.Name &&
		(w.Version == "" || w.Version == have.Version)
}
