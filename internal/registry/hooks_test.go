package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/store"
)

// Notifications: a notify or admin token reaching the repositories is
// required, of a configured host; a Harbor PUSH_ARTIFACT queues a remote
// scan and records the tag; other events and malformed payloads do
// nothing but answer.
func TestHooks(t *testing.T) {
	ctx := context.Background()
	s := newServerWith(t, func(o *Options) { o.HookHosts = []string{"HARBOR.example", "registry.example:443"} })
	srv := httptest.NewServer(s.reg.Hooks())
	defer srv.Close()
	post := func(path, token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	harbor := `{"type":"PUSH_ARTIFACT","occur_at":1764150000,"operator":"ci","event_data":{"resources":[{"digest":"` + digest +
		`","tag":"v1","resource_url":"harbor.example/library/app:v1"}],"repository":{"name":"app","namespace":"library","repo_full_name":"library/app"}}}`
	if code := post("/api/v1/hooks/harbor", "", harbor); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	if code := post("/api/v1/hooks/harbor", s.pull, harbor); code != http.StatusForbidden {
		t.Errorf("with a pull token: %d", code)
	}
	if code := post("/api/v1/hooks/harbor", s.admin, `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"sha256:x","resource_url":"nohost"}]}}`); code != http.StatusBadRequest {
		t.Errorf("a malformed resource: %d", code)
	}
	if code := post("/api/v1/hooks/harbor", s.admin, `{"type":"DELETE_ARTIFACT"}`); code != http.StatusAccepted {
		t.Errorf("another event: %d", code)
	}
	if code := post("/api/v1/hooks/distribution", s.admin, `not json`); code != http.StatusBadRequest {
		t.Errorf("a body that is not an envelope: %d", code)
	}
	// a scoped admin, a notify token of another team, a push token: their
	// globs or roles do not reach harbor.example/library/app
	scopedAdmin, otherTeam := s.token(t, "team-a/**", store.RoleAdmin), s.token(t, "harbor.example/team-b/**", store.RoleNotify)
	for name, token := range map[string]string{"scoped admin": scopedAdmin, "another team's notify token": otherTeam, "push token": s.token(t, "**", store.RolePush)} {
		if code := post("/api/v1/hooks/harbor", token, harbor); code != http.StatusForbidden {
			t.Errorf("%s: %d", name, code)
		}
	}
	// hosts outside the allow-list, and this registry's own name, whose
	// tag history a notification must not write
	for _, host := range []string{"evil.example", s.host, strings.Replace(s.host, "127.0.0.1", "localhost", 1)} {
		forged := strings.Replace(harbor, "harbor.example/", host+"/", 1)
		if code := post("/api/v1/hooks/harbor", s.admin, forged); code != http.StatusForbidden {
			t.Errorf("a notification of %s: %d", host, code)
		}
	}
	if jobs, err := s.st.Jobs(ctx, "", "", 0); err != nil || len(jobs) != 0 {
		t.Errorf("refused notifications queued jobs: %+v %v", jobs, err)
	}
	notify := s.token(t, "harbor.example/library/**", store.RoleNotify)
	if code := post("/api/v1/hooks/harbor", notify, harbor); code != http.StatusAccepted {
		t.Fatalf("a push: %d", code)
	}
	if code := s.do(t, http.MethodGet, "/v2/", notify, nil, "").StatusCode; code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("a notify token reached the registry: %d", code)
	}
	jobs, err := s.st.Jobs(ctx, "harbor.example/library/app", digest, 0)
	if err != nil || len(jobs) != 1 || jobs[0].Kind != store.JobScanRemote || jobs[0].State != store.JobQueued {
		t.Errorf("jobs: %+v %v", jobs, err)
	}
	if moves, err := s.st.TagHistory(ctx, "harbor.example/library/app", "v1"); err != nil || len(moves) != 1 || moves[0].Digest != digest {
		t.Errorf("tag history: %+v %v", moves, err)
	}
}
