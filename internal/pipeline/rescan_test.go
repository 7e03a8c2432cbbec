package pipeline

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// database imports real advisory records into a fresh database.
func database(t *testing.T, records ...string) *vulndb.DB {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, r := range records {
		paths = append(paths, filepath.Join(testutil.VulnData(t), "records", r))
	}
	if _, err := vulndb.Import(context.Background(), dir, paths, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func recordComponents(t *testing.T, st *store.Store, subject evidence.Subject, purls ...string) {
	t.Helper()
	r := store.Record{Subject: subject, At: time.Now()}
	for _, p := range purls {
		c := evidence.Component{PURL: p}
		c.Name, c.Version, _ = strings.Cut(p[strings.LastIndex(p, "/")+1:], "@")
		r.Components = append(r.Components, c)
		r.PackageKeys = append(r.PackageKeys, scan.PackageKey(c))
	}
	if err := st.Record(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func newIDs(r *Rescanned) []string {
	var out []string
	for _, h := range r.New {
		out = append(out, h.Subject.Repository+" "+h.Finding.ID)
	}
	return out
}

// TestRescan: the first rescan matches everything; an unchanged database
// re-matches nothing; an added advisory re-matches only the digests that
// hold its package; a removed one resolves its findings.
func TestRescan(t *testing.T) {
	ctx := context.Background()
	lodash, minimist := "ghsa/GHSA-35jh-r3h4-6jhm.json", "ghsa/GHSA-xvch-5gv4-984h.json"
	stores := map[string]func(t *testing.T) *store.Store{
		"sqlite":   func(t *testing.T) *store.Store { return openStore(t, t.TempDir(), "") },
		"postgres": func(t *testing.T) *store.Store { return openStore(t, "", testutil.PostgresDatabase(t)) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			npm := evidence.Subject{Repository: "registry.example/npm", Digest: "sha256:" + strings.Repeat("1", 64)}
			goApp := evidence.Subject{Repository: "registry.example/go", Digest: "sha256:" + strings.Repeat("2", 64)}
			recordComponents(t, st, npm, "pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.5")
			recordComponents(t, st, goApp, "pkg:golang/golang.org/x/text@v0.3.5")

			r, err := Rescan(ctx, st, database(t, lodash), "", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !r.Full || r.Digests != 1 || strings.Join(newIDs(r), ",") != "registry.example/npm GHSA-35jh-r3h4-6jhm" {
				t.Fatalf("first rescan: %+v", r)
			}
			if r, _ := Rescan(ctx, st, database(t, lodash), "", time.Now()); r.Full || r.Changed != 0 || r.Digests != 0 || len(r.New) != 0 {
				t.Errorf("nothing changed: %+v", r)
			}
			r, err = Rescan(ctx, st, database(t, lodash, minimist), "critical", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed != 1 || r.Packages != 1 || r.Digests != 1 || strings.Join(newIDs(r), ",") != "registry.example/npm GHSA-xvch-5gv4-984h" {
				t.Errorf("minimist advisory added: %+v", r)
			}
			if f, _ := st.Affected(ctx, "CVE-2021-23337", store.Page{}); f.Total != 1 {
				t.Fatalf("lodash finding before its advisory goes: %+v", f)
			}
			r, err = Rescan(ctx, st, database(t, minimist), "", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed != 1 || r.Digests != 1 || len(r.New) != 0 {
				t.Errorf("lodash advisory removed: %+v", r)
			}
			if f, _ := st.Affected(ctx, "CVE-2021-23337", store.Page{}); f.Total != 0 {
				t.Errorf("the removed advisory still affects: %+v", f)
			}
			if f, _ := st.Affected(ctx, "CVE-2021-44906", store.Page{}); f.Total != 1 || len(f.Hits) != 1 {
				t.Errorf("minimist finding: %+v", f)
			}
		})
	}
}

func openStore(t *testing.T, dir, url string) *store.Store {
	st, err := store.Open(context.Background(), dir, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A component a scan could not check for want of data is checked by the
// rescan after the data arrives, and the digest's recorded coverage says
// so — including components whose packages no advisory names (real
// records: Ubuntu's CVE-2024-0727 for openssl on 22.04 LTS).
func TestRescanRefreshesCoverage(t *testing.T) {
	stores := map[string]func(t *testing.T) *store.Store{
		"sqlite":   func(t *testing.T) *store.Store { return openStore(t, t.TempDir(), "") },
		"postgres": func(t *testing.T) *store.Store { return openStore(t, "", testutil.PostgresDatabase(t)) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			jammy := evidence.Subject{Repository: "registry.example/jammy", Digest: "sha256:" + strings.Repeat("3", 64)}
			other := evidence.Subject{Repository: "registry.example/npm", Digest: "sha256:" + strings.Repeat("4", 64)}
			libssl := "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?arch=amd64&upstream=openssl&distro=ubuntu-22.04"
			baseFiles := "pkg:deb/ubuntu/base-files@12ubuntu4.6?arch=amd64&distro=ubuntu-22.04"
			wobbly := "pkg:deb/ubuntu/libc6@2.35-0ubuntu3?arch=amd64&upstream=glibc&distro=ubuntu-wobbly"
			before := database(t, "ghsa/GHSA-35jh-r3h4-6jhm.json") // npm only
			var components []evidence.Component
			for _, p := range []string{libssl, baseFiles, wobbly} {
				components = append(components, evidence.Component{PURL: p})
			}
			m, err := scan.Match(ctx, before, components)
			if err != nil {
				t.Fatal(err)
			}
			r := store.Record{Subject: jammy, At: time.Now(), Components: components,
				Findings: &store.Scan{Findings: m.Findings, Coverage: &evidence.Coverage{Checked: m.Stats.Checked, NotChecked: m.Unmatched}}}
			for _, c := range components {
				r.PackageKeys = append(r.PackageKeys, scan.PackageKey(c))
			}
			if err := st.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
			recordComponents(t, st, other, "pkg:npm/lodash@4.17.20")
			if _, err := Rescan(ctx, st, before, "", time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := Rescan(ctx, st, database(t, "ghsa/GHSA-35jh-r3h4-6jhm.json", "os/Ubuntu/CVE-2024-0727.json"), "", time.Now()); err != nil {
				t.Fatal(err)
			}
			d, err := st.Dossier(ctx, jammy)
			if err != nil || d == nil || d.Scanned == nil || d.Scanned.Coverage == nil {
				t.Fatalf("dossier %+v, %v", d, err)
			}
			c := d.Scanned.Coverage
			if c.Checked != 2 || len(c.NotChecked) != 1 || c.NotChecked[0].Component.PURL != wobbly || !strings.Contains(c.NotChecked[0].Reason, "not one dossier can name") {
				t.Errorf("coverage after the Ubuntu records arrived: %+v", c)
			}
			if f, _ := st.Affected(ctx, "CVE-2024-0727", store.Page{}); f.Total != 1 {
				t.Errorf("CVE-2024-0727 affects %d digests, want the jammy one", f.Total)
			}
			if f, _ := st.Affected(ctx, "CVE-2021-23337", store.Page{}); f.Total != 1 {
				t.Errorf("the npm digest's finding: %+v", f)
			}
		})
	}
}
