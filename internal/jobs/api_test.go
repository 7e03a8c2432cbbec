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
	api, wait := r.API(ctx, tokens.NewAuthenticator(st, time.Now), func(err error) { t.Error(err) })
	srv := httptest.NewServer(api)
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
	status, out := call(http.MethodPost, "/api/jobs/rescan-all", admin, `{"rate": 1000}`)
	if status != http.StatusAccepted || out["kind"] != "rescan-all" || out["total"] != float64(7) {
		t.Fatalf("POST rescan-all: %d %v", status, out)
	}
	path := "/api/jobs/" + strconv.Itoa(int(out["id"].(float64)))
	deadline := time.Now().Add(30 * time.Second)
	for out["state"] != store.JobDone && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if status, out = call(http.MethodGet, path, admin, ""); status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, status, out)
		}
	}
	if out["state"] != store.JobDone || out["done"] != float64(7) || out["failed"] != float64(0) {
		t.Errorf("the job as the API shows it: %v", out)
	}
	if status, _ := call(http.MethodGet, "/api/jobs/99", admin, ""); status != http.StatusNotFound {
		t.Errorf("GET an unknown job: %d", status)
	}
	stop()
	wait()
}
