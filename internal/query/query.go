// Package query holds what a responder's questions need beyond the
// evidence store: component specs with version ranges filtered in each
// ecosystem's order, bounded identity expressions, times as given, and
// where a tag pointed at a time. The store answers the rest.
package query

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/version"
)

// Constraint is one comparison of a version range: "<4.17.21", ">=1.0".
type Constraint struct {
	Op      string
	Version string
}

// ComponentSpec is "PURL|NAME[@RANGE]": a purl without version or a
// package name, and comparisons that all must hold.
type ComponentSpec struct {
	What  string
	Range []Constraint
}

var ops = []string{"<=", ">=", "!=", "<", ">", "="}

// ParseComponent reads "pkg:npm/lodash", "pkg:npm/lodash@<4.17.21",
// "lodash@>=4.0.0,<4.17.21" or "xz-utils". A version without operator
// means equal.
func ParseComponent(s string) (ComponentSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ComponentSpec{}, fmt.Errorf("component: give a purl or a package name")
	}
	hasRange := strings.Contains(s, "@")
	what, rng := evidence.SplitPURL(s)
	spec := ComponentSpec{What: what}
	if what == "" || what == "pkg:" {
		return ComponentSpec{}, fmt.Errorf("component %q: no package named", s)
	}
	if !hasRange {
		return spec, nil
	}
	for _, part := range strings.Split(rng, ",") {
		part = strings.TrimSpace(part)
		c := Constraint{Op: "=", Version: part} // a bare version means equal
		for _, op := range ops {
			if rest, ok := strings.CutPrefix(part, op); ok {
				c = Constraint{Op: op, Version: strings.TrimSpace(rest)}
				break
			}
		}
		if c.Version == "" {
			return ComponentSpec{}, fmt.Errorf("component %q: empty version in range %q (want e.g. <4.17.21 or >=1.0,<2.0)", s, rng)
		}
		spec.Range = append(spec.Range, c)
	}
	return spec, nil
}

// ComponentStore is what Components asks of the evidence store.
type ComponentStore interface {
	Components(ctx context.Context, q store.ComponentQuery) (store.ComponentPage, error)
}

// Components finds the digests holding the component, in range: the
// store offers each stored version of each package the spec names, and
// the range decides in that package's ecosystem order.
func Components(ctx context.Context, st ComponentStore, spec ComponentSpec, page store.Page) (store.ComponentPage, error) {
	q := store.ComponentQuery{What: spec.What, Page: page}
	if len(spec.Range) > 0 {
		q.Accept = func(base, version string) (bool, error) { return inRange(base, version, spec.Range) }
	}
	return st.Components(ctx, q)
}

// inRange compares a package's version in its ecosystem's order.
func inRange(base, v string, rng []Constraint) (bool, error) {
	ecosystem, err := scan.VersionOrder(base + "@" + v)
	if err != nil {
		return false, fmt.Errorf("ordering %s %s: %w", base, v, err)
	}
	for _, c := range rng {
		cmp, err := version.Compare(ecosystem, v, c.Version)
		if err != nil {
			return false, fmt.Errorf("comparing %s %s with %s: %w", base, v, c.Version, err)
		}
		var ok bool
		switch c.Op {
		case "<":
			ok = cmp < 0
		case "<=":
			ok = cmp <= 0
		case ">":
			ok = cmp > 0
		case ">=":
			ok = cmp >= 0
		case "!=":
			ok = cmp != 0
		default:
			ok = cmp == 0
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// maxExpression bounds an identity expression (Go's expressions run in
// linear time; the bound keeps compiled programs small).
const maxExpression = 1024

// IdentityExpression compiles an identity regular expression.
func IdentityExpression(expr string) (*regexp.Regexp, error) {
	if len(expr) > maxExpression {
		return nil, fmt.Errorf("identity expression longer than %d characters", maxExpression)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("identity expression %q: %w", expr, err)
	}
	return re, nil
}

// ParseTime reads an RFC 3339 time or a date (midnight UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-11-20T10:00:00Z) or a date (2026-11-20)", s)
	}
	return t, nil
}

// TagAt is the move in effect at t: the last one observed at or before t.
func TagAt(history []store.TagMove, t time.Time) (store.TagMove, bool) {
	var found store.TagMove
	ok := false
	for _, m := range history {
		if m.ObservedAt.After(t) {
			break
		}
		found, ok = m, true
	}
	return found, ok
}
