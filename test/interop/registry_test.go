package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/registry"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// startDossierRegistry starts dossier's registry on 127.0.0.1 and returns
// its host and an admin token.
func startDossierRegistry(t *testing.T) (host, token string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, name := testutil.Loopback(t)
	reg, err := registry.New(ctx, registry.Options{Name: name, RootDirectory: t.TempDir(), Store: st, OnError: func(err error) { t.Errorf("registry: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.ServeOn(t, l, reg)
	secret, hash, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(srv.URL, "http://"), secret
}

// dockerLogin writes a Docker config holding a token for host and points
// DOCKER_CONFIG at it, as `docker login` would: crane, cosign, syft and
// dossier all read it.
func dockerLogin(t *testing.T, host, token string) {
	t.Helper()
	dir := t.TempDir()
	config := map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("ci:" + token))}}}
	data, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// junit is the part of the conformance suite's junit.xml the test reads.
type junit struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Cases []struct {
			Name   string `xml:"name,attr"`
			Status string `xml:"status,attr"`
			Output string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestOCIConformance runs the OCI distribution-spec conformance suite
// (spec 1.1 defaults, every API and data set it enables) against dossier's
// registry with a token. Everything passes but content addressed by
// sha512, which the distribution library stores by sha256 only
// (docs/benchmarks.md lists it); referrers and subject tests all pass.
func TestOCIConformance(t *testing.T) {
	bin := testutil.Peer(t, "conformance")
	host, token := startDossierRegistry(t)
	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = results
	cmd.Env = append(os.Environ(), "OCI_REGISTRY="+host, "OCI_TLS=disabled", "OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_USERNAME=ci", "OCI_PASSWORD="+token, "OCI_VERSION=1.1", "OCI_RESULTS_DIR="+results)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("conformance: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no junit.xml: %v\n%s", err, out)
	}
	var report junit
	if err := xml.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	var passed, sha512, referrers, subject int
	var skipped []string
	for _, suite := range report.Suites {
		for _, c := range suite.Cases {
			name := strings.ToLower(c.Name)
			switch {
			case c.Status == "passed":
				passed++
				if strings.Contains(name, "referrers") {
					referrers++
				}
				if strings.Contains(name, "subject") {
					subject++
				}
			case c.Status == "skipped" || c.Status == "disabled":
				skipped = append(skipped, c.Name)
			case c.Status == "failure" && strings.Contains(name, "sha512"):
				sha512++
			default:
				t.Errorf("%s: %s: %s", c.Name, c.Status, c.Output)
			}
		}
	}
	if referrers == 0 || subject == 0 || report.Tests < 800 {
		t.Errorf("the suite ran %d tests and passed %d of referrers and %d of subjects: not the full suite", report.Tests, referrers, subject)
	}
	t.Logf("OCI conformance: %d tests: %d passed (%d of referrers, %d of subjects), %d failed, all of sha512 digests, %d skipped by the suite:\n%s",
		report.Tests, passed, referrers, subject, sha512, len(skipped), strings.Join(skipped, "\n"))
}

// TestDistributionNotifications guards a registry dossier does not host:
// the real distribution registry sends its push events to dossier's hook
// with an admin token, and dossier scans and records what was pushed
// there, reading it over the network.
func TestDistributionNotifications(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// the registry accepts notifications of the distribution registry's
	// host, known once it runs: until then the hooks answer 503
	var reg *registry.Registry
	var ready atomic.Bool
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		reg.Hooks().ServeHTTP(w, req)
	}))
	defer hooks.Close()
	secret, hash, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: "127.0.0.1:*/team/**", Role: store.RoleNotify, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	host := startDistributionWith(t, fmt.Sprintf(`notifications:
  endpoints:
    - name: dossier
      url: %s/api/v1/hooks/distribution
      headers: {Authorization: ["Bearer %s"]}
      timeout: 2s
      threshold: 3
      backoff: 500ms
`, hooks.URL, secret))
	reg, err = registry.New(ctx, registry.Options{Name: "registry.test", RootDirectory: t.TempDir(), Store: st, HookHosts: []string{host}, OnError: func(err error) { t.Errorf("registry: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	ready.Store(true)
	workCtx, stop := context.WithCancel(ctx)
	var wait func()
	defer func() { stop(); wait() }()
	wait = reg.RunWorkers(workCtx, 1, time.Second, func(ctx context.Context, job store.Job, _ http.RoundTripper) error {
		ref := job.Repository + "@" + job.Digest
		art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: ref, Reference: ref}, oci.RegistryOptions{})
		if err != nil {
			return err
		}
		_, err = pipeline.Record(ctx, st, art, pipeline.RecordOptions{Now: time.Now()})
		return err
	})
	cranePush(t, "npm-app", host+"/team/web:v1")
	digest := testutil.SampleImageDigest(t, "npm-app", "amd64")
	deadline := time.Now().Add(60 * time.Second)
	for {
		jobs, err := st.Jobs(ctx, host+"/team/web", digest, 0)
		if err == nil && len(jobs) == 1 && jobs[0].State == store.JobDone && jobs[0].Kind == store.JobScanRemote {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pushed image was not scanned: %+v %v", jobs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	page, err := st.Components(ctx, store.ComponentQuery{What: "pkg:npm/lodash"})
	if err != nil || page.Total != 1 || page.Hits[0].Subject.Repository != host+"/team/web" {
		t.Errorf("lodash in the notified image: %+v %v", page, err)
	}
	if moves, err := st.TagHistory(ctx, host+"/team/web", "v1"); err != nil || len(moves) != 1 || moves[0].Digest != digest {
		t.Errorf("the notified tag: %+v %v", moves, err)
	}
}

// startVersity starts versitygw (an S3 server on a POSIX directory) with a
// bucket and returns its endpoint, keys and the directory behind it.
func startVersity(t *testing.T, bucket string) (endpoint, access, secret, root string) {
	t.Helper()
	bin := testutil.Peer(t, "versitygw")
	root = t.TempDir()
	if err := os.Mkdir(filepath.Join(root, bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	access, secret = "dossier-test", "dossier-test-secret"
	startServer(t, "versitygw", exec.Command(bin, "--port", addr, "--access", access, "--secret", secret, "posix", root), func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "http://" + addr, access, secret, root
}

// TestS3Storage runs dossier's registry on S3 storage (distribution's S3
// driver against versitygw, a real S3 API): the samples pushed with crane
// resolve and catalogue as syft reads them, a signature is listed by the
// referrers API and verifies, and a deleted manifest is gone.
func TestS3Storage(t *testing.T) {
	ctx := context.Background()
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	endpoint, access, secret, root := startVersity(t, "dossier")
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, host := testutil.Loopback(t)
	reg, err := registry.New(ctx, registry.Options{Name: host, Store: st, S3: &registry.S3{Bucket: "dossier", Region: "us-east-1", Endpoint: endpoint,
		AccessKey: access, SecretKey: secret, Prefix: "/registry"}, OnError: func(err error) { t.Errorf("registry: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeOn(t, l, reg)
	tokenSecret, hash, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dockerLogin(t, host, tokenSecret)
	ref := host + "/team/app:v1"
	cranePush(t, "npm-app", ref)
	ours := purlSet(t, dossierSBOM(t, ref, "cyclonedx-json"), "dossier SBOM of "+ref)
	theirs := purlSet(t, syftSBOM(t, "registry:"+ref, "cyclonedx-json@1.6", "SYFT_REGISTRY_INSECURE_USE_HTTP=true"), "syft SBOM of "+ref)
	comparePURLs(t, ref, ours, theirs)
	dir := t.TempDir()
	key := filepath.Join(dir, "release")
	if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", key); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	if code, _, errOut := runDossier(t, "sign", ref, "--key", key+".key"); code != 0 {
		t.Fatalf("sign: %s", errOut)
	}
	if code, out, errOut := runDossier(t, "verify", ref, "--key", key+".pub"); code != 0 {
		t.Errorf("verify on S3 storage: %s %s", out, errOut)
	}
	// the objects are in the bucket, under the prefix
	if _, err := os.Stat(filepath.Join(root, "dossier", "registry", "docker", "registry", "v2", "repositories", "team", "app")); err != nil {
		t.Errorf("the repository is not in the bucket: %v", err)
	}
	digest := testutil.SampleImageDigest(t, "npm-app", "amd64")
	if out, err := exec.Command(testutil.Peer(t, "crane"), "delete", "--insecure", host+"/team/app@"+digest).CombinedOutput(); err != nil {
		t.Fatalf("crane delete: %v: %s", err, out)
	}
	if code, _, _ := runDossier(t, "resolve", host+"/team/app@"+digest); code == 0 {
		t.Error("a deleted manifest still resolves")
	}
}

// TestReplicasOnS3 runs two registry replicas on one S3 bucket
// (versitygw) and one PostgreSQL store: what crane pushes through one is
// pulled through the other with the same token.
func TestReplicasOnS3(t *testing.T) {
	ctx := context.Background()
	endpoint, access, secret, _ := startVersity(t, "shared")
	url := testutil.PostgresDatabase(t)
	var hosts []string
	var token string
	for i := range 2 {
		st, err := store.Open(ctx, "", url)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		// replicas behind one name, as behind a load balancer
		reg, err := registry.New(ctx, registry.Options{Name: "registry.test", Store: st, S3: &registry.S3{Bucket: "shared", Region: "us-east-1", Endpoint: endpoint, AccessKey: access, SecretKey: secret},
			OnError: func(err error) { t.Errorf("replica %d: %v", i, err) }})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(reg)
		defer srv.Close()
		hosts = append(hosts, strings.TrimPrefix(srv.URL, "http://"))
		if i == 0 {
			secret, hash, err := tokens.New()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			token = secret
		}
	}
	dir := t.TempDir()
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("ci:" + token))}
	}
	data, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	cranePush(t, "npm-app", hosts[0]+"/team/app:v1")
	var out, errOut bytes.Buffer
	if code := cli.Main([]string{"resolve", hosts[1] + "/team/app:v1"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("resolve through the other replica: %s", errOut.String())
	}
	if want := hosts[1] + "/team/app@" + testutil.SampleImageDigest(t, "npm-app", "amd64"); strings.TrimSpace(out.String()) != want {
		t.Errorf("resolved %s, want %s", out.String(), want)
	}
	if got, err := exec.Command(testutil.Peer(t, "crane"), "pull", "--insecure", hosts[1]+"/team/app:v1", filepath.Join(dir, "app.tar")).CombinedOutput(); err != nil {
		t.Errorf("crane pull through the other replica: %v: %s", err, got)
	}
}
