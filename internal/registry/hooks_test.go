package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/store"
)

// Notifications: an admin token is required; a Harbor PUSH_ARTIFACT
// queues a remote scan and records the tag; other events and malformed
// payloads do nothing but answer.
func TestHooks(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
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
	if code := post("/api/v1/hooks/harbor", s.admin, harbor); code != http.StatusAccepted {
		t.Fatalf("a push: %d", code)
	}
	jobs, err := s.st.Jobs(ctx, "harbor.example/library/app", digest, 0)
	if err != nil || len(jobs) != 1 || jobs[0].Kind != JobScanRemote || jobs[0].State != store.JobQueued {
		t.Errorf("jobs: %+v %v", jobs, err)
	}
	if moves, err := s.st.TagHistory(ctx, "harbor.example/library/app", "v1"); err != nil || len(moves) != 1 || moves[0].Digest != digest {
		t.Errorf("tag history: %+v %v", moves, err)
	}
}
