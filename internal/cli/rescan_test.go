package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestRescanAfterImport: images recorded with only npm advisories; the Go
// advisories are imported later and a rescan finds the go-app's findings
// without touching the npm-app.
func TestRescanAfterImport(t *testing.T) {
	vd := testutil.VulnData(t)
	data := t.TempDir()
	if r := dossier(t, "", "db", "import", "--data-dir", data, filepath.Join(vd, "osv", "npm", "all.zip")); r.code != 0 {
		t.Fatal(r)
	}
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/re/npm:v1")
	goApp := testutil.PushSample(t, "go-app", host+"/re/go:v1")
	rootFile := writeFile(t, filepath.Join(t.TempDir(), "root.json"), string(testutil.NewSigstore(t).TrustedRootJSON(t)))
	if r := dossier(t, "", "record", host+"/re/npm:v1", host+"/re/go:v1", "--data-dir", data, "--trusted-root", rootFile); r.code != 0 {
		t.Fatal(r)
	}
	r := dossier(t, "", "rescan", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "first rescan: all 2 advisories; 1 digests re-matched") || !strings.Contains(r.stdout, "0 new findings") {
		t.Fatalf("first rescan: %+v", r)
	}
	if r := dossier(t, "", "query", "advisory", "GO-2021-0113", "--data-dir", data); r.code != ExitGateFailed {
		t.Fatalf("Go advisories before their import: %+v", r)
	}
	if r := dossier(t, "", "db", "import", "--data-dir", data, filepath.Join(vd, "osv", "Go", "all.zip")); r.code != 0 {
		t.Fatal(r)
	}
	r = dossier(t, "", "rescan", "--data-dir", data, "--threshold", "critical")
	if r.code != 0 || !strings.Contains(r.stdout, "advisories changed since the last rescan") || !strings.Contains(r.stdout, "; 1 digests re-matched") ||
		!strings.Contains(r.stdout, host+"/re/go@"+goApp) || strings.Contains(r.stdout, "/re/npm@") {
		t.Fatalf("rescan after the Go import: %+v", r)
	}
	if r := dossier(t, "", "query", "advisory", "GO-2021-0113", "--data-dir", data); r.code != 0 || !strings.Contains(r.stdout, goApp) {
		t.Errorf("Go advisory after the rescan: %+v", r)
	}
	if r := dossier(t, "", "rescan", "--data-dir", data); r.code != 0 || !strings.Contains(r.stdout, "0 advisories changed") {
		t.Errorf("nothing changed: %+v", r)
	}
	if r := dossier(t, "", "rescan", "--data-dir", data, "--threshold", "severe"); r.code != ExitError {
		t.Errorf("bad threshold: %+v", r)
	}
}
