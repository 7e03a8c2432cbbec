package vulndb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// importRecord imports one OSV record (JSON) into dataDir.
func importRecord(t *testing.T, dataDir, record string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.json")
	if err := os.WriteFile(p, []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), dataDir, []string{p}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A database kept warm answers lookups from memory, and a server holding
// it open reads the file an import swapped in from its next scan on: the
// new records, the new coverage, the new import time.
func TestWarmDatabaseFollowsImports(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	importRecord(t, dir, `{"id":"GHSA-aaaa-aaaa-aaaa","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.0"]}]}`)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.KeepWarm(DefaultWarmBudget)
	before, err := db.Freshness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.Lookup(ctx, "npm", "left-pad")
	if err != nil || len(first) != 1 {
		t.Fatalf("lookup: %v %v", first, err)
	}
	again, err := db.Lookup(ctx, "npm", "left-pad")
	if err != nil || len(again) != 1 || again[0] != first[0] {
		t.Fatalf("a warm lookup decoded the record again: %v %v", again, err)
	}
	coverage, err := db.Coverage(ctx)
	if err != nil || !coverage["npm"] || coverage["PyPI"] {
		t.Fatalf("coverage: %v %v", coverage, err)
	}

	importRecord(t, dir, `{"id":"PYSEC-0000-1","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"versions":["1.0"]},{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.1"]}]}`)
	// a lookup between scans still reads the file the scan began on
	if recs, err := db.Lookup(ctx, "npm", "left-pad"); err != nil || len(recs) != 1 {
		t.Fatalf("lookup before the next scan: %v %v", recs, err)
	}
	after, err := db.Freshness(ctx)
	if err != nil || !after.LastImport.After(before.LastImport) {
		t.Fatalf("freshness after an import: %+v (before %+v) %v", after, before, err)
	}
	coverage, err = db.Coverage(ctx)
	if err != nil || !coverage["PyPI"] {
		t.Fatalf("coverage after an import: %v %v", coverage, err)
	}
	recs, err := db.Lookup(ctx, "npm", "left-pad")
	if err != nil || len(recs) != 2 {
		t.Fatalf("lookup after an import: %v %v", recs, err)
	}
	// records by ID and names come from memory the second time, ordered
	// and missing ones left out as the database answers
	for range 2 {
		byID, err := db.Records(ctx, []string{"PYSEC-0000-1", "NOT-A-RECORD", "GHSA-aaaa-aaaa-aaaa"})
		if err != nil || len(byID) != 2 || byID[0].ID != "GHSA-aaaa-aaaa-aaaa" || byID[1].ID != "PYSEC-0000-1" {
			t.Fatalf("records: %v %v", byID, err)
		}
		names, err := db.Names(ctx, []string{"PYSEC-0000-1", "CVE-1999-0001"})
		if err != nil || len(names) != 1 || len(names["PYSEC-0000-1"]) != 1 {
			t.Fatalf("names: %v %v", names, err)
		}
	}
}

// A warm cache stays within its budget, whatever is looked up.
func TestWarmCacheBudget(t *testing.T) {
	c := newWarmCache(1000)
	for i := range 100 {
		c.keep([2]string{"npm", string(rune('a'+i%26)) + string(rune('a'+i/26))}, nil, 50)
		if c.used > c.budget {
			t.Fatalf("after %d lookups %d bytes kept, budget %d", i+1, c.used, c.budget)
		}
	}
	if len(c.packages) == 0 {
		t.Fatal("nothing kept")
	}
	c.keep([2]string{"npm", "huge"}, nil, 5000)
	if _, ok := c.lookup([2]string{"npm", "huge"}); ok {
		t.Fatal("a lookup larger than the budget was kept")
	}
}

// Scans running while imports swap in new files each read one file at a
// time and never fail: the old file is closed after the last read of it.
func TestScansDuringImports(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	importRecord(t, dir, `{"id":"GHSA-aaaa-aaaa-aaaa","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.0"]}]}`)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.KeepWarm(DefaultWarmBudget)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if _, err := db.Freshness(ctx); err != nil {
					errs <- err
					return
				}
				if _, err := db.Coverage(ctx); err != nil {
					errs <- err
					return
				}
				recs, err := db.Lookup(ctx, "npm", "left-pad")
				if err == nil && len(recs) == 0 {
					err = fmt.Errorf("left-pad has no records")
				}
				if err == nil {
					_, err = db.Records(ctx, []string{"GHSA-aaaa-aaaa-aaaa"})
				}
				if err == nil {
					_, err = db.Names(ctx, []string{"GHSA-aaaa-aaaa-aaaa"})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 3 {
		importRecord(t, dir, fmt.Sprintf(`{"id":"GHSA-bbbb-bbbb-%04d","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.%d"]}]}`, i, i+1))
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Freshness(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, err := db.Lookup(ctx, "npm", "left-pad"); err != nil || len(recs) != 4 {
		t.Fatalf("after the imports: %d records, %v", len(recs), err)
	}
}

// Coverage is of live records: a release whose only records are withdrawn
// is not data to check against (db status still counts them).
func TestCoverageIsOfLiveRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	record := func(id, ecosystem, withdrawn string) string {
		return fmt.Sprintf(`{"id":%q,"modified":"2024-01-01T00:00:00Z",%s"affected":[{"package":{"ecosystem":%q,"name":"zlib"},"versions":["1.0"]}]}`, id, withdrawn, ecosystem)
	}
	const withdrawn = `"withdrawn":"2024-02-01T00:00:00Z",`
	importRecord(t, dir, record("DEBIAN-CVE-2099-0001", "Debian:12", withdrawn))
	importRecord(t, dir, record("DEBIAN-CVE-2099-0002", "Debian:11", withdrawn))
	importRecord(t, dir, record("DEBIAN-CVE-2099-0003", "Debian:11", ""))
	importRecord(t, dir, record("GHSA-aaaa-aaaa-aaaa", "npm", ""))
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	coverage, err := db.Coverage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(coverage) != 2 || !coverage["Debian:11"] || !coverage["npm"] {
		t.Errorf("coverage %v: want Debian:11 (one live record beside a withdrawn one) and npm, not Debian:12 (withdrawn only)", coverage)
	}
	st, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(st.Ecosystems, EcosystemStatus{Ecosystem: "Debian:12", Records: 1, Withdrawn: 1}) {
		t.Errorf("status %+v: want Debian:12 counted, withdrawn", st.Ecosystems)
	}
}
