package registry

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
