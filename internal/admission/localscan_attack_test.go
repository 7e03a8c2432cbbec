package admission

// Found while attacking adb2aa0 (keypath_attack_test.go), kept as a test.

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
	dataDir := t.TempDir()
	vd := testutil.VulnData(t)
	if _, err := vulndb.Import(ctx, dataDir, []string{filepath.Join(vd, "osv", "npm", "all.zip")}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	docs, err := policy.Parse("policy.yaml", []byte(strings.ReplaceAll(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: no-findings}
spec:
  mode: enforce
  images: ["HOST/team/**"]
  rules: [{name: scanned, vulnerabilities: {failOn: critical}}]
`, "HOST", host)), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules := &Rules{Set: &policy.Set{Policies: docs.Policies}, Collect: collect.Options{Scanner: pipeline.LocalScanner{DB: db}, Timeout: time.Minute}, Version: "1"}
	w := New(func() *Rules { return rules }, Options{})
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
