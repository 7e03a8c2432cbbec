package registry

import (
	"context"
	"crypto"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

// A pusher signs an image whose scan has not finished (a large image, a
// slow scan): the verify job its signature queued ends first. The
// quarantine still holds the digest (pending), so the registry must not
// publish a summary saying it passed; once the scan ends it does.
func TestAttackSummaryBeforeScanEnds(t *testing.T) {
	ctx := context.Background()
	release, set := signedByRelease(t)
	gate, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	rule := QuarantineRule{Text: "team/**=release", Repositories: team, Rules: func() (*policy.Set, string) { return set, "v1" }}
	s := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{rule}
		o.Summaries = &Summaries{Key: gate, VerifierID: "https://registry.example/q", Version: "test"}
	})
	record := recordingSignatures(t, s.st, set, time.Now)
	// buffered: the scan may start before the test waits for it, and a
	// send nobody receives yet must not be dropped
	scanning := make(chan struct{}, 1)
	finishScan := make(chan struct{})
	workCtx, stop := context.WithCancel(ctx)
	wait := s.reg.RunWorkers(workCtx, 2, time.Second, func(ctx context.Context, job store.Job, tr http.RoundTripper) error {
		if job.Kind == store.JobScan {
			select {
			case scanning <- struct{}{}:
			default:
			}
			select {
			case <-finishScan:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return record(ctx, job, tr)
	})
	defer func() { stop(); wait() }()
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	digest := digestOfImage(t, img)
	<-scanning
	repo, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(release, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	verified := func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			if j.Kind == store.JobVerify && j.State == store.JobDone {
				return true
			}
		}
		return false
	}
	waitJobs(t, s.st, verified)
	gateTrust, err := sign.NewTrust([]crypto.PublicKey{gate.Public()}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	summaries := func() int {
		t.Helper()
		found, _, err := attest.Verify(ctx, repo, desc, evidence.PredicateVSA, gateTrust)
		if err != nil {
			t.Fatal(err)
		}
		return len(found)
	}
	v, err := s.reg.quarantineVerdict(ctx, &rule, s.host+"/team/app", digest, digest)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("quarantine while the scan runs: allowed=%v pending=%v reason=%q", v.allowed, v.pending, v.reason)
	if n := summaries(); n != 0 && !v.allowed {
		t.Errorf("the registry published %d summaries of a digest its quarantine holds (%s)", n, v.reason)
	}
	close(finishScan)
	allDone := func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			if j.State != store.JobDone {
				return false
			}
		}
		return true
	}
	waitJobs(t, s.st, allDone)
	deadline := time.Now().Add(time.Minute)
	for summaries() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	waitJobs(t, s.st, allDone)
	if n := summaries(); n != 1 {
		t.Errorf("%d summaries once the scan ended, want 1", n)
	}
}

// The in-process writer that attaches summaries adds to its one
// repository only: another repository (by name, by a dot segment, by an
// escaped slash, by a Location an upload answers), another host, a mount,
// a delete and the catalogue are refused before the handler sees them.
func TestAttackSummaryWriterStaysInItsRepository(t *testing.T) {
	s := newServer(t)
	if err := remote.Write(s.ref(t, "team/other:v1"), randomImage(t), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	w := s.reg.publisher("team/app")
	do := func(method, raw string) (*http.Response, error) {
		req, err := http.NewRequest(method, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w.RoundTrip(req)
	}
	base := "http://" + s.host
	for _, c := range []struct{ method, url string }{
		{http.MethodPost, base + "/v2/team/other/blobs/uploads/"},
		{http.MethodPost, base + "/v2/team/app/../other/blobs/uploads/"},
		{http.MethodPost, base + "/v2/team/app/blobs/uploads/?mount=sha256:" + strings.Repeat("0", 64) + "&from=team/other"},
		{http.MethodPost, "http://elsewhere.example/v2/team/app/blobs/uploads/"},
		{http.MethodDelete, base + "/v2/team/app/manifests/sha256:" + strings.Repeat("0", 64)},
		{http.MethodPut, base + "/v2/team/other/manifests/v2"},
		{http.MethodGet, base + "/v2/_catalog"},
		{http.MethodGet, base + "/v2/team/other/tags/list"},
	} {
		if resp, err := do(c.method, c.url); err == nil {
			resp.Body.Close()
			t.Errorf("%s %s: answered %d, want refused", c.method, c.url, resp.StatusCode)
		}
	}
	// an escaped slash: the route is read from the decoded path
	req, err := http.NewRequest(http.MethodPost, base+"/v2/team%2Fother/blobs/uploads/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.RoundTrip(req); err == nil {
		loc := resp.Header.Get("Location")
		resp.Body.Close()
		if !strings.Contains(loc, "/v2/team/app/") && resp.StatusCode < 300 {
			t.Errorf("an escaped slash: upload at %q", loc)
		}
	}
	// an upload started in the repository, continued in another
	resp, err := do(http.MethodPost, base+"/v2/team/app/blobs/uploads/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(loc, "/team/app/blobs/uploads/") {
		t.Fatalf("an upload in its repository: %d %q", resp.StatusCode, loc)
	}
	moved := strings.Replace(loc, "/team/app/", "/team/other/", 1)
	if !strings.HasPrefix(moved, "http") {
		moved = base + moved
	}
	if resp, err := do(http.MethodPut, moved+"&digest=sha256:"+strings.Repeat("0", 64)); err == nil {
		resp.Body.Close()
		t.Errorf("an upload's Location moved to another repository: answered %d", resp.StatusCode)
	}
}
