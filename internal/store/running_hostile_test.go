package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"
)

// randomText is incompressible text of n hex characters.
func randomText(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// One Pod whose workload (its controller ownerReference's name, which the
// API server does not validate) holds a NUL byte, or whose image is long,
// is kept like any other (escaped) on both backends, and holds up no
// other Pod.
func TestOddPodsDoNotHoldUpTheInventory(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			ctx := context.Background()
			at := t0.Add(time.Hour)
			good := PodState{UID: "uid-good", Containers: []RunningContainer{container("good", "uid-good", "app", "registry.example/team/app:v1", app1.Digest, at)}}
			nul := PodState{UID: "uid-nul", Containers: []RunningContainer{container("nul", "uid-nul", "app", "registry.example/team/app:v1", app1.Digest, at)}}
			nul.Containers[0].Workload = "Deployment/x\x00y"
			long := PodState{UID: "uid-long", Containers: []RunningContainer{container("long", "uid-long", "app", "registry.example/team/app:"+randomText(4000), app1.Digest, at)}}
			for what, bad := range map[string]PodState{"NUL workload": nul, "4000-char tag": long} {
				if err := s.PodsSeen(ctx, "prod", []PodState{good, bad}, at); err != nil {
					t.Fatalf("%s: the store refuses the batch, the good Pod with it: %v", what, err)
				}
				// seen again: the same rows, nothing closed and reopened
				if err := s.PodsSeen(ctx, "prod", []PodState{good, bad}, at.Add(time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			page := running(t, s, RunningQuery{})
			if page.Total != 3 {
				t.Fatalf("%d containers, want 3", page.Total)
			}
			for _, h := range page.Hits {
				if h.Pod == "nul" && h.Workload != `Deployment/x\x00y` {
					t.Errorf("the NUL is kept as %q, want it escaped", h.Workload)
				}
				if h.Stopped != nil {
					t.Errorf("%s was closed by its own second report", h.Pod)
				}
			}
		})
	}
}

// A decision about an image with a long tag or a NUL byte is kept (the
// index holds the image's key, the text is escaped), and so is the good
// decision written with it: what it admitted runs admitted.
func TestOddImagesDoNotLoseDecisions(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			ctx := context.Background()
			good := Admission{At: t0, Image: "registry.example/team/app:v1", Subject: app1, Cluster: "prod", Namespace: "shop", Workload: "Pod/web-1", Outcome: AdmissionAllowed, Deployed: true}
			for what, image := range map[string]string{"long tag": "registry.example/team/app:" + randomText(4000), "NUL": "registry.example/team/app:v1\x00"} {
				bad := Admission{At: t0, Image: image, Cluster: "prod", Namespace: "shop", Workload: "Pod/evil", Outcome: AdmissionDenied, Reason: "does not parse"}
				if err := s.Admitted(ctx, []Admission{good, bad}); err != nil {
					t.Errorf("%s: the good decision is lost with the bad one: %v", what, strings.SplitN(err.Error(), "\n", 2)[0])
				}
			}
			web1 := PodState{UID: "uid-1", Containers: []RunningContainer{container("web-1", "uid-1", "app", "registry.example/team/app:v1", app1.Digest, t0)}}
			if err := s.PodsSeen(ctx, "prod", []PodState{web1}, t0); err != nil {
				t.Fatal(err)
			}
			if page := running(t, s, RunningQuery{}); page.Hits[0].State != RunningAdmitted {
				t.Errorf("web-1, admitted by the decision, is %s", page.Hits[0].State)
			}
			// a long image runs drifted from its own admission: its key matches
			long := "registry.example/team/app:" + randomText(4000)
			if err := s.Admitted(ctx, []Admission{{At: t0, Image: long, Subject: app1, Cluster: "prod", Namespace: "shop", Workload: "Pod/l", Outcome: AdmissionAllowed}}); err != nil {
				t.Fatal(err)
			}
			drifting := PodState{UID: "uid-l", Containers: []RunningContainer{container("l", "uid-l", "app", long, app2.Digest, t0)}}
			if err := s.PodsSeen(ctx, "prod", []PodState{drifting}, t0); err != nil {
				t.Fatal(err)
			}
			if page := running(t, s, RunningQuery{State: RunningDrifted}); page.Total != 1 || page.Hits[0].Pod != "l" || page.Hits[0].Admitted != app1.Digest {
				t.Errorf("the long image's drift: %+v", page.Hits)
			}
		})
	}
}

// A Pod of 20,000 containers (the API server takes several thousand in
// one Pod): written, judged and closed in bounded statements.
func TestManyContainersInOnePod(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			ctx := context.Background()
			big := PodState{UID: "uid-big"}
			for i := range 20000 {
				big.Containers = append(big.Containers, container("big", "uid-big", "c"+strconv.Itoa(i), "registry.example/team/app:v1", app1.Digest, t0))
			}
			start := time.Now()
			if err := s.PodsSeen(ctx, "prod", []PodState{big}, t0); err != nil {
				t.Fatal(err)
			}
			if p := running(t, s, RunningQuery{Limit: 10}); p.Total != 20000 {
				t.Errorf("%d running", p.Total)
			}
			if err := s.PodsGone(ctx, "prod", []string{"uid-big"}, t0); err != nil {
				t.Fatal(err)
			}
			t.Logf("20,000 containers seen, read, gone in %s", time.Since(start).Round(time.Millisecond))
		})
	}
}
