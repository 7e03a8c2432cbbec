package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/store"
)

// poisonManifest is an image manifest distribution stores and then panics
// reading (helper-16): no mediaType, and "manifests" twice in two
// spellings, a list whose platform is a number, then null. Go's decoder
// matches keys case-insensitively and keeps the last, so the push checks
// see no manifests; distribution's read-back tries it as an index first,
// fails on the platform and asserts the nil result.
func poisonManifest(t *testing.T, s *server, repository, keys string) []byte {
	t.Helper()
	img := randomImage(t)
	if err := remote.Write(s.ref(t, repository+":base"), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "mediaType")
	body, _ := json.Marshal(m)
	return append(body[:len(body)-1], []byte(","+keys+"}")...)
}

// A manifest must read the same to every parser: keys equal but for case,
// or repeated, are refused at the push, whoever pushes (helper-16's
// manifest crashed the registry when read back); the manifest beside them
// is taken.
func TestManifestsReadOneWay(t *testing.T) {
	s := newServer(t)
	push := s.token(t, "mine/**", store.RolePush)
	for _, keys := range []string{
		`"manifests":[{"platform":5}],"Manifests":null`,
		`"annotations":{"a":"1","a":"2"}`,
		`"annotations":{"b":"1"},"Annotations":{"c":"2"}`,
		`"annotations":{"\u212a":"kelvin","k":"k"}`, // the Kelvin sign folds to k
	} {
		body := poisonManifest(t, s, "mine/app", keys)
		resp := s.do(t, http.MethodPut, "/v2/mine/app/manifests/poison", push, body, "application/vnd.oci.image.manifest.v1+json")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: push answered %d, want 400", keys, resp.StatusCode)
		}
	}
	body := poisonManifest(t, s, "mine/app", `"annotations":{"a":"1","A2":"2"}`)
	if resp := s.do(t, http.MethodPut, "/v2/mine/app/manifests/fine", push, body, "application/vnd.oci.image.manifest.v1+json"); resp.StatusCode != http.StatusCreated {
		t.Errorf("a manifest whose keys all differ: push answered %d", resp.StatusCode)
	}
}

// A manifest distribution stored but cannot read back (one pushed before
// the check above) costs its own reads, never the process: the scan job's
// in-process read gets an error, an admin's GET a 500, the first start's
// blob index skips it and indexes the rest.
func TestUnreadableManifestsEndNoProcess(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	s := newServerWith(t, func(o *Options) {
		o.OnError = func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }
	})
	body := poisonManifest(t, s, "mine/app", `"manifests":[{"platform":5}],"Manifests":null`)
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(body))
	// stored as it was before dossier read manifests one way: by
	// distribution itself
	put := httptest.NewRequest(http.MethodPut, "/v2/mine/app/manifests/poison", bytes.NewReader(body))
	put.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	rec := httptest.NewRecorder()
	s.reg.app.ServeHTTP(rec, put)
	if rec.Code != http.StatusCreated {
		t.Fatalf("distribution refused the manifest (%d): the case does not arise", rec.Code)
	}
	read := func(ctx context.Context) error {
		ref, err := name.ParseReference(s.host+"/mine/app@"+digest, name.Insecure)
		if err != nil {
			return err
		}
		_, err = remote.Get(ref, remote.WithTransport(s.reg.readOnly(s.host+"/mine/app")), remote.WithContext(ctx))
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := read(ctx); err == nil {
		t.Error("the in-process read of an unreadable manifest succeeded")
	}
	resp := s.do(t, http.MethodGet, "/v2/mine/app/manifests/"+digest, s.admin, nil, "")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("an admin's GET answered %d, want 500", resp.StatusCode)
	}
	if resp := s.do(t, http.MethodGet, "/v2/mine/app/manifests/base", s.admin, nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the repository's other manifest answered %d", resp.StatusCode)
	}
	indexed, err := s.reg.indexRepository(context.Background(), "mine/app")
	if err != nil || indexed != 1 {
		t.Errorf("the blob index of the repository: %d manifests, %v; want the readable one", indexed, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !containsError(reported, "panicked") || !containsError(reported, "are not indexed") {
		t.Errorf("reported: %v", reported)
	}
}

func containsError(errs []error, part string) bool {
	for _, err := range errs {
		if strings.Contains(err.Error(), part) {
			return true
		}
	}
	return false
}

// A manifest distribution stored but cannot read keeps retention from
// nothing (helper-18: namedByKept's read of it ended every sweep, and the
// old, untagged, unsigned image beside it was never deleted).
func TestUnreadableManifestsStopNoRetention(t *testing.T) {
	ctx := context.Background()
	s, monthLater, _ := retentionServer(t)
	// the poison, stored by distribution as a store of an older version did
	body := poisonManifest(t, s, "team/old", `"manifests":[{"platform":5}],"Manifests":null`)
	poison := fmt.Sprintf("sha256:%x", sha256.Sum256(body))
	put := httptest.NewRequest(http.MethodPut, "/v2/team/old/manifests/"+poison, bytes.NewReader(body))
	put.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	rec := httptest.NewRecorder()
	s.reg.app.ServeHTTP(rec, put)
	if rec.Code != http.StatusCreated {
		t.Fatalf("distribution refused the manifest (%d)", rec.Code)
	}
	if err := s.st.Enqueue(ctx, store.JobScan, s.host+"/team/old", poison, s.reg.now()); err != nil {
		t.Fatal(err)
	}
	// an old, untagged, unsigned image beside it: retention's to delete
	img := randomImage(t)
	victim := digestOfImage(t, img)
	if err := remote.Write(s.ref(t, "team/old@"+victim), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	monthLater()
	swept, err := s.reg.Sweep(ctx, nil)
	if err != nil {
		t.Errorf("sweep: %v", err)
	}
	deleted := false
	for _, d := range swept.Deleted {
		deleted = deleted || d.Digest == victim
	}
	if !deleted {
		t.Errorf("team/old@%s (untagged, unsigned, 31 days old) was not deleted: %+v", victim, swept)
	}
}
