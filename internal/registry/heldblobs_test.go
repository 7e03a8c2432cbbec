package registry

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// A held image's layers and config are held with it (helper-11: a pull
// token read them by digest, whole and by range, while the manifest was
// refused): a blob GET by a non-admin is served only where a manifest of
// the repository naming it would be. HEAD answers, admins read, a blob no
// manifest names is served, and a layer an allowed image shares is
// served. Manifests stored before the index existed are indexed from
// storage.
func TestHeldBlobsAreHeld(t *testing.T) {
	ctx := context.Background()
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	quarantine := func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=any", Repositories: team, Rules: func() (*policy.Set, string) { return &policy.Set{AllowUnmatched: true}, "v1" }}}
	}
	var clock atomic.Int64 // the registry's clock, moved past cached verdicts
	s := newServerWith(t, func(o *Options) {
		quarantine(o)
		o.Now = func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }
	})
	pusher := s.token(t, "team/**", store.RolePush)
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(pusher)...); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	config, _ := img.ConfigName()
	blob := func(token, method, digest string, header ...string) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+s.host+"/v2/team/app/blobs/"+digest, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("anyone", token)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusForbidden && !strings.Contains(string(body), "belongs only to images quarantine holds") {
			t.Errorf("%s %s: the refusal does not say why: %s", method, digest, body)
		}
		return resp.StatusCode
	}
	// the image's scan is pending: it is held, its blobs with it
	for _, token := range []string{s.pull, pusher} {
		for _, d := range []string{layer.String(), config.String()} {
			if code := blob(token, http.MethodGet, d); code != http.StatusForbidden {
				t.Errorf("GET of the held image's blob %s: %d", d, code)
			}
			if code := blob(token, http.MethodGet, d, "Range", "bytes=0-9"); code != http.StatusForbidden {
				t.Errorf("a range of the held image's blob %s: %d", d, code)
			}
			if code := blob(token, http.MethodHead, d); code != http.StatusOK {
				t.Errorf("HEAD of the held image's blob %s: %d", d, code)
			}
		}
	}
	// helper-12: mounted into a repository of the attacker's, where no
	// image names it
	resp := s.do(t, http.MethodPost, "/v2/team/mine/blobs/uploads/?mount="+layer.String()+"&from=team/app", pusher, nil, "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "mounting it") {
		t.Errorf("a mount of the held image's layer into team/mine: %d %s", resp.StatusCode, body)
	}
	// helper-12: an evidence-typed manifest of the attacker's naming the
	// held blobs (evidence is never held) does not free them
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	if err := remote.WriteLayer(s.ref(t, "team/app:x").Context(), empty, s.options(pusher)...); err != nil {
		t.Fatal(err)
	}
	emptyDigest, _ := empty.Digest()
	layerSize, _ := layers[0].Size()
	rawConfig, _ := img.RawConfigFile()
	evidenceTyped := func(layerDigests ...any) map[string]any {
		var ls []any
		for i := 0; i < len(layerDigests); i += 2 {
			ls = append(ls, map[string]any{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layerDigests[i], "size": layerDigests[i+1]})
		}
		return map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": emptyDigest.String(), "size": 2}, "layers": ls}
	}
	resp = putManifest(t, s, pusher, "evidence", evidenceTyped(layer.String(), layerSize, config.String(), len(rawConfig)))
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the evidence-typed manifest: %d %s", resp.StatusCode, b)
	}
	for _, d := range []string{layer.String(), config.String()} {
		if code := blob(s.pull, http.MethodGet, d); code != http.StatusForbidden {
			t.Errorf("GET of the held image's blob %s named by an evidence-typed manifest too: %d", d, code)
		}
	}
	// helper-12: manifests distribution refuses (a config never uploaded)
	// are not indexed, so they cannot crowd the held image out
	for i := range 3 {
		m := evidenceTyped(layer.String(), layerSize)
		m["config"] = map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": fmt.Sprintf("sha256:%064d", i), "size": 2}
		m["layers"].([]any)[0].(map[string]any)["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
		resp := putManifest(t, s, pusher, fmt.Sprint("junk", i), m)
		if resp.StatusCode == http.StatusCreated {
			t.Fatalf("a manifest naming a config never uploaded was taken")
		}
	}
	if images, err := s.st.ManifestsOfBlob(ctx, "team/app", layer.String(), false, 10); err != nil || len(images) != 1 {
		t.Errorf("images indexed as naming the held layer after refused pushes: %v %v", images, err)
	}
	if code := blob(s.admin, http.MethodGet, layer.String()); code != http.StatusOK {
		t.Errorf("an admin's GET of the held image's layer: %d", code)
	}
	// a blob no manifest names yet is nothing quarantine holds
	loose := static.NewLayer([]byte(fmt.Sprint("loose ", t.Name())), types.OCILayer)
	if err := remote.WriteLayer(s.ref(t, "team/app:x").Context(), loose, s.options(pusher)...); err != nil {
		t.Fatal(err)
	}
	looseDigest, _ := loose.Digest()
	if code := blob(s.pull, http.MethodGet, looseDigest.String()); code != http.StatusOK {
		t.Errorf("GET of a blob no manifest names: %d", code)
	}
	// the scan done and the image allowed: its blobs are served
	recordJobs(t, s)
	clock.Add(int64(2 * quarantineTTL)) // past the pending verdict cached
	if code := blob(s.pull, http.MethodGet, layer.String()); code != http.StatusOK {
		t.Errorf("GET of the allowed image's layer: %d", code)
	}

	// a registry on the same storage with a store that never indexed it
	// (a store of an older version): its manifests are indexed from
	// storage, and the image, unjudged there, is held with its blobs
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := Options{Name: s.host, RootDirectory: s.root, Store: st}
	quarantine(&o)
	older, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := older.indexStoredBlobs(ctx); err != nil {
		t.Fatal(err)
	}
	manifest, _ := img.Digest()
	for _, d := range []string{layer.String(), config.String()} {
		if got, err := st.ManifestsOfBlob(ctx, "team/app", d, false, 10); err != nil || len(got) != 1 || got[0] != manifest.String() {
			t.Errorf("blob %s indexed from storage to %v, %v; want %s", d, got, err, manifest)
		}
	}
}

// pushTwin pushes the manifest of img with an annotation as tag: another
// digest naming the same config and layers.
func pushTwin(t *testing.T, s *server, token, tag string, img v1.Image, n int) int {
	t.Helper()
	m := twinOf(t, img, n)
	body, _ := json.Marshal(m)
	return s.do(t, http.MethodPut, "/v2/team/app/manifests/"+tag, token, body, m["mediaType"].(string)).StatusCode
}

func twinOf(t *testing.T, img v1.Image, n int) map[string]any {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["annotations"] = map[string]string{"n": fmt.Sprint(n)}
	return m
}

// recordJobs runs the registry's workers until every queued job is done,
// recording each digest (so that a policy judges what is recorded).
func recordJobs(t *testing.T, s *server) {
	t.Helper()
	workCtx, stop := context.WithCancel(context.Background())
	wait := s.reg.RunWorkers(workCtx, 1, time.Second, func(ctx context.Context, job store.Job, _ http.RoundTripper) error {
		return s.st.Record(ctx, store.Record{Subject: evidence.Subject{Repository: job.Repository, Digest: job.Digest}, At: time.Now()})
	})
	waitJobs(t, s.st, func(jobs map[string]store.Job) bool {
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

// helper-13: under --pending-pullable, a hundred pending twins of a
// refused image (its manifest with an annotation each) filled the window of
// images asked about its blobs, and cleared them; and an allowed image,
// deleted, kept clearing the blobs it had shared with a held one.
func TestHeldBlobsWindowAndDeletes(t *testing.T) {
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	_, signed := signedByRelease(t)
	var clock atomic.Int64
	s := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=release", Repositories: team, PendingPullable: true, Rules: func() (*policy.Set, string) { return signed, "v1" }}}
		o.Now = func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }
	})
	pusher := s.token(t, "team/**", store.RolePush)
	held := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), held, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	recordJobs(t, s) // judged: refused, unsigned
	layers, _ := held.Layers()
	layer, _ := layers[0].Digest()
	get := func(token string) int {
		t.Helper()
		resp := s.do(t, http.MethodGet, "/v2/team/app/blobs/"+layer.String(), token, nil, "")
		return resp.StatusCode
	}
	if code := get(s.pull); code != http.StatusForbidden {
		t.Fatalf("the refused image's layer: %d", code)
	}
	for i := range maxManifestsOfBlob {
		if code := pushTwin(t, s, pusher, fmt.Sprint("p", i), held, i); code != http.StatusCreated {
			t.Fatalf("twin %d: %d", i, code)
		}
	}
	clock.Add(int64(2 * quarantineTTL))
	if code := get(s.pull); code != http.StatusForbidden {
		t.Errorf("the refused image's layer behind %d pending twins: %d", maxManifestsOfBlob, code)
	}

	// an allowed image sharing the layers, then deleted
	allowAll := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=any", Repositories: team, Rules: func() (*policy.Set, string) { return &policy.Set{AllowUnmatched: true}, "v1" }}}
		o.Now = func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }
	})
	shared := randomImage(t)
	if err := remote.Write(allowAll.ref(t, "team/app:allowed"), shared, allowAll.options(allowAll.admin)...); err != nil {
		t.Fatal(err)
	}
	recordJobs(t, allowAll)
	allowed, _ := shared.Digest()
	if code := pushTwin(t, allowAll, allowAll.admin, "held", shared, 0); code != http.StatusCreated {
		t.Fatalf("the held twin: %d", code)
	}
	sharedLayers, _ := shared.Layers()
	sharedLayer, _ := sharedLayers[0].Digest()
	getShared := func() int {
		t.Helper()
		return allowAll.do(t, http.MethodGet, "/v2/team/app/blobs/"+sharedLayer.String(), allowAll.pull, nil, "").StatusCode
	}
	if code := getShared(); code != http.StatusOK {
		t.Fatalf("a layer an allowed image names: %d", code)
	}
	if resp := allowAll.do(t, http.MethodDelete, "/v2/team/app/manifests/"+allowed.String(), allowAll.admin, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting the allowed image: %d", resp.StatusCode)
	}
	clock.Add(int64(2 * quarantineTTL))
	if code := getShared(); code != http.StatusForbidden {
		t.Errorf("the layer once the allowed image naming it is deleted, a pending one naming it still: %d", code)
	}
}

// uploadAs uploads data to team/app under a digest of algorithm
// ("sha256" or "sha512"), and returns that digest.
func uploadAs(t *testing.T, s *server, token, algorithm string, data []byte) string {
	t.Helper()
	resp := s.do(t, http.MethodPost, "/v2/team/app/blobs/uploads/", token, nil, "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	d := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	if algorithm == "sha512" {
		d = fmt.Sprintf("sha512:%x", sha512.Sum512(data))
	}
	q := loc.Query()
	q.Set("digest", d)
	if resp := s.do(t, http.MethodPut, loc.Path+"?"+q.Encode(), token, data, "application/octet-stream"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("uploading as %s: %d", d, resp.StatusCode)
	}
	return d
}

// A blob is one whatever digest names it: helper-14 pushed a held image
// whose descriptors named its blobs by sha512 (distribution serves them by
// their sha256 too) and read them by sha256. Both directions: named by
// sha512, read by sha256; named by sha256 after a sha512 upload, read by
// sha512.
func TestHeldBlobsByEveryDigest(t *testing.T) {
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	s := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=any", Repositories: team, Rules: func() (*policy.Set, string) { return &policy.Set{AllowUnmatched: true}, "v1" }}}
	})
	for i, names := range []string{"sha512", "sha256"} {
		layer := []byte(fmt.Sprint("layer of the held image ", i))
		config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%d}`, i))
		uploadAs(t, s, s.admin, "sha512", layer)
		uploadAs(t, s, s.admin, "sha512", config)
		named := func(data []byte) string {
			if names == "sha512" {
				return fmt.Sprintf("sha512:%x", sha512.Sum512(data))
			}
			return fmt.Sprintf("sha256:%x", sha256.Sum256(data))
		}
		m := map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": named(config), "size": len(config)},
			"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": named(layer), "size": len(layer)}}}
		if resp := putManifest(t, s, s.admin, fmt.Sprint("v", i), m); resp.StatusCode != http.StatusCreated {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("the held image naming its blobs by %s: %d %s", names, resp.StatusCode, b)
		}
		// pending, so held: every name of each blob is refused
		for _, data := range [][]byte{layer, config} {
			for _, d := range []string{fmt.Sprintf("sha256:%x", sha256.Sum256(data)), fmt.Sprintf("sha512:%x", sha512.Sum512(data))} {
				if code := s.do(t, http.MethodGet, "/v2/team/app/blobs/"+d, s.pull, nil, "").StatusCode; code != http.StatusForbidden {
					t.Errorf("named by %s, read as %s: %d", names, d, code)
				}
			}
		}
	}
	// a foreign layer (distribution does not ask it to exist) named by
	// sha512 and not stored: its sha256, once the bytes arrive, would be
	// known to no index (helper-15)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"foreign":true}`)
	foreign := []byte("a foreign layer's bytes")
	m := map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": uploadAs(t, s, s.admin, "sha256", config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": fmt.Sprintf("sha512:%x", sha512.Sum512(foreign)),
			"size": len(foreign), "urls": []string{"https://example.com/layer"}}}}
	resp := putManifest(t, s, s.admin, "foreign", m)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "must be") {
		t.Errorf("a foreign layer named by sha512 and not stored: %d %s", resp.StatusCode, b)
	}
}
