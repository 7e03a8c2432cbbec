// Package scan matches components against advisories: purl → OSV package,
// OSV ranges evaluated with each ecosystem's version order, one finding per
// (component, vulnerability) with aliases merged, CVSS severity, VEX and
// expiring ignore rules, and gates.
package scan

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Package is a component as the advisory database names it.
type Package struct {
	// Ecosystem is the OSV ecosystem without release ("Debian").
	Ecosystem string
	// Releases are the release parts of the OSV ecosystems whose records
	// apply to it, the one it is named by first ("22.04:LTS", "22.04");
	// none for an ecosystem without releases (npm, Wolfi).
	Releases []string
	Name     string
	Version  string
}

// osvEcosystem names the advisory ecosystem, with release when known.
func (p Package) osvEcosystem() string {
	if len(p.Releases) == 0 {
		return p.Ecosystem
	}
	return p.Ecosystem + ":" + p.Releases[0]
}

// inRelease says whether an advisory's release (the part of its ecosystem
// after the first ":") is one of the package's. An advisory without a
// release names every release; a package of an ecosystem with releases
// always has one (MapPURL refuses it otherwise).
func (p Package) inRelease(release string) bool {
	return release == "" || releaseMatches(p.Ecosystem, p.Releases, release)
}

// coverage is what the database holds records for: the releases each
// ecosystem's records name ("22.04:LTS"; "" for records of the whole
// ecosystem), by ecosystem ("Ubuntu").
type coverage map[string][]string

// coverageOf indexes the ecosystems the records name, releases included
// (Advisories.Coverage), by ecosystem.
func coverageOf(ecosystems map[string]bool) coverage {
	c := coverage{}
	for e := range ecosystems {
		eco, release, _ := strings.Cut(e, ":")
		c[eco] = append(c[eco], release)
	}
	return c
}

// coveredBy says whether the database holds records for the package's
// ecosystem and release. A record for the whole ecosystem ("Debian"
// without release) is not data about one release.
func (p Package) coveredBy(c coverage) bool {
	if len(p.Releases) == 0 {
		return slices.Contains(c[p.Ecosystem], "")
	}
	return slices.ContainsFunc(c[p.Ecosystem], func(release string) bool { return release != "" && p.inRelease(release) })
}

var simpleTypes = map[string]string{
	"npm":      "npm",
	"pypi":     "PyPI",
	"cargo":    "crates.io",
	"gem":      "RubyGems",
	"nuget":    "NuGet",
	"composer": "Packagist",
	"hex":      "Hex",
	"pub":      "Pub",
	"hackage":  "Hackage",
	"cran":     "CRAN",
	"swift":    "SwiftURL",
}

// MapPURL turns a component purl into the advisory package to look up,
// or says why it cannot.
func MapPURL(purl string) (Package, error) {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return Package{}, fmt.Errorf("malformed purl: %w", err)
	}
	if p.Version == "" {
		return Package{}, fmt.Errorf("no version")
	}
	q := p.Qualifiers.Map()
	joined := p.Name
	if p.Namespace != "" {
		joined = p.Namespace + "/" + p.Name
	}
	switch p.Type {
	case "golang":
		// packageurl-go lowercases golang names; module paths are case-sensitive.
		joined = rawPath(purl)
		if p.Name == "stdlib" && p.Namespace == "" {
			// Go binaries record the toolchain as "go1.22.1"; OSV writes "1.22.1".
			v := strings.TrimPrefix(p.Version, "go")
			if v == "" {
				return Package{}, fmt.Errorf("no version")
			}
			return Package{Ecosystem: "Go", Name: "stdlib", Version: v}, nil
		}
		return Package{Ecosystem: "Go", Name: joined, Version: p.Version}, nil
	case "maven":
		if p.Namespace == "" {
			return Package{}, fmt.Errorf("maven purl without group id")
		}
		return Package{Ecosystem: "Maven", Name: p.Namespace + ":" + p.Name, Version: p.Version}, nil
	case "deb", "apk", "rpm":
		return mapDistribution(p, q)
	}
	if eco, ok := simpleTypes[p.Type]; ok {
		name := joined
		if eco == "PyPI" {
			name = vulndb.NormalizeName("PyPI", p.Name)
		}
		return Package{Ecosystem: eco, Name: name, Version: p.Version}, nil
	}
	return Package{}, fmt.Errorf("purl type %q has no OSV ecosystem", p.Type)
}

// VersionOrder is the ecosystem whose version order ranks purl's version.
// Unlike MapPURL it needs no release: a Debian version orders the same in
// every Debian release, and a responder's range query names no release.
func VersionOrder(purl string) (string, error) {
	if pkg, err := MapPURL(purl); err == nil {
		return pkg.Ecosystem, nil
	}
	p, err := packageurl.FromString(purl)
	if err != nil {
		return "", fmt.Errorf("malformed purl: %w", err)
	}
	switch p.Type {
	case "deb":
		return "Debian", nil
	case "apk":
		return "Alpine", nil
	case "rpm":
		return "Red Hat", nil
	}
	return "", fmt.Errorf("purl type %q has no version order dossier knows", p.Type)
}

// Matched says whether components are matched against advisories of
// ecosystem (without release): records of any other are imported but
// never used.
func Matched(ecosystem string) bool {
	if ecosystem == "Go" || ecosystem == "Maven" || slices.Contains(slices.Collect(maps.Values(simpleTypes)), ecosystem) {
		return true
	}
	for _, d := range distributions {
		if d.ecosystem == ecosystem {
			return true
		}
	}
	return false
}

// rawPath returns a purl's namespace/name exactly as written, unescaped.
func rawPath(purl string) string {
	rest := strings.TrimPrefix(purl, "pkg:")
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[:i]
	}
	segments := strings.Split(strings.Trim(rest, "/"), "/")[1:] // drop the type
	for i, s := range segments {
		if u, err := url.PathUnescape(s); err == nil {
			segments[i] = u
		}
	}
	return strings.Join(segments, "/")
}

// PackageKey is the advisory-index key of a component's package
// ("npm/lodash"), or "" when its purl cannot be matched.
func PackageKey(c evidence.Component) string {
	pkg, err := MapPURL(c.PURL)
	if err != nil {
		return ""
	}
	return vulndb.PackageKey(pkg.Ecosystem, pkg.Name)
}
