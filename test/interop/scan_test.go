package interop

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/package-url/packageurl-go"
	"golang.org/x/mod/semver"

	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// finding is the (package, version, advisory) triple both tools report.
type finding struct{ Package, Version, Advisory string }

func (f finding) String() string { return f.Package + "@" + f.Version + " " + f.Advisory }

// advisoryDBs imports ../shared/vulndata's zips into a dossier database and
// lays the same zips out as osv-scanner's offline database.
func advisoryDBs(t *testing.T) (dossierDir, osvDir string) {
	t.Helper()
	zips, err := filepath.Glob(filepath.Join(testutil.VulnData(t), "osv", "*", "all.zip"))
	if err != nil || len(zips) == 0 {
		t.Fatalf("no OSV zips: %v", err)
	}
	dossierDir, osvDir = t.TempDir(), t.TempDir()
	if _, err := vulndb.Import(context.Background(), dossierDir, zips, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, z := range zips {
		dst := filepath.Join(osvDir, "osv-scalibr", filepath.Base(filepath.Dir(z)))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(z, filepath.Join(dst, "all.zip")); err != nil {
			t.Fatal(err)
		}
	}
	// The shared data has no Debian zip, only one real Debian record: both
	// tools get it, so the Debian sample is compared on the same data.
	debian := filepath.Join(testutil.VulnData(t), "records", "debian", "DSA-3029-1.json")
	if _, err := vulndb.Import(context.Background(), dossierDir, []string{debian}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(debian)
	if err != nil {
		t.Fatal(err)
	}
	debianZip := filepath.Join(osvDir, "osv-scalibr", "Debian", "all.zip")
	if err := os.MkdirAll(filepath.Dir(debianZip), 0o755); err != nil {
		t.Fatal(err)
	}
	writeZip(t, debianZip, "DSA-3029-1.json", data)
	return dossierDir, osvDir
}

func writeZip(t *testing.T, path, name string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.Create(name)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func dossierFindings(t *testing.T, dataDir, sbomFile string) map[finding]bool {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main([]string{"scan", "--data-dir", dataDir, "--sbom", sbomFile, "-o", "json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("dossier scan %s: exit %d: %s", sbomFile, code, errOut.String())
	}
	var report struct {
		Findings []struct {
			Advisories []string
			Component  struct{ Name, Version string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	set := map[finding]bool{}
	for _, f := range report.Findings {
		for _, a := range f.Advisories {
			set[finding{f.Component.Name, f.Component.Version, a}] = true
		}
	}
	return set
}

func osvScannerFindings(t *testing.T, osvDir, sbomFile string) map[finding]bool {
	t.Helper()
	cmd := exec.Command(testutil.Peer(t, "osv-scanner"), "scan", "source", "--offline", "--local-db-path", osvDir, "-L", sbomFile, "--format", "json")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) { // 1: vulnerabilities found
		t.Fatalf("osv-scanner on %s: %v: %s", sbomFile, err, errOut.String())
	}
	var report struct {
		Results []struct {
			Packages []struct {
				Package         struct{ Name, Version string }
				Vulnerabilities []struct{ ID string }
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("osv-scanner output: %v", err)
	}
	set := map[finding]bool{}
	for _, r := range report.Results {
		for _, p := range r.Packages {
			for _, v := range p.Vulnerabilities {
				set[finding{p.Package.Name, p.Package.Version, v.ID}] = true
			}
		}
	}
	return set
}

// osvScannerError explains a finding only osv-scanner reports, with
// evidence, or returns "" when there is no documented explanation.
//
// Documented error: osv-scanner compares the Go toolchain version as the
// SBOM's component version records it ("go1.26.8"), without removing the
// "go" prefix, so every stdlib advisory whose range starts at 0 matches.
// The evidence is computed with golang.org/x/mod/semver, independently of
// dossier's comparators: the real version is outside every range.
func osvScannerError(t *testing.T, f finding, records map[string]*vulndb.Record) string {
	if f.Package != "stdlib" || !strings.HasPrefix(f.Version, "go") {
		return ""
	}
	r := records[f.Advisory]
	if r == nil {
		return ""
	}
	v := "v" + strings.TrimPrefix(f.Version, "go")
	for _, a := range r.Affected {
		if a.Package.Name != "stdlib" {
			continue
		}
		for _, rg := range a.Ranges {
			if semverRangeContains(v, rg.Events) {
				return ""
			}
		}
	}
	return fmt.Sprintf("osv-scanner compared %q literally; %s is outside every range of %s", f.Version, v, f.Advisory)
}

func semverRangeContains(v string, events []vulndb.Event) bool {
	sorted := append([]vulndb.Event{}, events...)
	key := func(e vulndb.Event) string {
		s := e.Introduced + e.Fixed + e.LastAffected
		if s == "0" {
			return "v0.0.0-0"
		}
		return "v" + s
	}
	sort.SliceStable(sorted, func(i, j int) bool { return semver.Compare(key(sorted[i]), key(sorted[j])) < 0 })
	in := false
	for _, e := range sorted {
		switch {
		case e.Introduced != "" && semver.Compare(v, key(e)) >= 0:
			in = true
		case e.Fixed != "" && semver.Compare(v, key(e)) >= 0:
			in = false
		case e.LastAffected != "" && semver.Compare(v, key(e)) > 0:
			in = false
		}
	}
	return in
}

func TestScanMatchesOSVScanner(t *testing.T) {
	dossierDB, osvDB := advisoryDBs(t)
	db, err := vulndb.Open(dossierDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lockfiles := filepath.Join("testdata", "lockfiles")
	inputs := map[string]string{
		"go-app image":  "oci-layout:" + testutil.SampleLayout("go-app"),
		"npm-app image": "oci-layout:" + testutil.SampleLayout("npm-app"),
		// the shared data's one Debian record is for Debian 7 nginx, which
		// no sample image holds: this SBOM has the affected wheezy build, the
		// fixed one, and Debian 12's (another release: must not match)
		"debian nginx SBOM": "sbom:" + filepath.Join("testdata", "sboms", "debian-nginx.cdx.json"),
		"go.mod":            "dir:" + filepath.Join(testutil.RepoRoot(), "samples", "src", "go-app"),
		"package-lock.json": "dir:" + filepath.Join(testutil.RepoRoot(), "samples", "src", "npm-app"),
		"requirements.txt":  "dir:" + filepath.Join(lockfiles, "python"),
		"Cargo.lock":        "dir:" + filepath.Join(lockfiles, "rust"),
		"pom.xml":           "dir:" + filepath.Join(lockfiles, "maven"),
	}
	// each input must produce findings both tools agree on, so the
	// comparison cannot pass by both finding nothing
	mustFind := map[string]string{
		"go-app image": "GO-2021-0113", "npm-app image": "GHSA-xvch-5gv4-984h", "go.mod": "GO-2022-1059",
		"package-lock.json": "GHSA-35jh-r3h4-6jhm", "requirements.txt": "PYSEC-2021-108",
		"Cargo.lock": "RUSTSEC-2021-0003", "pom.xml": "GHSA-jfh8-c2jp-5v3q", "debian nginx SBOM": "DSA-3029-1",
	}
	// findings neither tool may report: another release's or the fixed build
	mustNotFind := map[string][]finding{
		"debian nginx SBOM": {{"nginx", "1.22.1-9", "DSA-3029-1"}, {"nginx", "1.2.1-2.2+wheezy3", "DSA-3029-1"}},
	}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sbomFile, given := strings.CutPrefix(inputs[name], "sbom:")
			if !given {
				sbomFile = filepath.Join(t.TempDir(), "input.cdx.json")
				if err := os.WriteFile(sbomFile, dossierSBOM(t, inputs[name], "cyclonedx-json"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ours := dossierFindings(t, dossierDB, sbomFile)
			theirs := osvScannerFindings(t, osvDB, sbomFile)
			records := map[string]*vulndb.Record{}
			for f := range theirs {
				if rs, err := db.Lookup(context.Background(), "Go", f.Package); err == nil {
					for _, r := range rs {
						records[r.ID] = r
					}
				}
			}
			documented := 0
			for f := range theirs {
				if ours[f] {
					continue
				}
				if why := osvScannerError(t, f, records); why != "" {
					documented++
					continue
				}
				t.Errorf("only osv-scanner: %s", f)
			}
			for f := range ours {
				if !theirs[f] {
					t.Errorf("only dossier: %s", f)
				}
			}
			if want := mustFind[name]; want != "" {
				found := false
				for f := range ours {
					found = found || (f.Advisory == want && theirs[f])
				}
				if !found {
					t.Errorf("neither tool reported %s", want)
				}
			}
			for _, f := range mustNotFind[name] {
				if ours[f] || theirs[f] {
					t.Errorf("%s reported (dossier %v, osv-scanner %v)", f, ours[f], theirs[f])
				}
			}
			t.Logf("%d findings agree; %d osv-scanner findings are its documented stdlib version error", len(ours), documented)
		})
	}
}

// TestSARIFValidates checks `dossier scan -o sarif` against the SARIF 2.1.0
// schema, with findings, locations and GitHub's security-severity.
func TestSARIFValidates(t *testing.T) {
	sarif := sarifSchema(t)
	dossierDB, _ := advisoryDBs(t)
	var out, errOut bytes.Buffer
	if code := cli.Main([]string{"scan", "--data-dir", dossierDB, "-o", "sarif", "oci-layout:" + testutil.SampleLayout("npm-app")}, nil, &out, &errOut); code != 0 {
		t.Fatalf("scan -o sarif: %s", errOut.String())
	}
	if err := sarif(t, out.Bytes()); err != nil {
		t.Fatalf("SARIF does not validate: %v", err)
	}
	for _, want := range []string{`"security-severity": "9.8"`, `"uri": "app/node_modules/minimist/package.json"`, `"ruleId": "GHSA-xvch-5gv4-984h"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("SARIF lacks %s", want)
		}
	}
	broken := bytes.Replace(out.Bytes(), []byte(`"version": "2.1.0"`), []byte(`"version": "1.0"`), 1)
	if err := sarif(t, broken); err == nil {
		t.Fatal("the SARIF schema accepted version 1.0")
	}
}

// TestScanUbuntuMatchesOSVScanner compares dossier and osv-scanner on real
// Ubuntu records (CVE, UBUNTU-CVE and USN generations) and an SBOM with the
// purls syft writes for jammy and a Pro bionic image. Every disagreement
// must be one of two, each shown from the record: osv-scanner looks a
// Debian-family package up by its binary name, while the records name the
// source package the purl's upstream qualifier gives (libssl3 → openssl);
// and it does not choose the Ubuntu Pro stream for a package built for Pro
// (+esm), whose records are Ubuntu:Pro:18.04:LTS only.
func TestScanUbuntuMatchesOSVScanner(t *testing.T) {
	records, err := filepath.Glob(filepath.Join(testutil.VulnData(t), "records", "os", "Ubuntu", "*.json"))
	if err != nil || len(records) == 0 {
		t.Fatalf("no Ubuntu records: %v", err)
	}
	dossierDB, osvDir := t.TempDir(), t.TempDir()
	zipPath := filepath.Join(osvDir, "osv-scalibr", "Ubuntu", "all.zip")
	zipFiles(t, zipPath, records)
	byID := map[string]*vulndb.Record{}
	for _, path := range records {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := vulndb.ParseRecord(data, path)
		if err != nil {
			t.Fatal(err)
		}
		byID[r.ID] = r
	}
	if _, err := vulndb.Import(context.Background(), dossierDB, []string{zipPath}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sbomFile := filepath.Join("testdata", "sboms", "ubuntu.cdx.json")
	purls := map[[2]string]string{} // name, version → purl
	var sbom struct {
		Components []struct{ Name, Version, Purl string }
	}
	if data, err := os.ReadFile(sbomFile); err != nil || json.Unmarshal(data, &sbom) != nil {
		t.Fatalf("reading %s: %v", sbomFile, err)
	}
	for _, c := range sbom.Components {
		purls[[2]string{c.Name, c.Version}] = c.Purl
	}
	ours, theirs := dossierFindings(t, dossierDB, sbomFile), osvScannerFindings(t, osvDir, sbomFile)
	// names reports whether a record names package in an ecosystem that
	// starts with prefix
	names := func(advisory, prefix, pkg string) bool {
		r := byID[advisory]
		return r != nil && slices.ContainsFunc(r.Affected, func(a vulndb.Affected) bool {
			return strings.HasPrefix(a.Package.Ecosystem, prefix) && a.Package.Name == pkg
		})
	}
	agreed, bySource, byPro := 0, 0, 0
	for f := range ours {
		if theirs[f] {
			agreed++
			continue
		}
		p, err := packageurl.FromString(purls[[2]string{f.Package, f.Version}])
		if err != nil {
			t.Errorf("only dossier: %s (no purl in the SBOM: %v)", f, err)
			continue
		}
		source, _, _ := strings.Cut(p.Qualifiers.Map()["upstream"], "@")
		switch {
		case strings.Contains(f.Version, "+esm") && names(f.Advisory, "Ubuntu:Pro:", sourceOr(source, f.Package)) && !names(f.Advisory, "Ubuntu:18.04", sourceOr(source, f.Package)):
			byPro++
		case source != "" && source != f.Package && names(f.Advisory, "Ubuntu:", source) && !names(f.Advisory, "Ubuntu:", f.Package):
			bySource++
		default:
			t.Errorf("only dossier: %s, unexplained", f)
		}
	}
	for f := range theirs {
		if !ours[f] {
			t.Errorf("only osv-scanner: %s", f)
		}
	}
	if agreed < 2 || bySource < 2 || byPro < 1 {
		t.Errorf("agreed %d, binary-name %d, Pro %d: the comparison does not exercise what it claims (dossier %v, osv-scanner %v)", agreed, bySource, byPro, ours, theirs)
	}
	t.Logf("%d findings agree; only dossier: %d by the source package osv-scanner does not look up, %d in the Pro stream it does not choose", agreed, bySource, byPro)
}

func sourceOr(source, name string) string {
	if source != "" {
		return source
	}
	return name
}

// Alpaquita, Echo and Photon OS packages, as syft names them, against
// osv-scanner on the same real records (internal/scan/testdata/os): every
// finding dossier reports that osv-scanner does not is one osv-scanner
// cannot look up — it names an Alpaquita package Alpine (and finds no
// Alpaquita record), and skips Echo's deb and Photon's rpm purls as
// unscannable — asserted here, so that a change on either side shows.
func TestScanOtherDistributionsAgainstOSVScanner(t *testing.T) {
	dossierDB, osvDir := t.TempDir(), t.TempDir()
	records := filepath.Join("..", "..", "internal", "scan", "testdata", "os")
	var zips []string
	for ecosystem, dir := range map[string]string{"Alpaquita": "Alpaquita", "BellSoft Hardened Containers": "Alpaquita", "Echo": "Echo", "Photon OS": "PhotonOS", "Alpine": ""} {
		paths := []string{}
		if dir != "" {
			var err error
			if paths, err = filepath.Glob(filepath.Join(records, dir, "*.json")); err != nil || len(paths) == 0 {
				t.Fatalf("no %s records: %v", ecosystem, err)
			}
		}
		zipPath := filepath.Join(osvDir, "osv-scalibr", ecosystem, "all.zip")
		zipFiles(t, zipPath, paths) // Alpine's is empty: osv-scanner opens it for the Alpaquita purls
		if dir != "" && ecosystem != "BellSoft Hardened Containers" {
			zips = append(zips, zipPath)
		}
	}
	if _, err := vulndb.Import(context.Background(), dossierDB, zips, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sbomFile := filepath.Join("testdata", "sboms", "distributions.cdx.json")
	ours, theirs := dossierFindings(t, dossierDB, sbomFile), osvScannerFindings(t, osvDir, sbomFile)
	unnamed := map[string]string{ // package → why osv-scanner cannot look it up
		"libcrypto3": "named Alpine", "openssl": "named Alpine",
		"openssh-client": "skipped", "openssh": "skipped", "libcurl": "skipped", "curl": "skipped",
	}
	classified := map[string]int{}
	for f := range ours {
		if theirs[f] {
			classified["agreed"]++
			continue
		}
		why, ok := unnamed[f.Package]
		if !ok {
			t.Errorf("only dossier: %s, unexplained", f)
			continue
		}
		classified[why]++
	}
	for f := range theirs {
		if !ours[f] {
			t.Errorf("only osv-scanner: %s", f)
		}
	}
	if classified["named Alpine"] < 2 || classified["skipped"] < 4 {
		t.Errorf("classified %v: the comparison does not exercise what it claims (dossier %v)", classified, ours)
	}
	t.Logf("%v", classified)
}

// zipFiles writes files into a zip at path, each under its base name.
func zipFiles(t *testing.T, path string, files []string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
