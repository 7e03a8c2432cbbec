package registry

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Retention deletes what is old, untagged and unsigned; it keeps what a
// tag, a signature or an exception in force protects, and what is not
// old enough; deletions are audited.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rule, err := ParseRetentionRule("team/**=720h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRetentionRule("team/**=forever"); err == nil {
		t.Error("a retention rule without an age was accepted")
	}
	l, host := testutil.Loopback(t)
	reg, err := New(ctx, Options{Name: host, RootDirectory: t.TempDir(), Store: st, Now: now, Retention: []RetentionRule{rule}, OnError: func(err error) { t.Errorf("registry: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeOn(t, l, reg)
	s := &server{host: host, st: st, reg: reg}
	s.admin = s.token(t, "**", store.RoleAdmin)
	push := func(ref string) string {
		img := randomImage(t)
		if err := remote.Write(s.ref(t, ref), img, s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
		return digestOfImage(t, img)
	}
	old := push("team/app:build") // untagged by the next push to that tag
	push("team/app:build")
	tagged := push("team/app:v1")
	excepted := push("team/app:build")
	push("team/app:build")
	signed := push("team/app:build")
	push("team/app:build")
	elsewhere := push("other/app:build")
	push("other/app:build")
	// the signature is recorded as a worker would
	repo, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, signed)
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := sign.GenerateKeyPair()
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	subject := func(d string) evidence.Subject { return evidence.Subject{Repository: s.host + "/team/app", Digest: d} }
	if err := st.Record(ctx, store.Record{Subject: subject(signed), At: time.Now(), Signatures: []evidence.VerifiedSignature{{Subject: subject(signed)}}}); err != nil {
		t.Fatal(err)
	}
	exceptions := []evidence.Exception{{Name: "keep-for-INC-9", Subject: subject(excepted), ExpiresAt: time.Now().Add(90 * 24 * time.Hour)}}

	if swept, err := reg.Sweep(ctx, exceptions); err != nil || len(swept.Deleted) != 0 {
		t.Fatalf("a sweep of young digests deleted: %+v %v", swept, err)
	}
	offset.Store(int64(31 * 24 * time.Hour))
	swept, err := reg.Sweep(ctx, exceptions)
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, d := range swept.Deleted {
		deleted[d.Digest] = true
	}
	if !deleted[old] || deleted[tagged] || deleted[excepted] || deleted[signed] || deleted[elsewhere] || len(deleted) != 3 {
		// old and the two other untagged, unsigned team/app builds go
		t.Errorf("deleted %v (old %s, tagged %s, excepted %s, signed %s)", swept.Deleted, old, tagged, excepted, signed)
	}
	if _, err := remote.Get(s.ref(t, "team/app@"+old), s.options(s.admin)...); err == nil {
		t.Error("a deleted digest is still served")
	}
	events, err := st.RegistryEvents(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, e := range events {
		if e.Action == "retention" && e.Outcome == "deleted" && strings.Contains(e.Reason, "untagged, pushed 31 days ago, unsigned") && e.Actor == "retention rule team/**=720h" {
			audited++
		}
	}
	if audited != 3 {
		t.Errorf("%d deletions audited: %+v", audited, events)
	}
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
