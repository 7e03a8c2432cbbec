package registry

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// fuzzTarget is a registry holding a secret in team-b and a quarantined
// image in team-a/held, with tokens scoped to team-a/**.
type fuzzTarget struct {
	reg  *Registry
	root string
	// tokens by role, all on team-a/**, and "" for no token
	tokens []string
	// secrets are the bytes of team-b's manifest, config and layers: what
	// no scoped token may read
	secrets [][]byte
	// held is team-a/held's quarantined manifest, which only admins read
	held []byte
	// secretDigests are team-b's content digests
	secretDigests []string
	secretTag     string
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	ctx := context.Background()
	st, err := store.Open(ctx, f.TempDir(), "")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	docs, err := policy.Parse("held.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: held}
spec:
  images: ["**"]
  rules: [{name: clean, vulnerabilities: {failOn: critical}}]
`), policy.LoadOptions{})
	if err != nil {
		f.Fatal(err)
	}
	held, err := policy.CompileGlob("team-a/held")
	if err != nil {
		f.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	l, host := testutil.Loopback(f)
	root := f.TempDir()
	reg, err := New(ctx, Options{Name: host, RootDirectory: root, Store: st,
		Quarantine: []QuarantineRule{{Text: "team-a/held=held", Repositories: held, Rules: func() (*policy.Set, string) { return set, "v1" }}}})
	if err != nil {
		f.Fatal(err)
	}
	testutil.ServeOn(f, l, reg)
	s := &server{host: host, st: st, reg: reg}
	s.admin = s.token(f, "**", store.RoleAdmin)
	target := &fuzzTarget{reg: reg, root: root, tokens: []string{"", s.token(f, "team-a/**", store.RolePull), s.token(f, "team-a/**", store.RolePush), s.token(f, "team-a/**", store.RoleAdmin)}}
	secret := randomImage(f)
	if err := remote.Write(s.ref(f, "team-b/app:v1"), secret, s.options(s.admin)...); err != nil {
		f.Fatal(err)
	}
	target.addSecrets(f, secret)
	quarantined := randomImage(f)
	if err := remote.Write(s.ref(f, "team-a/held:v1"), quarantined, s.options(s.admin)...); err != nil {
		f.Fatal(err)
	}
	target.held, _ = quarantined.RawManifest()
	target.secretTag = "v1"
	return target
}

func (ft *fuzzTarget) addSecrets(f *testing.F, img v1.Image) {
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	d, _ := img.Digest()
	c, _ := img.ConfigName()
	ft.secrets = append(ft.secrets, raw, cfg)
	ft.secretDigests = append(ft.secretDigests, d.String(), c.String())
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			f.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		ld, _ := l.Digest()
		ft.secrets = append(ft.secrets, data)
		ft.secretDigests = append(ft.secretDigests, ld.String())
	}
}

var fuzzMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
var fuzzContentTypes = []string{"", "application/octet-stream", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json", "text/plain"}

// The registry's authorisation under random method × path × query × body
// × content type × Host × token role: whatever the request, a token
// scoped to team-a/** never reads team-b's content (its manifest, config
// or layers, nor their existence), never links it into team-a by a mount,
// never changes team-b, and a non-admin never reads team-a/held's
// quarantined manifest. Invariants, not fixed answers.
func FuzzAuthorisation(f *testing.F) {
	ft := newFuzzTarget(f)
	layer := ft.secretDigests[2]
	for _, seed := range []struct {
		method      uint8
		path, query string
		body        string
		contentType uint8
		host        string
		role        uint8
	}{
		{0, "/v2/team-b/app/manifests/v1", "", "", 0, "", 1},
		{0, "/v2/team-b/app/blobs/" + layer, "", "", 0, "", 3},
		{2, "/v2/team-a/x/blobs/uploads/", "mount=" + layer + "&from=team-b/app", "", 0, "", 2},
		{2, "/v2/team-a/x/blobs/uploads/", "mount=" + layer, "from=team-b/app", 2, "", 2},
		{2, "/v2/team-a/x/blobs/uploads/", "mount=" + layer, "--x\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nteam-b/app\r\n--x--\r\n", 3, "", 2},
		{2, "/v2/team-a/x/blobs/uploads/", "mount=" + layer + "&from=team-a/y&from=team-b/app", "", 0, "", 3},
		{0, "/v2/team-a/held/manifests/v1", "", "", 0, "localhost", 1},
		{0, "/v2/team-a/held/manifests/v1", "", "", 0, "evil.example", 2},
		{0, "/v2/team-a/../team-b/app/manifests/v1", "", "", 0, "", 1},
		{0, "/v2/team-a/x/manifests/../../team-b/app/manifests/v1", "", "", 0, "", 1},
		{5, "/v2/team-b/app/manifests/v1", "", "", 0, "", 3},
		{3, "/v2/team-b/app/manifests/v2", "", "{}", 4, "", 3},
		{0, "/v2/team-b/app/tags/list", "", "", 0, "", 1},
		{0, "/v2/team-b/app/referrers/" + ft.secretDigests[0], "", "", 0, "", 1},
		{0, "/v2/_catalog", "", "", 0, "", 3},
	} {
		f.Add(seed.method, seed.path, seed.query, []byte(seed.body), seed.contentType, seed.host, seed.role)
	}
	f.Fuzz(func(t *testing.T, method uint8, path, query string, body []byte, contentType uint8, host string, role uint8) {
		req := &http.Request{Method: fuzzMethods[int(method)%len(fuzzMethods)], URL: &url.URL{Path: path, RawQuery: query}, Host: host,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		req = req.WithContext(context.Background())
		if ct := fuzzContentTypes[int(contentType)%len(fuzzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.RemoteAddr = "127.0.0.1:1"
		token := ft.tokens[int(role)%len(ft.tokens)]
		if token != "" {
			req.SetBasicAuth("fuzz", token)
		}
		rec := httptest.NewRecorder()
		ft.reg.ServeHTTP(rec, req)
		if rec.Code >= 200 && rec.Code < 300 {
			if token != ft.tokens[3] && bytes.Contains(rec.Body.Bytes(), ft.held) {
				t.Fatalf("%s %s?%s (role %d, Host %q) answered %d with the quarantined manifest", req.Method, path, query, int(role)%len(ft.tokens), host, rec.Code)
			}
			if RouteOf(path) == "catalog" && bytes.Contains(rec.Body.Bytes(), []byte("team-b")) {
				t.Fatalf("the catalog names team-b to a token scoped to team-a/**")
			}
			for _, secret := range ft.secrets {
				if bytes.Contains(rec.Body.Bytes(), secret) {
					t.Fatalf("%s %s?%s (role %d, Host %q) answered %d with content it may not read", req.Method, path, query, int(role)%len(ft.tokens), host, rec.Code)
				}
			}
			for _, d := range ft.secretDigests {
				if rec.Header().Get("Docker-Content-Digest") == d {
					t.Fatalf("%s %s?%s (role %d) answered %d about team-b's %s", req.Method, path, query, int(role)%len(ft.tokens), rec.Code, d)
				}
			}
		}
		ft.checkStorage(t)
	})
}

// checkStorage fails when team-b's content is linked into another
// repository, or its tag moved or vanished.
func (ft *fuzzTarget) checkStorage(t *testing.T) {
	repos := filepath.Join(ft.root, "docker", "registry", "v2", "repositories")
	filepath.WalkDir(repos, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "link" {
			return nil
		}
		rel, _ := filepath.Rel(repos, path)
		if strings.HasPrefix(rel, "team-b/app/") || strings.HasPrefix(rel, "team-a/held/") {
			return nil
		}
		for _, secret := range ft.secretDigests {
			if strings.Contains(rel, strings.TrimPrefix(secret, "sha256:")) {
				t.Fatalf("team-b's %s is linked into %s", secret, rel)
			}
		}
		return nil
	})
	link, err := os.ReadFile(filepath.Join(repos, "team-b", "app", "_manifests", "tags", ft.secretTag, "current", "link"))
	if err != nil || string(link) != ft.secretDigests[0] {
		t.Fatalf("team-b/app:%s changed: %q %v", ft.secretTag, link, err)
	}
}
