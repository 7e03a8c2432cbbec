// Package version orders version strings with each ecosystem's own rules
// (SemVer and Go pseudo-versions, npm, PEP 440, Maven, dpkg, apk, rpm,
// RubyGems, NuGet, Packagist, crates), using osv-scalibr's semantic
// package — what osv-scanner matches with — plus the Alpine release rule
// it lacks.
package version

import (
	"fmt"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// Version is a parsed version of one ecosystem.
type Version struct {
	ecosystem string
	raw       string
	v         semantic.Version
}

// Parse reads s as a version of ecosystem ("Go", "Debian:12", "PyPI", …).
func Parse(ecosystem, s string) (Version, error) {
	base, _, _ := strings.Cut(ecosystem, ":")
	order := base
	if o, ok := sameOrder[base]; ok {
		order = o
	}
	v, err := parseSafely(s, order)
	if err != nil {
		return Version{}, fmt.Errorf("%s version %q: %w", base, s, err)
	}
	return Version{ecosystem: base, raw: s, v: v}, nil
}

// sameOrder are ecosystems whose versions order as another's: their
// packages are RPMs or Debian packages.
var sameOrder = map[string]string{"Photon OS": "Red Hat", "Azure Linux": "Red Hat", "Echo": "Debian"}

// parseSafely guards against panics in the parser on hostile strings.
func parseSafely(s, ecosystem string) (v semantic.Version, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("unparseable: %v", r)
		}
	}()
	return semantic.Parse(s, ecosystem)
}

// String is the version as given.
func (v Version) String() string { return v.raw }

// Compare orders v against other (same ecosystem): -1, 0 or +1.
func (v Version) Compare(other string) (c int, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = 0, fmt.Errorf("%s versions %q and %q: unorderable: %v", v.ecosystem, v.raw, other, r)
		}
	}()
	c, err = v.v.CompareStr(other)
	if err != nil {
		return 0, fmt.Errorf("%s version %q: %w", v.ecosystem, other, err)
	}
	if c == 0 && isAPK(v.ecosystem) {
		// apk orders 1.2.3-r0 after 1.2.3; the semantic package calls them equal.
		return compareAPKRelease(v.raw, other), nil
	}
	return c, nil
}

// Compare orders a against b in ecosystem.
func Compare(ecosystem, a, b string) (int, error) {
	v, err := Parse(ecosystem, a)
	if err != nil {
		return 0, err
	}
	return v.Compare(b)
}

func isAPK(ecosystem string) bool {
	switch ecosystem {
	case "Alpine", "Alpaquita", "BellSoft Hardened Containers", "Chainguard", "MinimOS", "Wolfi":
		return true
	}
	return false
}

func compareAPKRelease(a, b string) int {
	ha, hb := strings.Contains(a, "-r"), strings.Contains(b, "-r")
	switch {
	case ha && !hb:
		return 1
	case hb && !ha:
		return -1
	}
	return 0
}

// Ecosystem is the ecosystem the version was parsed for.
func (v Version) Ecosystem() string { return v.ecosystem }

// CompareVersion orders v against other, both already parsed for the same
// ecosystem (cheaper than Compare when other is reused).
func (v Version) CompareVersion(other Version) (c int, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = 0, fmt.Errorf("%s versions %q and %q: unorderable: %v", v.ecosystem, v.raw, other.raw, r)
		}
	}()
	c, err = v.v.Compare(other.v)
	if err != nil {
		return 0, fmt.Errorf("%s versions %q and %q: %w", v.ecosystem, v.raw, other.raw, err)
	}
	if c == 0 && isAPK(v.ecosystem) {
		return compareAPKRelease(v.raw, other.raw), nil
	}
	return c, nil
}
