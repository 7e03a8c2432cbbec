package jobs

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// The jobs API, as dossier serve mounts it: only an admin token of every
// repository starts or sees jobs; POST starts rescan-all in the
// background and GET shows it done, with the same code as the CLI;
// unknown kinds and options are refused by name.
func TestJobsAPI(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	st := openStore(t, t.TempDir(), "")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i := range 7 {
		recordComponents(t, st, subject(i), t0, nil, lodashPURL)
	}
	token := func(role, repositories string) string {
		secret, hash, err := tokens.New()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: repositories, Role: role, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	admin, teamAdmin, puller := token(store.RoleAdmin, "**"), token(store.RoleAdmin, "registry.example/team/**"), token(store.RolePull, "**")
	r := &Runner{Store: st, DB: database(t, t.TempDir(), lodashRecord), Now: time.Now, Throttle: Throttle{Batch: 2}}
	// the cancelled run's own end is reported, and is no failure
	service := r.Serve(ctx, func(err error) {
		if !strings.Contains(err.Error(), "cancelled by token") {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(service.Handler(tokens.NewAuthenticator(st, time.Now)))
	defer srv.Close()
	call := func(method, path, secret, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if secret != "" {
			req.SetBasicAuth("ops", secret)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if strings.HasPrefix(path, "/api/jobs/") || method == http.MethodPost {
			json.NewDecoder(res.Body).Decode(&out)
		}
		return res.StatusCode, out
	}
	for _, c := range []struct {
		secret string
		want   int
	}{{"", http.StatusUnauthorized}, {puller, http.StatusForbidden}, {teamAdmin, http.StatusForbidden}} {
		if status, _ := call(http.MethodPost, "/api/jobs/rescan-all", c.secret, ""); status != c.want {
			t.Errorf("POST with a %q token: %d, want %d", c.secret, status, c.want)
		}
	}
	if status, out := call(http.MethodPost, "/api/jobs/rescan-everything", admin, ""); status != http.StatusNotFound || !strings.Contains(out["error"].(string), "rescan-everything") {
		t.Errorf("an unknown kind: %d %v", status, out)
	}
	if status, out := call(http.MethodPost, "/api/jobs/rescan-all", admin, `{"speed": 3}`); status != http.StatusBadRequest || !strings.Contains(out["error"].(string), `"speed"`) {
		t.Errorf("an unknown option: %d %v", status, out)
	}
	// every image of a batch (twice the concurrency) is pulled at once:
	// the concurrency is bounded, 2^62 (whose batch would overflow) too
	for _, c := range []string{"65", "4611686018427387904", "-1"} {
		if status, out := call(http.MethodPost, "/api/jobs/catalogue-all", admin, `{"force": true, "concurrency": `+c+`}`); status != http.StatusBadRequest || !strings.Contains(out["error"].(string), "concurrency") {
			t.Errorf("concurrency %s: %d %v", c, status, out)
		}
	}
	status, out := call(http.MethodPost, "/api/jobs/rescan-all", admin, `{"rate": 1000}`)
	if status != http.StatusAccepted || out["kind"] != "rescan-all" || out["total"] != float64(7) {
		t.Fatalf("POST rescan-all: %d %v", status, out)
	}
	path := "/api/jobs/" + strconv.Itoa(int(out["id"].(float64)))
	// ended waits for the job at path to end, and returns it
	ended := func(path string) map[string]any {
		t.Helper()
		var job map[string]any
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			var status int
			if status, job = call(http.MethodGet, path, admin, ""); status != http.StatusOK {
				t.Fatalf("GET %s: %d %v", path, status, job)
			}
			if job["state"] != store.JobQueued && job["state"] != store.JobRunning {
				break
			}
		}
		return job
	}
	if out := ended(path); out["state"] != store.JobDone || out["done"] != float64(7) || out["failed"] != float64(0) {
		t.Errorf("the job as the API shows it: %v", out)
	}
	if status, _ := call(http.MethodGet, "/api/jobs/99", admin, ""); status != http.StatusNotFound {
		t.Errorf("GET an unknown job: %d", status)
	}

	// cancelled while it runs (two digests a second: three batches of
	// two, a second apart), the job ends failed, saying by whom, and its
	// run stops without committing another batch
	for i := 7; i < 14; i++ {
		recordComponents(t, st, subject(i), t0, nil, lodashPURL)
	}
	status, out = call(http.MethodPost, "/api/jobs/rescan-all", admin, `{"rate": 2}`)
	if status != http.StatusAccepted {
		t.Fatalf("POST rescan-all again: %d %v", status, out)
	}
	path = "/api/jobs/" + strconv.Itoa(int(out["id"].(float64)))
	if status, _ := call(http.MethodPost, path+"/cancel", puller, ""); status != http.StatusForbidden {
		t.Errorf("a pull token cancels a job: %d", status)
	}
	status, out = call(http.MethodPost, path+"/cancel", admin, "")
	if status != http.StatusOK || out["state"] != store.JobFailed || !strings.HasPrefix(out["error"].(string), "cancelled by token ") {
		t.Fatalf("cancel: %d %v", status, out)
	}
	cancelledAt := out["done"]
	time.Sleep(2500 * time.Millisecond) // past the next batch the run would have committed
	if _, out = call(http.MethodGet, path, admin, ""); out["state"] != store.JobFailed || out["done"] != cancelledAt {
		t.Errorf("the cancelled job went on from %v done: %v", cancelledAt, out)
	}
	if status, out := call(http.MethodPost, path+"/cancel", admin, ""); status != http.StatusConflict || out["state"] != store.JobFailed {
		t.Errorf("cancel an ended job: %d %v", status, out)
	}
	if status, _ := call(http.MethodPost, "/api/jobs/99/cancel", admin, ""); status != http.StatusNotFound {
		t.Errorf("cancel an unknown job: %d", status)
	}
	status, out = call(http.MethodPost, "/api/jobs/rescan-all", admin, "")
	if status != http.StatusAccepted || "/api/jobs/"+strconv.Itoa(int(out["id"].(float64))) == path {
		t.Fatalf("a new rescan-all after the cancelled one: %d %v", status, out)
	}
	if out := ended("/api/jobs/" + strconv.Itoa(int(out["id"].(float64)))); out["state"] != store.JobDone || out["done"] != float64(14) {
		t.Errorf("the rescan-all after the cancelled one: %v", out)
	}
	stop()
	service.Wait()
}

// The jobs API answers 401 with a Basic prompt, so a browser may hold an
// admin's token for it and send it with any site's requests: a job
// started or cancelled by another site's page (a form posting
// {"force":true,"concurrency":64}= as text/plain, or a fetch) is refused,
// and so is a body with more than one JSON object, while clients that are
// no browsers (no Origin, no Sec-Fetch-Site) and this site's own pages
// are served.
func TestJobsAPIRefusesOtherSites(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	st := openStore(t, t.TempDir(), "")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	recordComponents(t, st, subject(0), t0, nil, lodashPURL)
	secret, hash, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Store: st, DB: database(t, t.TempDir(), lodashRecord), Now: time.Now}
	service := r.Serve(ctx, func(err error) { t.Error(err) })
	srv := httptest.NewServer(service.Handler(tokens.NewAuthenticator(st, time.Now)))
	defer srv.Close()
	post := func(path, body string, headers ...string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.SetBasicAuth("ops", secret)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	form := "{\"force\":true,\"concurrency\":64}=\r\n"
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "null"},
		{"Origin", "http://evil.example", "Content-Type", "text/plain"},
	} {
		if status := post("/api/jobs/rescan-all", form, h...); status != http.StatusForbidden {
			t.Errorf("a start sent with %v: %d, want 403", h, status)
		}
		if status := post("/api/jobs/1/cancel", "", h...); status != http.StatusForbidden {
			t.Errorf("a cancel sent with %v: %d, want 403", h, status)
		}
	}
	if list, err := st.MaintenanceJobs(ctx, 0); err != nil || len(list) != 0 {
		t.Fatalf("jobs after other sites' requests: %v %v", list, err)
	}
	if status := post("/api/jobs/rescan-all", form); status != http.StatusBadRequest {
		t.Errorf("options followed by more than one JSON object: %d, want 400", status)
	}
	if status := post("/api/jobs/rescan-all", "{\"rate\": 100}\n\n"); status != http.StatusAccepted {
		t.Errorf("a start from a client that is no browser: %d, want 202", status)
	}
	if status := post("/api/jobs/rescan-all", "", "Sec-Fetch-Site", "same-origin"); status != http.StatusAccepted && status != http.StatusConflict {
		t.Errorf("a start from this site's own page: %d, want 202 or 409", status)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if list, err := st.MaintenanceJobs(ctx, 0); err != nil || len(list) == 0 || list[0].Finished() {
			break
		}
	}
	stop()
	service.Wait()
}
