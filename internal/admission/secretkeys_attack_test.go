package admission

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/kube"
)

// fakeSecrets is an API server on 127.0.0.1 serving Secrets' cosign.pub
// (GET /api/v1/namespaces/NS/secrets/NAME) to client-go, and recording the
// paths asked for. down answers 503; stall holds each answer that long.
type fakeSecrets struct {
	mu    sync.Mutex
	keys  map[string]string // "ns/name" → cosign.pub
	asked []string
	down  bool
	stall time.Duration
	srv   *httptest.Server
}

func newFakeSecrets(t *testing.T) *fakeSecrets {
	s := &fakeSecrets{keys: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.URL.EscapedPath())
		down, stall := s.down, s.stall
		rest, _ := strings.CutPrefix(r.URL.Path, "/api/v1/namespaces/")
		ns, name, _ := strings.Cut(rest, "/secrets/")
		key, found := s.keys[ns+"/"+name]
		s.mu.Unlock()
		time.Sleep(stall)
		rw.Header().Set("Content-Type", "application/json")
		switch {
		case down:
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = rw.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`))
		case !found:
			rw.WriteHeader(http.StatusNotFound)
			_, _ = rw.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
		default:
			_ = json.NewEncoder(rw).Encode(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]string{"namespace": ns, "name": name},
				"data": map[string]string{"cosign.pub": base64.StdEncoding.EncodeToString([]byte(key))}})
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeSecrets) set(f func(*fakeSecrets)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *fakeSecrets) reader(t *testing.T) func(string, string) ([]byte, error) {
	t.Helper()
	read, err := kube.SecretKeys(&rest.Config{Host: s.srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return read
}

// otherKeyMaterial is another signing key's public PEM, its private PEM
// and a certificate for it.
func otherKeyMaterial(t *testing.T) (pub, private, cert string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	priv, _ := x509.MarshalECPrivateKey(key)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	c, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c}))
}

// Hostile Secrets and API servers against Kyverno keys kept in Secrets,
// through a real client-go and the webhook's FileRules: what is in force
// is only ever a key read whole from the Secret named; names that are no
// Secret's never reach the API server; a load that cannot read a key
// (missing, not a public key, a private key, a certificate, the API
// server down or stalled) refuses to start or keeps the rules in force,
// never admits without a key.
func TestSecretKeysAttack(t *testing.T) {
	f := newFixture(t, signedPolicy)
	release := f.rules.Set.Signers()[0].Key
	other, private, cert := otherKeyMaterial(t)
	api := newFakeSecrets(t)
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "kyverno.yaml")
	writePolicy := func(keys string) {
		t.Helper()
		doc := `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: signed-by-secret}
spec:
  validationFailureAction: Enforce
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["` + f.host + `/team/*"]
      mutateDigest: false
      attestors: [{entries: [{keys: ` + keys + `}]}]
`
		if err := os.WriteFile(policyFile, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (*FileRules, error) {
		return LoadFileRules([]string{policyFile}, "", collect.Options{Timeout: 10 * time.Second}, api.reader(t))
	}
	review := func(rules *FileRules, image string) bool {
		t.Helper()
		w := New(rules.Rules, Options{})
		defer w.Close()
		out, _ := w.Validate(context.Background(), podReview(t, "prod", containers(image)))
		return out.Response.Allowed
	}
	// by digest, as the policy requires (verifyDigest without mutateDigest)
	signed, unsigned := f.host+"/team/signed@"+f.signed, f.host+"/team/unsigned@"+f.unsigned

	// names that are no Secret's are refused before any request
	for _, ref := range []string{"k8s://keys/../release", "k8s://keys/a%2Fb", "k8s://keys/a%2fb", "k8s://KEYS/release", "k8s://keys/Release", "k8s:///release",
		"k8s://keys/", "k8s://keys//release", "k8s://../keys/release", "k8s://keys/release?x=1", "k8s://keys/release#x", "k8s://keys/rel ease",
		"k8s://keys/release\u200b", "k8s://keys/.", "k8s://keys/..", "k8s://keys%2F..%2Fkube-system/release", "k8s://keys\\release"} {
		writePolicy(`{publicKeys: "` + ref + `", rekor: {ignoreTlog: true}}`)
		if _, err := load(); err == nil {
			t.Errorf("%q: loaded", ref)
		}
	}
	writePolicy(`{secret: {namespace: "..", name: release}}`)
	if _, err := load(); err == nil {
		t.Errorf("keys.secret in namespace ..: loaded")
	}
	api.set(func(s *fakeSecrets) {
		if len(s.asked) > 0 {
			t.Errorf("names no Secret has reached the API server: %q", s.asked)
		}
	})

	// a Secret that holds something other than public keys fails the start,
	// by name, and never repeats the private key it was given
	// the fixture's signature has no transparency log entry
	writePolicy(`{publicKeys: "k8s://keys/release", rekor: {ignoreTlog: true}}`)
	for what, content := range map[string]string{"private key": private, "certificate": cert, "not PEM": "ssh-ed25519 AAAA release",
		"public then private": release + private, "huge": strings.Repeat("A", 900<<10), "PEM with junk": release + "junk"} {
		api.set(func(s *fakeSecrets) { s.keys["keys/release"] = content })
		_, err := load()
		if err == nil {
			t.Errorf("cosign.pub %s: loaded", what)
			continue
		}
		if !strings.Contains(err.Error(), policyFile) || !strings.Contains(err.Error(), "publicKeys") || strings.Contains(err.Error(), "PRIVATE KEY-----") || len(err.Error()) > 2000 {
			t.Errorf("cosign.pub %s: %.500v", what, err)
		}
	}

	// several keys are several entries, each of which must have signed
	// (Kyverno's count defaults to all of them): one key of two admits nothing
	api.set(func(s *fakeSecrets) { s.keys["keys/release"] = other + release })
	rules, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if review(rules, signed) || review(rules, unsigned) {
		t.Errorf("two keys in cosign.pub, an image signed by one of them admitted")
	}
	// rotated to another key only: the release signature no longer admits
	api.set(func(s *fakeSecrets) { s.keys["keys/release"] = other })
	if changed, err := rules.Reload(); !changed || err != nil {
		t.Fatalf("rotation: changed %v, %v", changed, err)
	}
	if review(rules, signed) {
		t.Errorf("after rotation to another key, the old key's signature admits")
	}
	// broken at a reload (a private key, the API server down or stalled):
	// the rules in force stay, and still refuse the unsigned image
	api.set(func(s *fakeSecrets) { s.keys["keys/release"] = release })
	if _, err := rules.Reload(); err != nil {
		t.Fatal(err)
	}
	for what, breakIt := range map[string]func(*fakeSecrets){
		"private key": func(s *fakeSecrets) { s.keys["keys/release"] = private },
		"down":        func(s *fakeSecrets) { s.down = true },
		"stalled":     func(s *fakeSecrets) { s.stall = 6 * time.Second },
	} {
		api.set(breakIt)
		started := time.Now()
		if changed, err := rules.Reload(); changed || err == nil {
			t.Errorf("reload with the API server %s: changed %v, %v", what, changed, err)
		}
		if took := time.Since(started); took > 8*time.Second {
			t.Errorf("reload with the API server %s took %s", what, took)
		}
		if s, u := review(rules, signed), review(rules, unsigned); !s || u {
			t.Errorf("after a failed reload (%s) the rules in force changed: signed admitted %v, unsigned admitted %v", what, s, u)
		}
		api.set(func(s *fakeSecrets) { s.keys["keys/release"], s.down, s.stall = release, false, 0 })
	}
	// a Secret deleted revokes its key at the next reload: what it
	// verified is refused, saying why, until a key is back
	api.set(func(s *fakeSecrets) { delete(s.keys, "keys/release") })
	if changed, err := rules.Reload(); !changed || err != nil {
		t.Fatalf("reload after the Secret was deleted: changed %v, %v", changed, err)
	}
	if s, u := review(rules, signed), review(rules, unsigned); s || u {
		t.Errorf("the Secret deleted: signed admitted %v, unsigned admitted %v", s, u)
	}
	api.set(func(s *fakeSecrets) { s.keys["keys/release"] = release })
	if changed, err := rules.Reload(); !changed || err != nil || !review(rules, signed) {
		t.Errorf("the key written back: changed %v, %v", changed, err)
	}
	// down at start: no rules at all
	api.set(func(s *fakeSecrets) { s.down = true })
	if _, err := load(); err == nil {
		t.Errorf("loaded with the API server down")
	}
}
