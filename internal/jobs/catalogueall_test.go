package jobs

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// catalogue --all pulls each digest another cataloguer made from its
// repository in a registry on 127.0.0.1, records its new SBOM (what the
// image holds, not what was stored) and findings, and its cataloguer; a
// digest the registry no longer has is counted as failed, with the
// registry's answer, and the job goes on. Run again, nothing is left to do.
func TestCatalogueAllRecataloguesStoredDigests(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			host := testutil.Registry(t)
			npm := evidence.Subject{Repository: host + "/team/npm", Digest: testutil.PushSample(t, "npm-app", host+"/team/npm:v1")}
			gone := evidence.Subject{Repository: host + "/team/npm", Digest: "sha256:" + strings.Repeat("f", 64)}
			t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			old := evidence.Component{Name: "left-pad", Version: "1.0.0", Type: "library", PURL: "pkg:npm/left-pad@1.0.0"}
			for _, s := range []evidence.Subject{gone, npm} {
				if err := st.Record(ctx, store.Record{Subject: s, At: t0, Components: []evidence.Component{old}, Cataloguer: "syft v0.0.1, settings sha256:0000000000000000"}); err != nil {
					t.Fatal(err)
				}
			}
			t1 := t0.Add(time.Hour)
			r := &Runner{Store: st, DB: database(t, t.TempDir(), lodashRecord, minimistRecord), Now: func() time.Time { return t1 },
				Reach: ReachEverywhere(oci.RegistryOptions{}), Throttle: Throttle{Concurrency: 2}}
			job, created, err := r.Start(ctx, store.JobCatalogueAll, false)
			if err != nil || !created || job.Total != 2 || job.Scope.Cataloguer != generate.Cataloguer(generate.Options{}) {
				t.Fatalf("start: %+v created %v: %v", job, created, err)
			}
			ran, err := r.Run(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if ran.Job.State != store.JobDone || ran.Job.Done != 1 || ran.Job.Failed != 1 {
				t.Errorf("the job: %+v", ran.Job)
			}
			shown, err := Show(ctx, st, job.ID, 0)
			if err != nil || len(shown.Failures) != 1 || shown.Failures[0].Subject != gone || !strings.Contains(shown.Failures[0].Reason, "MANIFEST_UNKNOWN") {
				t.Errorf("the failures: %+v, %v", shown, err)
			}
			d, err := st.Dossier(ctx, npm)
			if err != nil {
				t.Fatal(err)
			}
			var purls, findings []string
			for _, c := range d.Components {
				purls = append(purls, c.PURL)
			}
			for _, f := range d.Findings {
				if f.ResolvedAt == nil && f.FirstSeen.Equal(t1) {
					findings = append(findings, f.ID)
				}
			}
			slices.Sort(findings)
			if slices.Contains(purls, old.PURL) || !slices.Contains(purls, lodashPURL) || !slices.Contains(purls, minimistPURL) {
				t.Errorf("the components after catalogue --all: %v", purls)
			}
			if strings.Join(findings, ",") != "GHSA-35jh-r3h4-6jhm,GHSA-xvch-5gv4-984h" {
				t.Errorf("the findings recorded: %v", findings)
			}
			// the catalogued digest is now this cataloguer's; the failed one
			// is still another's, for the next job
			next, created, err := r.Start(ctx, store.JobCatalogueAll, false)
			if err != nil || !created || next.Total != 1 {
				t.Errorf("the next job: %+v created %v: %v", next, created, err)
			}
		})
	}
}
