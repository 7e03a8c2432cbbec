package store

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

// container is a running container of app1's repository in the prod
// cluster's shop namespace.
func container(pod, uid, name, image string, digest string, started time.Time) RunningContainer {
	c := RunningContainer{Cluster: "prod", Namespace: "shop", Pod: pod, PodUID: uid, Container: name, Kind: ContainerApp,
		Workload: "Deployment/web", Node: "node-1", Image: image, Started: started}
	if digest != "" {
		c.Subject, c.DigestFrom = app1, DigestFromStatus
		c.Subject.Digest = digest
	}
	return c
}

func running(t *testing.T, s *Store, q RunningQuery) RunningPage {
	t.Helper()
	page, err := s.Running(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func TestInventory(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			ctx := context.Background()
			if err := s.Record(ctx, fullRecord(app1, t0)); err != nil {
				t.Fatal(err)
			}
			// the webhook admitted app:v1 as app1 in prod/shop
			if err := s.Admitted(ctx, []Admission{{At: t0, Image: "registry.example/team/app:v1", Subject: app1, Cluster: "prod", Namespace: "shop",
				Workload: "Pod/web-1", Outcome: AdmissionAllowed, Deployed: true}}); err != nil {
				t.Fatal(err)
			}
			at := t0.Add(time.Hour)
			web1 := PodState{UID: "uid-1", Containers: []RunningContainer{container("web-1", "uid-1", "app", "registry.example/team/app:v1", app1.Digest, at)}}
			// the tag moved: web-2 runs app2 under the same tag (drifted)
			web2 := PodState{UID: "uid-2", Containers: []RunningContainer{container("web-2", "uid-2", "app", "registry.example/team/app:v1", app2.Digest, at)}}
			// a sidecar whose digest the cluster does not say, and a Pod
			// in a namespace no decision was made for (unjudged)
			web2.Containers = append(web2.Containers, container("web-2", "uid-2", "proxy", "registry.example/team/proxy:1", "", at))
			batch := PodState{UID: "uid-3", Containers: []RunningContainer{container("batch-1", "uid-3", "job", "registry.example/team/app@"+app1.Digest, app1.Digest, at)}}
			batch.Containers[0].Namespace = "jobs"
			if err := s.PodsSeen(ctx, "prod", []PodState{web1, web2, batch}, at); err != nil {
				t.Fatal(err)
			}
			// seen again by a second watcher of the same cluster: no new rows
			if err := s.PodsSeen(ctx, "prod", []PodState{web1, web2, batch}, at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			page := running(t, s, RunningQuery{})
			if page.Total != 4 || len(page.Hits) != 4 {
				t.Fatalf("running: %d containers, want 4: %+v", page.Total, page.Hits)
			}
			want := map[string]string{"jobs/batch-1/job": RunningUnjudged, "shop/web-1/app": RunningAdmitted, "shop/web-2/app": RunningDrifted, "shop/web-2/proxy": RunningUnresolved}
			for _, h := range page.Hits {
				key := h.Namespace + "/" + h.Pod + "/" + h.Container
				if h.State != want[key] {
					t.Errorf("%s is %s, want %s", key, h.State, want[key])
				}
				switch key {
				case "shop/web-1/app":
					if len(h.Signers) != 1 || h.OpenFindings["high"] != 1 || !h.Scanned || h.LastDecision == nil || h.LastDecision.Outcome != AdmissionAllowed || h.Pinned {
						t.Errorf("web-1's evidence: %+v", h)
					}
				case "shop/web-2/app":
					if h.Admitted != app1.Digest || h.Scanned || len(h.Signers) != 0 {
						t.Errorf("web-2 drifted from %q (want %s), evidence %+v", h.Admitted, app1.Digest, h)
					}
				case "jobs/batch-1/job":
					if !h.Pinned || h.LastDecision != nil {
						t.Errorf("batch-1: %+v", h)
					}
				}
			}
			if page.States[RunningAdmitted] != 1 || page.States[RunningDrifted] != 1 || page.States[RunningUnjudged] != 1 || page.States[RunningUnresolved] != 1 {
				t.Errorf("states: %v", page.States)
			}
			counts, err := s.RunningCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := []RunningCount{{"prod", RunningAdmitted, false, 1}, {"prod", RunningDrifted, false, 1}, {"prod", RunningUnjudged, true, 1}, {"prod", RunningUnresolved, false, 1}}
			if !reflect.DeepEqual(counts, wantCounts) {
				t.Errorf("counts %+v, want %+v", counts, wantCounts)
			}
			if got := running(t, s, RunningQuery{RunningFilter: RunningFilter{Namespace: "jobs"}}); got.Total != 1 {
				t.Errorf("namespace jobs: %d containers", got.Total)
			}
			if got := running(t, s, RunningQuery{State: RunningDrifted}); got.Total != 1 || got.Hits[0].Pod != "web-2" {
				t.Errorf("drifted only: %+v", got.Hits)
			}
			if got := running(t, s, RunningQuery{Scope: func(r string) bool { return r == "registry.example/team/proxy" }}); got.Total != 1 || got.Hits[0].Container != "proxy" {
				t.Errorf("scoped to the proxy's repository: %+v", got.Hits)
			}
			// the responder's question: which running digests hold lodash
			hits, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash", Page: Page{Running: &RunningFilter{Cluster: "prod"}}})
			if err != nil {
				t.Fatal(err)
			}
			if hits.Total != 1 || len(hits.Hits[0].Running) != 2 || hits.Hits[0].Running[0].Namespace != "jobs" || hits.Hits[0].Running[1].Workload != "Deployment/web" {
				t.Fatalf("lodash running: %+v", hits.Hits)
			}
			if hits, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash", Page: Page{Running: &RunningFilter{Cluster: "staging"}}}); err != nil || hits.Total != 0 {
				t.Fatalf("lodash running in staging: %+v, %v", hits, err)
			}
			// web-1 deleted; the proxy reported finished; then a full list
			// that no longer holds batch-1
			later := at.Add(time.Minute)
			if err := s.PodsGone(ctx, "prod", []string{"uid-1"}, later); err != nil {
				t.Fatal(err)
			}
			web2.Containers = web2.Containers[:1]
			if err := s.PodsSeen(ctx, "prod", []PodState{web2}, later); err != nil {
				t.Fatal(err)
			}
			if err := s.ClusterListed(ctx, "prod", []string{"uid-2"}, later); err != nil {
				t.Fatal(err)
			}
			page = running(t, s, RunningQuery{})
			if page.Total != 1 || page.Hits[0].Pod != "web-2" || page.Hits[0].Container != "app" {
				t.Fatalf("after deletions: %+v", page.Hits)
			}
			if len(page.Clusters) != 1 || !page.Clusters[0].ListedAt.Equal(later) || !page.Clusters[0].SeenAt.Equal(later) {
				t.Errorf("clusters: %+v", page.Clusters)
			}
			if hits, err := s.Affected(ctx, "CVE-2021-23337", Page{Running: &RunningFilter{}}); err != nil || hits.Total != 0 {
				t.Fatalf("app1 no longer runs, yet %+v, %v", hits, err)
			}
			// web-1 is back (same Pod UID reported again): its row reopens
			if err := s.PodsSeen(ctx, "prod", []PodState{web1}, later.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if got := running(t, s, RunningQuery{}); got.Total != 2 {
				t.Errorf("after web-1 came back: %d containers", got.Total)
			}
		})
	}
}

func TestInventoryRefusesBadReports(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := container("web-1", "uid-1", "app", "registry.example/team/app:v1", app1.Digest, t0)
	for name, bad := range map[string]func(c *RunningContainer){
		"no image":              func(c *RunningContainer) { c.Image = "" },
		"another cluster":       func(c *RunningContainer) { c.Cluster = "staging" },
		"another Pod":           func(c *RunningContainer) { c.PodUID = "uid-2" },
		"odd kind":              func(c *RunningContainer) { c.Kind = "sidecar" },
		"bad digest":            func(c *RunningContainer) { c.Subject.Digest = "sha256:short" },
		"no digest source":      func(c *RunningContainer) { c.DigestFrom = "" },
		"no start":              func(c *RunningContainer) { c.Started = time.Time{} },
		"digest, no repository": func(c *RunningContainer) { c.Subject.Repository = "" },
	} {
		c := good
		bad(&c)
		if err := s.PodsSeen(context.Background(), "prod", []PodState{{UID: "uid-1", Containers: []RunningContainer{c}}}, t0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := s.PodsSeen(context.Background(), "", nil, t0); err == nil {
		t.Error("an unnamed cluster: accepted")
	}
	if got := running(t, s, RunningQuery{}); got.Total != 0 {
		t.Errorf("refused reports left %d rows", got.Total)
	}
}

// Two watchers of one cluster report the same Pods at once: one row per
// container.
func TestInventoryWatchersDoNotDoubleCount(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			var pods []PodState
			for i := range 200 {
				uid := "uid-" + string(rune('a'+i%26)) + time.Duration(i).String()
				pods = append(pods, PodState{UID: uid, Containers: []RunningContainer{container("web-"+uid, uid, "app", "registry.example/team/app:v1", app1.Digest, t0)}})
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for w := range 4 {
				wg.Go(func() {
					errs <- s.PodsSeen(context.Background(), "prod", pods, t0.Add(time.Duration(w)*time.Second))
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := running(t, s, RunningQuery{}); got.Total != 200 {
				t.Fatalf("%d rows for 200 containers", got.Total)
			}
		})
	}
}
