package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/evidence"
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

// Retention keeps what a kept index names: a tagged, signed index's
// platform images, pushed by digest and unsigned themselves, are not
// "untagged, unsigned" (helper-16: they were deleted, and the index could
// no longer be pulled). The images of an index that is deleted go with it.
func TestRetentionKeepsWhatAKeptIndexNames(t *testing.T) {
	ctx := context.Background()
	s, monthLater, _ := retentionServer(t)
	kept, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(s.ref(t, "team/app:stable"), kept, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	keptDigest, _ := kept.Digest()
	droppedDigest, _ := dropped.Digest()
	if err := remote.WriteIndex(s.ref(t, "team/app@"+droppedDigest.String()), dropped, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	subject := evidence.Subject{Repository: s.host + "/team/app", Digest: keptDigest.String()}
	if err := s.st.Record(ctx, store.Record{Subject: subject, At: time.Now(), Signatures: []evidence.VerifiedSignature{{Subject: subject}}}); err != nil {
		t.Fatal(err)
	}
	monthLater()
	swept, err := s.reg.Sweep(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{droppedDigest.String(): true}
	droppedManifest, _ := dropped.IndexManifest()
	for _, child := range droppedManifest.Manifests {
		want[child.Digest.String()] = true
	}
	for _, gone := range swept.Deleted {
		if !want[gone.Digest] {
			t.Errorf("retention deleted %s", gone.Digest)
		}
		delete(want, gone.Digest)
	}
	for d := range want {
		t.Errorf("retention kept %s, of the untagged, unsigned index", d)
	}
	keptManifest, _ := kept.IndexManifest()
	for _, child := range keptManifest.Manifests {
		if resp := s.do(t, http.MethodGet, "/v2/team/app/manifests/"+child.Digest.String(), s.admin, nil, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("team/app:stable names %s, which answers %d", child.Digest, resp.StatusCode)
		}
	}
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

// Retention reads a repository's manifests within a bound to learn what
// its indexes name (helper-18: twenty 4 MiB manifests cost 4.8 s a
// sweep, unbounded); past it, nothing of the repository is deleted, and
// other repositories are swept.
func TestRetentionReadsWithinABound(t *testing.T) {
	ctx := context.Background()
	s, monthLater, reported := retentionServer(t)
	big, small := randomImage(t), randomImage(t)
	for repository, img := range map[string]v1.Image{"team/big": big, "team/small": small} {
		if err := remote.Write(s.ref(t, repository+"@"+digestOfImage(t, img)), img, s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
	}
	bigManifest, _ := big.RawManifest()
	smallManifest, _ := small.RawManifest()
	defer func(bound int64) { maxRetentionRead = bound }(maxRetentionRead)
	maxRetentionRead = int64(min(len(bigManifest), len(smallManifest))) - 1
	monthLater()
	swept, err := s.reg.Sweep(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(swept.Deleted) != 0 || swept.Kept != 2 {
		t.Errorf("past the bound: %+v, want both kept", swept)
	}
	maxRetentionRead = int64(max(len(bigManifest), len(smallManifest)))
	if swept, err = s.reg.Sweep(ctx, nil); err != nil || len(swept.Deleted) != 2 {
		t.Errorf("within the bound: %+v, %v, want both deleted", swept, err)
	}
	if !containsError(reported(), "retention kept every digest of team/") {
		t.Errorf("reported %v", reported())
	}
}

// retentionServer is a registry sweeping team/** of what is 30 days old,
// on a clock monthLater moves 31 days on; reported lists its errors.
func retentionServer(t *testing.T) (s *server, monthLater func(), reported func() []error) {
	t.Helper()
	rule, err := ParseRetentionRule("team/**=720h")
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{at: time.Now()}
	var mu sync.Mutex
	var errs []error
	s = newServerWith(t, func(o *Options) {
		o.Now, o.Retention = clock.Now, []RetentionRule{rule}
		o.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	})
	return s, func() { clock.Advance(31 * 24 * time.Hour) }, func() []error { mu.Lock(); defer mu.Unlock(); return slices.Clone(errs) }
}
