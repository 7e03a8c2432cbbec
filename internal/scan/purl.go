// Package scan matches components against advisories: purl → OSV package,
// OSV ranges evaluated with each ecosystem's version order, one finding per
// (component, vulnerability) with aliases merged, CVSS severity, VEX and
// expiring ignore rules, and gates.
package scan

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Package is a component as the advisory database names it.
type Package struct {
	// Ecosystem is the OSV ecosystem without release ("Debian").
	Ecosystem string
	// Release is the distribution release ("12", "v3.18", "9"), if any.
	Release string
	Name    string
	Version string
}

// osvEcosystem names the advisory ecosystem, with release when known.
func (p Package) osvEcosystem() string {
	if p.Release == "" {
		return p.Ecosystem
	}
	return p.Ecosystem + ":" + p.Release
}

var rpmDistros = map[string]string{
	"almalinux": "AlmaLinux",
	"rocky":     "Rocky Linux",
	"redhat":    "Red Hat",
	"opensuse":  "openSUSE",
	"suse":      "SUSE",
	"openeuler": "openEuler",
	"mageia":    "Mageia",
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
			return Package{Ecosystem: "Go", Name: "stdlib", Version: strings.TrimPrefix(p.Version, "go")}, nil
		}
		return Package{Ecosystem: "Go", Name: joined, Version: p.Version}, nil
	case "maven":
		if p.Namespace == "" {
			return Package{}, fmt.Errorf("maven purl without group id")
		}
		return Package{Ecosystem: "Maven", Name: p.Namespace + ":" + p.Name, Version: p.Version}, nil
	case "deb":
		return mapDistro(p, q, debDistros)
	case "apk":
		return mapDistro(p, q, apkDistros)
	case "rpm":
		eco, ok := rpmDistros[strings.ToLower(p.Namespace)]
		if !ok {
			return Package{}, fmt.Errorf("rpm distribution %q has no OSV ecosystem", p.Namespace)
		}
		version := p.Version
		if e := q["epoch"]; e != "" && e != "0" && !strings.Contains(version, ":") {
			version = e + ":" + version
		}
		// RPM advisories name binary packages; the upstream qualifier is a source RPM file name.
		return Package{Ecosystem: eco, Release: rpmRelease(q["distro"]), Name: p.Name, Version: version}, nil
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

var debDistros = map[string]string{"debian": "Debian", "ubuntu": "Ubuntu"}

var apkDistros = map[string]string{"alpine": "Alpine", "wolfi": "Wolfi", "chainguard": "Chainguard"}

var distroQualifier = regexp.MustCompile(`^([a-z]+)-(.+)$`)

func mapDistro(p packageurl.PackageURL, q map[string]string, ecosystems map[string]string) (Package, error) {
	eco, ok := ecosystems[strings.ToLower(p.Namespace)]
	if !ok {
		return Package{}, fmt.Errorf("%s distribution %q has no OSV ecosystem", p.Type, p.Namespace)
	}
	pkg := Package{Ecosystem: eco, Name: sourceName(p.Name, q), Version: p.Version}
	if d := distroQualifier.FindStringSubmatch(q["distro"]); d != nil {
		rel := d[2]
		switch eco {
		case "Debian": // "12.15" → "12"
			rel, _, _ = strings.Cut(rel, ".")
		case "Alpine": // "3.18.4" → "v3.18"
			if parts := strings.Split(rel, "."); len(parts) >= 2 {
				rel = "v" + parts[0] + "." + parts[1]
			}
		case "Wolfi", "Chainguard": // rolling: advisories carry no release
			rel = ""
		}
		pkg.Release = rel
	}
	if _, v, ok := strings.Cut(q["upstream"], "@"); ok && v != "" {
		// the source package has its own version (binNMUs, Alpine origins)
		pkg.Version = v
	}
	return pkg, nil
}

// sourceName is the source (Debian) or origin (Alpine) package the
// advisories name, from the purl's upstream qualifier.
func sourceName(name string, q map[string]string) string {
	if up := q["upstream"]; up != "" {
		n, _, _ := strings.Cut(up, "@")
		return n
	}
	return name
}

// rpmRelease reads "almalinux-9.4" → "9".
func rpmRelease(distro string) string {
	d := distroQualifier.FindStringSubmatch(distro)
	if d == nil {
		return ""
	}
	major, _, _ := strings.Cut(d[2], ".")
	return major
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
