package metrics

import (
	"context"
	"errors"
	"fmt"
	"github.com/dossier-dev/dossier/internal/store"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, b)
	}
	return string(b)
}

func TestMetrics(t *testing.T) {
	var none *Metrics // measures nothing, and does not fail
	none.Admission("validate", time.Millisecond)
	none.Decision("denied", "prod", "p")
	none.CacheLookup(true)
	none.Scan("scan", false, time.Second)

	m := New()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	m.Watch(Gauges{
		QueuedJobs: func(context.Context) (int, error) { return 0, errors.New("the store is down") },
		AdvisoryDatabase: func(context.Context) (time.Time, bool, error) {
			return now.Add(-73 * time.Hour), true, nil
		},
		Exceptions: func(context.Context) (int, int, error) { return 5, 2, nil },
		Running: func(context.Context) ([]store.RunningCount, error) {
			return []store.RunningCount{{Cluster: "east", State: store.RunningUnjudged, Pinned: false, Containers: 3}, {Cluster: "west", State: store.RunningAdmitted, Pinned: true, Containers: 7}}, nil
		},
		Clusters: func(context.Context) ([]store.ClusterState, error) {
			return []store.ClusterState{{Name: "east", SeenAt: now.Add(-90 * time.Second)}}, nil
		},
		Outbox: func(context.Context) (int, time.Time, error) { return 3, now.Add(-2 * time.Minute), nil },
		Now:    func() time.Time { return now },
	})
	m.Admission("validate", 3*time.Millisecond)
	m.Decision("denied", "prod", "release")
	m.Decision("denied", "prod", "release")
	m.CacheLookup(true)
	m.CacheLookup(false)
	m.Verification(40 * time.Millisecond)
	m.RegistryRequest("GET", "manifests", 200, time.Millisecond)
	m.Scan("scan", true, 2*time.Second)
	m.StoreQuery("dossier", time.Millisecond)
	text := scrape(t, m)
	for _, want := range []string{
		`dossier_admission_request_duration_seconds_bucket{operation="validate",le="0.005"} 1`,
		`dossier_admission_decisions_total{namespace="prod",policy="release",result="denied"} 2`,
		`dossier_verification_cache_requests_total{result="hit"} 1`,
		`dossier_verification_duration_seconds_sum 0.04`,
		`dossier_registry_request_duration_seconds_count{code="200",method="GET",route="manifests"} 1`,
		`dossier_scan_duration_seconds_count{kind="scan",result="failed"} 1`,
		`dossier_store_query_duration_seconds_count{operation="dossier"} 1`,
		// 73 hours: what the example alert fires on
		"dossier_advisory_database_age_seconds 262800",
		`dossier_exceptions{state="active"} 5`, `dossier_exceptions{state="expiring"} 2`,
		`dossier_running_containers{cluster="east",pinned="false",state="unjudged"} 3`,
		`dossier_running_containers{cluster="west",pinned="true",state="admitted"} 7`,
		`dossier_inventory_age_seconds{cluster="east"} 90`,
		`dossier_notifications_pending{measure="count"} 3`, `dossier_notifications_pending{measure="oldest_seconds"} 120`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	// a gauge whose reader fails is left out; the rest are served
	if strings.Contains(text, "dossier_scan_queue_depth ") {
		t.Error("a queue depth that could not be read was reported")
	}
}

// Every metric the example alerts use is one dossier exposes.
func TestAlertsUseExposedMetrics(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	m := New()
	now := time.Now()
	m.Watch(Gauges{QueuedJobs: func(context.Context) (int, error) { return 1, nil },
		AdvisoryDatabase: func(context.Context) (time.Time, bool, error) { return now, true, nil },
		Exceptions:       func(context.Context) (int, int, error) { return 1, 1, nil },
		Running: func(context.Context) ([]store.RunningCount, error) {
			return []store.RunningCount{{Cluster: "c", State: store.RunningUnjudged, Containers: 1}}, nil
		},
		Clusters: func(context.Context) ([]store.ClusterState, error) {
			return []store.ClusterState{{Name: "c", SeenAt: now}}, nil
		}})
	m.Admission("validate", time.Millisecond)
	m.Decision("denied", "prod", "p")
	exposed := scrape(t, m)
	names := regexp.MustCompile(`dossier_[a-z_]+`)
	alerts := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			alerts++
			used := names.FindAllString(r.Expr, -1)
			if len(used) == 0 {
				t.Errorf("alert %s uses no dossier metric", r.Alert)
			}
			for _, name := range used {
				if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(exposed) {
					t.Errorf("alert %s uses %s, which dossier does not expose", r.Alert, name)
				}
			}
		}
	}
	if alerts != 7 {
		t.Errorf("%d alerts, want the 7 documented", alerts)
	}
}

// Reviews reach the webhook from whoever can send one: namespaces beyond
// the bound count together, and namespaces seen before keep their series.
func TestNamespaceLabelIsBounded(t *testing.T) {
	fresh := New()
	fresh.Decision("denied", strings.Repeat("n", 64), "release") // longer than a namespace: never a label of its own
	if text := scrape(t, fresh); strings.Contains(text, "nnnn") || !strings.Contains(text, `namespace="(other)"`) {
		t.Errorf("a 64-character namespace became a label:\n%s", text)
	}
	m := New()
	for i := range maxNamespaces + 100 {
		m.Decision("denied", fmt.Sprintf("ns-%d", i), "release")
	}
	m.Decision("allowed", "ns-0", "release")
	text := scrape(t, m)
	series := strings.Count(text, "dossier_admission_decisions_total{")
	if series != maxNamespaces+2 {
		t.Errorf("%d decision series, want %d (the bound, the overflow and ns-0's second result)", series, maxNamespaces+2)
	}
	for _, want := range []string{
		`dossier_admission_decisions_total{namespace="(other)",policy="release",result="denied"} 100`,
		`dossier_admission_decisions_total{namespace="ns-0",policy="release",result="allowed"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s", want)
		}
	}
}

// A server that has seen nothing yet still exposes the families whose
// labels are known up front, at zero.
func TestQuietServerExposesKnownSeries(t *testing.T) {
	text := scrape(t, New())
	for _, want := range []string{
		`dossier_admission_request_duration_seconds_count{operation="validate"} 0`,
		`dossier_admission_request_duration_seconds_count{operation="mutate"} 0`,
		`dossier_verification_cache_requests_total{result="miss"} 0`,
		`dossier_verification_duration_seconds_count 0`,
		`dossier_scan_duration_seconds_count{kind="scan-remote",result="failed"} 0`,
		`dossier_scan_duration_seconds_count{kind="verify",result="done"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("a fresh scrape lacks %s", want)
		}
	}
}
