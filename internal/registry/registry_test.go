package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// server is a registry on 127.0.0.1 with an admin and a pull token.
type server struct {
	host, root  string
	st          *store.Store
	admin, pull string
	reg         *Registry
}

func newServer(t testing.TB, rules ...string) *server {
	t.Helper()
	return newServerWith(t, func(*Options) {}, rules...)
}

// newServerWith is newServer with options changed by change.
func newServerWith(t testing.TB, change func(*Options), rules ...string) *server {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var parsed []TagRule
	for _, r := range rules {
		rule, err := ParseTagRule(r)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, rule)
	}
	root := t.TempDir()
	l, host := testutil.Loopback(t)
	o := Options{Name: host, RootDirectory: root, Store: st, ImmutableTags: parsed, OnError: func(err error) { t.Errorf("registry: %v", err) }}
	change(&o)
	reg, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeOn(t, l, reg)
	s := &server{host: host, root: root, st: st, reg: reg}
	s.admin = s.token(t, "**", store.RoleAdmin)
	s.pull = s.token(t, "**", store.RolePull)
	return s
}

func (s *server) token(t testing.TB, repos, role string) string {
	t.Helper()
	secret, hash, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.CreateToken(context.Background(), hash, store.Token{Repositories: repos, Role: role, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return secret
}

func (s *server) options(token string) []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: "anyone", Password: token})}
}

func (s *server) ref(t testing.TB, r string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s.host+"/"+r, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func randomImage(t testing.TB) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOfImage(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// do sends a raw request with a token.
func (s *server) do(t *testing.T, method, path, token string, body []byte, contentType string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.host+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.SetBasicAuth("anyone", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestTokensAndRoles(t *testing.T) {
	s := newServer(t)
	// no credentials: the standard challenge, so that clients send them
	resp := s.do(t, http.MethodGet, "/v2/", "", nil, "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="dossier"` {
		t.Errorf("anonymous: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := s.do(t, http.MethodGet, "/v2/", "dsr_not-a-token", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token: %d", resp.StatusCode)
	}
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...); err != nil {
		t.Fatalf("push with an admin token: %v", err)
	}
	if _, err := remote.Image(s.ref(t, "team/app:v1"), s.options(s.pull)...); err != nil {
		t.Errorf("pull with a pull token: %v", err)
	}
	err := remote.Write(s.ref(t, "team/app:v2"), img, s.options(s.pull)...)
	if err == nil || !strings.Contains(err.Error(), "DENIED") || !strings.Contains(err.Error(), "push to repository team/app") {
		t.Errorf("push with a pull token: %v", err)
	}
	// a token scoped to other repositories, a bearer token, an expired one
	other := s.token(t, "other/**", store.RolePush)
	if _, err := remote.Image(s.ref(t, "team/app:v1"), s.options(other)...); err == nil {
		t.Error("a token for other/** pulled team/app")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.host+"/v2/team/app/tags/list", nil)
	req.Header.Set("Authorization", "Bearer "+s.pull)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("bearer token: %v %v", resp, err)
	}
	secret, hash, _ := tokens.New()
	past := time.Now().Add(-time.Minute)
	if _, err := s.st.CreateToken(context.Background(), hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: past.Add(-time.Hour), ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	if resp := s.do(t, http.MethodGet, "/v2/", secret, nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %d", resp.StatusCode)
	}
	// deleting needs admin; the catalog too
	d := digestOfImage(t, img)
	if resp := s.do(t, http.MethodDelete, "/v2/team/app/manifests/"+d, s.token(t, "**", store.RolePush), nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("delete with a push token: %d", resp.StatusCode)
	}
	if resp := s.do(t, http.MethodGet, "/v2/_catalog", s.pull, nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("catalog with a pull token: %d", resp.StatusCode)
	}
	if resp := s.do(t, http.MethodGet, "/v2/_catalog", s.admin, nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("catalog with an admin token: %d", resp.StatusCode)
	}
}

// A signature pushed by dossier as a referrer is listed by the referrers
// API, filtered by artifact type, and the push answers OCI-Subject.
func TestReferrers(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
	img := randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), img, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	repo, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	attached, err := attest.SignImage(ctx, repo, desc, nil, sign.NewKeySigner(kp, ""), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	list, err := repo.Referrers(ctx, desc, "")
	if err != nil || len(list) != 1 || !strings.HasSuffix(attached.Referrer, list[0].Digest.String()) {
		t.Fatalf("referrers: %+v %v (attached %s)", list, err, attached.Referrer)
	}
	if list[0].ArtifactType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		t.Errorf("artifact type %q", list[0].ArtifactType)
	}
	resp := s.do(t, http.MethodGet, "/v2/team/app/referrers/"+desc.Digest.String()+"?artifactType=application/none", s.pull, nil, "")
	var index struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil || len(index.Manifests) != 0 || resp.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Errorf("filtered referrers: %+v %v %v", index, err, resp.Header)
	}
	// a raw push with a subject answers OCI-Subject
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/example",
"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}],
"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}}`, desc.Digest, desc.Size)
	resp = s.do(t, http.MethodPost, "/v2/team/app/blobs/uploads/", s.admin, nil, "")
	location, err := resp.Location()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	q := location.Query()
	q.Set("digest", "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
	location.RawQuery = q.Encode()
	if resp := s.do(t, http.MethodPut, location.RequestURI(), s.admin, []byte("{}"), "application/octet-stream"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("empty blob: %d", resp.StatusCode)
	}
	resp = s.do(t, http.MethodPut, "/v2/team/app/manifests/"+digestOf([]byte(manifest), ""), s.admin, []byte(manifest), "application/vnd.oci.image.manifest.v1+json")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("OCI-Subject") != desc.Digest.String() {
		body, _ := io.ReadAll(resp.Body)
		t.Errorf("push with a subject: %d OCI-Subject %q: %s", resp.StatusCode, resp.Header.Get("OCI-Subject"), body)
	}
	if list, err := repo.Referrers(ctx, desc, "application/example"); err != nil || len(list) != 1 {
		t.Errorf("referrers of the example type: %+v %v", list, err)
	}
	// deleting a referrer takes it out of the index
	resp = s.do(t, http.MethodDelete, "/v2/team/app/manifests/"+digestOf([]byte(manifest), ""), s.admin, nil, "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if list, err := repo.Referrers(ctx, desc, "application/example"); err != nil || len(list) != 0 {
		t.Errorf("a deleted referrer is listed: %+v %v", list, err)
	}
}

type staticKeychain struct{ token string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: "dossier", Password: k.token}, nil
}

// Immutable tags: pushed once, never moved, deleted or untagged; the
// refusals are audited and every tag move recorded.
// An immutable tag holds all it names in place: an index's platform
// manifests, their configs and layers cannot be deleted, and cosign's
// signature tag of a held digest can be added to, never shrunk.
func TestImmutableTagsHoldWhatTheyName(t *testing.T) {
	s := newServer(t, "team/**:v*")
	index, err := random.Index(256, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(s.ref(t, "team/multi:v1"), index, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	indexDigest, _ := index.Digest()
	im, _ := index.IndexManifest()
	child, err := index.Image(im.Manifests[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	config, _ := child.ConfigName()
	layers, _ := child.Layers()
	layer, _ := layers[0].Digest()
	refusedDeletes(t, s, "held by immutable tag v1 (rule team/**:v*)", map[string]string{
		"a platform manifest": "/v2/team/multi/manifests/" + im.Manifests[1].Digest.String(),
		"a platform's config": "/v2/team/multi/blobs/" + config.String(),
		"a platform's layer":  "/v2/team/multi/blobs/" + layer.String(),
	})
	// what no immutable tag holds is deleted as before
	loose := randomImage(t)
	if err := remote.Write(s.ref(t, "team/multi:scratch"), loose, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	looseLayers, _ := loose.Layers()
	looseLayer, _ := looseLayers[0].Digest()
	if resp := s.do(t, http.MethodDelete, "/v2/team/multi/blobs/"+looseLayer.String(), s.admin, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Errorf("deleting a blob no immutable tag holds: %d", resp.StatusCode)
	}

	// cosign's .sig tag of the held index: appended to, never shrunk
	sigTag := "team/multi:sha256-" + indexDigest.Hex + ".sig"
	signedBy := func(sig string, payloads ...string) v1.Image {
		img := empty.Image
		for _, p := range payloads {
			img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer([]byte(p), "application/vnd.dev.cosign.simplesigning.v1+json"),
				Annotations: map[string]string{"dev.cosignproject.cosign/signature": sig}})
			if err != nil {
				t.Fatal(err)
			}
		}
		return img
	}
	signature := func(payloads ...string) v1.Image { return signedBy("c2ln", payloads...) }
	if err := remote.Write(s.ref(t, sigTag), signature("first"), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(s.ref(t, sigTag), signature("first", "second"), s.options(s.admin)...); err != nil {
		t.Errorf("appending a signature: %v", err)
	}
	for name, img := range map[string]v1.Image{"replacing the signatures": signature("forged"), "dropping one": signature("second"),
		"keeping the payloads but changing their signatures": signedBy("Zm9yZ2Vk", "first", "second")} {
		if err := remote.Write(s.ref(t, sigTag), img, s.options(s.admin)...); err == nil || !strings.Contains(err.Error(), "can be added to, not removed or changed") {
			t.Errorf("%s of an immutable tag's index: %v", name, err)
		}
	}
	// what is attached to held content is held: the .sig tag, its
	// manifest and layers, and an OCI referrer of the index
	sigDesc, err := remote.Head(s.ref(t, sigTag), s.options(s.admin)...)
	if err != nil {
		t.Fatal(err)
	}
	sigLayers, _ := signature("first").Layers()
	sigLayer, _ := sigLayers[0].Digest()
	referrer := mutate.Subject(mutate.ConfigMediaType(signature("an attestation"), "application/vnd.example+json"),
		v1.Descriptor{MediaType: types.OCIImageIndex, Digest: indexDigest, Size: mustSize(t, index)}).(v1.Image)
	referrerDigest, _ := referrer.Digest()
	if err := remote.Write(s.ref(t, "team/multi@"+referrerDigest.String()), referrer, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	refusedDeletes(t, s, "immutable tag v1 (rule team/**:v*)", map[string]string{
		"the .sig tag":      "/v2/team/multi/manifests/sha256-" + indexDigest.Hex + ".sig",
		"the .sig manifest": "/v2/team/multi/manifests/" + sigDesc.Digest.String(),
		"a signature layer": "/v2/team/multi/blobs/" + sigLayer.String(),
		"an OCI referrer":   "/v2/team/multi/manifests/" + referrerDigest.String(),
	})

	// an index of an index of an index of an image: held to the bottom
	deep := v1.ImageIndex(index)
	for range 3 {
		deep = mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: deep})
	}
	if err := remote.WriteIndex(s.ref(t, "team/deep:v1"), deep, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	resp := s.do(t, http.MethodDelete, "/v2/team/deep/blobs/"+layer.String(), s.admin, nil, "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "held by immutable tag v1") {
		t.Errorf("deleting a layer four indexes down: %d %s", resp.StatusCode, body)
	}
}

// refusedDeletes deletes each path as the admin and wants each refused,
// saying why.
func refusedDeletes(t *testing.T, s *server, why string, paths map[string]string) {
	t.Helper()
	for what, path := range paths {
		resp := s.do(t, http.MethodDelete, path, s.admin, nil, "")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), why) {
			t.Errorf("deleting %s of an immutable tag's index: %d %s", what, resp.StatusCode, body)
		}
	}
}

func mustSize(t *testing.T, index v1.ImageIndex) int64 {
	t.Helper()
	raw, err := index.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(raw))
}

func TestImmutableTags(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "team/**:v*")
	first, second := randomImage(t), randomImage(t)
	if err := remote.Write(s.ref(t, "team/app:v1"), first, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(s.ref(t, "team/app:v1"), first, s.options(s.admin)...); err != nil {
		t.Errorf("pushing the same digest again: %v", err)
	}
	err := remote.Write(s.ref(t, "team/app:v1"), second, s.options(s.admin)...)
	if err == nil || !strings.Contains(err.Error(), "tag v1 of team/app is immutable (rule team/**:v*): it points to "+digestOfImage(t, first)) {
		t.Errorf("overwriting an immutable tag: %v", err)
	}
	// a mutable tag moves
	for _, img := range []v1.Image{first, second} {
		if err := remote.Write(s.ref(t, "team/app:latest"), img, s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
	}
	if resp := s.do(t, http.MethodDelete, "/v2/team/app/manifests/v1", s.admin, nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("deleting an immutable tag: %d", resp.StatusCode)
	}
	resp := s.do(t, http.MethodDelete, "/v2/team/app/manifests/"+digestOfImage(t, first), s.admin, nil, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "is what immutable tag v1 (rule team/**:v*) points to") {
		t.Errorf("deleting what an immutable tag points to: %d %s", resp.StatusCode, body)
	}
	if resp := s.do(t, http.MethodDelete, "/v2/team/app/manifests/latest", s.admin, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Errorf("deleting a mutable tag: %d", resp.StatusCode)
	}
	events, err := s.st.RegistryEvents(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range events {
		if e.Outcome == "refused" && e.Repository == s.host+"/team/app" && strings.HasPrefix(e.Actor, "token ") {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d refusals audited, want 3: %+v", refused, events)
	}
	moves, err := s.st.TagHistory(ctx, s.host+"/team/app", "latest")
	if err != nil || len(moves) != 2 || moves[0].Digest != digestOfImage(t, first) || moves[1].Digest != digestOfImage(t, second) ||
		!strings.HasPrefix(moves[0].Source, "push by token ") {
		t.Errorf("tag history: %+v %v", moves, err)
	}

	// concurrent pushes of a new immutable tag: exactly one digest wins
	images := make([]v1.Image, 6)
	for i := range images {
		images[i] = mutate.Annotations(randomImage(t), map[string]string{"n": fmt.Sprint(i)}).(v1.Image)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(images))
	for i, img := range images {
		wg.Go(func() { errs[i] = remote.Write(s.ref(t, "team/race:v9"), img, s.options(s.admin)...) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		}
	}
	got, err := remote.Head(s.ref(t, "team/race:v9"), s.options(s.pull)...)
	if won != 1 || err != nil {
		t.Fatalf("%d pushes won the race: %v, %v", won, errs, err)
	}
	for i, img := range images {
		if errs[i] == nil && digestOfImage(t, img) != got.Digest.String() {
			t.Errorf("the tag points to %s, not to the push that succeeded", got.Digest)
		}
	}
}

// What immutable tags hold is searched within bounds: a repository whose
// held manifests outweigh them refuses deletions at once rather than read
// them all on every request, and the search stops where it finds its
// target.
func TestHeldSearchIsBounded(t *testing.T) {
	bounds := heldBounds{lookups: 300, bytes: 4 << 20}
	s := newServerWith(t, func(o *Options) { o.heldBounds = bounds }, "team/**:v*")
	pad := strings.Repeat("x", 1_000_000)
	for i := range bounds.bytes/len(pad) + 1 {
		img := mutate.Annotations(randomImage(t), map[string]string{"pad": pad, "n": fmt.Sprint(i)}).(v1.Image)
		if err := remote.Write(s.ref(t, fmt.Sprintf("team/heavy:v%d", i)), img, s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
	}
	loose := randomImage(t)
	if err := remote.Write(s.ref(t, "team/heavy:scratch"), loose, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	layers, _ := loose.Layers()
	layer, _ := layers[0].Digest()
	refused := func(repository, why string) {
		t.Helper()
		resp := s.do(t, http.MethodDelete, "/v2/"+repository+"/blobs/"+layer.String(), s.admin, nil, "")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "hold more than dossier reads") || !strings.Contains(string(body), why) {
			t.Errorf("deleting in %s, holding more than the search reads: %d %s", repository, resp.StatusCode, body)
		}
	}
	refused("team/heavy", "KiB of manifests")

	// a repository of many small releases is searched whole, and what no
	// tag holds is deleted
	for i := range 40 {
		if err := remote.Write(s.ref(t, fmt.Sprintf("team/releases:v%d", i)), randomImage(t), s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(s.ref(t, "team/releases:scratch"), loose, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	if resp := s.do(t, http.MethodDelete, "/v2/team/releases/blobs/"+layer.String(), s.admin, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Errorf("deleting a blob none of 40 releases holds: %d", resp.StatusCode)
	}

	// tags count too, before any manifest is read: many cheap immutable
	// tags stop the search as surely as a few heavy manifests
	image := randomImage(t)
	for i := range bounds.lookups + 1 {
		if err := remote.Write(s.ref(t, fmt.Sprintf("team/tags:v%d", i)), image, s.options(s.admin)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(s.ref(t, "team/tags:scratch"), loose, s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	refused("team/tags", "tags and manifests")
}

// One token's searches run one at a time, and never hold up another
// token's while slots are free.
func TestHeldSearchesTakeTurns(t *testing.T) {
	slots := newTurns(2)
	ctx := t.Context()
	releaseA, err := slots.acquire(ctx, "team/a")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := slots.acquire(short, "team/a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second search of team/a while one runs: %v", err)
	}
	releaseB, err := slots.acquire(ctx, "team/b")
	if err != nil {
		t.Fatalf("team/b waited behind team/a: %v", err)
	}
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := slots.acquire(short, "team/c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a third search with two slots: %v", err)
	}
	releaseA()
	releaseA2, err := slots.acquire(ctx, "team/a")
	if err != nil {
		t.Fatal(err)
	}
	releaseA2()
	releaseB()
	slots.mu.Lock()
	defer slots.mu.Unlock()
	if len(slots.keys) != 0 || len(slots.all) != 0 {
		t.Errorf("turns kept after every search ended: %d keys, %d slots", len(slots.keys), len(slots.all))
	}
}

// Searches take turns by token, not by repository: a token whose search
// is under way waits for it in every repository it can reach, and another
// token's request goes on beside it. By repository, one push token with
// repositories of its own took every slot and stalled other teams'
// deletions for 12 s.
func TestHeldSearchesTurnByToken(t *testing.T) {
	s := newServer(t, "**:v*")
	secret, hash, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.st.CreateToken(t.Context(), hash, store.Token{Repositories: "team/**", Role: store.RolePush, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// the token's search under way
	release, err := s.reg.heldSearches.acquire(t.Context(), fmt.Sprintf("token %d", id))
	if err != nil {
		t.Fatal(err)
	}
	// a push of a cosign tag asks whether its digest is held
	signature := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":2},"layers":[]}`, strings.Repeat("0", 64))
	answered := make(chan int, 1)
	go func() {
		answered <- s.do(t, http.MethodPut, "/v2/team/elsewhere/manifests/sha256-"+strings.Repeat("1", 64)+".sig", secret, []byte(signature), "application/vnd.oci.image.manifest.v1+json").StatusCode
	}()
	began := time.Now()
	if code := s.do(t, http.MethodDelete, "/v2/other/app/blobs/sha256:"+strings.Repeat("0", 64), s.admin, nil, "").StatusCode; code == http.StatusForbidden || code >= 500 {
		t.Errorf("another token's deletion: %d", code)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("another token's deletion waited %v", took)
	}
	select {
	case code := <-answered:
		t.Fatalf("the token's push in another repository went on beside its own search: %d", code)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	if code := <-answered; code == http.StatusForbidden || code >= 500 {
		t.Errorf("the token's push once its search ended: %d", code)
	}
}
