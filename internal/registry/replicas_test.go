package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Two replicas sharing a PostgreSQL store and a storage directory behave
// as one registry: a token made on one works on the other, an upload
// begun on one finishes on the other (the upload secret is shared), a
// referrer indexed by one is listed by the other, concurrent first pushes
// of an immutable tag through both let exactly one win, and a job queued
// by one is done by the other's workers.
func TestReplicasSharingPostgreSQL(t *testing.T) {
	ctx := context.Background()
	url := testutil.PostgresDatabase(t)
	root := t.TempDir()
	rule, err := ParseTagRule("team/**:v*")
	if err != nil {
		t.Fatal(err)
	}
	var hosts [2]string
	var stores [2]*store.Store
	var regs [2]*Registry
	for i := range 2 {
		st, err := store.Open(ctx, "", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		// replicas behind one name, each reached at its own address
		reg, err := New(ctx, Options{Name: "registry.test", RootDirectory: root, Store: st, ImmutableTags: []TagRule{rule}, OnError: func(err error) { t.Errorf("replica %d: %v", i, err) }})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(reg)
		t.Cleanup(srv.Close)
		hosts[i], stores[i], regs[i] = strings.TrimPrefix(srv.URL, "http://"), st, reg
	}
	a := &server{host: hosts[0], st: stores[0], reg: regs[0]}
	b := &server{host: hosts[1], st: stores[1], reg: regs[1]}
	a.admin = a.token(t, "**", store.RoleAdmin)
	b.admin = a.admin

	// an upload begun on one replica, finished on the other
	resp := a.do(t, http.MethodPost, "/v2/team/app/blobs/uploads/", a.admin, nil, "")
	location, err := resp.Location()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("upload on A: %d %v", resp.StatusCode, err)
	}
	q := location.Query()
	q.Set("digest", "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
	location.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, "http://"+b.host+location.RequestURI(), bytes.NewReader([]byte("{}")))
	req.SetBasicAuth("x", b.admin)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("the upload finished on B: %v %v", resp, err)
	}

	// concurrent first pushes of one immutable tag through both
	images := []v1.Image{randomImage(t), randomImage(t), randomImage(t), randomImage(t)}
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		s := []*server{a, b}[i%2]
		wg.Go(func() { errs[i] = remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d pushes won the immutable tag across replicas: %v", won, errs)
	}
	// a signature's referrer indexed by A is listed by B
	got, err := remote.Head(b.ref(t, "team/app:v1"), b.options(b.admin)...)
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/example",
"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}],
"subject":{"mediaType":%q,"digest":%q,"size":%d}}`, got.MediaType, got.Digest, got.Size)
	if resp := a.do(t, http.MethodPut, "/v2/team/app/manifests/"+digestOf([]byte(manifest), ""), a.admin, []byte(manifest), "application/vnd.oci.image.manifest.v1+json"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("referrer on A: %d", resp.StatusCode)
	}
	resp = b.do(t, http.MethodGet, "/v2/team/app/referrers/"+got.Digest.String(), b.admin, nil, "")
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), digestOf([]byte(manifest), "")) {
		t.Errorf("B's referrers of A's push: %s", body)
	}
	// the jobs A queued are done by B's workers
	workCtx, stop := context.WithCancel(ctx)
	wait := regs[1].RunWorkers(workCtx, 1, time.Second, func(context.Context, store.Job, http.RoundTripper) error { return nil })
	waitJobs(t, stores[0], func(jobs map[string]store.Job) bool {
		for _, j := range jobs {
			if j.State != store.JobDone {
				return false
			}
		}
		return len(jobs) > 0
	})
	stop()
	wait()
}
