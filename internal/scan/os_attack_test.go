package scan

// Attacks on operating-system package matching: an SBOM is chosen by
// whoever pushes the image or runs the CI job, so its purls' distro,
// upstream and epoch qualifiers are hostile input. Each test asserts what
// dossier must answer, against a database imported from real OSV records
// (../shared/vulndata/records/os) and, where the attack needs one, a record
// written in the same shape.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// attackDB imports the real records named (paths under records/) and the
// records given into a fresh database, as `dossier db import` does.
func attackDB(t testing.TB, real []string, written ...*vulndb.Record) *vulndb.DB {
	t.Helper()
	src := t.TempDir()
	var paths []string
	for _, rel := range real {
		paths = append(paths, filepath.Join(testutil.VulnData(t), "records", rel))
	}
	for _, r := range written {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(src, strings.ReplaceAll(r.ID, ":", "_")+".json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	dir := t.TempDir()
	if _, err := vulndb.Import(context.Background(), dir, paths, vulndb.ImportOptions{Strict: true}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// osRecord is a distribution record of one package fixed in one version.
func osRecord(id, ecosystem, name, fixed string) *vulndb.Record {
	return &vulndb.Record{ID: id, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Affected: []vulndb.Affected{{Package: vulndb.Package{Ecosystem: ecosystem, Name: name},
			Ranges: []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{{Introduced: "0"}, {Fixed: fixed}}}}}}}
}

func cvss(vector string) []vulndb.Severity {
	return []vulndb.Severity{{Type: "CVSS_V3", Score: vector}}
}

const (
	critical98 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	high75     = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" // 7.5
	low31      = "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N" // 2.5
)

// outcome is what a scan made of one component: the IDs of its findings,
// or why it was not checked.
type outcome struct {
	findings []string
	reason   string
	checked  bool
}

func outcomes(t *testing.T, db Advisories, purls []string) map[string]outcome {
	t.Helper()
	var comps []evidence.Component
	for _, p := range purls {
		comps = append(comps, evidence.Component{Name: "c", Version: "v", PURL: p})
	}
	m, err := Match(context.Background(), db, comps)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]outcome{}
	for _, p := range purls {
		out[p] = outcome{checked: true}
	}
	for _, f := range m.Findings {
		o := out[f.Component.PURL]
		o.findings = append(o.findings, f.ID)
		out[f.Component.PURL] = o
	}
	for _, u := range m.Unmatched {
		out[u.Component.PURL] = outcome{reason: u.Reason}
	}
	checked := 0
	for _, o := range out {
		if o.checked {
			checked++
		}
	}
	if checked+len(m.Unmatched) != len(purls) || m.Stats.Checked != checked || m.Stats.Unmatched != len(m.Unmatched) {
		t.Fatalf("stats %+v: %d checked and %d not checked of %d distinct purls", m.Stats, checked, len(m.Unmatched), len(purls))
	}
	return out
}

// Every spelling of a distro qualifier is either read as the release it
// names — and the vulnerable package is found — or the component is not
// checked, with the reason: trailing and leading spaces, case, path
// tricks, leading zeros, backports, sid, an empty or duplicated
// qualifier, Unicode look-alikes, NUL, a very long release, a namespace or
// purl type naming another distribution. Real records: DSA-3029-1 (Debian
// 7 nginx), UBUNTU-CVE-2021-3782 and USN-5614-1 (wayland), ALSA-2022:7288
// (AlmaLinux 9 openssl), CGA-224q-ccj5-2p53 (Wolfi haproxy).
func TestAttackDistroQualifierSpellings(t *testing.T) {
	db := attackDB(t, []string{"os/Debian/DSA-3029-1.json", "os/Ubuntu/UBUNTU-CVE-2021-3782.json", "os/Ubuntu/USN-5614-1.json",
		"almalinux/ALSA-2022-7288.json", "os/Chainguard/CGA-224q-ccj5-2p53.json"})
	const nginx = "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?"
	const wayland = "pkg:deb/ubuntu/libwayland-client0@1.20.0-1?upstream=wayland&"
	const alma = "pkg:rpm/almalinux/openssl@3.0.1-41.el9_0?arch=x86_64&"
	long := "debian-" + strings.Repeat("7", 100_000)
	notNamed := "is not one dossier can name"
	tests := []struct {
		purl    string
		finding string // the finding the vulnerable package must have, or
		reason  string // why it is not checked
	}{
		{nginx + "distro=debian-7", "DSA-3029-1", ""},
		{nginx + "distro=Debian-7", "DSA-3029-1", ""},
		{nginx + "distro=DEBIAN-WHEEZY", "DSA-3029-1", ""},
		{nginx + "distro=debian-7.11", "DSA-3029-1", ""},
		{nginx + "DISTRO=debian-7", "DSA-3029-1", ""}, // qualifier keys are case-insensitive
		{nginx + "distro=debian-7%20", "", notNamed},
		{nginx + "distro=%20debian-7", "", notNamed},
		{nginx + "distro=debian-7/../12", "", notNamed},
		{nginx + "distro=debian-7%2F..%2F12", "", notNamed},
		{nginx + "distro=debian-07", "", "no advisory data for Debian:07 in the database"},
		{nginx + "distro=debian-wheezy-backports", "", notNamed},
		{nginx + "distro=debian-7-sid", "", notNamed},
		{nginx + "distro=debian-sid", "", "testing or unstable"},
		{nginx + "distro=debian", "", "testing or unstable (sid) or unnamed"},
		{nginx + "distro=", "", "without a distro qualifier: its release is unknown"},
		{nginx + "arch=amd64", "", "without a distro qualifier: its release is unknown"},
		{nginx + "distro=debian-7&distro=debian-12", "", "duplicate qualifier key"},
		{nginx + "distro=deb%D1%96an-7", "", notNamed},                    // Cyrillic і
		{nginx + "distro=debian-%EF%BC%97", "", notNamed},                 // fullwidth 7
		{nginx + "distro=debian-%E2%81%B7", "", notNamed},                 // superscript 7
		{nginx + "distro=debian-7%00", "", notNamed},                      // NUL
		{nginx + "distro=debian-%D9%A7", "", notNamed},                    // Arabic-Indic 7
		{nginx + "distro=" + long, "", "no advisory data for Debian:777"}, // 100,000 characters
		{nginx + "distro=ubuntu-22.04", "", "name two distributions"},
		{nginx + "distro=alpine-3.18", "", "name two distributions"},
		{nginx + "distro=echo-1", "", "name two distributions"},
		{"pkg:apk/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7", "", `apk distribution "debian" has no OSV ecosystem`},
		{"pkg:rpm/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7", "", `rpm distribution "debian" has no OSV ecosystem`},
		{"pkg:deb/alpine/nginx@1.2.1-r0?distro=alpine-3.18", "", `deb distribution "alpine" has no OSV ecosystem`},
		{"pkg:deb/debian%2Fubuntu/nginx@1.2.1-2.2+wheezy2?distro=debian-7", "", "has no OSV ecosystem"},

		{wayland + "distro=ubuntu-22.04", "UBUNTU-CVE-2021-3782", ""},
		{wayland + "distro=ubuntu-JAMMY", "UBUNTU-CVE-2021-3782", ""},
		{wayland + "distro=ubuntu-22.04.1", "", notNamed},
		{wayland + "distro=ubuntu-22.04:LTS", "", notNamed},
		{wayland + "distro=ubuntu-22.4", "", notNamed},
		{wayland + "distro=ubuntu-2022.04", "", notNamed},
		{wayland + "distro=ubuntu-jammy-updates", "", notNamed},
		{wayland + "distro=ubuntu-24.04", "", "no advisory data for Ubuntu:24.04:LTS in the database"},
		{wayland + "arch=amd64", "", "without a distro qualifier: its release is unknown"},
		{wayland + "distro=debian-12", "", "name two distributions"},

		{"pkg:apk/alpine/libcrypto3@3.1.4-r0?upstream=openssl&distro=alpine-3.18.4", "", "no advisory data for Alpine:v3.18 in the database"},
		{"pkg:apk/alpine/libcrypto3@3.1.4-r0?upstream=openssl&distro=alpine-V3.18", "", "no advisory data for Alpine:v3.18 in the database"},
		{"pkg:apk/alpine/libcrypto3@3.1.4-r0?upstream=openssl&distro=alpine-3", "", notNamed},
		{"pkg:apk/alpine/libcrypto3@3.1.4-r0?upstream=openssl&distro=alpine-3.18-edge", "", notNamed},
		{"pkg:apk/alpine/libcrypto3@3.1.4-r0?upstream=openssl", "", "without a distro qualifier: its release is unknown"},

		{alma + "epoch=1&distro=almalinux-9.0", "ALSA-2022:7288", ""},
		{alma + "epoch=1&distro=AlmaLinux-9", "ALSA-2022:7288", ""},
		{alma + "epoch=1&distro=almalinux-09", "", "no advisory data for AlmaLinux:09 in the database"},
		// a release is read by its major version, the digits before the first
		// dot: what follows cannot name another release
		{alma + "epoch=1&distro=almalinux-9.0%2F..%2F8", "ALSA-2022:7288", ""},
		{alma + "epoch=1&distro=almalinux-8%2F..%2F9.0", "", notNamed},
		{alma + "epoch=1&distro=rocky-9", "", "name two distributions"},
		{alma + "epoch=1&distro=rhel-9.4", "", "name two distributions"},
		{alma + "epoch=1", "", "without a distro qualifier: its release is unknown"},
		// a Kelvin sign lower-cases to k: read as Rocky Linux, which has no data here
		{"pkg:rpm/rocky/openssl@3.0.1-41.el9_0?epoch=1&distro=roc%E2%84%AAy-9", "", "no advisory data for Rocky Linux:9 in the database"},

		{"pkg:apk/wolfi/haproxy-3.0@3.0.9-r0?arch=x86_64", "CGA-224q-ccj5-2p53", ""},
		{"pkg:apk/wolfi/haproxy-3.0@3.0.9-r0?distro=wolfi-20230201", "CGA-224q-ccj5-2p53", ""},
		{"pkg:apk/wolfi/haproxy-3.0@3.0.9-r0?distro=alpine-3.18", "", "name two distributions"},
		{"pkg:apk/wolfi/haproxy-3.0@3.0.9-r0?distro=chainguard", "", "name two distributions"},
		{"pkg:apk/minimos/haproxy-3.0@3.0.9-r0", "", "no advisory data for MinimOS in the database"},
	}
	var purls []string
	for _, tt := range tests {
		purls = append(purls, tt.purl)
	}
	got := outcomes(t, db, purls)
	for _, tt := range tests {
		o := got[tt.purl]
		name := tt.purl
		if len(name) > 120 {
			name = name[:120] + "…"
		}
		switch {
		case tt.finding != "" && !slices.Equal(o.findings, []string{tt.finding}):
			t.Errorf("%s: findings %v (not checked: %q), want %s", name, o.findings, o.reason, tt.finding)
		case tt.reason != "" && (o.checked || !strings.Contains(o.reason, tt.reason)):
			t.Errorf("%s: checked %v with findings %v, not checked %q; want not checked: %q", name, o.checked, o.findings, o.reason, tt.reason)
		}
	}
}

// A purl of a distribution with releases is never matched without one:
// every namespace dossier maps, with no distro qualifier, is not checked;
// only the rolling distributions (no releases) are named without one.
func TestAttackNoDistroIsNeverAWildcard(t *testing.T) {
	for typ, spaces := range namespaces {
		for ns, ecosystem := range spaces {
			purl := "pkg:" + typ + "/" + ns + "/openssl@3.0.1-1"
			pkg, err := MapPURL(purl)
			rolling := false
			for _, d := range distributions {
				rolling = rolling || d.ecosystem == ecosystem && d.releases == nil
			}
			switch {
			case rolling && (err != nil || pkg.Ecosystem != ecosystem || len(pkg.Releases) != 0):
				t.Errorf("%s: %+v, %v; want the rolling %s, without release", purl, pkg, err, ecosystem)
			case !rolling && (err == nil || !strings.Contains(err.Error(), "without a distro qualifier: its release is unknown")):
				t.Errorf("%s: %+v, %v; want its release unknown", purl, pkg, err)
			}
		}
	}
}

// Coverage is of the package's own release: a release the records name
// only under Ubuntu Pro, a later release, a record naming the distribution
// without release — none is data to check a package of that release
// against (real records: UBUNTU-CVE-2021-3782, USN-5614-1 and
// DSA-3029-1).
func TestAttackCoverageIsPerRelease(t *testing.T) {
	releaseless := osRecord("DEBIAN-CVE-2099-0001", "Debian", "nginx", "9.9.9-1")
	releaseless.Upstream = []string{"CVE-2099-0001"}
	db := attackDB(t, []string{"os/Ubuntu/UBUNTU-CVE-2021-3782.json", "os/Ubuntu/USN-5614-1.json", "os/Debian/DSA-3029-1.json"}, releaseless)
	xenial := "pkg:deb/ubuntu/libwayland-client0@1.12.0-1~ubuntu16.04.2?upstream=wayland&distro=ubuntu-16.04"
	xenialPro := "pkg:deb/ubuntu/libwayland-client0@1.12.0-1~ubuntu16.04.2+esm0?upstream=wayland&distro=ubuntu-16.04"
	noble := "pkg:deb/ubuntu/libwayland-client0@1.22.0-2?upstream=wayland&distro=ubuntu-24.04"
	mantic := "pkg:deb/ubuntu/libwayland-client0@1.22.0-2?upstream=wayland&distro=ubuntu-23.10"
	bookworm := "pkg:deb/debian/nginx@1.22.1-9?distro=debian-12"
	trixie := "pkg:deb/debian/nginx@1.22.1-9?distro=debian-trixie"
	wheezy := "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7"
	got := outcomes(t, db, []string{xenial, xenialPro, noble, mantic, bookworm, trixie, wheezy})
	for purl, eco := range map[string]string{xenial: "Ubuntu:16.04:LTS", noble: "Ubuntu:24.04:LTS", mantic: "Ubuntu:23.10", bookworm: "Debian:12", trixie: "Debian:13"} {
		want := "no advisory data for " + eco + " in the database: import the " + vulndb.BaseEcosystem(eco) + " records"
		if o := got[purl]; o.checked || o.reason != want {
			t.Errorf("%s: %+v, want not checked: %s", purl, o, want)
		}
	}
	// the Pro build of the same package is checked against Pro's records;
	// the release-less record applies to every release that has data
	if o := got[xenialPro]; !slices.Equal(o.findings, []string{"UBUNTU-CVE-2021-3782"}) {
		t.Errorf("%s: %+v, want UBUNTU-CVE-2021-3782 (Ubuntu:Pro:16.04:LTS)", xenialPro, o)
	}
	if o := got[wheezy]; !slices.Equal(o.findings, []string{"DEBIAN-CVE-2099-0001", "DSA-3029-1"}) {
		t.Errorf("%s: %+v, want DSA-3029-1 and the release-less DEBIAN-CVE-2099-0001", wheezy, o)
	}
}

// One finding per vulnerability across a distribution's record
// generations: a DSA and a DLA naming the CVE, the DEBIAN-CVE record
// (with upstream, or named after the CVE alone); Ubuntu's USN, its
// UBUNTU-CVE record and the older record named by the bare CVE. A
// component listed twice, or with its qualifiers in another order, keeps
// its finding. Real: DSA-3029-1, USN-5614-1, UBUNTU-CVE-2021-3782.
func TestAttackOneFindingPerCVEAcrossDistributionRecords(t *testing.T) {
	debCVE := osRecord("DEBIAN-CVE-2014-3616", "Debian:7", "nginx", "1.2.1-2.2+wheezy3")
	debCVE.Upstream = []string{"CVE-2014-3616"}
	dla := osRecord("DLA-99-1", "Debian:7", "nginx", "1.2.1-2.2+wheezy3")
	dla.Upstream = []string{"CVE-2014-3616"}
	bareDebCVE := osRecord("DEBIAN-CVE-2014-3616", "Debian:7", "nginx", "1.2.1-2.2+wheezy3") // no upstream: its ID names the CVE
	oldUbuntu := osRecord("CVE-2021-3782", "Ubuntu:22.04:LTS", "wayland", "1.20.0-1ubuntu0.1")
	oldUbuntu.Severity = cvss(high75)

	for _, tc := range []struct {
		name    string
		written []*vulndb.Record
	}{{"DEBIAN-CVE with upstream", []*vulndb.Record{debCVE, dla, oldUbuntu}}, {"DEBIAN-CVE named after the CVE", []*vulndb.Record{bareDebCVE, dla, oldUbuntu}}} {
		db := attackDB(t, []string{"os/Debian/DSA-3029-1.json", "os/Ubuntu/USN-5614-1.json", "os/Ubuntu/UBUNTU-CVE-2021-3782.json"}, tc.written...)
		nginx := "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?arch=amd64&distro=debian-7"
		nginxReordered := "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7&arch=amd64"
		wayland := "pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland"
		comps := []evidence.Component{{PURL: nginx}, {PURL: nginx}, {PURL: nginxReordered}, {PURL: wayland}}
		m, err := Match(context.Background(), db, comps)
		if err != nil {
			t.Fatal(err)
		}
		byPURL := map[string][]evidence.Finding{}
		for _, f := range m.Findings {
			byPURL[f.Component.PURL] = append(byPURL[f.Component.PURL], f)
		}
		for _, purl := range []string{nginx, nginxReordered} {
			fs := byPURL[purl]
			if len(fs) != 1 || !slices.Equal(fs[0].Advisories, []string{"DEBIAN-CVE-2014-3616", "DLA-99-1", "DSA-3029-1"}) || !slices.Contains(fs[0].IDs(), "CVE-2014-3616") {
				t.Errorf("%s: %s: findings %+v, want one of the DSA, DLA and DEBIAN-CVE records, named CVE-2014-3616", tc.name, purl, fs)
			}
		}
		fs := byPURL[wayland]
		if len(fs) != 1 || !slices.Equal(fs[0].Advisories, []string{"CVE-2021-3782", "UBUNTU-CVE-2021-3782", "USN-5614-1"}) {
			t.Errorf("%s: wayland: findings %+v, want one of CVE-2021-3782, UBUNTU-CVE-2021-3782 and USN-5614-1", tc.name, fs)
		} else if fs[0].Severity.Rating != evidence.SeverityHigh || fs[0].Severity.Score != 7.5 {
			// the older record's CVSS (7.5) outranks Ubuntu's own medium
			t.Errorf("%s: wayland severity %+v, want the highest of the merged records (7.5)", tc.name, fs[0].Severity)
		}
		if len(m.Findings) != 3 || m.Stats.Checked != 3 {
			t.Errorf("%s: %d findings, %d checked; want 3 and 3", tc.name, len(m.Findings), m.Stats.Checked)
		}
	}
}

// An unrated record takes its severity from another record of the same
// vulnerability only: not from a record that merely lists it as related,
// not two alias hops away, not from a withdrawn record, not through a
// notice's other CVE; among records of the vulnerability the highest
// wins, so a LOW one cannot hide a HIGH one; the origin is named in From.
// Alias cycles end. Real: DSA-3029-1 (CVE-2014-3616, unrated), USN-6632-1
// (a notice of CVE-2023-5678 and CVE-2024-0727).
func TestAttackSeverityComesOnlyFromTheSameVulnerability(t *testing.T) {
	nginx := "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7"
	severityOf := func(t *testing.T, db Advisories, purl string) (evidence.Finding, int) {
		t.Helper()
		m, err := Match(context.Background(), db, []evidence.Component{{PURL: purl}})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Findings) == 0 {
			t.Fatalf("%s: no finding (not checked %+v)", purl, m.Unmatched)
		}
		return m.Findings[0], len(m.Findings)
	}
	related := osRecord("GHSA-aaaa-bbbb-cccc", "npm", "ngx-thing", "2.0.0")
	related.Related, related.Severity = []string{"CVE-2014-3616", "DSA-3029-1"}, cvss(critical98)
	twoHops := osRecord("GHSA-dddd-eeee-ffff", "npm", "other", "2.0.0")
	twoHops.Aliases, twoHops.Severity = []string{"GHSA-gggg-hhhh-iiii"}, cvss(critical98)
	oneHop := osRecord("GHSA-gggg-hhhh-iiii", "npm", "third", "2.0.0") // the CVE's record, unrated, aliasing the rated one's alias
	oneHop.Aliases = []string{"CVE-2014-3616"}
	withdrawn := osRecord("GHSA-jjjj-kkkk-llll", "npm", "fourth", "2.0.0")
	withdrawn.Aliases, withdrawn.Severity, withdrawn.Withdrawn = []string{"CVE-2014-3616"}, cvss(critical98), &time.Time{}
	t.Run("related, two hops, withdrawn", func(t *testing.T) {
		db := attackDB(t, []string{"os/Debian/DSA-3029-1.json"}, related, twoHops, oneHop, withdrawn)
		if f, _ := severityOf(t, db, nginx); f.Severity != (evidence.Severity{Rating: evidence.SeverityUnknown}) {
			t.Errorf("DSA-3029-1 rated %+v, want unknown: no live record of CVE-2014-3616 is rated", f.Severity)
		}
	})
	t.Run("a LOW record does not hide a HIGH one", func(t *testing.T) {
		low := osRecord("GHSA-mmmm-nnnn-oooo", "npm", "fifth", "2.0.0")
		low.Aliases, low.Severity = []string{"CVE-2014-3616"}, cvss(low31)
		high := osRecord("CVE-2014-3616", "Ubuntu:14.04:LTS", "nginx", "1.4.6-1ubuntu3.1")
		high.Severity = cvss(high75)
		db := attackDB(t, []string{"os/Debian/DSA-3029-1.json"}, low, high, withdrawn)
		want := evidence.Severity{Rating: evidence.SeverityHigh, Score: 7.5, Vector: high75, Source: "CVSS_V3", From: "CVE-2014-3616"}
		if f, _ := severityOf(t, db, nginx); f.Severity != want {
			t.Errorf("DSA-3029-1 rated %+v, want %+v", f.Severity, want)
		}
	})
	t.Run("a joined notice brings no other CVE's rating", func(t *testing.T) {
		// the component's own CVE record is unrated; the notice also fixes
		// CVE-2023-5678, rated critical in a record of another release
		own := osRecord("UBUNTU-CVE-2024-0727", "Ubuntu:Pro:18.04:LTS", "openssl", "1.1.1-1ubuntu2.1~18.04.23+esm4")
		own.Upstream = []string{"CVE-2024-0727"}
		other := osRecord("UBUNTU-CVE-2023-5678", "Ubuntu:24.04:LTS", "openssl", "3.0.10-1ubuntu2.2")
		other.Upstream, other.Severity = []string{"CVE-2023-5678"}, cvss(critical98)
		purl := "pkg:deb/ubuntu/libssl1.1@1.1.1-1ubuntu2.1~18.04.23+esm3?upstream=openssl&distro=ubuntu-18.04"
		db := attackDB(t, []string{"os/Ubuntu/USN-6632-1.json"}, own, other)
		m, err := Match(context.Background(), db, []evidence.Component{{PURL: purl}})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]evidence.Finding{}
		for _, f := range m.Findings {
			byID[f.ID] = f
		}
		f := byID["UBUNTU-CVE-2024-0727"]
		if len(m.Findings) != 2 || !slices.Equal(f.Advisories, []string{"UBUNTU-CVE-2024-0727", "USN-6632-1"}) || slices.Contains(f.IDs(), "CVE-2023-5678") {
			t.Errorf("findings %+v: want UBUNTU-CVE-2024-0727 with the notice joined, not named CVE-2023-5678, and the notice's own", m.Findings)
		}
		if f.Severity != (evidence.Severity{Rating: evidence.SeverityUnknown}) {
			t.Errorf("CVE-2024-0727 rated %+v through the notice's other CVE, want unknown", f.Severity)
		}
		// CVE-2023-5678 matched no record of its own here: the notice
		// stands for it, rated by its record of another release
		rest := byID["USN-6632-1"]
		want := evidence.Severity{Rating: evidence.SeverityCritical, Score: 9.8, Vector: critical98, Source: "CVSS_V3", From: "UBUNTU-CVE-2023-5678"}
		if !slices.Contains(rest.IDs(), "CVE-2023-5678") || slices.Contains(rest.IDs(), "CVE-2024-0727") || rest.Severity != want {
			t.Errorf("the notice's own finding %+v: want it named CVE-2023-5678 alone, rated %+v", rest, want)
		}
		// alone, the notice is a finding of both its CVEs, rated by the
		// highest of them, which it names
		db = attackDB(t, []string{"os/Ubuntu/USN-6632-1.json"}, other)
		f, n := severityOf(t, db, purl)
		if n != 1 || f.ID != "USN-6632-1" || !slices.Contains(f.IDs(), "CVE-2023-5678") || !slices.Contains(f.IDs(), "CVE-2024-0727") || f.Severity != want {
			t.Errorf("notice alone: %d findings, %+v; want USN-6632-1 named both CVEs, rated %+v", n, f, want)
		}
	})
	t.Run("alias cycles", func(t *testing.T) {
		a := osRecord("DLA-1-1", "Debian:7", "nginx", "1.2.1-2.2+wheezy3")
		b := osRecord("DLA-2-1", "Debian:7", "nginx", "1.2.1-2.2+wheezy3")
		c := osRecord("DLA-3-1", "Debian:7", "nginx", "1.2.1-2.2+wheezy3")
		a.Aliases, b.Aliases, c.Aliases = []string{"DLA-2-1"}, []string{"DLA-3-1"}, []string{"DLA-1-1", "DLA-3-1"}
		db := attackDB(t, nil, a, b, c)
		f, n := severityOf(t, db, nginx)
		if n != 1 || !slices.Equal(f.Advisories, []string{"DLA-1-1", "DLA-2-1", "DLA-3-1"}) || f.Severity.Rating != evidence.SeverityUnknown {
			t.Errorf("%d findings, %+v; want one of the three, unrated", n, f)
		}
	})
}

// Hostile epochs, source qualifiers and versions neither crash the matcher
// nor hide the vulnerable package: a non-numeric or negative RPM epoch is
// still matched (ALSA-2022:7288 fixes 1:3.0.1-43.el9_0); a source version
// of 10,000 digits is ordered, not overflowed.
func TestAttackHostileEpochsAndVersions(t *testing.T) {
	db := attackDB(t, []string{"almalinux/ALSA-2022-7288.json", "os/Ubuntu/UBUNTU-CVE-2021-3782.json"})
	alma := "pkg:rpm/almalinux/openssl@3.0.1-41.el9_0?distro=almalinux-9.0&epoch="
	huge := strings.Repeat("9", 10_000)
	below := "pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland%401.20.0-0." + huge
	above := "pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland%40" + huge + ".0-1"
	got := outcomes(t, db, []string{alma + "1", alma + "abc", alma + "-1", alma + "1%3A1", below, above})
	for _, purl := range []string{alma + "1", alma + "abc", alma + "-1", alma + "1%3A1"} {
		if o := got[purl]; !slices.Equal(o.findings, []string{"ALSA-2022:7288"}) {
			t.Errorf("%s: %+v, want ALSA-2022:7288", purl, o)
		}
	}
	if o := got[below]; !slices.Equal(o.findings, []string{"UBUNTU-CVE-2021-3782"}) {
		t.Errorf("source version 1.20.0-0.9…9: %+v, want UBUNTU-CVE-2021-3782 (below the fix 1.20.0-1ubuntu0.1)", o.findings)
	}
	if o := got[above]; !o.checked || len(o.findings) != 0 {
		t.Errorf("source version 9…9.0-1: %+v, want checked, above every fix", o)
	}
}

// A Red Hat product built for RHEL is not RHEL: its records
// ("Red Hat:red_hat_single_sign_on:7::el6", Red Hat SSO 7 built for RHEL
// 6) are neither data about RHEL 7 — a RHEL 7 package is not checked
// against a database holding only them — nor about a RHEL package of the
// same name. RHEL's own streams are: the mainstream and ELS streams by the
// major release (RHEL 10's mainstream CPEs name the minor release,
// "enterprise_linux:10.0"), the extended streams by the minor release the
// build names (".el8_6").
func TestAttackRedHatLayeredProductIsNotARHELRelease(t *testing.T) {
	sso := osRecord("RHSA-2099:0001", "Red Hat:red_hat_single_sign_on:7::el6", "rh-sso7-keycloak", "0:18.0.2-1.el6sso")
	sso.Upstream, sso.Severity = []string{"CVE-2099-0001"}, cvss(high75)
	rhel7 := "pkg:rpm/redhat/openssl-libs@1.0.2k-25.el7_9?arch=x86_64&epoch=1&distro=rhel-7.9&upstream=openssl-1.0.2k-25.el7_9.src.rpm"
	got := outcomes(t, attackDB(t, nil, sso), []string{rhel7})
	if o := got[rhel7]; o.checked || o.reason != "no advisory data for Red Hat:7 in the database: import the Red Hat records" {
		t.Errorf("RHEL 7 openssl-libs against a database holding only Red Hat SSO 7 (el6) records: %+v; want not checked: no advisory data for Red Hat:7", o)
	}

	server := osRecord("RHSA-2099:0002", "Red Hat:enterprise_linux:7::server", "openssl-libs", "1:1.0.2k-26.el7_9")
	els := osRecord("RHSA-2099:0003", "Red Hat:rhel_els:7", "sudo", "0:1.9.5p2-10.el7_9")
	rhel10 := osRecord("RHSA-2099:0004", "Red Hat:enterprise_linux:10.0", "curl", "0:8.12.1-2.el10_0")
	db := attackDB(t, nil, sso, server, els, rhel10)
	keycloak := "pkg:rpm/redhat/rh-sso7-keycloak@17.0.0-1.el7?arch=noarch&distro=rhel-7.9"
	sudo := "pkg:rpm/redhat/sudo@1.9.5p2-9.el7?arch=x86_64&distro=rhel-7.9"
	curl := "pkg:rpm/redhat/curl@8.12.1-1.el10?arch=x86_64&distro=rhel-10.1"
	got = outcomes(t, db, []string{rhel7, keycloak, sudo, curl})
	for purl, want := range map[string][]string{rhel7: {"RHSA-2099:0002"}, keycloak: nil, sudo: {"RHSA-2099:0003"}, curl: {"RHSA-2099:0004"}} {
		if o := got[purl]; !o.checked || !slices.Equal(o.findings, want) {
			t.Errorf("%s: %+v, want checked with findings %v", purl, o, want)
		}
	}

	for _, tc := range []struct {
		releases []string
		release  string
		want     bool
	}{
		{[]string{"7"}, "enterprise_linux:7::server", true},
		{[]string{"7"}, "enterprise_linux:7::workstation", true},
		{[]string{"7"}, "rhel_els:7", true},
		{[]string{"7"}, "red_hat_single_sign_on:7::el6", false},
		{[]string{"7"}, "rhel_software_collections:3::el7", false},
		{[]string{"9"}, "openshift:4.16::el9", false},
		{[]string{"9"}, "enterprise_linux:9::appstream", true},
		{[]string{"9"}, "enterprise_linux:8::appstream", false},
		{[]string{"10"}, "enterprise_linux:10.0", true},
		{[]string{"10"}, "enterprise_linux:1", false},
		{[]string{"8"}, "rhel_eus:8.6::baseos", false}, // built for the mainstream, not the 8.6 streams
		{[]string{"8", "8.6"}, "rhel_eus:8.6::baseos", true},
		{[]string{"8", "8.6"}, "rhel_e4s:8.6::appstream", true},
		{[]string{"8", "8.6"}, "rhel_aus:8.4::appstream", false},
		{[]string{"8", "8.6"}, "rhel_eus:8::baseos", false},
		{[]string{"8", "8.6"}, "enterprise_linux", false},
		{[]string{"8", "8.6"}, "enterprise_linux::8", false},
	} {
		if got := (Package{Ecosystem: "Red Hat", Releases: tc.releases}).inRelease(tc.release); got != tc.want {
			t.Errorf("a RHEL package of releases %v in %q: %v, want %v", tc.releases, tc.release, got, tc.want)
		}
	}
}

// A distribution's advisory that lists several CVEs in aliases (Debian's
// converter writes every CVE a DSA or DLA fixes there; DSA-3029-1 is of
// that generation) is a notice, as one naming them in upstream is: it joins
// the finding of each CVE, so a VEX statement about one CVE leaves the
// other reported. Alone it is one finding naming both, as a USN alone is.
// A language ecosystem's record listing two CVEs (a GHSA) stays one
// advisory, grouped with the other records of its names as OSV's other
// consumers group it.
func TestAttackDSAAliasesDoNotMergeItsCVEs(t *testing.T) {
	dsa := osRecord("DSA-9999-1", "Debian:11", "foo", "1.0-2")
	dsa.Aliases = []string{"CVE-2099-1001", "CVE-2099-1002"}
	a := osRecord("DEBIAN-CVE-2099-1001", "Debian:11", "foo", "1.0-2")
	a.Upstream = []string{"CVE-2099-1001"}
	b := osRecord("DEBIAN-CVE-2099-1002", "Debian:11", "foo", "1.0-2")
	b.Upstream = []string{"CVE-2099-1002"}
	purl := "pkg:deb/debian/foo@1.0-1?distro=debian-11"
	m, err := Match(context.Background(), attackDB(t, nil, dsa, a, b), []evidence.Component{{PURL: purl}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range m.Findings {
		ids = append(ids, f.ID+" "+strings.Join(f.Advisories, ","))
	}
	if want := []string{"DEBIAN-CVE-2099-1001 DEBIAN-CVE-2099-1001,DSA-9999-1", "DEBIAN-CVE-2099-1002 DEBIAN-CVE-2099-1002,DSA-9999-1"}; !slices.Equal(ids, want) {
		t.Errorf("findings %q: want one per CVE, the DSA joined to each: %q", ids, want)
	}
	vexPath := filepath.Join(t.TempDir(), "vex.json")
	doc := fmt.Sprintf(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"vendor","timestamp":"2024-01-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2099-1001"},"products":[{"@id":%q}],"status":"not_affected","justification":"vulnerable_code_not_present"}]}`, purl)
	if err := os.WriteFile(vexPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := LoadVEX(vexPath)
	if err != nil {
		t.Fatal(err)
	}
	v.Apply(m.Findings, nil)
	for _, f := range m.Findings {
		if suppressed, about1001 := f.Suppression != nil, slices.Contains(f.IDs(), "CVE-2099-1001"); suppressed != about1001 {
			t.Errorf("%s (names %v): suppressed %v by a not_affected statement about CVE-2099-1001 alone", f.ID, f.IDs(), suppressed)
		}
	}

	// with a record of one CVE only, the DSA joins that CVE's finding and
	// stands for the other: no CVE it names goes unreported
	m, err = Match(context.Background(), attackDB(t, nil, dsa, a), []evidence.Component{{PURL: purl}})
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, f := range m.Findings {
		ids = append(ids, f.ID+" "+strings.Join(f.Advisories, ",")+" "+strings.Join(f.Aliases, ","))
	}
	if want := []string{"DEBIAN-CVE-2099-1001 DEBIAN-CVE-2099-1001,DSA-9999-1 CVE-2099-1001,DSA-9999-1", "DSA-9999-1 DSA-9999-1 CVE-2099-1002"}; !slices.Equal(ids, want) {
		t.Errorf("the DSA beside one CVE's record: %q, want %q", ids, want)
	}

	// alone, the DSA is one finding naming both CVEs
	m, err = Match(context.Background(), attackDB(t, nil, dsa), []evidence.Component{{PURL: purl}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Findings) != 1 || m.Findings[0].ID != "DSA-9999-1" || !slices.Equal(m.Findings[0].Aliases, []string{"CVE-2099-1001", "CVE-2099-1002"}) {
		t.Errorf("the DSA alone: %+v, want one finding DSA-9999-1 named CVE-2099-1001 and CVE-2099-1002", m.Findings)
	}

	// a GHSA naming two CVEs is not a notice: it and a record of one of
	// them are one finding
	ghsa := &vulndb.Record{ID: "GHSA-aaaa-bbbb-cccc", Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Aliases: []string{"CVE-2099-2001", "CVE-2099-2002"},
		Affected: []vulndb.Affected{{Package: vulndb.Package{Ecosystem: "npm", Name: "foo"}, Versions: []string{"1.0.0"}}}}
	other := &vulndb.Record{ID: "GHSA-dddd-eeee-ffff", Modified: ghsa.Modified, Aliases: []string{"CVE-2099-2001"}, Affected: ghsa.Affected}
	m, err = Match(context.Background(), attackDB(t, nil, ghsa, other), []evidence.Component{{PURL: "pkg:npm/foo@1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Findings) != 1 || !slices.Equal(m.Findings[0].Aliases, []string{"CVE-2099-2001", "CVE-2099-2002", "GHSA-dddd-eeee-ffff"}) {
		t.Errorf("npm GHSA naming two CVEs: %+v, want one finding of both GHSAs named both CVEs", m.Findings)
	}
}

// An upstream qualifier that names no source package ("@", "@1.20.0-1",
// "wayland@", an RPM name that is no source RPM file) is not the binary's
// name: syft writes the qualifier only when the package database names a
// source, so the component is not checked, the reason naming the
// qualifier, where an empty name would have been checked against nothing.
func TestAttackEmptySourcePackageIsNotChecked(t *testing.T) {
	db := attackDB(t, []string{"os/Ubuntu/UBUNTU-CVE-2021-3782.json"}, osRecord("openSUSE-SU-2099:0001-1", "openSUSE:Leap 15.6", "openssl-3", "3.1.4-150600.5.16.1"))
	for purl, upstream := range map[string]string{
		"pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=%40":                                       "@",
		"pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=%401.20.0-1":                               "@1.20.0-1",
		"pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland%40":                                "wayland@",
		"pkg:rpm/opensuse/libopenssl3@3.1.4-150600.5.15.1?distro=opensuse-leap-15.6&upstream=-.src.rpm":                     "-.src.rpm",
		"pkg:rpm/opensuse/libopenssl3@3.1.4-150600.5.15.1?distro=opensuse-leap-15.6&upstream=openssl-3-.src.rpm":            "openssl-3-.src.rpm",
		"pkg:rpm/opensuse/libopenssl3@3.1.4-150600.5.15.1?distro=opensuse-leap-15.6&upstream=openssl-3-3.1.4-150600.5.15.1": "openssl-3-3.1.4-150600.5.15.1",
	} {
		o := outcomes(t, db, []string{purl})[purl]
		if o.checked || !strings.Contains(o.reason, fmt.Sprintf("upstream qualifier %q", upstream)) {
			t.Errorf("%s: %+v; want not checked, the reason naming upstream qualifier %q", purl, o, upstream)
		}
	}
	// well-formed, the same packages are checked and found
	for _, purl := range []string{
		"pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland",
		"pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland%401.20.0-1",
		"pkg:rpm/opensuse/libopenssl3@3.1.4-150600.5.15.1?distro=opensuse-leap-15.6&upstream=openssl-3-3.1.4-150600.5.15.1.src.rpm",
	} {
		if o := outcomes(t, db, []string{purl})[purl]; !o.checked || len(o.findings) != 1 {
			t.Errorf("%s: %+v; want checked, one finding", purl, o)
		}
	}
}

// A database whose only records of a release are withdrawn holds no data
// about it: the release's packages are not checked. One live record beside
// the withdrawn one is data again.
func TestAttackWithdrawnRecordsAreNoCoverage(t *testing.T) {
	w := osRecord("DEBIAN-CVE-2099-0009", "Debian:12", "zlib", "1:1.3-1")
	w.Upstream, w.Withdrawn = []string{"CVE-2099-0009"}, &time.Time{}
	purl := "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12&upstream=zlib"
	if o := outcomes(t, attackDB(t, nil, w), []string{purl})[purl]; o.checked || o.reason != "no advisory data for Debian:12 in the database: import the Debian records" {
		t.Errorf("%s: %+v against a database whose only Debian:12 record is withdrawn; want not checked: no advisory data for Debian:12", purl, o)
	}
	live := osRecord("DEBIAN-CVE-2099-0010", "Debian:12", "openssl", "3.0.99-1")
	live.Upstream = []string{"CVE-2099-0010"}
	if o := outcomes(t, attackDB(t, nil, w, live), []string{purl})[purl]; !o.checked || len(o.findings) != 0 {
		t.Errorf("%s: %+v; want checked, no finding (the withdrawn record ignored)", purl, o)
	}
}

// An SBOM whose components each name another release (distro=photon-N.0,
// or openEuler build tags naming releases) is counted per release, each
// not checked with its reason, in linear time (BenchmarkMatchManyDistinctReleases
// measures it: the coverage is counted through an index, not a search of
// every release counted so far).
func TestAttackManyDistinctReleasesAreCountedApart(t *testing.T) {
	db := attackDB(t, []string{"os/Ubuntu/USN-5614-1.json"})
	const n = 20_000
	comps := distinctReleases(n)
	wayland := evidence.Component{PURL: "pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland"}
	comps = append(comps, comps[7], wayland, wayland) // a release twice, a checked component twice
	m, err := Match(context.Background(), db, comps)
	if err != nil {
		t.Fatal(err)
	}
	if m.Stats.Components != n+3 || m.Stats.Unmatched != n+1 || m.Stats.Checked != 1 || len(m.Coverage) != n+1 {
		t.Fatalf("stats %+v, %d coverage entries; want %d components, %d not checked, 1 checked, %d entries", m.Stats, len(m.Coverage), n+3, n+1, n+1)
	}
	for i, c := range m.Coverage {
		want := EcosystemCoverage{Ecosystem: "Photon OS:" + c.Ecosystem[len("Photon OS:"):], NotChecked: 1}
		switch {
		case c.Ecosystem == "Ubuntu:22.04:LTS":
			want = EcosystemCoverage{Ecosystem: c.Ecosystem, Checked: 1}
		case c.Ecosystem == "Photon OS:7.0":
			want.NotChecked = 2
		}
		if c != want || i > 0 && m.Coverage[i-1].Ecosystem >= c.Ecosystem {
			t.Fatalf("coverage[%d] = %+v, want %+v, in order after %+v", i, c, want, m.Coverage[max(i-1, 0)])
		}
	}
	for _, u := range m.Unmatched {
		release := strings.TrimPrefix(u.Component.PURL, "pkg:rpm/photon/openssl@3.0.9-2.ph5?distro=photon-")
		if want := "no advisory data for Photon OS:" + release + " in the database: import the Photon OS records"; u.Reason != want {
			t.Fatalf("%s: %q, want %q", u.Component.PURL, u.Reason, want)
		}
	}
}

// BenchmarkMatchManyDistinctReleases matches 80,000 components each of
// another release, none of which the database covers.
func BenchmarkMatchManyDistinctReleases(b *testing.B) {
	db := attackDB(b, []string{"os/Ubuntu/USN-5614-1.json"})
	comps := distinctReleases(80_000)
	for b.Loop() {
		if _, err := Match(context.Background(), db, comps); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(comps)), "components/op")
}

// distinctReleases are n Photon OS components, each of another release.
func distinctReleases(n int) []evidence.Component {
	comps := make([]evidence.Component, n)
	for i := range comps {
		comps[i] = evidence.Component{PURL: fmt.Sprintf("pkg:rpm/photon/openssl@3.0.9-2.ph5?distro=photon-%d.0", i)}
	}
	return comps
}
