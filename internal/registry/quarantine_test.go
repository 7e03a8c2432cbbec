package registry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Quarantine: a pushed image cannot be pulled (by anyone but admins)
// while its scan is pending, nor after it if it fails the policy; once
// its signature arrives and is recorded, it can. HEAD, which signing
// needs, always answers. Refusals name the missing evidence and are
// audited.
func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	kp, set := signedByRelease(t)
	var offset atomic.Int64 // the registry's clock, moved past cached decisions
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	open, err := policy.CompileGlob("open/**")
	if err != nil {
		t.Fatal(err)
	}
	rules := func() (*policy.Set, string) { return set, "v1" }
	l, host := testutil.Loopback(t)
	reg, err := New(ctx, Options{Name: host, RootDirectory: t.TempDir(), Store: st, Now: now, OnError: func(err error) { t.Errorf("registry: %v", err) },
		Quarantine: []QuarantineRule{{Text: "team/**=release", Repositories: team, Rules: rules}, {Text: "open/**=release", Repositories: open, Rules: rules, PendingPullable: true}}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeOn(t, l, reg)
	s := &server{host: host, st: st, reg: reg}
	s.admin, s.pull = s.token(t, "**", store.RoleAdmin), s.token(t, "**", store.RolePull)
	img := randomImage(t)
	for _, ref := range []string{"team/app:v1", "open/app:v1"} {
		if err := remote.Write(s.ref(t, ref), img, s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
	}
	digest := digestOfImage(t, img)
	get := func(method, repo, token string) (int, string) {
		resp := s.do(t, method, "/v2/"+repo+"/manifests/v1", token, nil, "")
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(http.MethodGet, "team/app", s.pull); code != http.StatusForbidden || !strings.Contains(body, "its scan has not finished (pending)") {
		t.Errorf("pull while pending: %d %s", code, body)
	}
	if code, _ := get(http.MethodHead, "team/app", s.pull); code != http.StatusOK {
		t.Errorf("HEAD while pending: %d", code)
	}
	if code, _ := get(http.MethodGet, "team/app", s.admin); code != http.StatusOK {
		t.Errorf("an admin's pull while pending: %d", code)
	}
	if code, body := get(http.MethodGet, "open/app", s.pull); code != http.StatusOK {
		t.Errorf("pull while pending where pending is pullable: %d %s", code, body)
	}

	// the workers record what was pushed and, later, its signature
	workCtx, stop := context.WithCancel(ctx)
	var wait func()
	defer func() { stop(); wait() }()
	wait = reg.RunWorkers(workCtx, 1, time.Second, recordingSignatures(t, st, set, now))
	waitJobs(t, st, func(jobs map[string]store.Job) bool {
		return jobs["scan "+s.host+"/team/app@"+digest].State == store.JobDone
	})
	offset.Add(int64(10 * time.Second))
	if code, body := get(http.MethodGet, "team/app", s.pull); code != http.StatusForbidden ||
		!strings.Contains(body, "quarantined (rule team/**=release): policy release rule signed: no signature by") {
		t.Errorf("pull of an unsigned image: %d %s", code, body)
	}
	repo, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.token(t, "team/**", store.RolePush)}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, "v1") // HEAD: signing works under quarantine
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, st, func(jobs map[string]store.Job) bool {
		return jobs["verify "+s.host+"/team/app@"+digest].State == store.JobDone
	})
	offset.Add(int64(10 * time.Second))
	if code, body := get(http.MethodGet, "team/app", s.pull); code != http.StatusOK {
		t.Errorf("pull of the signed image: %d %s", code, body)
	}
	events, err := st.RegistryEvents(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range events {
		if e.Action == "pull" && e.Outcome == "refused" && e.Digest == digest {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d refused pulls audited, want 2: %+v", refused, events)
	}
}

// movingStore moves a tag, once, while the registry decides about the
// digest the tag named: the race of a push between resolving a tag and
// serving it.
type movingStore struct {
	*store.Store
	once sync.Once
	move func()
}

func (m *movingStore) Jobs(ctx context.Context, repository, digest string, limit int) ([]store.Job, error) {
	m.once.Do(m.move)
	return m.Store.Jobs(ctx, repository, digest, limit)
}

// A tag pushed to another digest after the registry resolved and judged
// it is not served in the judged digest's place: the pull gets the digest
// that was judged.
func TestTagMovedWhileJudged(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open, err := policy.CompileGlob("open/**")
	if err != nil {
		t.Fatal(err)
	}
	rules := func() (*policy.Set, string) { return &policy.Set{}, "v1" }
	l, host := testutil.Loopback(t)
	s := &server{host: host, st: st}
	judged, moved := randomImage(t), randomImage(t)
	moving := &movingStore{Store: st}
	moving.move = func() {
		if err := remote.Write(s.ref(t, "open/app:v1"), moved, s.options(s.admin)...); err != nil {
			t.Errorf("moving the tag: %v", err)
		}
	}
	reg, err := New(ctx, Options{Name: host, RootDirectory: t.TempDir(), Store: moving, OnError: func(err error) { t.Errorf("registry: %v", err) },
		Quarantine: []QuarantineRule{{Text: "open/**=release", Repositories: open, Rules: rules, PendingPullable: true}}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeOn(t, l, reg)
	s.reg = reg
	s.admin, s.pull = s.token(t, "**", store.RoleAdmin), s.token(t, "**", store.RolePull)
	if err := remote.Write(s.ref(t, "open/app:v1"), judged, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	resp := s.do(t, http.MethodGet, "/v2/open/app/manifests/v1", s.pull, nil, "")
	resp.Body.Close()
	if got, want := resp.Header.Get("Docker-Content-Digest"), digestOfImage(t, judged); resp.StatusCode != http.StatusOK || got != want {
		t.Errorf("pull of a tag moved while judged: %d, digest %s, want the judged %s (moved: %s)", resp.StatusCode, got, want, digestOfImage(t, moved))
	}
}

// A verdict reached by a tag is that tag's: a policy claiming the tags
// trusted-* admits a pull by such a tag, and a pull by digest right after
// is judged on its own (no policy claims it: refused), not by the tag's
// cached verdict (helper-14).
func TestQuarantineVerdictsAreTheReferences(t *testing.T) {
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := policy.CompileGlob("**:trusted-*")
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: []*policy.Policy{{Name: "trusted-tags", Mode: evidence.ModeEnforce, Images: []policy.Glob{trusted}}}}
	s := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=trusted", Repositories: team, Rules: func() (*policy.Set, string) { return set, "v1" }}}
	})
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:trusted-1"), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	recordJobs(t, s)
	digest, _ := img.Digest()
	if code := s.do(t, http.MethodGet, "/v2/team/app/manifests/trusted-1", s.pull, nil, "").StatusCode; code != http.StatusOK {
		t.Fatalf("a pull by the trusted tag: %d", code)
	}
	if code := s.do(t, http.MethodGet, "/v2/team/app/manifests/"+digest.String(), s.pull, nil, "").StatusCode; code != http.StatusForbidden {
		t.Errorf("a pull by digest right after one by the trusted tag: %d", code)
	}
}

// recordingSignatures is a worker that records each job's digest with the
// signatures set's signers made on it — all the quarantine tests' policies
// judge (serve's workers record the whole pipeline, tested with serve).
func recordingSignatures(t *testing.T, st *store.Store, set *policy.Set, now func() time.Time) Processor {
	trust, err := collect.TrustFor(set, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, job store.Job, transport http.RoundTripper) error {
		ref := job.Repository + "@" + job.Digest
		art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: ref, Reference: ref}, oci.RegistryOptions{Transport: transport})
		if err != nil {
			return err
		}
		repo, err := art.Repository()
		if err != nil {
			return err
		}
		desc, err := art.SubjectDescriptor()
		if err != nil {
			return err
		}
		sigs, rejected, err := trust.VerifySignatures(ctx, repo, desc)
		if err != nil {
			return err
		}
		return st.Record(ctx, store.Record{Subject: art.Subject, MediaType: art.MediaType, At: now(), Signatures: sigs, Rejected: rejected})
	}
}

// signedByRelease is a new key pair and a policy on every image requiring
// its signature.
func signedByRelease(t *testing.T) (*sign.KeyPair, *policy.Set) {
	t.Helper()
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Parse("quarantine.yaml", testutil.KeySignedPolicy("release", "**", pub), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return kp, &policy.Set{Policies: docs.Policies}
}
