package pipeline

import (
	"context"
	"crypto"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// countingTransport counts the requests sent through it.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// A verify job records what is attached to a pushed digest, a scan job
// catalogues it as well; the registry's own digests are read through the
// transport the registry hands over, a remote digest through the
// registry options; a job of a kind it does not know records nothing.
func TestJobs(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	digest := testutil.PushSample(t, "debian", host+"/team/app:v1")
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	repo, err := oci.OpenRepository(host+"/team/app", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	trust, err := sign.NewTrust([]crypto.PublicKey{kp.Public()}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	jobs := &Jobs{Store: st, Trust: trust, Now: func() time.Time { return at }}
	subject := evidence.Subject{Repository: host + "/team/app", Digest: digest}
	inProcess := &countingTransport{}
	job := func(kind string) store.Job {
		return store.Job{ID: 1, Kind: kind, Repository: subject.Repository, Digest: digest}
	}

	if err := jobs.Process(ctx, job("reindex"), inProcess); err == nil || !strings.Contains(err.Error(), `"reindex"`) {
		t.Errorf("a job of an unknown kind: %v", err)
	}
	if d, err := st.Dossier(ctx, subject); err != nil || d != nil {
		t.Fatalf("after a job of an unknown kind: %+v %v", d, err)
	}

	if err := jobs.Process(ctx, job(store.JobVerify), inProcess); err != nil {
		t.Fatal(err)
	}
	d, err := st.Dossier(ctx, subject)
	if err != nil || d == nil {
		t.Fatalf("after the verify job: %+v %v", d, err)
	}
	if len(d.Signatures) != 1 || len(d.Components) != 0 || !d.LastRecorded.Equal(at) {
		t.Errorf("the verify job recorded %d signatures and %d components at %s", len(d.Signatures), len(d.Components), d.LastRecorded)
	}
	if inProcess.n.Load() == 0 {
		t.Errorf("the verify job did not read through the registry's transport")
	}

	before := inProcess.n.Load()
	at = at.Add(time.Minute)
	if err := jobs.Process(ctx, job(store.JobScanRemote), inProcess); err != nil {
		t.Fatal(err)
	}
	if inProcess.n.Load() != before {
		t.Errorf("a remote scan job read through the registry's own transport")
	}
	if d, err = st.Dossier(ctx, subject); err != nil || len(d.Components) == 0 || len(d.Signatures) != 1 || !d.LastRecorded.Equal(at) {
		t.Errorf("after the scan job: %d components, %d signatures at %s, %v", len(d.Components), len(d.Signatures), d.LastRecorded, err)
	}
}
