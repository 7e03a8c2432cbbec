package registry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Bad pushes get the distribution spec's errors and leave nothing behind:
// no tag move, no queued job, no index entry, no claim.
func TestBadPushes(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "team/**:v*")
	empty := "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	upload := func(repo string) string {
		resp := s.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", s.admin, nil, "")
		location, err := resp.Location()
		if resp.StatusCode != http.StatusAccepted || err != nil {
			t.Fatalf("upload: %d %v", resp.StatusCode, err)
		}
		return location.RequestURI()
	}
	errorCode := func(resp *http.Response) string {
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	// a blob whose content does not match its digest
	resp := s.do(t, http.MethodPut, upload("team/app")+"&digest="+empty, s.admin, []byte("not the empty object"), "application/octet-stream")
	if body := errorCode(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "DIGEST_INVALID") {
		t.Errorf("a mismatched blob: %d %s", resp.StatusCode, body)
	}
	if resp := s.do(t, http.MethodHead, "/v2/team/app/blobs/"+empty, s.admin, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the mismatched blob was stored: %d", resp.StatusCode)
	}
	// an upload interrupted half-way leaves no blob
	loc := upload("team/app")
	if resp := s.do(t, http.MethodPatch, loc, s.admin, []byte("{"), "application/octet-stream"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a first chunk: %d", resp.StatusCode)
	}
	if resp := s.do(t, http.MethodHead, "/v2/team/app/blobs/"+empty, s.admin, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an interrupted upload left a blob: %d", resp.StatusCode)
	}
	// a manifest over the bound, malformed, or naming blobs that are not there
	big := bytes.Repeat([]byte(" "), MaxManifestBytes+1)
	resp = s.do(t, http.MethodPut, "/v2/team/app/manifests/v1", s.admin, big, "application/vnd.oci.image.manifest.v1+json")
	if body := errorCode(resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "SIZE_INVALID") {
		t.Errorf("an oversized manifest: %d %s", resp.StatusCode, body)
	}
	resp = s.do(t, http.MethodPut, "/v2/team/app/manifests/v1", s.admin, []byte(`{"schemaVersion":2,`), "application/vnd.oci.image.manifest.v1+json")
	if body := errorCode(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "MANIFEST_INVALID") {
		t.Errorf("a truncated manifest: %d %s", resp.StatusCode, body)
	}
	missing := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[],
"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":2}}`
	resp = s.do(t, http.MethodPut, "/v2/team/app/manifests/v1", s.admin, []byte(missing), "application/vnd.oci.image.manifest.v1+json")
	if body := errorCode(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "MANIFEST_BLOB_UNKNOWN") || resp.Header.Get("OCI-Subject") != "" {
		t.Errorf("a manifest naming missing blobs: %d %s", resp.StatusCode, body)
	}
	// names that are not repository names, path traversal among them
	for _, path := range []string{"/v2/../../etc/manifests/v1", "/v2/team/%2e%2e/app/manifests/v1", "/v2/Team/App/manifests/v1", "/v2/team//app/manifests/v1"} {
		resp := s.do(t, http.MethodPut, path, s.admin, []byte(missing), "application/vnd.oci.image.manifest.v1+json")
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	// nothing was kept of any of it
	if jobs, err := s.st.Jobs(ctx, "", "", 0); err != nil || len(jobs) != 0 {
		t.Errorf("jobs: %+v %v", jobs, err)
	}
	if moves, err := s.st.TagHistory(ctx, s.host+"/team/app", "v1"); err != nil || len(moves) != 0 {
		t.Errorf("tag moves: %+v %v", moves, err)
	}
	if refs, err := s.st.Referrers(ctx, "team/app", "sha256:2222222222222222222222222222222222222222222222222222222222222222", ""); err != nil || len(refs) != 0 {
		t.Errorf("referrers: %+v %v", refs, err)
	}
	// the immutable tag v1 was not claimed by the refused pushes
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...); err != nil {
		t.Errorf("the first good push of v1: %v", err)
	}
	// the storage holds nothing outside its directory
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.root), "etc")); err == nil {
		t.Error("a path escaped the storage directory")
	}
}
