package scan

import (
	"archive/zip"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// TestSeverityFromCVSSv4 scores the real RustSec records that carry only a
// CVSS v4 vector: the rating must be the v4 band of the computed score
// (records with no impact at all score 0, "none").
func TestSeverityFromCVSSv4(t *testing.T) {
	z, err := zip.OpenReader(filepath.Join(testutil.VulnData(t), "osv", "crates.io", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	scored := 0
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		r, err := vulndb.ParseRecord(data, f.Name)
		if err != nil || len(r.Severity) != 1 || r.Severity[0].Type != "CVSS_V4" {
			continue
		}
		s := severityOf(r, nil)
		if s.Source != "CVSS_V4" || s.Vector != r.Severity[0].Score || s.Score < 0 || s.Score > 10 || s.Rating != rating(s.Score) {
			t.Errorf("%s: %+v", r.ID, s)
		}
		if s.Rating == evidence.SeverityUnknown {
			t.Errorf("%s: a v4 vector left the severity unknown", r.ID)
		}
		scored++
	}
	if scored == 0 {
		t.Fatal("no record with only a CVSS v4 vector found")
	}
}

func TestRatingBands(t *testing.T) {
	for score, want := range map[float64]string{0: "none", 0.1: "low", 3.9: "low", 4.0: "medium", 6.9: "medium", 7.0: "high", 8.9: "high", 9.0: "critical", 10: "critical"} {
		if got := rating(score); got != want {
			t.Errorf("rating(%v) = %s, want %s", score, got, want)
		}
	}
}

// TestCVSSv4KnownAnswers scores vectors whose base scores FIRST's CVSS
// v4.0 specification and calculator give.
func TestCVSSv4KnownAnswers(t *testing.T) {
	cases := []struct {
		vector string
		score  float64
		rating string
	}{
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, evidence.SeverityCritical},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10, evidence.SeverityCritical},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0, evidence.SeverityNone},
	}
	for _, c := range cases {
		r := &vulndb.Record{ID: "TEST", Severity: []vulndb.Severity{{Type: "CVSS_V4", Score: c.vector}}}
		s := severityOf(r, nil)
		if s.Score != c.score || s.Rating != c.rating || s.Source != "CVSS_V4" {
			t.Errorf("%s: %+v, want %v %s", c.vector, s, c.score, c.rating)
		}
	}
}

// Ubuntu rates its packages itself; that rating comes before the CVSS
// vector of the CVE (UBUNTU-CVE-2016-20013: CVSS 7.5, Ubuntu negligible).
func TestDistributionRatingFirst(t *testing.T) {
	r := realRecord(t, "os/Ubuntu/UBUNTU-CVE-2016-20013.json")
	got := severityOf(r, &r.Affected[0])
	if got.Rating != evidence.SeverityLow || got.Source != "Ubuntu" {
		t.Errorf("severity %+v, want low from Ubuntu", got)
	}
	cve := realRecord(t, "os/Ubuntu/CVE-2024-0727.json") // CVSS only
	if got := severityOf(cve, &cve.Affected[0]); got.Source != "CVSS_V3" || got.Rating != evidence.SeverityMedium {
		t.Errorf("severity %+v, want medium from CVSS_V3", got)
	}
}

// A finding that none of its own records rates takes the highest CVSS of
// the database's other records of its vulnerability and names that
// record (real records: USN-5614-1 carries no rating; UBUNTU-CVE-2021-3782,
// the CVE it fixes, carries CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:H,
// 6.6). DSA-3029-1's CVE has no other record: it stays unknown. Every
// finding is served by two queries.
func TestRatingFromAnotherRecordOfTheVulnerability(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, r := range []string{"os/Ubuntu/USN-5614-1.json", "os/Ubuntu/UBUNTU-CVE-2021-3782.json", "os/Debian/DSA-3029-1.json"} {
		paths = append(paths, filepath.Join(testutil.VulnData(t), "records", r))
	}
	if _, err := vulndb.Import(context.Background(), dir, paths, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counted := &countingNames{Advisories: db}
	unknown := evidence.Severity{Rating: evidence.SeverityUnknown}
	usn := evidence.Finding{ID: "USN-5614-1", Aliases: []string{"CVE-2021-3782", "UBUNTU-CVE-2021-3782"}, Advisories: []string{"USN-5614-1"}, Severity: unknown}
	findings := []evidence.Finding{usn, usn,
		{ID: "DSA-3029-1", Aliases: []string{"CVE-2014-3616"}, Advisories: []string{"DSA-3029-1"}, Severity: unknown},
		{ID: "UBUNTU-CVE-2021-3782", Advisories: []string{"UBUNTU-CVE-2021-3782"}, Severity: evidence.Severity{Rating: evidence.SeverityMedium, Source: "Ubuntu"}},
	}
	findings[0].Component.PURL, findings[1].Component.PURL = "pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04", "pkg:deb/ubuntu/libwayland-server0@1.20.0-1?distro=ubuntu-22.04"
	if err := rateFromNames(context.Background(), counted, findings); err != nil {
		t.Fatal(err)
	}
	want := evidence.Severity{Rating: evidence.SeverityMedium, Score: 6.6, Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:H", Source: "CVSS_V3", From: "UBUNTU-CVE-2021-3782"}
	for _, f := range findings[:2] {
		if f.Severity != want {
			t.Errorf("%s: %+v, want %+v", f.Component.PURL, f.Severity, want)
		}
	}
	if findings[2].Severity != unknown {
		t.Errorf("DSA-3029-1: %+v, want unknown", findings[2].Severity)
	}
	if findings[3].Severity.Source != "Ubuntu" || findings[3].Severity.From != "" {
		t.Errorf("a finding rated by its own record was rated again: %+v", findings[3].Severity)
	}
	if counted.calls != 2 {
		t.Errorf("%d queries, want 2 (names, then the records they name)", counted.calls)
	}
}

type countingNames struct {
	Advisories
	calls int
}

func (c *countingNames) Names(ctx context.Context, names []string) (map[string][]string, error) {
	c.calls++
	return c.Advisories.Names(ctx, names)
}

func (c *countingNames) Records(ctx context.Context, ids []string) ([]*vulndb.Record, error) {
	c.calls++
	return c.Advisories.Records(ctx, ids)
}
