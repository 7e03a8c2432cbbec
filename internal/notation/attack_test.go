package notation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	notationgo "github.com/notaryproject/notation-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Attacks on Notation verification by whoever may push to the registry
// (signatures, referrers, tags, manifests, blobs) and by trust policy and
// trust store files. Each test says what the attacker tries and asserts
// the defence.

// attackCA is a root CA whose leaves name whatever revocation endpoint
// the test gives (testutil's CA always names its own CRL).
type attackCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newAttackCA(t *testing.T, cn string) *attackCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &attackCA{cert: cert, key: key}
}

// issue makes a code-signing leaf for subject naming crlURL (none when
// empty) and its chain, leaf first.
func (c *attackCA) issue(t *testing.T, subject pkix.Name, crlURL string) *Key {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               subject,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	if crlURL != "" {
		tmpl.CRLDistributionPoints = []string{crlURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(key, []*x509.Certificate{leaf, c.cert})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// crlEndpoint serves c's (empty) CRL on 127.0.0.1 and counts requests.
func (c *attackCA) crlEndpoint(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number:     big.NewInt(time.Now().UnixNano()),
			ThisUpdate: time.Now().Add(-time.Minute),
			NextUpdate: time.Now().Add(time.Hour),
		}, c.cert, c.key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/root.crl", hits
}

// trustCA makes w trust ca's certificates for w's repository at level.
// releaseKey is a Notation key of a certificate the world's CA issued to
// the release identity, valid for an hour.
func (w *world) releaseKey(t *testing.T) *Key {
	t.Helper()
	k, chain := w.ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
	key, err := NewKey(k, chain)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// signRelease signs the world's subject with a release key.
func (w *world) signRelease(t *testing.T) {
	t.Helper()
	if _, err := Sign(context.Background(), w.repo, w.subject, w.releaseKey(t), SignOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) trustCA(t *testing.T, ca *attackCA, level string) {
	t.Helper()
	w.policyFile, w.storeTo = testutil.WriteNotationTrust(t, w.configDir, w.repoName, level, testutil.NotationReleaseIdentity, ca.cert)
}

// writePolicy replaces w's trust policy document.
func (w *world) writePolicy(t *testing.T, doc string) {
	t.Helper()
	if err := os.WriteFile(w.policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// signedOver is an envelope by key over desc (whatever it names).
func signedOver(t *testing.T, key *Key, desc ocispec.Descriptor, mediaType string) []byte {
	t.Helper()
	blob, _, err := key.signer.Sign(context.Background(), desc, notationgo.SignerSignOptions{SignatureMediaType: mediaType})
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// attachAs stores blob as a Notation signature (of envelope type
// mediaType) whose subject is w's image; annotations vary the manifest.
func attachAs(t *testing.T, w *world, mediaType string, blob []byte, annotations map[string]string) {
	t.Helper()
	r := &repository{repo: w.repo}
	if _, _, err := r.PushSignature(context.Background(), mediaType, blob, toOCI(w.subject), annotations); err != nil {
		t.Fatal(err)
	}
}

// verifyWith is dossier's verification of w's image with opts.
func (w *world) verifyWith(t *testing.T, opts Options) Result {
	t.Helper()
	v, err := NewVerifier(w.trust(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), w.repo, w.subject, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func onlyRejection(t *testing.T, res Result) evidence.RejectedSignature {
	t.Helper()
	if len(res.Signatures) != 0 || len(res.Rejected) != 1 {
		t.Fatalf("want one rejected signature and none verified, got %+v", res)
	}
	return res.Rejected[0]
}

// A valid envelope by the trusted signer over a descriptor that names the
// image's digest but another media type or size is not the image's.
func TestAttackPayloadForAnotherDescriptor(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(d *ocispec.Descriptor)
	}{
		{"media type", func(d *ocispec.Descriptor) {
			if d.MediaType == string(types.OCIManifestSchema1) {
				d.MediaType = string(types.DockerManifestSchema2)
			} else {
				d.MediaType = string(types.OCIManifestSchema1)
			}
		}},
		{"size", func(d *ocispec.Descriptor) { d.Size++ }},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, true, "strict")
			key := w.releaseKey(t)
			d := toOCI(w.subject)
			c.change(&d)
			attachAs(t, w, evidence.NotationJWS, signedOver(t, key, d, evidence.NotationJWS), nil)
			rj := onlyRejection(t, w.verify(t))
			want := fmt.Sprintf("made for %s as a %q of %d bytes, not a %q of %d bytes", d.Digest, d.MediaType, d.Size, w.subject.MediaType, w.subject.Size)
			if rj.Kind != evidence.FailureDigestMismatch || !strings.Contains(rj.Reason, want) {
				t.Fatalf("rejected as %s: %s", rj.Kind, rj.Reason)
			}
		})
	}
}

// Another image's valid signature, replayed under a signature manifest
// whose subject is this image, is refused as made for the other digest —
// and judging the replays contacts no revocation endpoint: a pusher who
// copies one trusted signature onto an image hundreds of times must not
// make dossier download the CA's CRL hundreds of times.
func TestAttackReplayedSignature(t *testing.T) {
	for _, env := range envelopes {
		t.Run(env, func(t *testing.T) {
			w := newWorld(t, true, "strict")
			ca := newAttackCA(t, "Acme Root")
			w.trustCA(t, ca, "strict")
			crl, hits := ca.crlEndpoint(t)
			key := ca.issue(t, testutil.NotationRelease, crl)
			other := w.push(t, "other")
			blob := signedOver(t, key, toOCI(other), env)
			const replays = 20
			for i := range replays {
				attachAs(t, w, env, blob, map[string]string{"replay": fmt.Sprint(i)})
			}
			res := w.verify(t)
			if len(res.Signatures) != 0 || len(res.Rejected) != replays {
				t.Fatalf("want %d rejected replays, got %+v", replays, res)
			}
			for _, rj := range res.Rejected {
				if rj.Kind != evidence.FailureDigestMismatch || !strings.Contains(rj.Reason, "made for "+other.Digest.String()+", not "+w.subject.Digest.String()) {
					t.Fatalf("rejected as %s: %s", rj.Kind, rj.Reason)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("judging %d replayed signatures fetched the CA's CRL %d times", replays, n)
			}
			// the same signature on the image it was made for verifies,
			// revocation checked
			w.subject = other
			if res := w.verify(t); len(res.Signatures) != 0 {
				t.Fatalf("no signature was attached to the other image, yet %+v", res)
			}
			attachAs(t, w, env, blob, nil)
			if res := w.verify(t); len(res.Signatures) != 1 || hits.Load() == 0 {
				t.Fatalf("the signature on its own image: %+v, %d CRL fetches", res, hits.Load())
			}
		})
	}
}

// A certificate from a CA outside the trust store whose leaf copies the
// trusted identity's subject: refused at strict and permissive; at audit
// (where notation only logs authenticity) accepted, as notation accepts
// it — but never recorded as signed by the subject it copied, and its
// revocation endpoints (chosen by the pusher) are never contacted.
func TestAttackUntrustedCACopiesIdentity(t *testing.T) {
	for _, level := range []string{"strict", "permissive"} {
		t.Run(level, func(t *testing.T) {
			w := newWorld(t, true, level)
			rogue := newAttackCA(t, "Acme Root") // the trusted root's very name
			crl, hits := rogue.crlEndpoint(t)
			if _, err := Sign(context.Background(), w.repo, w.subject, rogue.issue(t, testutil.NotationRelease, crl), SignOptions{}); err != nil {
				t.Fatal(err)
			}
			rj := onlyRejection(t, w.verify(t))
			if rj.Kind != evidence.FailureUntrustedKey || !strings.Contains(rj.Reason, "authenticity check failed") {
				t.Fatalf("rejected as %s: %s", rj.Kind, rj.Reason)
			}
			if hits.Load() != 0 {
				t.Errorf("the untrusted certificate's CRL was fetched %d times", hits.Load())
			}
		})
	}
	t.Run("audit", func(t *testing.T) {
		w := newWorld(t, true, "audit")
		rogue := newAttackCA(t, "Acme Root")
		crl, hits := rogue.crlEndpoint(t)
		if _, err := Sign(context.Background(), w.repo, w.subject, rogue.issue(t, testutil.NotationRelease, crl), SignOptions{}); err != nil {
			t.Fatal(err)
		}
		res := w.verify(t)
		if len(res.Signatures) != 1 {
			t.Fatalf("audit: %+v", res)
		}
		sig := res.Signatures[0]
		if sig.Signer.CertificateSubject != "" {
			t.Errorf("an unauthenticated certificate is recorded as the signer: %q", sig.Signer.CertificateSubject)
		}
		logged := strings.Join(sig.Notation.Logged, "; ")
		if !strings.Contains(logged, "authenticity") || !strings.Contains(logged, `claims x509 subject "CN=release,O=Acme,ST=WA,C=US"`) {
			t.Errorf("logged: %s", logged)
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("dossier fetched the CRL an untrusted certificate names %d times", n)
		}
		if !strings.Contains(logged, "revocation") {
			t.Errorf("revocation not checked, and not said: %s", logged)
		}
	})
}

// Identity tricks by a leaf of the trusted CA (one that issues
// certificates to more than the release signer).
func TestAttackIdentityMatching(t *testing.T) {
	cases := []struct {
		name    string
		subject pkix.Name
		ok      bool
		why     string
	}{
		{"escaped comma carrying O=Acme in CN", pkix.Name{CommonName: "release,O=Acme", Organization: []string{"Evil"}, Province: []string{"WA"}, Country: []string{"US"}}, false, "trusted identities"},
		{"two organizations", pkix.Name{CommonName: "release", Organization: []string{"Acme", "Evil"}, Province: []string{"WA"}, Country: []string{"US"}}, false, "multi-valued RDN"},
		{"case", pkix.Name{CommonName: "Release", Organization: []string{"Acme"}, Province: []string{"WA"}, Country: []string{"US"}}, false, "trusted identities"},
		{"trailing space", pkix.Name{CommonName: "release ", Organization: []string{"Acme"}, Province: []string{"WA"}, Country: []string{"US"}}, false, "trusted identities"},
		// notation's rule: the trusted identity's attributes are a subset
		// of the leaf's (the Notary Project specification's matching)
		{"an extra RDN", pkix.Name{CommonName: "release", OrganizationalUnit: []string{"Contractors"}, Organization: []string{"Acme"}, Province: []string{"WA"}, Country: []string{"US"}}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, true, `{"level": "strict", "override": {"revocation": "skip"}}`)
			ca := newAttackCA(t, "Acme Root")
			w.trustCA(t, ca, `{"level": "strict", "override": {"revocation": "skip"}}`)
			if _, err := Sign(context.Background(), w.repo, w.subject, ca.issue(t, c.subject, ""), SignOptions{}); err != nil {
				t.Fatal(err)
			}
			res := w.verify(t)
			if !c.ok {
				rj := onlyRejection(t, res)
				if rj.Kind != evidence.FailureUntrustedKey || !strings.Contains(rj.Reason, "authenticity check failed") || !strings.Contains(rj.Reason, c.why) {
					t.Fatalf("rejected as %s: %s", rj.Kind, rj.Reason)
				}
				return
			}
			if len(res.Signatures) != 1 || res.Signatures[0].Signer.CertificateSubject != "CN=release,OU=Contractors,O=Acme,ST=WA,C=US" {
				t.Fatalf("%+v", res)
			}
		})
	}
}

// Trusted identities in the trust policy: reordered RDNs mean the same
// identity; multi-valued RDNs, hex values, duplicates and missing
// mandatory attributes are refused when the policy loads.
func TestAttackTrustedIdentitySpellings(t *testing.T) {
	w := newWorld(t, true, "strict")
	w.signRelease(t)
	w.setLevel(t, "strict", "x509.subject: CN=release, O=Acme, C=US, ST=WA")
	if res := w.verify(t); len(res.Signatures) != 1 {
		t.Fatalf("reordered RDNs: %+v", res)
	}
	for _, id := range []string{
		"x509.subject: C=US+ST=WA, O=Acme, CN=release",
		"x509.subject: C=US, ST=WA, O=#0403416364, CN=release",
		"x509.subject: C=US, ST=WA, O=Acme, O=Evil, CN=release",
		"x509.subject: CN=release, O=Acme",
	} {
		w.setLevel(t, "strict", id)
		if _, err := trust.Load(w.policyFile, w.storeTo); err == nil {
			t.Errorf("trusted identity %q loaded", id)
		}
	}
}

// An escaped comma in a trusted identity is part of the value: O is
// "Acme, CN=release", which the release certificate's O is not.
func TestAttackTrustedIdentityEscapedComma(t *testing.T) {
	w := newWorld(t, true, "strict")
	w.signRelease(t)
	w.setLevel(t, "strict", `x509.subject: C=US, ST=WA, O=Acme\, CN=release`)
	if rj := onlyRejection(t, w.verify(t)); rj.Kind != evidence.FailureUntrustedKey {
		t.Fatalf("rejected as %s: %s", rj.Kind, rj.Reason)
	}
}

// Trust policy scopes spelled other ways than dossier names repositories
// (dossier names a repository canonically: lower-case host, localhost as
// 127.0.0.1, no port 443 or leading zeros, Docker Hub as index.docker.io
// with library/): the statement written for the repository still applies,
// not a "*" statement that skips verification.
func TestAttackScopeSpellings(t *testing.T) {
	w := newWorld(t, true, "strict")
	port := strings.TrimPrefix(strings.Split(w.repoName, "/")[0], "127.0.0.1:")
	policy := func(scope string) string {
		return fmt.Sprintf(`{"version": "1.0", "trustPolicies": [
  {"name": "acme-app", "registryScopes": [%q], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": [%q]},
  {"name": "sandbox", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}]}`, scope, testutil.NotationReleaseIdentity)
	}
	for _, scope := range []string{"localhost:" + port + "/app", "LOCALHOST:" + port + "/app", "127.0.0.1:0" + port + "/app"} {
		t.Run(scope, func(t *testing.T) {
			w.writePolicy(t, policy(scope))
			res := w.verify(t) // the image is unsigned
			if res.Skipped != "" {
				t.Fatalf("scope %q: statement %q skipped verification of %s", scope, res.Skipped, w.repoName)
			}
			if st, _, err := w.trust(t).Statement(w.repoName + "@" + w.subject.Digest.String()); err != nil || st.Name != "acme-app" {
				t.Fatalf("statement %v, %v", st, err)
			}
		})
	}
	t.Run("the repository opened by another spelling", func(t *testing.T) {
		// statement and verifier both read the repository as
		// 127.0.0.1:PORT/app, whichever spelling the caller opened it by
		w.writePolicy(t, policy(w.repoName))
		w.signRelease(t)
		repo, err := oci.OpenRegistry("localhost:"+port+"/app", oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(w.trust(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(context.Background(), repo, w.subject, time.Now())
		if err != nil || res.Skipped != "" || len(res.Signatures) != 1 || res.Signatures[0].Notation.Statement != "acme-app" {
			t.Fatalf("%+v, %v", res, err)
		}
		if skip := w.trust(t).Skips("localhost:" + port + "/app@" + w.subject.Digest.String()); skip != "" {
			t.Fatalf("skipped by %q", skip)
		}
	})
	hub := "index.docker.io/library/nginx@" + w.subject.Digest.String()
	for _, scope := range []string{"docker.io/library/nginx", "docker.io/nginx", "registry-1.docker.io/library/nginx", "index.docker.io:443/library/nginx"} {
		t.Run(scope, func(t *testing.T) {
			w.writePolicy(t, policy(scope))
			cfg := w.trust(t)
			if st, _, err := cfg.Statement(hub); err != nil || st.Name != "acme-app" {
				t.Fatalf("scope %q: %s falls to statement %v (%v)", scope, hub, st, err)
			}
			if skip := cfg.Skips(hub); skip != "" {
				t.Fatalf("scope %q: %s skipped by %q", scope, hub, skip)
			}
		})
	}
	t.Run("two spellings of one repository in two statements", func(t *testing.T) {
		w.writePolicy(t, fmt.Sprintf(`{"version": "1.0", "trustPolicies": [
  {"name": "acme-app", "registryScopes": ["localhost:%s/app"], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": [%q]},
  {"name": "lax", "registryScopes": ["127.0.0.1:%s/app"], "signatureVerification": {"level": "skip"}}]}`, port, testutil.NotationReleaseIdentity, port))
		if _, err := trust.Load(w.policyFile, w.storeTo); err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+port+"/app") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wildcard with a scope, and overlapping statements", func(t *testing.T) {
		for _, doc := range []string{
			fmt.Sprintf(`{"version": "1.0", "trustPolicies": [{"name": "a", "registryScopes": ["*", %q], "signatureVerification": {"level": "skip"}}]}`, w.repoName),
			fmt.Sprintf(`{"version": "1.0", "trustPolicies": [
  {"name": "a", "registryScopes": [%q], "signatureVerification": {"level": "skip"}},
  {"name": "b", "registryScopes": [%q], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": ["*"]}]}`, w.repoName, w.repoName),
		} {
			w.writePolicy(t, doc)
			if _, err := trust.Load(w.policyFile, w.storeTo); err == nil {
				t.Errorf("loaded %s", doc)
			}
		}
	})
}

// Levels: integrity can be neither skipped nor logged, authenticity not
// skipped; a level that only logs authenticity loads with a warning.
func TestAttackCustomLevels(t *testing.T) {
	w := newWorld(t, true, "strict")
	for _, sv := range []string{
		`{"level": "strict", "override": {"integrity": "skip"}}`,
		`{"level": "audit", "override": {"integrity": "log"}}`,
		`{"level": "strict", "override": {"authenticity": "skip"}}`,
		`{"level": "skip", "override": {"revocation": "log"}}`,
		`{"level": "lenient"}`,
		`{"level": "strict", "override": {"Authenticity": "log"}}`,
	} {
		w.setLevel(t, sv, testutil.NotationReleaseIdentity)
		if _, err := trust.Load(w.policyFile, w.storeTo); err == nil {
			t.Errorf("loaded signatureVerification %s", sv)
		}
	}
	w.setLevel(t, `{"level": "strict", "override": {"authenticity": "log"}}`, testutil.NotationReleaseIdentity)
	if warnings := trust.Warnings(w.trust(t).Policy()); len(warnings) != 1 || !strings.Contains(warnings[0], "only logs failed authenticity checks") {
		t.Errorf("warnings %q", warnings)
	}
}

// Trust store directories a policy author (or whoever can write there)
// prepares: what is not a plain certificate file is refused by name, and
// nothing makes loading hang.
func TestAttackTrustStoreFiles(t *testing.T) {
	store := func(t *testing.T) (w *world, dir string) {
		w = newWorld(t, true, "strict")
		return w, filepath.Join(w.storeTo, "x509", "ca", "acme")
	}
	load := func(t *testing.T, w *world) error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := trust.Load(w.policyFile, w.storeTo)
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			// unblock a reader stuck on a named pipe before failing
			if f, err := os.OpenFile(filepath.Join(w.storeTo, "x509", "ca", "acme", "pipe.crt"), os.O_WRONLY, 0); err == nil {
				f.Close()
			}
			<-done
			t.Fatal("loading the trust store did not return in 5s")
			return nil
		}
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
	}{
		{"named pipe", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "pipe.crt"), 0o644); err != nil {
				t.Skip("no named pipes here:", err)
			}
		}, "pipe.crt"},
		{"symbolic link out of the store", func(t *testing.T, dir string) {
			outside := filepath.Join(t.TempDir(), "other.crt")
			if err := os.WriteFile(outside, testutil.PEM(testutil.NewNotationCA(t, "Other Root").Cert), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, "other.crt")); err != nil {
				t.Fatal(err)
			}
		}, "other.crt"},
		{"a directory named like a store type", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "ca"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "ca"},
		{"huge file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "huge.crt"), make([]byte, trust.MaxCertFileBytes+1), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "huge.crt"},
		{"not a certificate", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "junk.crt"), []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "junk.crt"},
		{"a leaf certificate", func(t *testing.T, dir string) {
			_, chain := testutil.NewNotationCA(t, "Other Root").Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
			if err := os.WriteFile(filepath.Join(dir, "leaf.crt"), testutil.PEM(chain[0]), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "leaf.crt"},
		{"too many files", func(t *testing.T, dir string) {
			for i := range trust.MaxFilesPerStore {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("root%d.crt", i)), []byte{}, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, "more than"},
		{"the store itself a symbolic link", func(t *testing.T, dir string) {
			moved := filepath.Join(t.TempDir(), "acme")
			if err := os.Rename(dir, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(moved, dir); err != nil {
				t.Fatal(err)
			}
		}, "symlinks are not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, dir := store(t)
			c.prepare(t, dir)
			err := load(t, w)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
	t.Run("trust store names cannot leave x509/TYPE", func(t *testing.T) {
		w, _ := store(t)
		for _, name := range []string{"../ca", "..", "/etc/ssl", "acme/.."} {
			w.writePolicy(t, fmt.Sprintf(`{"version": "1.0", "trustPolicies": [{"name": "a", "registryScopes": ["*"], "signatureVerification": {"level": "strict"}, "trustStores": [%q], "trustedIdentities": ["*"]}]}`, "ca:"+name))
			if _, err := trust.Load(w.policyFile, w.storeTo); err == nil {
				t.Errorf("trust store ca:%s loaded", name)
			}
		}
	})
}

// What a pusher puts in the referrers list instead of a signature.
func TestAttackSignatureManifests(t *testing.T) {
	ctx := context.Background()
	manifest := func(t *testing.T, w *world, layers []v1.Descriptor) v1.Descriptor {
		t.Helper()
		config := []byte("{}")
		cd := oci.Descriptor(evidence.NotationSignatureType, config)
		if err := w.repo.Push(ctx, cd, config); err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: layers,
			Subject: &v1.Descriptor{MediaType: w.subject.MediaType, Digest: w.subject.Digest, Size: w.subject.Size}})
		if err != nil {
			t.Fatal(err)
		}
		md := oci.Descriptor(types.OCIManifestSchema1, raw)
		if err := w.repo.Push(ctx, md, raw); err != nil {
			t.Fatal(err)
		}
		return md
	}
	blob := func(t *testing.T, w *world, mediaType string, content []byte) v1.Descriptor {
		t.Helper()
		d := oci.Descriptor(types.MediaType(mediaType), content)
		if err := w.repo.Push(ctx, d, content); err != nil {
			t.Fatal(err)
		}
		return d
	}
	valid := func(t *testing.T, w *world) []byte {
		key := w.releaseKey(t)
		return signedOver(t, key, toOCI(w.subject), evidence.NotationJWS)
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, w *world)
		want  string
	}{
		{"unknown envelope format", func(t *testing.T, w *world) {
			manifest(t, w, []v1.Descriptor{blob(t, w, "application/pkcs7-signature", valid(t, w))})
		}, `envelope media type "application/pkcs7-signature" is neither`},
		{"JWS bytes labelled COSE", func(t *testing.T, w *world) {
			manifest(t, w, []v1.Descriptor{blob(t, w, evidence.NotationCOSE, valid(t, w))})
		}, "integrity check failed"},
		{"two envelopes", func(t *testing.T, w *world) {
			e := blob(t, w, evidence.NotationJWS, valid(t, w))
			manifest(t, w, []v1.Descriptor{e, e})
		}, "2 layers"},
		{"an envelope claimed larger than 1 MiB", func(t *testing.T, w *world) {
			e := blob(t, w, evidence.NotationJWS, valid(t, w))
			e.Size = MaxEnvelopeBytes + 1
			manifest(t, w, []v1.Descriptor{e})
		}, "more than the 1024 KiB"},
		{"an envelope claimed smaller than it is", func(t *testing.T, w *world) {
			e := blob(t, w, evidence.NotationJWS, valid(t, w))
			e.Size = 10
			manifest(t, w, []v1.Descriptor{e})
		}, ""},
		{"an envelope not stored", func(t *testing.T, w *world) {
			manifest(t, w, []v1.Descriptor{oci.Descriptor(evidence.NotationJWS, []byte("never pushed"))})
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, true, "strict")
			c.setup(t, w)
			rj := onlyRejection(t, w.verify(t))
			if !strings.Contains(rj.Reason, c.want) {
				t.Fatalf("rejected as %s: %s; want %q", rj.Kind, rj.Reason, c.want)
			}
		})
	}
}

// The referrers tag schema (sha256-<hex>) holds whatever index a pusher
// tags there: entries that 404, an index in place of a manifest, an entry
// naming the index itself, more entries than dossier reads.
func TestAttackReferrersTagIndex(t *testing.T) {
	ctx := context.Background()
	tagIndex := func(t *testing.T, w *world, entries []v1.Descriptor) v1.Descriptor {
		t.Helper()
		raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: entries})
		if err != nil {
			t.Fatal(err)
		}
		d := oci.Descriptor(types.OCIImageIndex, raw)
		if err := w.repo.Push(ctx, d, raw); err != nil {
			t.Fatal(err)
		}
		if err := w.repo.Tag(ctx, d, w.subject.Digest.Algorithm+"-"+w.subject.Digest.Hex); err != nil {
			t.Fatal(err)
		}
		return d
	}
	sig := func(d v1.Descriptor) v1.Descriptor {
		d.ArtifactType = evidence.NotationSignatureType
		return d
	}
	// manifest pushes a signature-shaped manifest without subject (the
	// tag index alone lists it)
	manifest := func(t *testing.T, w *world, n int) v1.Descriptor {
		t.Helper()
		config := []byte("{}")
		cd := oci.Descriptor(evidence.NotationSignatureType, config)
		if err := w.repo.Push(ctx, cd, config); err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{},
			Annotations: map[string]string{"n": fmt.Sprint(n)}})
		if err != nil {
			t.Fatal(err)
		}
		md := oci.Descriptor(types.OCIManifestSchema1, raw)
		if err := w.repo.Push(ctx, md, raw); err != nil {
			t.Fatal(err)
		}
		return md
	}
	t.Run("entries that 404 and an index in place of a manifest", func(t *testing.T) {
		w := newWorld(t, false, "strict")
		missing := sig(manifest(t, w, 0))
		inner := tagIndex(t, w, nil)
		tagIndex(t, w, []v1.Descriptor{missing, sig(inner)})
		ref, err := name.ParseReference(w.repoName+"@"+missing.Digest.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Delete(ref); err != nil {
			t.Fatal(err)
		}
		res := w.verify(t)
		if len(res.Signatures) != 0 || len(res.Rejected) != 2 {
			t.Fatalf("%+v", res)
		}
		if res.Rejected[0].Kind != evidence.FailureUnreadable || !strings.Contains(res.Rejected[1].Reason, "not an OCI image manifest") {
			t.Fatalf("%+v", res.Rejected)
		}
	})
	t.Run("more entries than dossier reads", func(t *testing.T) {
		w := newWorld(t, false, "strict")
		entries := make([]v1.Descriptor, oci.MaxReferrers+1)
		for i := range entries {
			entries[i] = sig(manifest(t, w, i))
		}
		tagIndex(t, w, entries)
		v, err := NewVerifier(w.trust(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = v.Verify(ctx, w.repo, w.subject, time.Now())
		if err == nil || !strings.Contains(err.Error(), "more than the 500") {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("refusing %d referrers took %s", len(entries), d)
		}
	})
	t.Run("referrers API and tag schema disagree", func(t *testing.T) {
		// a registry with the referrers API is asked through it; a valid
		// signature listed only under the tag is not the registry's answer,
		// for dossier as for notation-go over oras-go
		w := newWorld(t, true, "strict")
		key := w.releaseKey(t)
		env := signedOver(t, key, toOCI(w.subject), evidence.NotationJWS)
		ed := oci.Descriptor(evidence.NotationJWS, env)
		if err := w.repo.Push(ctx, ed, env); err != nil {
			t.Fatal(err)
		}
		config := []byte("{}")
		cd := oci.Descriptor(evidence.NotationSignatureType, config)
		if err := w.repo.Push(ctx, cd, config); err != nil {
			t.Fatal(err)
		}
		// a signature manifest without subject: the API does not list it
		raw, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{ed}})
		md := oci.Descriptor(types.OCIManifestSchema1, raw)
		if err := w.repo.Push(ctx, md, raw); err != nil {
			t.Fatal(err)
		}
		tagIndex(t, w, []v1.Descriptor{sig(md)})
		if res := w.verify(t); len(res.Signatures)+len(res.Rejected) != 0 {
			t.Fatalf("dossier read the tag schema of a registry with the referrers API: %+v", res)
		}
		if _, err := w.notationVerify(t); err == nil {
			t.Fatal("notation-go found the signature dossier did not")
		}
	})
}

// A revocation endpoint of the trusted CA that never answers costs one
// request timeout, and the signature is refused as revocation-unknown.
func TestAttackRevocationEndpointHangs(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	w := newWorld(t, true, "strict")
	ca := newAttackCA(t, "Acme Root")
	w.trustCA(t, ca, "strict")
	if _, err := Sign(context.Background(), w.repo, w.subject, ca.issue(t, testutil.NotationRelease, srv.URL+"/root.crl"), SignOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rj := onlyRejection(t, w.verifyWith(t, Options{RevocationTimeout: 300 * time.Millisecond}))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a hanging CRL endpoint held verification %s with a 300ms bound", d)
	}
	if rj.Kind != evidence.FailureRevocationUnknown || hits.Load() == 0 {
		t.Fatalf("rejected as %s: %s (%d requests)", rj.Kind, rj.Reason, hits.Load())
	}
}
