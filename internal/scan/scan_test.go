package scan

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

func TestMapPURL(t *testing.T) {
	tests := []struct {
		purl string
		want Package
	}{
		{"pkg:golang/golang.org/x/text@v0.3.5", Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5"}},
		{"pkg:golang/github.com/BurntSushi/toml@v0.3.1", Package{Ecosystem: "Go", Name: "github.com/BurntSushi/toml", Version: "v0.3.1"}},
		{"pkg:golang/stdlib@go1.26.8", Package{Ecosystem: "Go", Name: "stdlib", Version: "1.26.8"}},
		{"pkg:npm/%40babel/core@7.0.0", Package{Ecosystem: "npm", Name: "@babel/core", Version: "7.0.0"}},
		{"pkg:pypi/PyYAML@5.3.1", Package{Ecosystem: "PyPI", Name: "pyyaml", Version: "5.3.1"}},
		{"pkg:pypi/zope.interface@5.0", Package{Ecosystem: "PyPI", Name: "zope-interface", Version: "5.0"}},
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Package{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1"}},
		{"pkg:cargo/openssl-src@111.22.0%2B1.1.1q", Package{Ecosystem: "crates.io", Name: "openssl-src", Version: "111.22.0+1.1.1q"}},
		{"pkg:gem/rails@6.0.0", Package{Ecosystem: "RubyGems", Name: "rails", Version: "6.0.0"}},
		{"pkg:nuget/Newtonsoft.Json@12.0.1", Package{Ecosystem: "NuGet", Name: "Newtonsoft.Json", Version: "12.0.1"}},
		{"pkg:composer/symfony/http-kernel@5.4.8", Package{Ecosystem: "Packagist", Name: "symfony/http-kernel", Version: "5.4.8"}},
		{"pkg:deb/debian/libssl3@3.0.22-1~deb12u2?arch=amd64&distro=debian-12.15&upstream=openssl", Package{Ecosystem: "Debian", Releases: []string{"12"}, Name: "openssl", Version: "3.0.22-1~deb12u2"}},
		{"pkg:deb/debian/libc6@2.36-9?distro=debian-12&upstream=glibc%402.36-9%2Bdeb12u1", Package{Ecosystem: "Debian", Releases: []string{"12"}, Name: "glibc", Version: "2.36-9+deb12u1"}},
		{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-22.04", Package{Ecosystem: "Ubuntu", Releases: []string{"22.04:LTS", "22.04"}, Name: "openssl", Version: "3.0.2-0ubuntu1"}},
		{"pkg:apk/alpine/libcrypto3@3.1.4-r0?arch=x86_64&upstream=openssl&distro=alpine-3.18.4", Package{Ecosystem: "Alpine", Releases: []string{"v3.18"}, Name: "openssl", Version: "3.1.4-r0"}},
		{"pkg:rpm/almalinux/openssl@3.0.1-41.el9_0?arch=x86_64&epoch=1&distro=almalinux-9.0", Package{Ecosystem: "AlmaLinux", Releases: []string{"9"}, Name: "openssl", Version: "1:3.0.1-41.el9_0"}},
		{"pkg:rpm/rocky/bash@5.1.8-6.el9_1?distro=rocky-9.1", Package{Ecosystem: "Rocky Linux", Releases: []string{"9"}, Name: "bash", Version: "5.1.8-6.el9_1"}},
	}
	for _, tt := range tests {
		got, err := MapPURL(tt.purl)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MapPURL(%s) = %+v, %v; want %+v", tt.purl, got, err, tt.want)
		}
	}
	for purl, reason := range map[string]string{
		"pkg:generic/thing@1":        "no OSV ecosystem",
		"pkg:npm/left-pad":           "no version",
		"pkg:rpm/fedora/bash@5?x=y":  "no OSV ecosystem",
		"not-a-purl":                 "malformed purl",
		"pkg:maven/log4j-core@2.0.0": "without group id",
	} {
		if _, err := MapPURL(purl); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("MapPURL(%s): %v, want %q", purl, err, reason)
		}
	}
}

// records loads real OSV records from ../shared/vulndata into memory.
type memoryDB map[[2]string][]*vulndb.Record

func (m memoryDB) Lookup(_ context.Context, eco, name string) ([]*vulndb.Record, error) {
	return m[[2]string{eco, name}], nil
}

func (m memoryDB) Coverage(context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for _, records := range m {
		for _, r := range records {
			if r.Withdrawn != nil {
				continue // as vulndb.DB.Coverage: live records only
			}
			for _, a := range r.Affected {
				out[a.Package.Ecosystem] = true
			}
		}
	}
	return out, nil
}

func (m memoryDB) Names(_ context.Context, names []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, records := range m {
		for _, r := range records {
			for _, id := range r.AllIDs() {
				if slices.Contains(names, id) && !slices.Contains(out[id], r.ID) {
					out[id] = append(out[id], r.ID)
				}
			}
		}
	}
	return out, nil
}

func (m memoryDB) Records(_ context.Context, ids []string) ([]*vulndb.Record, error) {
	var out []*vulndb.Record
	for _, records := range m {
		for _, r := range records {
			if slices.Contains(ids, r.ID) && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func (m memoryDB) add(r *vulndb.Record) {
	for _, a := range r.Affected {
		eco := vulndb.BaseEcosystem(a.Package.Ecosystem)
		key := [2]string{eco, vulndb.NormalizeName(eco, a.Package.Name)}
		if !slices.Contains(m[key], r) {
			m[key] = append(m[key], r)
		}
	}
}

func realRecord(t *testing.T, rel string) *vulndb.Record {
	t.Helper()
	path := filepath.Join(testutil.VulnData(t), "records", rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := vulndb.ParseRecord(data, path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func component(purl string) evidence.Component {
	p, _ := MapPURL(purl)
	return evidence.Component{Name: p.Name, Version: p.Version, PURL: purl}
}

func findingIDs(m *Matches) []string {
	var ids []string
	for _, f := range m.Findings {
		ids = append(ids, f.Component.Name+"@"+f.Component.Version+" "+f.ID)
	}
	return ids
}

func TestMatchRealRecords(t *testing.T) {
	db := memoryDB{}
	for _, rel := range []string{"go/GO-2021-0113.json", "go/GO-2022-1059.json", "ghsa/GHSA-35jh-r3h4-6jhm.json", "ghsa/GHSA-xvch-5gv4-984h.json",
		"ghsa/GHSA-jfh8-c2jp-5v3q.json", "almalinux/ALSA-2022-7288.json", "pypi/PYSEC-2021-142.yaml", "crates/RUSTSEC-2022-0064.json"} {
		db.add(realRecord(t, rel))
	}
	comps := []evidence.Component{
		component("pkg:golang/golang.org/x/text@v0.3.5"),                                   // GO-2021-0113 (fixed 0.3.7), GO-2022-1059 (0.3.8)
		component("pkg:golang/golang.org/x/text@v0.3.7"),                                   // GO-2022-1059 only
		component("pkg:golang/golang.org/x/text@v0.3.8"),                                   // none
		component("pkg:npm/lodash@4.17.20"),                                                // GHSA-35jh-r3h4-6jhm
		component("pkg:npm/lodash@4.17.21"),                                                // none
		component("pkg:npm/minimist@1.2.5"),                                                // GHSA-xvch-5gv4-984h
		component("pkg:npm/minimist@1.2.6"),                                                // fixed
		component("pkg:npm/minimist@0.2.4"),                                                // between the record's two ranges
		component("pkg:npm/lodash.template@4.5.0"),                                         // last_affected: matches
		component("pkg:npm/lodash.template@4.5.1"),                                         // after last_affected
		component("pkg:npm/lodash-template@1.0.1"),                                         // after last_affected
		component("pkg:npm/%40types/lodash@4.17.20"),                                       // another package: the scope counts
		component("pkg:npm/lodash.merge@4.6.1"),                                            // a name that only starts alike
		component("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),                  // Log4Shell
		component("pkg:maven/org.apache.logging.log4j/log4j-core@2.15.0"),                  // fixed
		component("pkg:rpm/almalinux/openssl@3.0.1-41.el9_0?epoch=1&distro=almalinux-9.0"), // ALSA-2022:7288
		component("pkg:rpm/almalinux/openssl@3.0.1-43.el9_0?epoch=1&distro=almalinux-9.0"), // fixed
		component("pkg:rpm/almalinux/openssl@3.0.1-41.el9_0?epoch=1&distro=almalinux-8.6"), // a release without records: not checked
		component("pkg:pypi/PyYAML@5.3.1"),                                                 // PYSEC-2021-142 (fixed 5.4)
		component("pkg:cargo/openssl-src@300.0.10%2B3.0.6"),                                // RUSTSEC-2022-0064 (3.0.0 ≤ v < 3.0.7)
		component("pkg:cargo/openssl-src@111.22.0%2B1.1.1q"),                               // 1.1.1 is not affected
		{Name: "mystery", Version: "1"},                                                    // no purl
		component("pkg:generic/thing@1"),                                                   // no ecosystem
	}
	m, err := Match(context.Background(), db, comps)
	if err != nil {
		t.Fatal(err)
	}
	got := findingIDs(m)
	want := []string{
		"golang.org/x/text@v0.3.5 GO-2021-0113", "golang.org/x/text@v0.3.5 GO-2022-1059", "golang.org/x/text@v0.3.7 GO-2022-1059",
		"lodash@4.17.20 GHSA-35jh-r3h4-6jhm", "minimist@1.2.5 GHSA-xvch-5gv4-984h", "lodash.template@4.5.0 GHSA-35jh-r3h4-6jhm",
		"org.apache.logging.log4j:log4j-core@2.14.1 GHSA-jfh8-c2jp-5v3q", "openssl@1:3.0.1-41.el9_0 ALSA-2022:7288",
		"pyyaml@5.3.1 PYSEC-2021-142", "openssl-src@300.0.10+3.0.6 RUSTSEC-2022-0064",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings\n got  %v\n want %v", got, want)
	}
	reasons := map[string]string{}
	for _, u := range m.Unmatched {
		reasons[u.Component.Name+" "+u.Component.PURL] = u.Reason
	}
	if m.Stats.Unmatched != 3 || len(reasons) != 3 || reasons["mystery "] != "no purl" ||
		reasons["openssl pkg:rpm/almalinux/openssl@3.0.1-41.el9_0?epoch=1&distro=almalinux-8.6"] != "no advisory data for AlmaLinux:8 in the database: import the AlmaLinux records" {
		t.Errorf("unmatched: %+v", m.Unmatched)
	}
	for _, f := range m.Findings {
		switch f.ID {
		case "GHSA-jfh8-c2jp-5v3q":
			if f.Severity.Rating != evidence.SeverityCritical || f.Severity.Score != 10 || !slices.Contains(f.Aliases, "CVE-2021-44228") {
				t.Errorf("Log4Shell: %+v", f)
			}
			if f.FixState != evidence.FixFixed || !slices.Contains(f.FixedVersions, "2.15.0") {
				t.Errorf("Log4Shell fix: %s %v", f.FixState, f.FixedVersions)
			}
		case "GO-2021-0113":
			if f.FixedVersions[0] != "0.3.7" || f.Severity.Rating != evidence.SeverityUnknown {
				t.Errorf("GO-2021-0113: %+v", f)
			}
		}
	}
}

func TestAliasesMergeIntoOneFinding(t *testing.T) {
	ghsa := realRecord(t, "ghsa/GHSA-jfh8-c2jp-5v3q.json")
	// The same vulnerability as a second database would publish it: under
	// its CVE ID, naming the GHSA as alias.
	cve := *ghsa
	cve.ID, cve.Aliases = "CVE-2021-44228", []string{ghsa.ID}
	db := memoryDB{}
	db.add(ghsa)
	db.add(&cve)
	m, err := Match(context.Background(), db, []evidence.Component{component("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Findings) != 1 {
		t.Fatalf("want one merged finding, got %v", findingIDs(m))
	}
	f := m.Findings[0]
	if f.ID != "CVE-2021-44228" || !slices.Equal(f.Advisories, []string{"CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"}) || !slices.Contains(f.Aliases, "GHSA-jfh8-c2jp-5v3q") {
		t.Fatalf("merged finding: %+v", f)
	}
}

func TestRangeEvents(t *testing.T) {
	rec := func(events ...vulndb.Event) *vulndb.Record {
		return &vulndb.Record{ID: "TEST-1", Affected: []vulndb.Affected{{Package: vulndb.Package{Ecosystem: "npm", Name: "p"}, Ranges: []vulndb.Range{{Type: "SEMVER", Events: events}}}}}
	}
	tests := []struct {
		name     string
		r        *vulndb.Record
		version  string
		affected bool
		fixState string
	}{
		{"introduced 0, fixed", rec(vulndb.Event{Introduced: "0"}, vulndb.Event{Fixed: "1.2.0"}), "1.1.9", true, evidence.FixFixed},
		{"at fixed", rec(vulndb.Event{Introduced: "0"}, vulndb.Event{Fixed: "1.2.0"}), "1.2.0", false, ""},
		{"two ranges, between", rec(vulndb.Event{Introduced: "1.0.0"}, vulndb.Event{Fixed: "1.0.5"}, vulndb.Event{Introduced: "2.0.0"}, vulndb.Event{Fixed: "2.0.3"}), "1.5.0", false, ""},
		{"two ranges, second", rec(vulndb.Event{Introduced: "2.0.0"}, vulndb.Event{Fixed: "2.0.3"}, vulndb.Event{Introduced: "1.0.0"}, vulndb.Event{Fixed: "1.0.5"}), "2.0.1", true, evidence.FixFixed},
		{"pre-release before introduced", rec(vulndb.Event{Introduced: "2.0.0"}, vulndb.Event{Fixed: "2.0.3"}), "2.0.0-rc.1", false, ""},
		{"last_affected inclusive", rec(vulndb.Event{Introduced: "0"}, vulndb.Event{LastAffected: "1.4.0"}), "1.4.0", true, evidence.FixUnknown},
		{"after last_affected", rec(vulndb.Event{Introduced: "0"}, vulndb.Event{LastAffected: "1.4.0"}), "1.4.1", false, ""},
		{"no fix", rec(vulndb.Event{Introduced: "1.0.0"}), "9.9.9", true, evidence.FixNotFixed},
		{"limit", rec(vulndb.Event{Introduced: "0"}, vulndb.Event{Limit: "2.0.0"}), "2.1.0", false, ""},
	}
	for _, tt := range tests {
		db := memoryDB{}
		db.add(tt.r)
		m, err := Match(context.Background(), db, []evidence.Component{component("pkg:npm/p@" + tt.version)})
		if err != nil {
			t.Fatal(err)
		}
		if (len(m.Findings) == 1) != tt.affected {
			t.Errorf("%s: %s affected = %v", tt.name, tt.version, len(m.Findings) == 1)
			continue
		}
		if tt.affected && m.Findings[0].FixState != tt.fixState {
			t.Errorf("%s: fix state %s, want %s", tt.name, m.Findings[0].FixState, tt.fixState)
		}
	}
	// explicit versions list, no ranges: affected with unknown fix state
	listed := &vulndb.Record{ID: "TEST-2", Affected: []vulndb.Affected{{Package: vulndb.Package{Ecosystem: "npm", Name: "p"}, Versions: []string{"1.0.0"}}}}
	withdrawn := &vulndb.Record{ID: "TEST-3", Withdrawn: &time.Time{}, Affected: listed.Affected}
	db := memoryDB{}
	db.add(listed)
	db.add(withdrawn)
	m, _ := Match(context.Background(), db, []evidence.Component{component("pkg:npm/p@1.0.0")})
	if len(m.Findings) != 1 || m.Findings[0].ID != "TEST-2" || m.Findings[0].FixState != evidence.FixUnknown || m.Stats.WithdrawnIgnored != 1 {
		t.Errorf("versions list / withdrawn: %+v %+v", m.Findings, m.Stats)
	}
}

func TestSamePackageReleases(t *testing.T) {
	tests := []struct {
		advisory vulndb.Package
		pkg      Package
		want     bool
	}{
		{vulndb.Package{Ecosystem: "Debian:12", Name: "openssl"}, Package{Ecosystem: "Debian", Releases: []string{"12"}, Name: "openssl"}, true},
		{vulndb.Package{Ecosystem: "Debian:11", Name: "openssl"}, Package{Ecosystem: "Debian", Releases: []string{"12"}, Name: "openssl"}, false},
		{vulndb.Package{Ecosystem: "Alpine:v3.18", Name: "openssl"}, Package{Ecosystem: "Alpine", Releases: []string{"v3.18"}, Name: "openssl"}, true},
		{vulndb.Package{Ecosystem: "Red Hat:enterprise_linux:9::appstream", Name: "openssl"}, Package{Ecosystem: "Red Hat", Releases: []string{"9"}, Name: "openssl"}, true},
		{vulndb.Package{Ecosystem: "Red Hat:enterprise_linux:8::baseos", Name: "openssl"}, Package{Ecosystem: "Red Hat", Releases: []string{"9"}, Name: "openssl"}, false},
		{vulndb.Package{Ecosystem: "PyPI", Name: "PyYAML"}, Package{Ecosystem: "PyPI", Name: "pyyaml"}, true},
		{vulndb.Package{Ecosystem: "Go", Name: "github.com/BurntSushi/toml"}, Package{Ecosystem: "Go", Name: "github.com/burntsushi/toml"}, false},
	}
	for _, tt := range tests {
		if got := samePackage(tt.advisory, tt.pkg); got != tt.want {
			t.Errorf("samePackage(%+v, %+v) = %v", tt.advisory, tt.pkg, got)
		}
	}
}

// Distribution packages are matched against their own release only, as
// OSV names it, or reported not checked with the reason: Ubuntu's LTS and
// Pro streams, codenames, sid, releases without records, ecosystems with
// none. Real records from ../shared/vulndata/records/os.
func TestOperatingSystemReleases(t *testing.T) {
	db := memoryDB{}
	for _, rel := range []string{"os/Ubuntu/CVE-2024-0727.json", "os/Ubuntu/USN-6632-1.json", "os/Debian/DSA-3029-1.json", "os/Chainguard/CGA-224q-ccj5-2p53.json"} {
		db.add(realRecord(t, rel))
	}
	jammy := component("pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?arch=amd64&upstream=openssl&distro=ubuntu-22.04")
	jammyFixed := component("pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.14?arch=amd64&upstream=openssl&distro=ubuntu-jammy")
	bionicPro := component("pkg:deb/ubuntu/libssl1.1@1.1.1-1ubuntu2.1~18.04.23+esm3?arch=amd64&upstream=openssl&distro=ubuntu-18.04")
	bionic := component("pkg:deb/ubuntu/libssl1.1@1.1.1-1ubuntu2.1~18.04.23?arch=amd64&upstream=openssl&distro=ubuntu-18.04")
	mantic := component("pkg:deb/ubuntu/libssl3@3.0.10-1ubuntu2?arch=amd64&upstream=openssl&distro=ubuntu-23.10")
	unknown := component("pkg:deb/ubuntu/libssl3@3.0.10-1ubuntu2?arch=amd64&upstream=openssl&distro=ubuntu-wobbly")
	wheezy := component("pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-wheezy")
	sid := component("pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian")
	wolfi := component("pkg:apk/wolfi/haproxy-3.0@3.0.9-r0?arch=x86_64")
	alpine := component("pkg:apk/alpine/haproxy@2.8.3-r0?arch=x86_64&distro=alpine-3.18.4")
	m, err := Match(context.Background(), db, []evidence.Component{jammy, jammyFixed, bionicPro, bionic, mantic, unknown, wheezy, sid, wolfi, alpine})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]evidence.Finding{}
	for _, f := range m.Findings {
		found[f.Component.PURL+" "+f.ID] = f
	}
	check := func(c evidence.Component, id string, advisories []string, aliases ...string) {
		t.Helper()
		f, ok := found[c.PURL+" "+id]
		if !ok {
			t.Errorf("%s: no finding %s (findings %v)", c.PURL, id, findingIDs(m))
			return
		}
		if !slices.Equal(f.Advisories, advisories) {
			t.Errorf("%s %s: advisories %v, want %v", c.PURL, id, f.Advisories, advisories)
		}
		for _, a := range aliases {
			if !slices.Contains(f.IDs(), a) {
				t.Errorf("%s %s: names %v, want %s among them", c.PURL, id, f.IDs(), a)
			}
		}
	}
	check(jammy, "CVE-2024-0727", []string{"CVE-2024-0727"})
	// the USN names two CVEs: it joins the one whose record matched, and
	// stands for the other, of which these records hold nothing else
	check(bionicPro, "CVE-2024-0727", []string{"CVE-2024-0727", "USN-6632-1"}, "USN-6632-1")
	check(bionicPro, "USN-6632-1", []string{"USN-6632-1"}, "UBUNTU-CVE-2023-5678")
	if f := found[bionicPro.PURL+" USN-6632-1"]; slices.Contains(f.IDs(), "UBUNTU-CVE-2024-0727") || slices.Contains(f.IDs(), "CVE-2024-0727") {
		t.Errorf("the USN's own finding names %v: CVE-2024-0727 is the other finding's", f.IDs())
	}
	check(wheezy, "DSA-3029-1", []string{"DSA-3029-1"}, "CVE-2014-3616")
	check(wolfi, "CGA-224q-ccj5-2p53", []string{"CGA-224q-ccj5-2p53"}, "CVE-2025-32464", "GHSA-frg5-h47x-75j9")
	if len(m.Findings) != 5 {
		t.Errorf("findings %v, want the five above", findingIDs(m))
	}
	reasons := map[string]string{}
	for _, u := range m.Unmatched {
		reasons[u.Component.PURL] = u.Reason
	}
	for purl, want := range map[string]string{
		bionic.PURL:  "no advisory data for Ubuntu:18.04:LTS in the database",
		mantic.PURL:  "no advisory data for Ubuntu:23.10 in the database",
		unknown.PURL: `ubuntu release "ubuntu-wobbly" is not one dossier can name`,
		sid.PURL:     "testing or unstable (sid)",
		alpine.PURL:  "no advisory data for Alpine:v3.18 in the database",
	} {
		if !strings.Contains(reasons[purl], want) {
			t.Errorf("%s: not checked for %q, want %q", purl, reasons[purl], want)
		}
	}
	if m.Stats.Checked != 5 || m.Stats.Unmatched != 5 {
		t.Errorf("checked %d, not checked %d: want 5 and 5", m.Stats.Checked, m.Stats.Unmatched)
	}
}

// db update downloads, by default, every ecosystem the scanner can match
// components of — but Photon OS, which OSV does not publish — and says
// which ecosystems it does not.
func TestDefaultEcosystemsCoverTheScanner(t *testing.T) {
	mapped := slices.Collect(maps.Values(simpleTypes))
	for _, d := range distributions {
		mapped = append(mapped, d.ecosystem)
	}
	for _, eco := range append(mapped, "Go", "Maven") {
		if !Matched(eco) {
			t.Errorf("%s is mapped but not said to be matched", eco)
		}
		if want := eco != "Photon OS"; slices.Contains(vulndb.DefaultEcosystems, eco) != want {
			t.Errorf("%s: downloaded by default %v, want %v", eco, !want, want)
		}
	}
	for _, eco := range []string{"Android", "Linux", "GIT", "Bitnami"} {
		if Matched(eco) {
			t.Errorf("%s is said to be matched", eco)
		}
	}
	// the database reads a distribution's records as notices by the same list
	var oses []string
	for _, d := range distributions {
		oses = append(oses, d.ecosystem)
	}
	slices.Sort(oses)
	if want := slices.Sorted(slices.Values(vulndb.Distributions)); !slices.Equal(slices.Compact(oses), want) {
		t.Errorf("distributions mapped %v, vulndb.Distributions %v", slices.Compact(oses), want)
	}
}

// Every operating system OSV publishes advisories for is named as OSV
// names it, from the purl syft writes for its packages (namespace: the
// os-release ID; distro: ID-VERSION_ID; upstream: the source package or
// source RPM). Where osv-scalibr's mapping differs, dossier follows the
// records: Azure Linux and CBL-Mariner records name the major release
// ("Azure Linux:3", scalibr writes "3.0"); SLES records name products and
// modules with their service pack ("SUSE:Linux Enterprise Server 15
// SP6", scalibr writes "SUSE:15.6"); openEuler's service pack is read
// from the build tag (".oe2403sp1"), which VERSION_ID does not carry; and
// SUSE, openSUSE, Azure Linux, openEuler and Photon records name the
// source RPM, which scalibr does not look up.
func TestOperatingSystemEcosystems(t *testing.T) {
	tests := []struct {
		purl string
		want Package
	}{
		{"pkg:rpm/opensuse/libopenssl3@3.1.4-150600.5.15.1?arch=x86_64&distro=opensuse-leap-15.6&upstream=openssl-3-3.1.4-150600.5.15.1.src.rpm",
			Package{Ecosystem: "openSUSE", Releases: []string{"Leap 15.6"}, Name: "openssl-3", Version: "3.1.4-150600.5.15.1"}},
		{"pkg:rpm/opensuse/curl@8.9.1-1.1?arch=x86_64&distro=opensuse-tumbleweed-20240920&upstream=curl-8.9.1-1.1.src.rpm",
			Package{Ecosystem: "openSUSE", Releases: []string{"Tumbleweed"}, Name: "curl", Version: "8.9.1-1.1"}},
		{"pkg:rpm/opensuse/libz1@1.2.13-150500.4.3.1?distro=opensuse-leap-micro-5.5&upstream=zlib-1.2.13-150500.4.3.1.src.rpm",
			Package{Ecosystem: "openSUSE", Releases: []string{"Leap Micro 5.5"}, Name: "zlib", Version: "1.2.13-150500.4.3.1"}},
		{"pkg:rpm/sles/libcurl4@8.6.0-150600.4.6.1?arch=x86_64&distro=sles-15.6&upstream=curl-8.6.0-150600.4.6.1.src.rpm",
			Package{Ecosystem: "SUSE", Releases: []string{"Linux Enterprise Server 15 SP6", "Linux Enterprise Module for * 15 SP6"}, Name: "curl", Version: "8.6.0-150600.4.6.1"}},
		{"pkg:rpm/sle-micro/glibc@2.31-150300.63.1?distro=sle-micro-5.5&upstream=glibc-2.31-150300.63.1.src.rpm",
			Package{Ecosystem: "SUSE", Releases: []string{"Linux Enterprise Micro 5.5"}, Name: "glibc", Version: "2.31-150300.63.1"}},
		{"pkg:rpm/photon/openssl-libs@3.0.9-2.ph5?arch=x86_64&distro=photon-5.0&upstream=openssl-3.0.9-2.ph5.src.rpm",
			Package{Ecosystem: "Photon OS", Releases: []string{"5.0"}, Name: "openssl", Version: "3.0.9-2.ph5"}},
		{"pkg:rpm/azurelinux/openssl-libs@3.3.0-3.azl3?arch=x86_64&distro=azurelinux-3.0&upstream=openssl-3.3.0-3.azl3.src.rpm",
			Package{Ecosystem: "Azure Linux", Releases: []string{"3"}, Name: "openssl", Version: "3.3.0-3.azl3"}},
		{"pkg:rpm/mariner/openssl-libs@1.1.1k-28.cm2?distro=mariner-2.0&upstream=openssl-1.1.1k-28.cm2.src.rpm",
			Package{Ecosystem: "Azure Linux", Releases: []string{"2"}, Name: "openssl", Version: "1.1.1k-28.cm2"}},
		{"pkg:rpm/openEuler/openssl-libs@3.0.12-15.oe2403sp1?arch=x86_64&distro=openEuler-24.03&upstream=openssl-3.0.12-15.oe2403sp1.src.rpm",
			Package{Ecosystem: "openEuler", Releases: []string{"24.03-LTS-SP1"}, Name: "openssl", Version: "3.0.12-15.oe2403sp1"}},
		{"pkg:rpm/openEuler/zlib@1.2.13-2.oe2403?distro=openEuler-24.03&upstream=zlib-1.2.13-2.oe2403.src.rpm",
			Package{Ecosystem: "openEuler", Releases: []string{"24.03-LTS"}, Name: "zlib", Version: "1.2.13-2.oe2403"}},
		{"pkg:rpm/mageia/lib64openssl3@3.0.15-1.mga9?distro=mageia-9&upstream=openssl-3.0.15-1.mga9.src.rpm",
			Package{Ecosystem: "Mageia", Releases: []string{"9"}, Name: "openssl", Version: "3.0.15-1.mga9"}},
		{"pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&distro=rhel-9.4&upstream=openssl-3.0.7-27.el9.src.rpm",
			Package{Ecosystem: "Red Hat", Releases: []string{"9"}, Name: "openssl-libs", Version: "1:3.0.7-27.el9"}},
		{"pkg:rpm/redhat/git-lfs@2.13.3-3.el8_6?arch=x86_64&distro=rhel-8.6",
			Package{Ecosystem: "Red Hat", Releases: []string{"8", "8.6"}, Name: "git-lfs", Version: "2.13.3-3.el8_6"}},
		{"pkg:apk/alpaquita/libcrypto3@3.3.2-r0?arch=x86_64&distro=alpaquita-23&upstream=openssl",
			Package{Ecosystem: "Alpaquita", Releases: []string{"23"}, Name: "openssl", Version: "3.3.2-r0"}},
		{"pkg:apk/alpaquita/busybox@1.36.1-r9?distro=alpaquita-stream",
			Package{Ecosystem: "Alpaquita", Releases: []string{"stream"}, Name: "busybox", Version: "1.36.1-r9"}},
		{"pkg:apk/bellsoft-hardened-containers/python3@3.12.7-r0?distro=bellsoft-hardened-containers-stream",
			Package{Ecosystem: "BellSoft Hardened Containers", Releases: []string{"stream"}, Name: "python3", Version: "3.12.7-r0"}},
		{"pkg:apk/minimos/openssl@3.4.0-r1?arch=x86_64&distro=minimos-20241201",
			Package{Ecosystem: "MinimOS", Name: "openssl", Version: "3.4.0-r1"}},
		{"pkg:deb/echo/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=echo-1&upstream=openssl",
			Package{Ecosystem: "Echo", Name: "openssl", Version: "3.0.15-1~deb12u1"}},
	}
	for _, tt := range tests {
		got, err := MapPURL(tt.purl)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MapPURL(%s)\n = %+v, %v\nwant %+v", tt.purl, got, err, tt.want)
		}
	}
	for purl, reason := range map[string]string{
		"pkg:rpm/opensuse/curl@8.9.1-1.1":                      "its release is unknown",
		"pkg:rpm/opensuse/curl@8.9.1-1.1?distro=opensuse-15.6": `distro "opensuse-15.6" is not one dossier can name`,
		"pkg:rpm/redhat/curl@7.76.1-29.el9?distro=almalinux-9": "name two distributions",
		"pkg:rpm/sles/curl@8.6.0-1?distro=sles-fifteen":        `release "sles-fifteen" is not one dossier can name`,
		"pkg:rpm/centos/curl@7.61.1-34.el8?distro=centos-8":    "no OSV ecosystem",
		"pkg:apk/alpaquita/busybox@1.36.1-r9":                  "its release is unknown",
	} {
		if _, err := MapPURL(purl); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("MapPURL(%s): %v, want %q", purl, err, reason)
		}
	}
	for _, tt := range []struct {
		release string
		want    bool
	}{
		{"Linux Enterprise Server 15 SP6", true}, {"Linux Enterprise Module for Basesystem 15 SP6", true},
		{"Linux Enterprise Module for Server Applications 15 SP6", true}, {"Linux Enterprise Server 15 SP5", false},
		{"Linux Enterprise Server LTSS 15 SP6", false}, {"Linux Enterprise Module for Basesystem 15 SP6 LTSS", false},
		{"Linux Enterprise Module for  15 SP6", false}, {"Linux Enterprise Module for 15 SP6", false},
	} {
		sles, _ := MapPURL("pkg:rpm/sles/curl@8.6.0-1?distro=sles-15.6")
		if got := sles.inRelease(tt.release); got != tt.want {
			t.Errorf("SLES 15 SP6 in %q: %v", tt.release, got)
		}
	}
}

// A package built for a RHEL minor release's extended streams (".el8_6")
// is matched against them too: AUS, E4S and EUS records name the minor
// release; one built for the major release alone is not (real records:
// RHSA-2024:4546, git-lfs in rhel_aus:8.6 and rhel_e4s:8.6).
func TestRedHatExtendedStreams(t *testing.T) {
	db := memoryDB{}
	db.add(realRecord(t, "os/RedHat/RHSA-2024_4546.json"))
	aus := component("pkg:rpm/redhat/git-lfs@2.13.3-3.el8_6?arch=x86_64&distro=rhel-8.6")
	fixed := component("pkg:rpm/redhat/git-lfs@2.13.3-3.el8_6.1?arch=x86_64&distro=rhel-8.6")
	mainline := component("pkg:rpm/redhat/git-lfs@2.13.3-3.el8?arch=x86_64&distro=rhel-8.10")
	m, err := Match(context.Background(), db, []evidence.Component{aus, fixed, mainline})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Findings) != 1 || m.Findings[0].Component.PURL != aus.PURL || m.Findings[0].ID != "RHSA-2024:4546" || !slices.Contains(m.Findings[0].Aliases, "CVE-2023-45288") {
		t.Errorf("findings %+v", m.Findings)
	}
	if len(m.Unmatched) != 1 || m.Unmatched[0].Component.PURL != mainline.PURL || !strings.Contains(m.Unmatched[0].Reason, "no advisory data for Red Hat:8") {
		t.Errorf("not checked %+v: want the mainline package, for want of RHEL 8 records", m.Unmatched)
	}
}

// testdataRecord reads a real record kept in testdata/os (SOURCES.md says
// where each comes from).
func testdataRecord(t *testing.T, rel string) *vulndb.Record {
	t.Helper()
	path := filepath.Join("testdata", "os", rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := vulndb.ParseRecord(data, path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Alpaquita (each release and stream), Echo and Photon OS packages are
// matched against their own records, by source package, with the CVE
// name; a release without records is not checked (real records: BellSoft's
// OSV database, Echo's feed, the Photon OS advisories in OSV form).
func TestMoreDistributionsMatch(t *testing.T) {
	db := memoryDB{}
	for _, rel := range []string{"Alpaquita/BELL-CVE-2024-0727.json", "Echo/ECHO-003f-2632-599c.json", "PhotonOS/PHSA-2025-5.0-0479.json"} {
		db.add(testdataRecord(t, rel))
	}
	alpaquita := component("pkg:apk/alpaquita/libcrypto3@3.0.12-r3?arch=x86_64&distro=alpaquita-23&upstream=openssl")
	alpaquitaFixed := component("pkg:apk/alpaquita/libcrypto3@3.0.12-r4?arch=x86_64&distro=alpaquita-23&upstream=openssl")
	stream := component("pkg:apk/alpaquita/libcrypto3@3.1.4-r3?arch=x86_64&distro=alpaquita-stream&upstream=openssl")
	hardened := component("pkg:apk/bellsoft-hardened-containers/libcrypto3@3.1.4-r3?distro=bellsoft-hardened-containers-stream&upstream=openssl")
	alpaquita25 := component("pkg:apk/alpaquita/libcrypto3@3.3.2-r0?distro=alpaquita-25&upstream=openssl")
	echo := component("pkg:deb/echo/openssh-client@1:9.2p1-2+deb12u5?arch=amd64&distro=echo-1&upstream=openssh")
	photon := component("pkg:rpm/photon/libcurl@8.11.1-2.ph5?arch=x86_64&distro=photon-5.0&upstream=curl-8.11.1-2.ph5.src.rpm")
	photon4 := component("pkg:rpm/photon/libcurl@8.11.1-2.ph4?distro=photon-4.0&upstream=curl-8.11.1-2.ph4.src.rpm")
	m, err := Match(context.Background(), db, []evidence.Component{alpaquita, alpaquitaFixed, stream, hardened, alpaquita25, echo, photon, photon4})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]evidence.Finding{}
	for _, f := range m.Findings {
		found[f.Component.PURL] = f
	}
	for purl, want := range map[string][2]string{
		alpaquita.PURL: {"BELL-CVE-2024-0727", "CVE-2024-0727"}, stream.PURL: {"BELL-CVE-2024-0727", "CVE-2024-0727"},
		hardened.PURL: {"BELL-CVE-2024-0727", "CVE-2024-0727"}, echo.PURL: {"ECHO-003f-2632-599c", "CVE-2008-3234"},
		photon.PURL: {"PHSA-2025-5.0-0479", ""},
	} {
		f, ok := found[purl]
		if !ok {
			t.Errorf("%s: no finding (findings %v, not checked %+v)", purl, findingIDs(m), m.Unmatched)
			continue
		}
		if f.ID != want[0] || want[1] != "" && !slices.Contains(f.Aliases, want[1]) {
			t.Errorf("%s: %s %v, want %s named %s too", purl, f.ID, f.Aliases, want[0], want[1])
		}
	}
	if len(m.Findings) != 5 {
		t.Errorf("findings %v, want the five above", findingIDs(m))
	}
	reasons := map[string]string{}
	for _, u := range m.Unmatched {
		reasons[u.Component.PURL] = u.Reason
	}
	for purl, want := range map[string]string{
		alpaquita25.PURL: "no advisory data for Alpaquita:25 in the database",
		photon4.PURL:     "no advisory data for Photon OS:4.0 in the database",
	} {
		if !strings.Contains(reasons[purl], want) {
			t.Errorf("%s: not checked for %q, want %q", purl, reasons[purl], want)
		}
	}
}
