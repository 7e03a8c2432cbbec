//go:build !race

package admission

// The webhook's local scan catalogues images (syft) and matches them: these
// tests run in the plain run only, so that the race run's build stays off
// the cataloguers' graph (.ci/test). Both were found while attacking
// adb2aa0 (keypath_attack_test.go), kept as tests.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// The webhook resolves a tag as shared work on a clock of its own (25a4882):
// oci.Resolve runs under a context cancelled as soon as the resolution
// ends. A single-platform image's v1.Image is go-containerregistry's
// remote descriptor, which keeps the context it was fetched with, so when
// a vulnerability rule needs a local scan (nothing recorded about the
// digest), reading the image's config fails with "context canceled": every
// such image is denied under enforce, as "vulnerabilities could not be
// scanned", whatever its findings — the local scan the webhook is started
// with never runs for single-platform images.
func TestWebhookScansSinglePlatformImages(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	w := locallyScanning(t, t.TempDir(), strings.ReplaceAll(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: no-findings}
spec:
  mode: enforce
  images: ["HOST/team/**"]
  rules: [{name: scanned, vulnerabilities: {failOn: critical}}]
`, "HOST", host))
	j, err := w.Judge(ctx, podReview(t, "prod", containers(host+"/team/app:v1")).Request)
	if err != nil || len(j.Verdicts) != 1 || j.Verdicts[0].Decision == nil {
		t.Fatalf("%+v %v", j, err)
	}
	for _, r := range j.Verdicts[0].Decision.Rules {
		if strings.Contains(r.Reason, "could not be scanned") {
			t.Errorf("the local scan did not run: %s", r.Reason)
		}
	}
}

// The webhook scans an image against its local advisory database when a
// vulnerability rule has nothing recorded to judge (pipeline.LocalScanning,
// as dossier webhook and serve run it). The scan's evidence names its
// source "local-database " + the database file's path (scan.Report.Evidence),
// and every vulnerability reason quotes the source ("N findings at or
// above low … from local-database /var/lib/dossier/…/vulndb.sqlite: …"):
// any Pod creator who names an image with a finding reads where dossier's
// data directory is, in the denial under enforce and in the warning under
// audit — the very disclosure adb2aa0 removed for key files.
func TestVulnerabilityReasonsNeverNameTheDatabaseFile(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	// an index of the image (a single image is not scanned at all: see
	// TestWebhookScansSinglePlatformImages)
	pushAsIndex(t, "npm-app", host+"/team/app:v1")
	dataDir := filepath.Join(t.TempDir(), "srv", "dossier-data")
	w := locallyScanning(t, dataDir, strings.ReplaceAll(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: no-findings}
spec:
  mode: enforce
  images: ["HOST/team/**"]
  namespaces: {names: [prod]}
  rules: [{name: scanned, vulnerabilities: {failOn: low}}]
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: no-findings-audit}
spec:
  mode: audit
  images: ["HOST/team/**"]
  namespaces: {names: [staging]}
  rules: [{name: scanned, vulnerabilities: {failOn: low}}]
`, "HOST", host))
	out, _ := w.Validate(ctx, podReview(t, "prod", containers(host+"/team/app:v1")))
	if out.Response.Allowed || out.Response.Result == nil || !strings.Contains(out.Response.Result.Message, "GHSA-") {
		t.Fatalf("want a denial for the image's findings: %+v", out.Response)
	}
	if msg := out.Response.Result.Message; strings.Contains(msg, dataDir) {
		t.Errorf("the denial a Pod creator reads names dossier's data directory %s:\n%s", dataDir, msg)
	}
	out, _ = w.Validate(ctx, podReview(t, "staging", containers(host+"/team/app:v1")))
	if !out.Response.Allowed || len(out.Response.Warnings) == 0 {
		t.Fatalf("want a warning under audit: %+v", out.Response)
	}
	for _, warning := range out.Response.Warnings {
		if strings.Contains(warning, dataDir) {
			t.Errorf("the warning a Pod creator reads names dossier's data directory %s:\n%s", dataDir, warning)
		}
	}
}

// locallyScanning is a webhook deciding by policyYAML, whose vulnerability
// rules scan images with the local advisory database (npm's records)
// imported into dataDir, as dossier webhook and serve run it.
func locallyScanning(t *testing.T, dataDir, policyYAML string) *Webhook {
	t.Helper()
	if _, err := vulndb.Import(context.Background(), dataDir, []string{filepath.Join(testutil.VulnData(t), "osv", "npm", "all.zip")}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	docs, err := policy.Parse("policy.yaml", []byte(policyYAML), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules := &Rules{Set: &policy.Set{Policies: docs.Policies}, Collect: collect.Options{Scanner: pipeline.LocalScanner{DB: db}, Timeout: time.Minute}, Version: "1"}
	return New(func() *Rules { return rules }, Options{})
}
