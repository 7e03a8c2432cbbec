package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// importedDataDir is a data directory of the test's own holding the real
// npm, Go and Maven advisories: imported once for the package with dossier
// db import, then copied, so that each test may write to its copy.
func importedDataDir(t *testing.T) string {
	t.Helper()
	vd := testutil.VulnData(t)
	imported.once.Do(func() {
		imported.dir, imported.err = os.MkdirTemp("", "dossier-cli-advisories-")
		if imported.err != nil {
			return
		}
		r := dossier(t, "", "db", "import", "--data-dir", imported.dir,
			filepath.Join(vd, "osv", "npm", "all.zip"), filepath.Join(vd, "osv", "Go", "all.zip"), filepath.Join(vd, "osv", "Maven", "all.zip"))
		if r.code != 0 {
			imported.err = fmt.Errorf("db import: %+v", r)
		}
	})
	if imported.err != nil {
		t.Fatal(imported.err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(dir, os.DirFS(imported.dir)); err != nil {
		t.Fatalf("copying the imported advisories: %v", err)
	}
	return dir
}

// imported is the package's one import of advisories (TestMain removes it).
var imported struct {
	once sync.Once
	dir  string
	err  error
}

type scanReport struct {
	Subject  struct{ Repository, Digest string }
	Database struct{ AgeHours float64 }
	Summary  struct {
		Total, Suppressed, HiddenNotFixed, UnknownFixState int
		BySeverity                                         map[string]int
	}
	Findings   []struct{ ID string }
	Suppressed []struct {
		ID          string
		Suppression struct{ Kind, Status, Justification, Owner string }
	}
	Warnings []string
}

func scanJSON(t *testing.T, args ...string) (scanReport, run) {
	t.Helper()
	r := dossier(t, "", append([]string{"scan", "-o", "json"}, args...)...)
	var rep scanReport
	if r.code == ExitError {
		t.Fatalf("scan %v: %+v", args, r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("scan %v: %v\n%s", args, err, r.stdout)
	}
	return rep, r
}

func TestScanImageGatesAndOutputs(t *testing.T) {
	dir := importedDataDir(t)
	src := "oci-layout:" + testutil.SampleLayout("npm-app")
	rep, r := scanJSON(t, "--data-dir", dir, src)
	if r.code != 0 || rep.Summary.Total != 2 || rep.Summary.BySeverity["critical"] != 1 || rep.Summary.BySeverity["high"] != 1 {
		t.Fatalf("scan: %+v %+v", rep.Summary, r)
	}
	if rep.Subject.Digest != testutil.SampleImageDigest(t, "npm-app", "amd64") {
		t.Fatalf("subject %+v", rep.Subject)
	}
	if r := dossier(t, "", "scan", "--data-dir", dir, src, "--fail-on", "critical"); r.code != ExitGateFailed || !strings.Contains(r.stderr, "1 findings at or above critical") {
		t.Fatalf("--fail-on critical: %+v", r)
	}
	if r := dossier(t, "", "scan", "--data-dir", dir, src, "--fail-on", "bogus"); r.code != ExitError {
		t.Fatalf("--fail-on bogus: %+v", r)
	}
	table := dossier(t, "", "scan", "--data-dir", dir, src)
	for _, want := range []string{"SEVERITY", "minimist", "1.2.6", "GHSA-xvch-5gv4-984h", "CVE-2021-44906"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, table.stdout)
		}
	}
	sarif := dossier(t, "", "scan", "--data-dir", dir, src, "-o", "sarif")
	var doc struct {
		Version string
		Runs    []struct {
			Results []struct{ RuleID string }
		}
	}
	if sarif.code != 0 || json.Unmarshal([]byte(sarif.stdout), &doc) != nil || doc.Version != "2.1.0" || len(doc.Runs[0].Results) != 2 {
		t.Fatalf("sarif: %+v", sarif)
	}
}

func TestScanUnknownSeverityFailsClosed(t *testing.T) {
	dir := importedDataDir(t)
	// the Go database rates nothing: its findings are of unknown severity
	r := dossier(t, "", "scan", "--data-dir", dir, "oci-layout:"+testutil.SampleLayout("go-app"), "--fail-on", "critical")
	if r.code != ExitGateFailed || !strings.Contains(r.stderr, "unknown severity") {
		t.Fatalf("unknown severities must fail the gate: %d %s", r.code, r.stderr)
	}
}

func TestScanVEXAndIgnoreRules(t *testing.T) {
	dir := importedDataDir(t)
	src := "oci-layout:" + testutil.SampleLayout("npm-app")
	digest := testutil.SampleImageDigest(t, "npm-app", "amd64")
	work := t.TempDir()
	vex := filepath.Join(work, "npm-app.openvex.json")
	writeFile(t, vex, fmt.Sprintf(`{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/npm-app-1",
  "author": "platform team",
  "timestamp": "2026-11-01T00:00:00Z",
  "version": 1,
  "statements": [{
    "vulnerability": {"name": "CVE-2021-44906"},
    "products": [{"@id": "pkg:oci/npm-app@%s", "subcomponents": [{"@id": "pkg:npm/minimist@1.2.5"}]}],
    "status": "not_affected",
    "justification": "vulnerable_code_not_in_execute_path"
  }]
}`, strings.Replace(digest, ":", "%3A", 1)))
	rep, r := scanJSON(t, "--data-dir", dir, src, "--vex", vex, "--fail-on", "critical")
	if r.code != 0 || rep.Summary.Total != 1 || rep.Summary.Suppressed != 1 || rep.Suppressed[0].ID != "GHSA-xvch-5gv4-984h" ||
		rep.Suppressed[0].Suppression.Justification != "vulnerable_code_not_in_execute_path" {
		t.Fatalf("VEX: exit %d %+v %+v", r.code, rep.Summary, rep.Suppressed)
	}

	future := time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	past := time.Now().AddDate(0, -1, 0).Format(time.DateOnly)
	rules := filepath.Join(work, "ignore.yaml")
	writeFile(t, rules, fmt.Sprintf(`ignore:
  - id: CVE-2021-23337
    package: pkg:npm/lodash
    digest: %s
    reason: template() is never called with user input
    owner: team-web
    expires: %s
  - id: GHSA-xvch-5gv4-984h
    reason: old exception
    owner: team-web
    expires: %s
`, digest, future, past))
	rep, r = scanJSON(t, "--data-dir", dir, src, "--ignore-file", rules)
	if rep.Summary.Suppressed != 1 || rep.Suppressed[0].ID != "GHSA-35jh-r3h4-6jhm" || rep.Suppressed[0].Suppression.Owner != "team-web" {
		t.Fatalf("ignore: %+v %+v", rep.Summary, rep.Suppressed)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "expired") || !strings.Contains(r.stderr, "expired") {
		t.Fatalf("an expired rule must be reported: %+v / %s", rep.Warnings, r.stderr)
	}
	// the same rule never applies to another digest
	other := filepath.Join(work, "other.yaml")
	writeFile(t, other, fmt.Sprintf("ignore:\n  - id: CVE-2021-23337\n    digest: sha256:%s\n    reason: r\n    owner: o\n    expires: %s\n", strings.Repeat("0", 64), future))
	if rep, _ = scanJSON(t, "--data-dir", dir, src, "--ignore-file", other); rep.Summary.Suppressed != 0 {
		t.Fatalf("a rule scoped to another digest applied: %+v", rep.Suppressed)
	}
	// rules without owner or expiry are refused
	bad := filepath.Join(work, "bad.yaml")
	writeFile(t, bad, "ignore:\n  - id: CVE-2021-23337\n    reason: r\n")
	if r := dossier(t, "", "scan", "--data-dir", dir, src, "--ignore-file", bad); r.code != ExitError || !strings.Contains(r.stderr, "missing owner, expires") {
		t.Fatalf("incomplete rule: %+v", r)
	}
}

func TestScanOnlyFixedReportsWhatItHides(t *testing.T) {
	dir := importedDataDir(t)
	rep, r := scanJSON(t, "--data-dir", dir, "oci-layout:"+testutil.SampleLayout("go-app"), "--only-fixed")
	if r.code != 0 || !strings.Contains(r.stderr, "--only-fixed: hid") || rep.Summary.Total == 0 {
		t.Fatalf("--only-fixed: %+v %s", rep.Summary, r.stderr)
	}
}

func TestScanSBOMFileAndErrors(t *testing.T) {
	dir := importedDataDir(t)
	sbomFile := filepath.Join(t.TempDir(), "npm.cdx.json")
	if r := dossier(t, "", "sbom", "oci-layout:"+testutil.SampleLayout("npm-app"), "--output-file", sbomFile); r.code != 0 {
		t.Fatal(r)
	}
	rep, r := scanJSON(t, "--data-dir", dir, "--sbom", sbomFile)
	if r.code != 0 || rep.Summary.Total != 2 || rep.Subject.Digest != testutil.SampleImageDigest(t, "npm-app", "amd64") {
		t.Fatalf("scan --sbom: %+v", rep)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--data-dir", t.TempDir(), "--sbom", sbomFile}, "dossier db import"},
		{[]string{"scan", "--data-dir", dir}, "either a SOURCE or --sbom"},
		{[]string{"scan", "--data-dir", dir, "--sbom", sbomFile, "--vex", sbomFile}, "OpenVEX"},
	} {
		if r := dossier(t, "", tt.args...); r.code != ExitError || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: %+v, want %q", tt.args, r, tt.want)
		}
	}
}

func TestDBStatusAndUpdate(t *testing.T) {
	vd := testutil.VulnData(t)
	zip, err := os.ReadFile(filepath.Join(vd, "osv", "npm", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/npm/all.zip" {
			http.NotFound(w, req)
			return
		}
		if req.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		served.Add(1)
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write(zip)
	}))
	defer srv.Close()
	dir := t.TempDir()
	r := dossier(t, "", "db", "update", "--data-dir", dir, "--base-url", srv.URL, "--ecosystem", "npm")
	if r.code != 0 || !strings.Contains(r.stdout, "2 records") {
		t.Fatalf("update: %+v", r)
	}
	r = dossier(t, "", "db", "update", "--data-dir", dir, "--base-url", srv.URL, "--ecosystem", "npm")
	if r.code != 0 || !strings.Contains(r.stdout, "up to date") || served.Load() != 1 {
		t.Fatalf("conditional update: %+v (served %d)", r, served.Load())
	}
	r = dossier(t, "", "db", "status", "--data-dir", dir, "-o", "json")
	var st struct {
		Ecosystems []struct {
			Ecosystem string
			Records   int
		}
		Stale bool
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Ecosystems) != 1 || st.Ecosystems[0].Records != 2 || st.Stale {
		t.Fatalf("status: %+v", r)
	}
	if r := dossier(t, "", "db", "status", "--data-dir", dir, "--max-age", "1ns"); !strings.Contains(r.stderr, "warning: advisory data was last imported") {
		t.Fatalf("stale warning: %+v", r)
	}
	srv.Close()
	if r := dossier(t, "", "db", "update", "--data-dir", dir, "--base-url", srv.URL, "--ecosystem", "npm"); r.code != ExitError || !strings.Contains(r.stderr, "dossier db import") {
		t.Fatalf("offline update must point at db import: %+v", r)
	}
	// records of an ecosystem no component is matched against are
	// imported, and said to be of no use
	android := writeFile(t, filepath.Join(t.TempDir(), "android.json"), `{"id":"ASB-A-000001","modified":"2024-01-02T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Android:13","name":"platform/frameworks/base"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`)
	if r := dossier(t, "", "db", "import", "--data-dir", dir, android); r.code != 0 || !strings.Contains(r.stderr, "warning: "+android+": 1 records of Android, an ecosystem dossier matches no component against") {
		t.Fatalf("import of Android records: %+v", r)
	}
	if r := dossier(t, "", "db", "status", "--data-dir", dir); !strings.Contains(r.stdout, "Android:13") || !strings.Contains(r.stdout, "npm ") {
		t.Errorf("status lists records per ecosystem and release: %s", r.stdout)
	}
	// the bound on one zip is the user's to set: AlmaLinux's 35 MB past 1 MiB
	alma := filepath.Join(vd, "osv", "AlmaLinux", "all.zip")
	if r := dossier(t, "", "db", "import", "--data-dir", dir, "--max-zip-mib", "1", alma); r.code == 0 || !strings.Contains(r.stderr, "exceeds the import limit") {
		t.Errorf("a zip past --max-zip-mib: %+v", r)
	}
}

// writeFile writes content to path and returns the path.
func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
