package notation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/tspclient-go"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// testTSA is an RFC 3161 timestamping authority: a root and a
// timestamping certificate valid from an hour ago for a day, the
// certificate naming the root's CRL (served on 127.0.0.1). Its tokens
// state the time at.
type testTSA struct {
	root, cert *x509.Certificate
	rootKey    *ecdsa.PrivateKey
	key        *ecdsa.PrivateKey
	at         time.Time
	revoked    atomic.Bool
}

func newTSA(t *testing.T, name string) *testTSA {
	t.Helper()
	s := &testTSA{rootKey: newKey(t), key: newKey(t)}
	srv := httptest.NewServer(http.HandlerFunc(s.serveCRL))
	t.Cleanup(srv.Close)
	from := time.Now().Add(-time.Hour)
	s.root = certify(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: name + " Root", Organization: []string{"Acme"}},
		NotBefore: from, NotAfter: from.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}, nil, s.rootKey, s.rootKey)
	// RFC 3161 2.3: the one extended key usage, time stamping, critical
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	s.cert = certify(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: name, Organization: []string{"Acme"}},
		NotBefore: from, NotAfter: from.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtraExtensions:       []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{srv.URL + "/tsa.crl"},
	}, s.root, s.key, s.rootKey)
	return s
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certify issues tmpl for key, signed by parent's key (self-signed when
// parent is nil).
func certify(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *testTSA) serveCRL(w http.ResponseWriter, _ *http.Request) {
	var entries []x509.RevocationListEntry
	if s.revoked.Load() {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s.cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, s.root, s.rootKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(der)
}

// Timestamp implements tspclient.Timestamper.
func (s *testTSA) Timestamp(_ context.Context, req *tspclient.Request) (*tspclient.Response, error) {
	hash, ok := map[int]crypto.Hash{32: crypto.SHA256, 48: crypto.SHA384, 64: crypto.SHA512}[len(req.MessageImprint.HashedMessage)]
	if !ok {
		return nil, fmt.Errorf("a digest of %d bytes", len(req.MessageImprint.HashedMessage))
	}
	ts := timestamp.Timestamp{
		HashAlgorithm: hash, HashedMessage: req.MessageImprint.HashedMessage, Nonce: req.Nonce,
		Time: s.at.UTC().Truncate(time.Second), Accuracy: time.Second,
		Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, AddTSACertificate: true,
	}
	der, err := ts.CreateResponseWithOpts(s.cert, s.key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var resp tspclient.Response
	return &resp, resp.UnmarshalBinary(der)
}

// trustTSA adds a tsa store holding root to w's trust policy statement,
// with verifyTimestamp option ("" is notation's default, always).
func (w *world) trustTSA(t *testing.T, root *x509.Certificate, option trustpolicy.TimestampOption) {
	t.Helper()
	dir := filepath.Join(w.storeTo, "x509", "tsa", "acme-tsa")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.crt"), testutil.PEM(root), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.policyFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	st := &doc.TrustPolicies[0]
	st.TrustStores = append(st.TrustStores, "tsa:acme-tsa")
	st.SignatureVerification.VerifyTimestamp = option
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.policyFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signAt attaches to w's image an envelope made as if at signedAt with a
// certificate of w's CA valid from an hour ago until notAfter: expiring
// at expiry (zero: never), countersigned by tsa (nil: not).
func (w *world) signAt(t *testing.T, envelope string, signedAt, notAfter, expiry time.Time, tsa *testTSA) {
	t.Helper()
	k, chain := w.ca.Issue(t, testutil.NotationRelease, notAfter)
	signer, err := signature.NewLocalSigner(chain, k)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(map[string]any{"targetArtifact": toOCI(w.subject)})
	if err != nil {
		t.Fatal(err)
	}
	req := &signature.SignRequest{
		Payload:     signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:      signer,
		SigningTime: signedAt, Expiry: expiry,
		SigningScheme: signature.SigningSchemeX509,
	}
	if tsa != nil {
		req.Timestamper, req.TSARootCAs = tsa, x509.NewCertPool()
		req.TSARootCAs.AddCert(tsa.root)
	}
	env, err := signature.NewEnvelope(envelope)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := env.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	r := &repository{repo: w.repo}
	if _, _, err := r.PushSignature(context.Background(), envelope, blob, toOCI(w.subject), nil); err != nil {
		t.Fatal(err)
	}
}

// TestVerificationClock: validity is judged at the now given, not at the
// time of verification; revocation (the CA's CRL, current) still passes.
func TestVerificationClock(t *testing.T) {
	const strict = "strict"
	type timestamped int
	const (
		none timestamped = iota
		trusted
		untrusted // by a TSA whose root the trust store does not hold
		revoked   // by a TSA whose certificate its root revoked
		late      // stating a time after the certificate expired
	)
	cases := []struct {
		name  string
		level string
		// option is the statement's verifyTimestamp, given with a tsa
		// store; "" for none
		option trustpolicy.TimestampOption
		stamp  timestamped
		// times, from the start of the test: signing, the certificate's
		// expiry, the signature's (0: none), and the verification's
		signed, notAfter, expiry, now time.Duration
		// what is wanted: the rejection's kind and reason, or an accepted
		// signature's level, logged check and timestamp
		kind, reason      string
		wantLevel, logged string
		timestamped       bool
		wallClockRefuses  bool
	}{
		{name: "valid at now", level: strict, notAfter: time.Hour, now: 30 * time.Minute, wantLevel: strict},
		{name: "expired before the time of verification, valid at now", level: strict,
			signed: -30 * time.Minute, notAfter: -10 * time.Minute, now: -20 * time.Minute, wantLevel: strict, wallClockRefuses: true},
		{name: "before the certificate is valid", level: strict, notAfter: time.Hour, now: -2 * time.Hour,
			kind: evidence.FailureExpired, reason: "authenticTimestamp check failed: verification time is before certificate"},
		{name: "after the certificate expired", level: strict, notAfter: time.Hour, now: 2 * time.Hour,
			kind: evidence.FailureExpired, reason: "authenticTimestamp check failed: verification time is after certificate"},
		{name: "after the certificate expired, logged by an override", level: `{"level": "strict", "override": {"authenticTimestamp": "log"}}`,
			notAfter: time.Hour, now: 2 * time.Hour, wantLevel: "custom", logged: "authenticTimestamp: verification time is after certificate"},
		{name: "after the certificate expired, permissive", level: "permissive",
			notAfter: time.Hour, now: 2 * time.Hour, wantLevel: "permissive", logged: "authenticTimestamp: verification time is after certificate"},
		{name: "timestamped within the certificate's validity, verified after", level: strict, option: trustpolicy.OptionAfterCertExpiry, stamp: trusted,
			signed: -30 * time.Minute, notAfter: -10 * time.Minute, now: 2 * time.Hour, wantLevel: strict, timestamped: true},
		{name: "after the certificate expired, not timestamped", level: strict, option: trustpolicy.OptionAfterCertExpiry,
			notAfter: time.Hour, now: 2 * time.Hour, kind: evidence.FailureExpired, reason: "no timestamp countersignature"},
		{name: "timestamped by an untrusted TSA", level: strict, option: trustpolicy.OptionAfterCertExpiry, stamp: untrusted,
			notAfter: time.Hour, now: 2 * time.Hour, kind: evidence.FailureExpired, reason: "failed to verify the timestamp countersignature"},
		{name: "timestamped by a revoked TSA", level: strict, option: trustpolicy.OptionAfterCertExpiry, stamp: revoked,
			notAfter: time.Hour, now: 2 * time.Hour, kind: evidence.FailureExpired, reason: "is revoked"},
		{name: "timestamped after the certificate expired", level: strict, option: trustpolicy.OptionAfterCertExpiry, stamp: late,
			signed: -30 * time.Minute, notAfter: -10 * time.Minute, now: 2 * time.Hour, kind: evidence.FailureExpired, reason: "timestamp can be after certificate"},
		{name: "certificate valid at now, timestamp not asked for", level: strict, option: trustpolicy.OptionAfterCertExpiry, stamp: untrusted,
			notAfter: time.Hour, now: 30 * time.Minute, wantLevel: strict},
		{name: "timestamp always asked for", level: strict, option: trustpolicy.OptionAlways, stamp: trusted,
			notAfter: time.Hour, now: 30 * time.Minute, wantLevel: strict, timestamped: true},
		{name: "signature not yet expired", level: strict, notAfter: 3 * time.Hour, expiry: time.Hour, now: 59 * time.Minute, wantLevel: strict},
		{name: "signature expired", level: strict, notAfter: 3 * time.Hour, expiry: time.Hour, now: time.Hour,
			kind: evidence.FailureExpired, reason: "expiry check failed: digital signature has expired"},
		{name: "signature expired, permissive", level: "permissive", notAfter: 3 * time.Hour, expiry: time.Hour, now: 2 * time.Hour,
			wantLevel: "permissive", logged: "expiry: digital signature has expired"},
	}
	for _, c := range cases {
		for _, env := range envelopes {
			t.Run(c.name+"/"+env, func(t *testing.T) {
				start := time.Now().Truncate(time.Second)
				w := newWorld(t, true, c.level)
				var tsa *testTSA
				if c.option != "" {
					tsa = newTSA(t, "Acme TSA")
					w.trustTSA(t, tsa.root, c.option)
					tsa.at = start.Add(c.signed)
					switch c.stamp {
					case none:
						tsa = nil
					case untrusted:
						tsa = newTSA(t, "Other TSA")
						tsa.at = start.Add(c.signed)
					case revoked:
						tsa.revoked.Store(true)
					case late:
						tsa.at = start.Add(c.notAfter + time.Minute)
					}
				}
				var expiry time.Time
				if c.expiry != 0 {
					expiry = start.Add(c.expiry)
				}
				w.signAt(t, env, start.Add(c.signed), start.Add(c.notAfter), expiry, tsa)
				res := w.verifyAt(t, start.Add(c.now))
				if c.kind != "" {
					rj := onlyRejection(t, res)
					if rj.Kind != c.kind || !strings.Contains(rj.Reason, c.reason) {
						t.Fatalf("rejected as %s: %s; want %s containing %q", rj.Kind, rj.Reason, c.kind, c.reason)
					}
					return
				}
				if len(res.Signatures) != 1 || len(res.Rejected) != 0 {
					t.Fatalf("want one verified signature, got %+v", res)
				}
				got := res.Signatures[0]
				logged := strings.Join(got.Notation.Logged, "; ")
				if got.Notation.Level != c.wantLevel || (c.logged == "") != (logged == "") || !strings.Contains(logged, c.logged) {
					t.Errorf("level %q, logged %q; want %q, %q", got.Notation.Level, logged, c.wantLevel, c.logged)
				}
				if got.Notation.Timestamped != c.timestamped {
					t.Errorf("timestamped %v, want %v", got.Notation.Timestamped, c.timestamped)
				}
				if want := start.Add(c.signed - time.Second).UTC(); c.timestamped && (got.SigningTime == nil || !got.SigningTime.Equal(want)) {
					t.Errorf("signing time %v, want %v (the timestamp less its accuracy)", got.SigningTime, want)
				}
				if _, err := w.notationVerify(t); (err != nil) != c.wallClockRefuses {
					t.Errorf("notation-go, at the time of verification: %v", err)
				}
			})
		}
	}
}
