package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

func importAll(t *testing.T, dataDir string) []SourceResult {
	t.Helper()
	zips, err := filepath.Glob(filepath.Join(testutil.VulnData(t), "osv", "*", "all.zip"))
	if err != nil || len(zips) == 0 {
		t.Fatalf("no zips: %v", err)
	}
	res, err := Import(context.Background(), dataDir, zips, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestImportRealZipsAndLookup(t *testing.T) {
	dir := t.TempDir()
	res := importAll(t, dir)
	counts := map[string]int{}
	for _, r := range res {
		counts[filepath.Base(filepath.Dir(r.Source))] = r.Records
		if r.Skipped != 0 {
			t.Errorf("%s: skipped %d: %v", r.Source, r.Skipped, r.Errors)
		}
	}
	// record counts from ../shared/vulndata/SOURCES.md
	for eco, want := range map[string]int{"Go": 4789, "crates.io": 1206, "AlmaLinux": 5680, "PyPI": 2661, "npm": 2, "Maven": 2} {
		if counts[eco] != want {
			t.Errorf("%s: imported %d records, want %d", eco, counts[eco], want)
		}
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.Lookup(context.Background(), "Go", "golang.org/x/text")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.ID] = true
	}
	for _, want := range []string{"GO-2021-0113", "GO-2022-1059"} {
		if !ids[want] {
			t.Errorf("lookup golang.org/x/text lacks %s (have %v)", want, ids)
		}
	}
	st, err := db.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	eco := map[string]int{}
	for _, e := range st.Ecosystems {
		eco[e.Ecosystem] = e.Records
	}
	// per release, as the zip's records name them (the last record of an
	// ID kept, as an import keeps it)
	want := releasesIn(t, filepath.Join(testutil.VulnData(t), "osv", "AlmaLinux", "all.zip"))
	want["Go"] = 4789
	for e, n := range want {
		if eco[e] != n {
			t.Errorf("status of %s: %d records, want %d (all: %v)", e, eco[e], n, eco)
		}
	}
	if len(want) < 4 || eco["AlmaLinux"] != 0 {
		t.Errorf("AlmaLinux is counted per release: %v", eco)
	}
	coverage, err := db.Coverage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for e := range want {
		if !coverage[e] {
			t.Errorf("coverage lacks %s: %v", e, coverage)
		}
	}
	if len(st.Imports) != 6 || st.LastImport.IsZero() {
		t.Errorf("imports: %+v", st.Imports)
	}
}

func TestImportYAMLAndPyPINames(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(testutil.VulnData(t), "records", "pypi", "PYSEC-2021-142.yaml")
	if _, err := Import(context.Background(), dir, []string{rec}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.Lookup(context.Background(), "PyPI", NormalizeName("PyPI", "PyYAML"))
	if err != nil || len(recs) != 1 || recs[0].ID != "PYSEC-2021-142" {
		t.Fatalf("lookup PyYAML: %v %v", recs, err)
	}
}

func TestFailedImportLeavesDatabaseIntact(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(testutil.VulnData(t), "records", "go", "GO-2021-0113.json")
	if _, err := Import(context.Background(), dir, []string{good}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	corrupt := filepath.Join(work, "corrupt.zip")
	if err := os.WriteFile(corrupt, []byte("PK\x03\x04 this is not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	bomb := filepath.Join(work, "bomb.zip")
	writeZip(t, bomb, map[string][]byte{"a.json": bytes.Repeat([]byte(" "), 3<<20), "b.json": bytes.Repeat([]byte(" "), 3<<20)})
	malformed := filepath.Join(work, "bad.json")
	if err := os.WriteFile(malformed, []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	future := filepath.Join(work, "future.json")
	if err := os.WriteFile(future, []byte(`{"schema_version":"2.0.0","id":"X-2","modified":"2024-01-01T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(work, "huge.json")
	if err := os.WriteFile(huge, []byte(`{"id":"X-3","modified":"2024-01-01T00:00:00Z","details":"`+strings.Repeat("a", MaxRecordSize)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name  string
		ctx   context.Context
		paths []string
		opts  ImportOptions
		want  string
	}{
		{"corrupt zip", context.Background(), []string{good, corrupt}, ImportOptions{}, "not a readable zip"},
		{"zip bomb", context.Background(), []string{bomb}, ImportOptions{MaxUncompressed: 4 << 20}, "zip bomb"},
		{"strict malformed", context.Background(), []string{malformed}, ImportOptions{Strict: true}, "exactly one of"},
		{"strict huge record", context.Background(), []string{huge}, ImportOptions{Strict: true}, "exceeds the 8 MiB limit"},
		{"strict future schema", context.Background(), []string{future}, ImportOptions{Strict: true}, `unknown OSV schema version "2.0.0"`},
		{"cancelled", ctx, []string{filepath.Join(testutil.VulnData(t), "osv", "Go", "all.zip")}, ImportOptions{}, "context canceled"},
		{"missing", context.Background(), []string{filepath.Join(work, "absent.zip")}, ImportOptions{}, "absent.zip"},
	}
	for _, c := range cases {
		_, err := Import(c.ctx, dir, c.paths, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		after, rerr := os.ReadFile(filepath.Join(dir, FileName))
		if rerr != nil || !bytes.Equal(before, after) {
			t.Errorf("%s: the previous database changed", c.name)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, FileName+".import-*")); len(left) != 0 {
		t.Errorf("temporary databases left behind: %v", left)
	}
	// without --strict the malformed record is skipped, counted and named
	res, err := Import(context.Background(), dir, []string{malformed}, ImportOptions{})
	if !errors.Is(err, nil) || res[0].Skipped != 1 || !strings.Contains(res[0].Errors[0], "bad.json") || !strings.Contains(res[0].Errors[0], "affected[0].ranges[0].events[0]") {
		t.Fatalf("lenient import: %+v, %v", res, err)
	}
}

func TestWithdrawnRecordsAreKept(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(t.TempDir(), "w.json")
	rec := `{"id":"GHSA-test-withdrawn","modified":"2024-01-01T00:00:00Z","withdrawn":"2024-01-02T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.0"]}]}`
	if err := os.WriteFile(p, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Import(context.Background(), dir, []string{p}, ImportOptions{})
	if err != nil || res[0].Withdrawn != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.Lookup(context.Background(), "npm", "left-pad")
	if err != nil || len(recs) != 1 || recs[0].Withdrawn == nil {
		t.Fatalf("withdrawn record: %v %v", recs, err)
	}
}

func TestOpenWithoutDatabase(t *testing.T) {
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), "db import") {
		t.Fatalf("Open on an empty dir: %v", err)
	}
}

func writeZip(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, data := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// releasesIn counts the records of a zip per ecosystem as they name it,
// each ID once (its last record).
func releasesIn(t *testing.T, path string) map[string]int {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	last := map[string][]string{}
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ID       string
			Affected []struct{ Package struct{ Ecosystem string } }
		}
		err = json.NewDecoder(rc).Decode(&r)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		var ecosystems []string
		for _, a := range r.Affected {
			if !slices.Contains(ecosystems, a.Package.Ecosystem) {
				ecosystems = append(ecosystems, a.Package.Ecosystem)
			}
		}
		last[r.ID] = ecosystems
	}
	out := map[string]int{}
	for _, ecosystems := range last {
		for _, e := range ecosystems {
			out[e]++
		}
	}
	return out
}

// Records are found by every name of the vulnerability they are about:
// their own ID, aliases, upstream records and the CVE a distribution's
// record is named after (real records: a USN whose upstream is an
// UBUNTU-CVE, that UBUNTU-CVE, a DSA with its CVE alias, a Chainguard
// record naming its CVE and GHSA upstream); withdrawn ones are left out.
func TestNamed(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, r := range []string{"os/Ubuntu/USN-5614-1.json", "os/Ubuntu/UBUNTU-CVE-2021-3782.json", "os/Debian/DSA-3029-1.json", "os/Chainguard/CGA-224q-ccj5-2p53.json"} {
		paths = append(paths, filepath.Join(testutil.VulnData(t), "records", r))
	}
	withdrawn := filepath.Join(t.TempDir(), "w.json")
	if err := os.WriteFile(withdrawn, []byte(`{"id":"GHSA-test-withdrawn","aliases":["CVE-2014-3616"],"modified":"2024-01-01T00:00:00Z","withdrawn":"2024-01-02T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"versions":["1.0.0"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), dir, append(paths, withdrawn), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names, err := db.Names(context.Background(), []string{"CVE-2021-3782", "UBUNTU-CVE-2021-3782", "CVE-2014-3616", "GHSA-frg5-h47x-75j9", "CVE-1999-0001"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range names {
		slices.Sort(ids)
	}
	want := map[string][]string{
		// the USN fixes that one CVE alone: it is named by it too
		"CVE-2021-3782":        {"UBUNTU-CVE-2021-3782", "USN-5614-1"},
		"UBUNTU-CVE-2021-3782": {"UBUNTU-CVE-2021-3782", "USN-5614-1"},
		// the withdrawn GHSA that aliases it too: its record says it is withdrawn
		"CVE-2014-3616":       {"DSA-3029-1", "GHSA-test-withdrawn"},
		"GHSA-frg5-h47x-75j9": {"CGA-224q-ccj5-2p53"},
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Names = %v, want %v", names, want)
	}
	records, err := db.Records(context.Background(), []string{"USN-5614-1", "DSA-3029-1", "NOT-A-RECORD"})
	if err != nil || len(records) != 2 || records[0].ID != "DSA-3029-1" || records[1].ID != "USN-5614-1" {
		t.Fatalf("Records: %v %v", records, err)
	}
	// more names than one query binds
	many := make([]string, 3*chunk)
	for i := range many {
		many[i] = fmt.Sprintf("CVE-2000-%05d", i)
	}
	many[2*chunk+7] = "CVE-2014-3616"
	if got, err := db.Names(context.Background(), many); err != nil || !slices.Equal(got["CVE-2014-3616"], []string{"DSA-3029-1", "GHSA-test-withdrawn"}) || len(got) != 1 {
		t.Fatalf("Names of %d names: %v %v", len(many), got, err)
	}
}
