package scan

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/package-url/packageurl-go"
)

// distribution is how OSV names one operating system's packages: its
// ecosystem, the releases of it a package's records are filed under, and
// whether records name source packages (from the purl's upstream
// qualifier) and write RPM epochs.
type distribution struct {
	ecosystem string
	// releases names the OSV releases of a package, the one it is named by
	// first, from the distro qualifier's version and the package's own
	// version (the qualifier as written names it in errors); none for a
	// rolling distribution. A release it cannot name is an error, never
	// every release.
	releases func(distro, version, pkgVersion string) ([]string, error)
	// source: records name the source package, not the binary
	source bool
	// epoch: records write a non-zero RPM epoch in versions
	epoch bool
}

// distributions are keyed by the os-release ID syft writes into the
// distro qualifier ("distro=opensuse-leap-15.6"), as OSV names them
// (osv-scalibr's ecosystem mapping is the reference; where dossier
// differs, TestOperatingSystemEcosystems says why).
var distributions = map[string]distribution{
	"debian":                       {ecosystem: "Debian", releases: debianReleases, source: true},
	"ubuntu":                       {ecosystem: "Ubuntu", releases: ubuntuReleases, source: true},
	"echo":                         {ecosystem: "Echo", source: true}, // rolling, on Debian's source packages
	"alpine":                       {ecosystem: "Alpine", releases: alpineReleases, source: true},
	"wolfi":                        {ecosystem: "Wolfi"},
	"chainguard":                   {ecosystem: "Chainguard"},
	"minimos":                      {ecosystem: "MinimOS"},
	"alpaquita":                    {ecosystem: "Alpaquita", releases: asWritten, source: true},
	"bellsoft-hardened-containers": {ecosystem: "BellSoft Hardened Containers", releases: asWritten, source: true},
	"rhel":                         {ecosystem: "Red Hat", releases: redHatReleases, epoch: true},
	"almalinux":                    {ecosystem: "AlmaLinux", releases: majorRelease, epoch: true},
	"rocky":                        {ecosystem: "Rocky Linux", releases: majorRelease, epoch: true},
	"mageia":                       {ecosystem: "Mageia", releases: asWritten, source: true},
	"photon":                       {ecosystem: "Photon OS", releases: asWritten, source: true},
	"azurelinux":                   {ecosystem: "Azure Linux", releases: majorRelease, source: true},
	"mariner":                      {ecosystem: "Azure Linux", releases: majorRelease, source: true}, // CBL-Mariner is Azure Linux 1 and 2
	"openeuler":                    {ecosystem: "openEuler", releases: openEulerReleases, source: true},
	"opensuse-leap":                {ecosystem: "openSUSE", releases: productRelease("Leap %s"), source: true},
	"opensuse-leap-micro":          {ecosystem: "openSUSE", releases: productRelease("Leap Micro %s"), source: true},
	"opensuse-tumbleweed":          {ecosystem: "openSUSE", releases: fixedRelease("Tumbleweed"), source: true},
	"sles":                         {ecosystem: "SUSE", releases: slesReleases, source: true},
	"sle-micro":                    {ecosystem: "SUSE", releases: productRelease("Linux Enterprise Micro %s"), source: true},
	"sl-micro":                     {ecosystem: "SUSE", releases: productRelease("Linux Micro %s"), source: true},
}

// namespaces are the distributions' ecosystems by the purl's namespace
// (syft writes the os-release ID, Red Hat's as "redhat" and every
// openSUSE's as "opensuse").
var namespaces = map[string]map[string]string{
	"deb": {"debian": "Debian", "ubuntu": "Ubuntu", "echo": "Echo"},
	"apk": {"alpine": "Alpine", "wolfi": "Wolfi", "chainguard": "Chainguard", "minimos": "MinimOS", "alpaquita": "Alpaquita",
		"bellsoft-hardened-containers": "BellSoft Hardened Containers"},
	"rpm": {"redhat": "Red Hat", "almalinux": "AlmaLinux", "rocky": "Rocky Linux", "mageia": "Mageia", "photon": "Photon OS",
		"azurelinux": "Azure Linux", "mariner": "Azure Linux", "openeuler": "openEuler", "opensuse": "openSUSE", "suse": "SUSE",
		"sles": "SUSE", "sle-micro": "SUSE", "sl-micro": "SUSE"},
}

// mapDistribution names an operating-system package as its distribution's
// records do.
func mapDistribution(p packageurl.PackageURL, q map[string]string) (Package, error) {
	id, version, err := osRelease(p, q["distro"])
	if err != nil {
		return Package{}, err
	}
	d := distributions[id]
	pkg := Package{Ecosystem: d.ecosystem, Name: p.Name, Version: p.Version}
	if d.source {
		if pkg.Name, pkg.Version, err = sourcePackage(p, q["upstream"]); err != nil {
			return Package{}, err
		}
	}
	if d.epoch {
		if e := q["epoch"]; e != "" && e != "0" && !strings.Contains(pkg.Version, ":") {
			pkg.Version = e + ":" + pkg.Version
		}
	}
	if d.releases != nil {
		if pkg.Releases, err = d.releases(q["distro"], version, pkg.Version); err != nil {
			return Package{}, err
		}
	}
	return pkg, nil
}

// osRelease reads the os-release ID and version of a purl's distro
// qualifier ("opensuse-leap-15.6" → opensuse-leap, 15.6), the longest ID
// dossier knows; without one, only a rolling distribution is named.
func osRelease(p packageurl.PackageURL, distro string) (id, version string, err error) {
	ecosystem, ok := namespaces[p.Type][strings.ToLower(p.Namespace)]
	if !ok {
		return "", "", fmt.Errorf("%s distribution %q has no OSV ecosystem", p.Type, p.Namespace)
	}
	lower := strings.ToLower(distro)
	for candidate := range distributions {
		if (lower == candidate || strings.HasPrefix(lower, candidate+"-")) && len(candidate) > len(id) {
			id, version = candidate, strings.TrimPrefix(lower[len(candidate):], "-")
		}
	}
	switch {
	case id != "" && distributions[id].ecosystem != ecosystem:
		return "", "", fmt.Errorf("%s namespace %q and distro %q name two distributions", p.Type, p.Namespace, distro)
	case id != "":
		return id, version, nil
	case distro != "":
		return "", "", fmt.Errorf("%s distro %q is not one dossier can name", p.Type, distro)
	}
	for candidate, d := range distributions {
		if d.ecosystem == ecosystem && d.releases == nil {
			return candidate, "", nil // rolling: no release to name
		}
	}
	return "", "", fmt.Errorf("%s package of %s without a distro qualifier: its release is unknown", p.Type, ecosystem)
}

// sourcePackage is the source package the records name and its version,
// from the upstream qualifier: "openssl" or "glibc@2.36-9+deb12u1"
// (Debian, Alpine), or a source RPM's file name
// ("openssl-3-3.1.4-150600.5.15.1.src.rpm"); the binary's own when there
// is none. A qualifier that names no source package ("@1.2", "@", an RPM
// name that is no source RPM file) is an error, not the binary's name:
// syft writes the qualifier only when the package database names a source
// (dpkg's Source, rpm's SOURCERPM), so a malformed one says the SBOM names
// a source dossier cannot read, and the binary's name would be a guess.
func sourcePackage(p packageurl.PackageURL, upstream string) (name, version string, err error) {
	if upstream == "" {
		return p.Name, p.Version, nil
	}
	if p.Type == "rpm" {
		if n, v, ok := sourceRPM(upstream); ok {
			return n, v, nil
		}
		return "", "", fmt.Errorf("upstream qualifier %q is not a source RPM file name (name-version-release.src.rpm)", upstream)
	}
	n, v, hasVersion := strings.Cut(upstream, "@")
	if n == "" || hasVersion && v == "" {
		return "", "", fmt.Errorf("upstream qualifier %q names no source package (want name or name@version)", upstream)
	}
	if !hasVersion {
		v = p.Version // the source package has its own version only when given (binNMUs, Alpine origins)
	}
	return n, v, nil
}

// sourceRPM splits a source RPM's file name, name-version-release.src.rpm.
func sourceRPM(file string) (name, version string, ok bool) {
	base, ok := strings.CutSuffix(file, ".src.rpm")
	if !ok {
		base, ok = strings.CutSuffix(file, ".nosrc.rpm")
	}
	if !ok {
		return "", "", false
	}
	r := strings.LastIndex(base, "-")
	if r <= 0 || r == len(base)-1 {
		return "", "", false
	}
	v := strings.LastIndex(base[:r], "-")
	if v <= 0 || v == r-1 {
		return "", "", false
	}
	return base[:v], base[v+1:], true
}

func debianReleases(distro, release, _ string) ([]string, error) {
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
}

func ubuntuReleases(distro, release, version string) ([]string, error) {
	if i := strings.LastIndex(release, "/"); i >= 0 {
		release = release[i+1:] // "esm-infra/xenial"
	}
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
}

func alpineReleases(distro, release, _ string) ([]string, error) {
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

// asWritten is a release as os-release's VERSION_ID writes it ("23",
// "stream", "9", "5.0").
func asWritten(distro, release, _ string) ([]string, error) {
	if release == "" || strings.ContainsAny(release, ": ") {
		return nil, fmt.Errorf("release %q is not one dossier can name", distro)
	}
	return []string{release}, nil
}

// majorRelease is a release by its major version ("9.4" → "9").
func majorRelease(distro, release, _ string) ([]string, error) {
	major, _, _ := strings.Cut(release, ".")
	if !isDigits(major) {
		return nil, fmt.Errorf("release %q is not one dossier can name", distro)
	}
	return []string{major}, nil
}

var elStream = regexp.MustCompile(`\.el([0-9]+)_([0-9]+)`)

// redHatReleases are a RHEL package's major release — Red Hat names
// product streams, "enterprise_linux:9::appstream", matched by it — and,
// when the package was built for a minor release's extended streams
// (".el8_6"), that minor release too: "rhel_eus:8.6", "rhel_aus:8.6".
func redHatReleases(distro, release, pkgVersion string) ([]string, error) {
	releases, err := majorRelease(distro, release, pkgVersion)
	if err != nil {
		return nil, err
	}
	if m := elStream.FindStringSubmatch(pkgVersion); m != nil && m[1] == releases[0] {
		releases = append(releases, m[1]+"."+m[2])
	}
	return releases, nil
}

var openEulerBuild = regexp.MustCompile(`\.oe([0-9]{2})([0-9]{2})(sp[0-9]+)?`)

// openEulerReleases name a package's openEuler release from its build tag
// (".oe2403sp1" → "24.03-LTS-SP1"), which says the service pack that
// os-release's VERSION_ID ("24.03") does not; long-term releases are the
// March releases of even years.
func openEulerReleases(distro, release, pkgVersion string) ([]string, error) {
	if m := openEulerBuild.FindStringSubmatch(pkgVersion); m != nil {
		release = m[1] + "." + m[2]
		if m[3] != "" {
			return []string{release + "-LTS-" + strings.ToUpper(m[3])}, nil
		}
	}
	year, month, ok := strings.Cut(release, ".")
	if !ok || len(year) != 2 || !isDigits(year) || !isDigits(month) {
		return nil, fmt.Errorf("release %q is not one dossier can name", distro)
	}
	if month == "03" && (year[1]-'0')%2 == 0 {
		return []string{release + "-LTS"}, nil
	}
	return []string{release}, nil
}

// productRelease names a SUSE product's release by its name ("Leap 15.6").
func productRelease(format string) func(string, string, string) ([]string, error) {
	return func(distro, release, _ string) ([]string, error) {
		if release == "" || !isDigits(strings.ReplaceAll(release, ".", "")) {
			return nil, fmt.Errorf("release %q is not one dossier can name", distro)
		}
		return []string{fmt.Sprintf(format, release)}, nil
	}
}

func fixedRelease(name string) func(string, string, string) ([]string, error) {
	return func(string, string, string) ([]string, error) { return []string{name}, nil }
}

// slesReleases name the products an SLES image's packages come from: the
// server and its modules, each with the service pack ("15.6" → "15 SP6";
// "Linux Enterprise Module for Basesystem 15 SP6"). Paid streams (LTSS,
// ESPOS) are not chosen: the image does not say it is entitled to them.
func slesReleases(distro, release, _ string) ([]string, error) {
	major, sp, _ := strings.Cut(release, ".")
	if !isDigits(major) || sp != "" && !isDigits(sp) {
		return nil, fmt.Errorf("release %q is not one dossier can name", distro)
	}
	version := major
	if sp != "" && sp != "0" {
		version += " SP" + sp
	}
	return []string{"Linux Enterprise Server " + version, "Linux Enterprise Module for * " + version}, nil
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

// releaseMatches says whether a record's release names one of a
// package's: exactly, by a SUSE module's pattern ("Linux Enterprise
// Module for * 15 SP6"), or, for Red Hat, by a RHEL product stream of the
// package's release ("enterprise_linux:9::appstream", "rhel_eus:8.6::baseos").
func releaseMatches(ecosystem string, releases []string, release string) bool {
	if slices.Contains(releases, release) {
		return true
	}
	switch ecosystem {
	case "SUSE":
		for _, r := range releases {
			if prefix, suffix, ok := strings.Cut(r, "*"); ok && strings.HasPrefix(release, prefix) && strings.HasSuffix(release, suffix) &&
				len(release) > len(prefix)+len(suffix) && !strings.Contains(release[len(prefix):len(release)-len(suffix)], "LTSS") {
				return true
			}
		}
	case "Red Hat":
		return rhelStream(releases, release)
	}
	return false
}

// rhelStreams are the Red Hat products whose streams are RHEL itself, by
// how their version names the release: the mainstream and Extended Life
// Cycle Support streams by the major release ("enterprise_linux:9::baseos",
// RHEL 10's "enterprise_linux:10.0", "rhel_els:7"), the extended streams
// of a minor release by it ("rhel_eus:8.6::appstream"). Red Hat's other
// products ("red_hat_single_sign_on:7::el6", "rhel_software_collections:3::el7",
// "openshift:4.16::el9") are built for RHEL but are not RHEL: their
// records are neither data about a RHEL release nor about its packages.
var rhelStreams = map[string]bool{
	"enterprise_linux": true, "rhel_els": true, // by major release
	"rhel_eus": false, "rhel_aus": false, "rhel_e4s": false, "rhel_tus": false, "rhel_eus_long_life": false, // by minor release
}

// rhelStream says whether a Red Hat record's release, the CPE's
// product:version:update:edition ("enterprise_linux:9::appstream"), is a
// stream of the RHEL release a package's releases name: its major release
// first, then the minor release its build names, if any (redHatReleases).
func rhelStream(releases []string, release string) bool {
	product, rest, _ := strings.Cut(release, ":")
	version, _, _ := strings.Cut(rest, ":")
	byMajor, ok := rhelStreams[product]
	switch {
	case !ok || version == "" || len(releases) == 0:
		return false
	case byMajor:
		major, _, _ := strings.Cut(version, ".")
		return major == releases[0]
	}
	return slices.Contains(releases[1:], version)
}
