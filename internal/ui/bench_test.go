package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// BenchmarkPages renders each page over a store the size of a busy
// platform's month: 1,000 digests of 60 components with 6 findings each
// (one advisory shared by all), 60,000 admission decisions over 30 days.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	digests, components, admissionsPerDay := 1000, 60, 2000
	if n, err := strconv.Atoi(os.Getenv("DOSSIER_BENCH_DIGESTS")); err == nil && n > 0 {
		digests = n // a larger store: DOSSIER_BENCH_DIGESTS=10000
	}
	shared := evidence.Component{Name: "lodash", Version: "4.17.20", Type: "library", PURL: "pkg:npm/lodash@4.17.20"}
	var records []store.Record
	var subjects []evidence.Subject
	for i := range digests {
		s := evidence.Subject{Repository: fmt.Sprintf("registry.example/team%d/app", i%20), Digest: fmt.Sprintf("sha256:%064x", i+1)}
		subjects = append(subjects, s)
		comps := []evidence.Component{shared}
		var findings []evidence.Finding
		for j := 1; j < components; j++ {
			c := evidence.Component{Name: fmt.Sprintf("pkg%d", j), Version: fmt.Sprintf("1.%d.%d", j, i%7), Type: "library", PURL: fmt.Sprintf("pkg:npm/pkg%d@1.%d.%d", j, j, i%7)}
			comps = append(comps, c)
			if j <= 5 {
				findings = append(findings, finding(fmt.Sprintf("GHSA-%04d-%04d-x", j, i%7), c, []string{"low", "medium", "high", "critical"}[j%4], 5))
			}
		}
		findings = append(findings, finding("GHSA-35jh-r3h4-6jhm", shared, evidence.SeverityHigh, 7.2, "4.17.21"))
		records = append(records, store.Record{Subject: s, At: now.Add(-time.Duration(i%30) * 24 * time.Hour), Tag: "v1", TagSource: "bench", Components: comps,
			Findings: &store.Scan{Findings: findings, DatabaseVersion: now}})
		if len(records) == 100 {
			if err := st.Record(ctx, records...); err != nil {
				b.Fatal(err)
			}
			records = records[:0]
		}
	}
	for d := range 30 {
		var batch []store.Admission
		for k := range admissionsPerDay {
			s := subjects[(d*admissionsPerDay+k)%digests]
			outcome := []string{store.AdmissionAllowed, store.AdmissionAllowed, store.AdmissionWaived, store.AdmissionDenied}[k%4]
			batch = append(batch, store.Admission{At: now.Add(-time.Duration(d)*24*time.Hour - time.Duration(k)*time.Second), Image: s.String(), Subject: s,
				Namespace: "prod", Workload: fmt.Sprintf("Pod/p%d", k), Outcome: outcome, Reason: "r", Deployed: outcome != store.AdmissionDenied})
		}
		if err := st.Admitted(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	secret, hash, err := tokens.New()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	// a team's reader: one repository of the 20, its own counts
	scoped, scopedHash, err := tokens.New()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, scopedHash, store.Token{Repositories: "registry.example/team1/**", Role: store.RolePull, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	u, err := New(Options{Store: st, Auth: tokens.NewAuthenticator(st, time.Now), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for _, page := range []struct{ name, path, token string }{
		{"overview", "/ui/", secret},
		{"artifact", "/ui/artifact?ref=" + url.QueryEscape(subjects[7].String()), secret},
		{"search by purl", "/ui/search?q=" + url.QueryEscape("pkg:npm/lodash"), secret},
		{"search by advisory", "/ui/search?q=GHSA-35jh-r3h4-6jhm", secret},
		{"exceptions", "/ui/exceptions", secret},
		{"overview scoped", "/ui/", scoped},
		{"search by advisory scoped", "/ui/search?q=GHSA-35jh-r3h4-6jhm", scoped},
	} {
		b.Run(page.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, page.path, nil)
				req.Header.Set("Authorization", "Bearer "+page.token)
				rec := httptest.NewRecorder()
				u.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "</html>") {
					b.Fatalf("%s: %d", page.path, rec.Code)
				}
			}
		})
	}
}
