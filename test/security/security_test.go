// Package security attacks dossier's boundaries as an outsider would:
// dossier serve and its webhook run as processes of their own on
// 127.0.0.1, and the attacks are real requests — crane, go-containerregistry
// clients, raw HTTP with forged headers and bodies, AdmissionReviews —
// made with a pull or push token or as a Pod's author. Every attack must
// fail, and the legitimate request next to it must still work. The threat
// model these tests hold dossier to is docs/security.md.
package security

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

// TestMain lets the test binary run as dossier itself, so that the
// servers attacked are processes of their own.
func TestMain(m *testing.M) {
	if os.Getenv("DOSSIER_SECURITY_RUN_DOSSIER") != "" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// server is a dossier serve process on 127.0.0.1.
type server struct {
	// addr is the registry's listener, webhook the admission webhook's
	addr, webhook, data, admin string
	// scheme is http, or https with client trusting ca
	scheme string
	client *http.Client
	mu     sync.Mutex
	lines  []string
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs dossier serve on a free loopback port with args; certs,
// when not "", is a directory with ca.crt, tls.crt and tls.key.
func startServe(t *testing.T, certs string, args ...string) *server {
	t.Helper()
	s := &server{addr: freeAddress(t), webhook: freeAddress(t), data: t.TempDir(), scheme: "http", client: &http.Client{Transport: http.DefaultTransport}}
	args = append([]string{"serve", "--listen", s.addr, "--webhook-listen", s.webhook, "--data-dir", s.data}, args...)
	if certs != "" {
		args = append(args, "--tls-cert", filepath.Join(certs, "tls.crt"), "--tls-key", filepath.Join(certs, "tls.key"))
		ca, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		s.scheme, s.client = "https", &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	cmd := exec.Command(os.Args[0], args...)
	// the served process's registry credentials (login writes them)
	cmd.Env = append(os.Environ(), "DOSSIER_SECURITY_RUN_DOSSIER=1", "DOCKER_CONFIG="+filepath.Join(s.data, "docker"))
	if certs != "" {
		// the webhook inside resolves images at this very registry
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+filepath.Join(certs, "ca.crt"))
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done, listening := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		// every listener is open: the registry's, and the webhook's when
		// a policy starts one
		unheard := map[string]bool{s.addr: true}
		if slices.Contains(args, "--policy") {
			unheard[s.webhook] = true
		}
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, scanner.Text())
			s.mu.Unlock()
			for addr := range unheard {
				if strings.Contains(scanner.Text(), "listening on") && strings.Contains(scanner.Text(), addr) {
					delete(unheard, addr)
					if len(unheard) == 0 {
						close(listening)
					}
				}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if t.Failed() {
			t.Logf("dossier serve:\n%s", s.log())
		}
	})
	select {
	case <-listening:
	case <-done:
		t.Fatalf("dossier serve exited:\n%s", s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("dossier serve did not start:\n%s", s.log())
	}
	admin, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	s.admin = strings.TrimSpace(string(admin))
	return s
}

// login gives the served process a token for its own registry, as an
// operator gives the webhook a pull secret.
func (s *server) login(t *testing.T, token string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte("webhook:" + token))
	config := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.addr, auth)
	if err := os.MkdirAll(filepath.Join(s.data, "docker"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.data, "docker", "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// runDossier runs a dossier command in-process; it must succeed.
func runDossier(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main(args, nil, &out, &errOut); code != 0 {
		t.Fatalf("dossier %v: exit %d: %s", args, code, errOut.String())
	}
	return out.String()
}

// dossier runs a dossier command against the server's data.
func (s *server) dossier(t *testing.T, args ...string) string {
	t.Helper()
	return runDossier(t, append(args, "--data-dir", s.data)...)
}

func (s *server) token(t *testing.T, repos, role string) string {
	t.Helper()
	return strings.TrimSpace(s.dossier(t, "token", "create", "--repo", repos, "--role", role))
}

// request sends a raw request: host, when not "", is the Host header.
func (s *server) request(t *testing.T, method, path, token, host string, body []byte, contentType string) (int, string) {
	t.Helper()
	resp, data := s.exchange(t, method, path, token, host, body, contentType)
	return resp.StatusCode, data
}

// exchange is request, answering the response itself too.
func (s *server) exchange(t *testing.T, method, path, token, host string, body []byte, contentType string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.scheme+"://"+s.addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.SetBasicAuth("attacker", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// upload writes a blob to repo with raw requests (start, then one PUT),
// host being the Host header of both; it answers the PUT's status.
func (s *server) upload(t *testing.T, repo, token, host string, data []byte) (int, string) {
	t.Helper()
	resp, body := s.exchange(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", token, host, nil, "")
	if resp.StatusCode != http.StatusAccepted {
		return resp.StatusCode, body
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", fmt.Sprintf("sha256:%x", sha256.Sum256(data)))
	return s.request(t, http.MethodPut, loc.Path+"?"+q.Encode(), token, host, data, "application/octet-stream")
}

func (s *server) ref(t *testing.T, repo string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s.addr + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (s *server) remote(token string) []remote.Option {
	return []remote.Option{remote.WithTransport(s.client.Transport), remote.WithAuth(&authn.Basic{Username: "me", Password: token})}
}

// push writes an image and returns its digest.
func (s *server) push(t *testing.T, repo, token string, img v1.Image) string {
	t.Helper()
	if err := remote.Write(s.ref(t, repo), img, s.remote(token)...); err != nil {
		t.Fatalf("push %s: %v", repo, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// jobs lists the registry's jobs.
func (s *server) jobs(t *testing.T) []store.Job {
	t.Helper()
	var list []store.Job
	if err := json.Unmarshal([]byte(s.dossier(t, "query", "jobs", "--limit", "0", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	return list
}

// waitJob waits for the newest job of a kind about repository@digest to
// end, and returns it.
func (s *server) waitJob(t *testing.T, kind, repository, digest string) store.Job {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		for _, j := range s.jobs(t) {
			if j.Kind == kind && j.Repository == repository && j.Digest == digest && (j.State == store.JobDone || j.State == store.JobFailed) {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s of %s@%s ended: %+v", kind, repository, digest, s.jobs(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// signingPolicy writes a key pair and a policy that wants the key's
// signature on the images globs name.
func signingPolicy(t *testing.T, dir, policyName string, globs ...string) (*sign.KeyPair, string) {
	t.Helper()
	kp, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, policyName+".pub"), []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(globs)
	path := filepath.Join(dir, policyName+".yaml")
	doc := fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: %s}
spec:
  images: %s
  signers: [{name: release, key: {file: %s.pub}}]
  rules: [{name: signed, signature: {}}]
`, policyName, quoted, policyName)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return kp, path
}

// signImage signs repo@digest with kp through the registry, as a pusher.
func (s *server) signImage(t *testing.T, repo, digest, token string, kp *sign.KeyPair) {
	t.Helper()
	ctx := context.Background()
	r, err := oci.OpenRegistry(s.addr+"/"+repo, oci.RegistryOptions{Transport: s.client.Transport, Keychain: staticKeychain{token}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := r.Resolve(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.SignImage(ctx, r, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
}

type staticKeychain struct{ token string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: "me", Password: k.token}, nil
}

// eventually retries check until it returns "" or the time is up.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
