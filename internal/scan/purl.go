// Package scan matches components against advisories: purl → OSV package,
// OSV ranges evaluated with each ecosystem's version order, one finding per
// (component, vulnerability) with aliases merged, CVSS severity, VEX and
// expiring ignore rules, and gates.
package scan

import (
	"fmt"
	"net/url"
	"regexp"
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
	if release == "" || slices.Contains(p.Releases, release) {
		return true
	}
	// Red Hat names a product stream: "enterprise_linux:9::appstream".
	if p.Ecosystem == "Red Hat" {
		parts := strings.Split(release, ":")
		return len(parts) > 1 && slices.Contains(p.Releases, parts[1])
	}
	return false
}

// coveredBy says whether the database holds records for the package's
// ecosystem and release (coverage: the ecosystems the records name). A
// record for the whole ecosystem ("Debian" without release) is not data
// about one release.
func (p Package) coveredBy(coverage map[string]bool) bool {
	if len(p.Releases) == 0 {
		return coverage[p.Ecosystem]
	}
	for e := range coverage {
		eco, release, ok := strings.Cut(e, ":")
		if ok && eco == p.Ecosystem && release != "" && p.inRelease(release) {
			return true
		}
	}
	return false
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
		release, err := rpmRelease(eco, q["distro"])
		if err != nil {
			return Package{}, err
		}
		version := p.Version
		if e := q["epoch"]; e != "" && e != "0" && !strings.Contains(version, ":") {
			version = e + ":" + version
		}
		// RPM advisories name binary packages; the upstream qualifier is a source RPM file name.
		return Package{Ecosystem: eco, Releases: []string{release}, Name: p.Name, Version: version}, nil
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

var debDistros = map[string]string{"debian": "Debian", "ubuntu": "Ubuntu"}

var apkDistros = map[string]string{"alpine": "Alpine", "wolfi": "Wolfi", "chainguard": "Chainguard"}

func mapDistro(p packageurl.PackageURL, q map[string]string, ecosystems map[string]string) (Package, error) {
	eco, ok := ecosystems[strings.ToLower(p.Namespace)]
	if !ok {
		return Package{}, fmt.Errorf("%s distribution %q has no OSV ecosystem", p.Type, p.Namespace)
	}
	pkg := Package{Ecosystem: eco, Name: sourceName(p.Name, q), Version: p.Version}
	if _, v, ok := strings.Cut(q["upstream"], "@"); ok && v != "" {
		// the source package has its own version (binNMUs, Alpine origins)
		pkg.Version = v
	}
	releases, err := distroReleases(eco, q["distro"], pkg.Version)
	if err != nil {
		return Package{}, err
	}
	pkg.Releases = releases
	return pkg, nil
}

// distroReleases names the OSV releases of a Debian, Ubuntu or Alpine
// package from its purl's distro qualifier ("ubuntu-22.04", "debian-12",
// "alpine-3.18.4", or a codename as in "debian-bookworm"). A release it
// cannot name is an error, never every release: sid's openssl must not be
// judged by an advisory about buster.
func distroReleases(eco, distro, version string) ([]string, error) {
	if eco == "Wolfi" || eco == "Chainguard" {
		return nil, nil // rolling: advisories carry no release
	}
	_, release, _ := strings.Cut(strings.ToLower(distro), "-")
	if i := strings.LastIndex(release, "/"); i >= 0 {
		release = release[i+1:] // "esm-infra/xenial"
	}
	switch eco {
	case "Debian":
		if release == "" || release == "sid" || release == "unstable" || release == "testing" {
			return nil, fmt.Errorf("debian release %q is testing or unstable (sid) or unnamed: OSV has advisories for stable releases only", distro)
		}
		if r, ok := debianCodenames[release]; ok {
			return []string{r}, nil
		}
		major, _, _ := strings.Cut(release, ".") // "12.5" → "12"
		if !isDigits(major) {
			return nil, fmt.Errorf("debian release %q is not one dossier can name", distro)
		}
		return []string{major}, nil
	case "Ubuntu":
		if r, ok := ubuntuCodenames[release]; ok {
			release = r
		}
		year, month, ok := strings.Cut(release, ".")
		if !ok || len(year) != 2 || len(month) != 2 || !isDigits(year) || !isDigits(month) {
			return nil, fmt.Errorf("ubuntu release %q is not one dossier can name", distro)
		}
		if month != "04" || (year[1]-'0')%2 != 0 {
			return []string{release}, nil // an interim release
		}
		releases := []string{release + ":LTS", release}
		if strings.Contains(version, "+esm") {
			// built for Ubuntu Pro (ESM): its advisories are Pro's
			releases = append([]string{"Pro:" + release + ":LTS"}, releases...)
		}
		return releases, nil
	case "Alpine":
		release = strings.TrimLeft(release, "vV")
		if release == "edge" {
			return []string{"edge"}, nil
		}
		major, rest, _ := strings.Cut(release, ".")
		minor, _, _ := strings.Cut(rest, ".")
		minor, _, _ = strings.Cut(minor, "_") // "3.21_alpha20240807"
		if !isDigits(major) || !isDigits(minor) {
			return nil, fmt.Errorf("alpine release %q is not one dossier can name", distro)
		}
		return []string{"v" + major + "." + minor}, nil
	}
	return nil, fmt.Errorf("%s releases are not named by dossier", eco)
}

var debianCodenames = map[string]string{
	"wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11",
	"bookworm": "12", "trixie": "13", "forky": "14", "duke": "15",
}

var ubuntuCodenames = map[string]string{
	"precise": "12.04", "quantal": "12.10", "raring": "13.04", "trusty": "14.04", "utopic": "14.10",
	"vivid": "15.04", "wily": "15.10", "xenial": "16.04", "yakkety": "16.10", "zesty": "17.04",
	"artful": "17.10", "bionic": "18.04", "cosmic": "18.10", "disco": "19.04", "eoan": "19.10",
	"focal": "20.04", "groovy": "20.10", "hirsute": "21.04", "impish": "21.10", "jammy": "22.04",
	"kinetic": "22.10", "lunar": "23.04", "mantic": "23.10", "noble": "24.04", "oracular": "24.10",
	"plucky": "25.04", "questing": "25.10", "resolute": "26.04",
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
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

var rpmDistroQualifier = regexp.MustCompile(`^([A-Za-z]+)-([0-9]+)(\.[0-9.]*)?$`)

// rpmRelease reads the major release the advisories of eco name from a
// distro qualifier ("almalinux-9.4" → "9", "rhel-8.10" → "8").
func rpmRelease(eco, distro string) (string, error) {
	switch eco {
	case "openSUSE", "SUSE", "openEuler":
		// their ecosystems name products and service packs ("openSUSE:Leap 15.6"), not a major release
		return "", fmt.Errorf("%s releases are not named by dossier yet", eco)
	}
	d := rpmDistroQualifier.FindStringSubmatch(distro)
	if d == nil {
		return "", fmt.Errorf("rpm distro %q names no release dossier can read", distro)
	}
	return d[2], nil
}

// Matched says whether components are matched against advisories of
// ecosystem (without release): records of any other are imported but
// never used.
func Matched(ecosystem string) bool {
	if ecosystem == "Go" || ecosystem == "Maven" {
		return true
	}
	for _, m := range []map[string]string{simpleTypes, debDistros, apkDistros, rpmDistros} {
		for _, eco := range m {
			if eco == ecosystem {
				_, err := rpmRelease(eco, "x-1")
				return err == nil || !strings.Contains(err.Error(), "not named")
			}
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
