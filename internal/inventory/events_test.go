package inventory

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// A pass tells each finding of a running digest, each container running
// unjudged or drifted, each exception expiring soon and each denial under
// enforce in its cluster — with IDs that name them for good.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	repo := "registry.example/team/app"
	subject := evidence.Subject{Repository: repo, Digest: digestA}
	critical := evidence.Finding{ID: "GHSA-xvch-5gv4-984h", Ecosystem: "npm", Severity: evidence.Severity{Rating: evidence.SeverityCritical},
		Component: evidence.Component{Name: "minimist", Version: "1.2.5", PURL: "pkg:npm/minimist@1.2.5"}}
	suppressed := critical
	suppressed.ID, suppressed.Suppression = "GHSA-suppressed", &evidence.Suppression{Kind: "vex", Status: "not_affected"}
	if err := st.Record(ctx, store.Record{Subject: subject, At: now, Findings: &store.Scan{Findings: []evidence.Finding{critical, suppressed}, DatabaseVersion: now}}); err != nil {
		t.Fatal(err)
	}
	c := store.RunningContainer{Cluster: "prod", Namespace: "shop", Pod: "web-1", PodUID: "uid-1", Container: "app", Kind: store.ContainerApp,
		Workload: "Deployment/web", Image: repo + ":v1", Subject: subject, DigestFrom: store.DigestFromStatus, Started: now}
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: "uid-1", Containers: []store.RunningContainer{c}}}, now); err != nil {
		t.Fatal(err)
	}
	denial := &evidence.Decision{Subject: subject, Mode: evidence.ModeEnforce, EvaluatedAt: now}
	if err := st.Admitted(ctx, []store.Admission{
		{At: now, Image: repo + ":v2", Cluster: "prod", Namespace: "shop", Workload: "Pod/x", Outcome: store.AdmissionDenied, Reason: "unsigned", Decision: denial},
		{At: now, Image: repo + ":v3", Cluster: "staging", Namespace: "shop", Workload: "Pod/y", Outcome: store.AdmissionDenied, Reason: "unsigned", Decision: denial},
	}); err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Exceptions: []evidence.Exception{
		{Name: "soon", Owner: "team", Reason: "r", ExpiresAt: now.Add(48 * time.Hour), Subject: subject},
		{Name: "later", Owner: "team", Reason: "r", ExpiresAt: now.Add(30 * 24 * time.Hour), Subject: subject},
		{Name: "gone", Owner: "team", Reason: "r", ExpiresAt: now.Add(-time.Hour), Subject: subject},
	}}
	pass, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, func(string) (map[string]string, bool) { return nil, true }, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events(ctx, "prod", st, pass, set, now, now.Add(-time.Hour), 7*24*time.Hour, evidence.SeverityHigh)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, e := range got {
		ids[e.ID] = e.Type
	}
	want := map[string]string{
		"finding/prod/" + subject.String() + "/GHSA-xvch-5gv4-984h":              notify.TypeFinding,
		"unjudged/prod/shop/Deployment/web/app/" + digestA:                       notify.TypeUnjudged,
		"exception-expiring//soon/" + now.Add(48*time.Hour).Format(time.RFC3339): notify.TypeExpiring,
		"denied/prod/shop/Pod/x/" + repo + ":v2/" + itoa(now.UnixMicro()):        notify.TypeDenied,
	}
	if len(ids) != len(want) {
		t.Errorf("events %v, want %v", ids, want)
	}
	for id, typ := range want {
		if ids[id] != typ {
			t.Errorf("event %s: %q, want %q (all: %v)", id, ids[id], typ, ids)
		}
	}
	for _, e := range got {
		if e.Text == "" || !strings.Contains(e.Source, "prod") {
			t.Errorf("event %s has no text or source: %+v", e.ID, e)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
