package scan

import (
	"archive/zip"
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
