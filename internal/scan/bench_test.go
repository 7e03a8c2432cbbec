package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/package-url/packageurl-go"
	"golang.org/x/sync/errgroup"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// BenchmarkMatch matches 1,500 real packages (500 each of Go, PyPI and
// crates.io, at versions the advisories name) against the real advisories,
// reading the database afresh each time, as a command does.
func BenchmarkMatch(b *testing.B) {
	db, comps := benchDatabase(b)
	b.ResetTimer()
	for b.Loop() {
		m, err := Match(context.Background(), db, comps)
		if err != nil || len(m.Findings) == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(comps)), "components/op")
}

// BenchmarkScanWarm scans an SBOM of the same 1,500 packages as a server
// does: against a database kept warm (vulndb.DB.KeepWarm) that earlier
// scans have read.
func BenchmarkScanWarm(b *testing.B) {
	db, comps := benchDatabase(b)
	db.KeepWarm(vulndb.DefaultWarmBudget)
	doc := &evidence.Document{Components: comps}
	first, err := Scan(context.Background(), db, doc, Config{})
	if err != nil || len(first.Findings) == 0 {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := Scan(context.Background(), db, doc, Config{})
		if err != nil || r.Summary.Total != first.Summary.Total {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(comps)), "components/op")
}

// Scans against a warm database, where what matching derives from a
// record (its ranges in version order) is kept with the record and shared
// by every scan, several at once, find exactly what a scan that reads
// the database afresh finds.
func TestWarmScansMatchColdOnes(t *testing.T) {
	db, comps := benchDatabase(t)
	ctx := context.Background()
	cold, err := Match(ctx, db, comps)
	if err != nil || len(cold.Findings) < 100 {
		t.Fatalf("%v: %d findings", err, len(cold.Findings))
	}
	want, _ := json.Marshal(cold)
	db.KeepWarm(vulndb.DefaultWarmBudget)
	var g errgroup.Group
	for range 3 {
		g.Go(func() error {
			for range 2 {
				warm, err := Match(ctx, db, comps)
				if err != nil {
					return err
				}
				if got, _ := json.Marshal(warm); !bytes.Equal(got, want) {
					return fmt.Errorf("a warm scan differs: %d findings, cold %d", len(warm.Findings), len(cold.Findings))
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// benchDatabase imports the Go, PyPI and crates.io advisories and picks
// 500 packages of each.
func benchDatabase(b testing.TB) (*vulndb.DB, []evidence.Component) {
	vd := testutil.VulnData(b)
	var zips []string
	for _, e := range []string{"Go", "PyPI", "crates.io"} {
		zips = append(zips, filepath.Join(vd, "osv", e, "all.zip"))
	}
	dir := b.TempDir()
	if _, err := vulndb.Import(context.Background(), dir, zips, vulndb.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var comps []evidence.Component
	for _, z := range zips {
		comps = append(comps, benchComponents(b, z, 500)...)
	}
	return db, comps
}

var purlTypes = map[string]string{"Go": "golang", "PyPI": "pypi", "crates.io": "cargo"}

func benchComponents(b testing.TB, path string, n int) []evidence.Component {
	z, err := zip.OpenReader(path)
	if err != nil {
		b.Fatal(err)
	}
	defer z.Close()
	seen := map[string]bool{}
	var out []evidence.Component
	for _, f := range z.File {
		if len(out) >= n {
			break
		}
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		r, err := vulndb.ParseRecord(data, f.Name)
		if err != nil {
			continue
		}
		for _, a := range r.Affected {
			if seen[a.Package.Name] || a.Package.Name == "stdlib" || a.Package.Name == "toolchain" {
				continue
			}
			for _, rg := range a.Ranges {
				for _, e := range rg.Events {
					if e.Fixed != "" && rg.Type != "GIT" && !seen[a.Package.Name] {
						seen[a.Package.Name] = true
						purl := packageurl.NewPackageURL(purlTypes[a.Package.Ecosystem], "", a.Package.Name, e.Fixed, nil, "").ToString()
						out = append(out, evidence.Component{Name: a.Package.Name, Version: e.Fixed, PURL: purl})
					}
				}
			}
		}
	}
	return out
}
