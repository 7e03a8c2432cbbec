package notation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/notaryproject/notation-core-go/signature"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/veraison/go-cose"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Attacks on the checks dossier makes at the caller's clock (clock.go)
// in notation-go's stead: expiry, the signing chain's validity and the
// RFC 3161 timestamp. Whoever pushes signatures controls the unsigned
// parts of an envelope (the timestamp countersignature among them) and
// any timestamp token; the trust policy and stores are the defender's.
// Each case judged at the time of verification is also verified by
// notation-go with the original policy: dossier must agree with it.

// clockBench is a signing root trusted as ca:acme and
// signingAuthority:acme, a TSA trusted as tsa:acme-tsa by the statement
// for registry.example/app, another trusted as tsa:other-tsa only by the
// "*" statement, and the manifest signatures are made for.
type clockBench struct {
	start      time.Time
	root       *x509.Certificate
	rootKey    *ecdsa.PrivateKey
	tsa, other *testTSA
	target     ocispec.Descriptor
}

const benchReference = "registry.example/app"

func newClockBench(t testing.TB) *clockBench {
	t.Helper()
	b := &clockBench{start: time.Now().Truncate(time.Second), rootKey: newKey(t)}
	b.root = certify(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "Acme Signing Root", Organization: []string{"Acme"}},
		NotBefore: b.start.Add(-72 * time.Hour), NotAfter: b.start.Add(72 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1,
	}, nil, b.rootKey, b.rootKey)
	b.tsa = b.newTSA(t, "Acme TSA", nil, -48*time.Hour, 48*time.Hour, nil)
	b.other = b.newTSA(t, "Other TSA", nil, -48*time.Hour, 48*time.Hour, nil)
	b.target = toOCI(oci.Descriptor(types.OCIManifestSchema1, []byte(`{"schemaVersion":2}`)))
	return b
}

// newTSA is a TSA whose certificate is valid over [from, to) of start,
// issued by parent's root (nil: a root of its own); leaf may change the
// certificate's template (by default: digital signature, the one critical
// extended key usage time stamping, no revocation address).
func (b *clockBench) newTSA(t testing.TB, name string, parent *testTSA, from, to time.Duration, leaf func(*x509.Certificate)) *testTSA {
	t.Helper()
	s := &testTSA{key: newKey(t)}
	if parent != nil {
		s.root, s.rootKey = parent.root, parent.rootKey
	} else {
		s.rootKey = newKey(t)
		s.root = certify(t, &x509.Certificate{
			Subject:   pkix.Name{CommonName: name + " Root", Organization: []string{"Acme"}},
			NotBefore: b.start.Add(-72 * time.Hour), NotAfter: b.start.Add(72 * time.Hour),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true, IsCA: true,
		}, nil, s.rootKey, s.rootKey)
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: name, Organization: []string{"Acme"}},
		NotBefore: b.start.Add(from), NotAfter: b.start.Add(to),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtraExtensions:       []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
		BasicConstraintsValid: true,
	}
	if leaf != nil {
		leaf(tmpl)
	}
	s.cert = certify(t, tmpl, s.root, s.key, s.rootKey)
	return s
}

// issuedBySigningRoot is the signing root as a TSA's parent.
func (b *clockBench) issuedBySigningRoot() *testTSA {
	return &testTSA{root: b.root, rootKey: b.rootKey}
}

// config is a trust configuration whose "app" statement, for
// registry.example/app, verifies at sv (a signatureVerification object)
// with stores (a JSON list); the "*" statement trusts the other TSA.
func (b *clockBench) config(t testing.TB, sv, stores string) *trust.Config {
	t.Helper()
	doc, err := trust.ParsePolicy(fmt.Appendf(nil, `{"version": "1.0", "trustPolicies": [
  {"name": "app", "registryScopes": [%q], "signatureVerification": %s, "trustStores": %s, "trustedIdentities": ["*"]},
  {"name": "rest", "registryScopes": ["*"], "signatureVerification": {"level": "strict", "verifyTimestamp": "afterCertExpiry"},
   "trustStores": ["ca:acme", "tsa:other-tsa"], "trustedIdentities": ["*"]}]}`, benchReference, sv, stores))
	if err != nil {
		t.Fatal(err)
	}
	all := map[trust.Store][]*x509.Certificate{
		{Type: "ca", Name: "acme"}:               {b.root},
		{Type: "signingAuthority", Name: "acme"}: {b.root},
		{Type: "tsa", Name: "acme-tsa"}:          {b.tsa.root},
		{Type: "tsa", Name: "other-tsa"}:         {b.other.root},
	}
	stored := map[trust.Store][]*x509.Certificate{}
	for _, s := range trust.Named(doc) {
		stored[s] = all[s]
	}
	cfg, err := trust.New(doc, stored)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sigSpec describes an envelope by the release identity.
type sigSpec struct {
	// the signing certificate's validity and the signing time, from start
	from, to, signed time.Duration
	// the signature's expiry, from start (0: none)
	expiry time.Duration
	// authority signs under notary.x509.signingAuthority
	authority bool
	// untrusted: the certificate is issued by a root of the same name
	// that no trust store holds
	untrusted bool
	// token is the timestamp countersignature put in the envelope's
	// unsigned attributes, given the signature it should cover (nil: none)
	token func(t testing.TB, b *clockBench, mediaType string, sig []byte) []byte
}

func (b *clockBench) leaf(t testing.TB, from, to time.Duration, untrusted bool) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	root, rootKey := b.root, b.rootKey
	if untrusted {
		rootKey = newKey(t)
		root = certify(t, &x509.Certificate{
			Subject:   pkix.Name{CommonName: "Acme Signing Root", Organization: []string{"Acme"}},
			NotBefore: b.start.Add(-72 * time.Hour), NotAfter: b.start.Add(72 * time.Hour),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1,
		}, nil, rootKey, rootKey)
	}
	k := newKey(t)
	c := certify(t, &x509.Certificate{
		Subject:   testutil.NotationRelease,
		NotBefore: b.start.Add(from), NotAfter: b.start.Add(to),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}, root, k, rootKey)
	return k, []*x509.Certificate{c, root}
}

// envelope makes s as mediaType over b's target; key is its signing key.
func (b *clockBench) envelope(t testing.TB, mediaType string, s sigSpec) (blob []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	key, chain := b.leaf(t, s.from, s.to, s.untrusted)
	signer, err := signature.NewLocalSigner(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(map[string]any{"targetArtifact": b.target})
	if err != nil {
		t.Fatal(err)
	}
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:        signer,
		SigningTime:   b.start.Add(s.signed),
		SigningScheme: signature.SigningSchemeX509,
	}
	if s.expiry != 0 {
		req.Expiry = b.start.Add(s.expiry)
	}
	if s.authority {
		req.SigningScheme = signature.SigningSchemeX509SigningAuthority
	}
	env, err := signature.NewEnvelope(mediaType)
	if err != nil {
		t.Fatal(err)
	}
	if blob, err = env.Sign(req); err != nil {
		t.Fatal(err)
	}
	if s.token != nil {
		blob = withToken(t, mediaType, blob, s.token(t, b, mediaType, signatureOf(t, mediaType, blob)))
	}
	return blob, key
}

// signatureOf is the signature value an envelope's timestamp must cover.
func signatureOf(t testing.TB, mediaType string, blob []byte) []byte {
	t.Helper()
	env, err := signature.ParseEnvelope(mediaType, blob)
	if err != nil {
		t.Fatal(err)
	}
	content, err := env.Content()
	if err != nil {
		t.Fatal(err)
	}
	return content.SignerInfo.Signature
}

// withToken puts token in blob's unsigned header as its timestamp
// countersignature, as anyone who can push may.
func withToken(t testing.TB, mediaType string, blob, token []byte) []byte {
	t.Helper()
	const label = "io.cncf.notary.timestampSignature"
	switch mediaType {
	case evidence.NotationJWS:
		var env map[string]json.RawMessage
		if err := json.Unmarshal(blob, &env); err != nil {
			t.Fatal(err)
		}
		var header map[string]any
		if err := json.Unmarshal(env["header"], &header); err != nil {
			t.Fatal(err)
		}
		header[label] = token
		var err error
		if env["header"], err = json.Marshal(header); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case evidence.NotationCOSE:
		var msg cose.Sign1Message
		if err := msg.UnmarshalCBOR(blob); err != nil {
			t.Fatal(err)
		}
		msg.Headers.RawUnprotected = nil
		msg.Headers.Unprotected[label] = token
		out, err := msg.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("envelope type %s", mediaType)
	return nil
}

// resignJWS signs a JWS envelope again with key after mutate changed its
// protected header: what a key holder can claim.
func resignJWS(t *testing.T, blob []byte, key *ecdsa.PrivateKey, mutate func(map[string]any)) []byte {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(blob, &raw); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, k := range []string{"payload", "protected", "signature"} {
		var s string
		if err := json.Unmarshal(raw[k], &s); err != nil {
			t.Fatal(err)
		}
		env[k] = s
	}
	protected, err := base64.RawURLEncoding.DecodeString(env["protected"])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(protected, &header); err != nil {
		t.Fatal(err)
	}
	mutate(header)
	if protected, err = json.Marshal(header); err != nil {
		t.Fatal(err)
	}
	env["protected"] = base64.RawURLEncoding.EncodeToString(protected)
	digest := sha256.Sum256([]byte(env["protected"] + "." + env["payload"]))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	env["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	for k, v := range env {
		if raw[k], err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	out, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stamp is s's timestamp token over message stating at.
func stamp(t testing.TB, s *testTSA, message []byte, at time.Time) []byte {
	t.Helper()
	req, err := tspclient.NewRequest(tspclient.RequestOptions{Content: message, HashAlgorithm: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	s.at = at
	resp, err := s.Timestamp(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.TimestampToken.FullBytes
}

// stampedBy is a countersignature over the signature by the TSA tsa
// gives, stating start+at.
func stampedBy(tsa func(t testing.TB, b *clockBench) *testTSA, at time.Duration) func(testing.TB, *clockBench, string, []byte) []byte {
	return func(t testing.TB, b *clockBench, _ string, sig []byte) []byte {
		return stamp(t, tsa(t, b), sig, b.start.Add(at))
	}
}

func trustedTSA(_ testing.TB, b *clockBench) *testTSA { return b.tsa }

func otherTSA(_ testing.TB, b *clockBench) *testTSA { return b.other }

// tsaLeaf is a TSA under the trusted TSA root whose certificate is
// changed by leaf.
func tsaLeaf(leaf func(*x509.Certificate)) func(t testing.TB, b *clockBench) *testTSA {
	return func(t testing.TB, b *clockBench) *testTSA {
		return b.newTSA(t, "Acme TSA 2", b.tsa, -48*time.Hour, 48*time.Hour, leaf)
	}
}

// judge is dossier's verdict on blob for registry.example/app at now.
func (b *clockBench) judge(t testing.TB, cfg *trust.Config, mediaType string, blob []byte, now time.Time) (*evidence.VerifiedSignature, *evidence.RejectedSignature) {
	t.Helper()
	v, err := NewVerifier(cfg, Options{RevocationTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reference := benchReference + "@" + b.target.Digest.String()
	statement, level, err := cfg.Statement(reference)
	if err != nil {
		t.Fatal(err)
	}
	return v.judge(context.Background(), statement, level, reference, b.target, ocispec.Descriptor{Digest: b.target.Digest}, mediaType, blob, now)
}

// notationGo is notation-go's own verdict on blob with the original trust
// policy, at the time of verification.
func (b *clockBench) notationGo(t testing.TB, cfg *trust.Config, mediaType string, blob []byte) error {
	t.Helper()
	v, err := verifier.New(cfg.Policy(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), b.target, blob, notationgo.VerifierVerifyOptions{
		ArtifactReference: benchReference + "@" + b.target.Digest.String(), SignatureMediaType: mediaType})
	return err
}

const (
	storesCA      = `["ca:acme"]`
	storesCATSA   = `["ca:acme", "tsa:acme-tsa"]`
	storesSA      = `["signingAuthority:acme"]`
	storesSATSA   = `["signingAuthority:acme", "tsa:acme-tsa"]`
	levelStrict   = `{"level": "strict"}`
	afterExpiry   = `{"level": "strict", "verifyTimestamp": "afterCertExpiry"}`
	hour          = time.Hour
	expiredLeafTo = -hour
)

// expiredLeaf: a certificate valid from 3 to 1 hours ago, signed with 2
// hours ago.
var expiredLeaf = sigSpec{from: -3 * hour, to: expiredLeafTo, signed: -2 * hour}

func (s sigSpec) with(f func(*sigSpec)) sigSpec { f(&s); return s }

func TestAttackClock(t *testing.T) {
	stampedAt := func(at time.Duration) func(*sigSpec) {
		return func(s *sigSpec) { s.token = stampedBy(trustedTSA, at) }
	}
	closedURL := func(t testing.TB) string {
		srv := httptest.NewServer(nil)
		srv.Close()
		return srv.URL + "/tsa.crl"
	}
	cases := []struct {
		name, sv, stores string
		sig              sigSpec
		// resign changes the protected header, which the key then signs
		// again (JWS only: jwsOnly)
		jwsOnly bool
		resign  func(map[string]any)
		// the verification's time, from start; at 0 notation-go, at the
		// time of verification, must agree
		now time.Duration
		// refused: the rejection's reason contains it; "" for accepted
		refused string
		// an accepted signature's recorded signing time, from start: by
		// a timestamp (timestamped) or a signingAuthority's signed time
		recorded    *time.Duration
		timestamped bool
		logged      string
	}{
		// the legitimate cases
		{name: "valid now, no timestamp", sv: levelStrict, stores: storesCA, sig: sigSpec{from: -hour, to: hour}},
		{name: "expired, stamped within its validity by the trusted TSA", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(stampedAt(-2 * hour)), recorded: ptr(-2*hour - time.Second), timestamped: true},
		{name: "expired, stamped by a TSA valid then, expired by the clock", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(tsaLeaf(func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(49 * hour) }), -2*hour)
			}), now: 2 * hour, recorded: ptr(-2*hour - time.Second), timestamped: true},

		// timestamps that must not count
		{name: "expired, no timestamp, no tsa store", sv: levelStrict, stores: storesCA, sig: expiredLeaf,
			refused: "authenticTimestamp check failed: verification time is after certificate"},
		{name: "expired, no timestamp", sv: afterExpiry, stores: storesCATSA, sig: expiredLeaf,
			refused: "no timestamp countersignature"},
		{name: "expired, a timestamp of another signature", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = func(t testing.TB, b *clockBench, mediaType string, _ []byte) []byte {
					other, _ := b.envelope(t, mediaType, expiredLeaf)
					return stamp(t, b.tsa, signatureOf(t, mediaType, other), b.start.Add(-2*hour))
				}
			}), refused: "failed to get timestamp from timestamp countersignature"},
		{name: "expired, a timestamp of the payload", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = func(t testing.TB, b *clockBench, _ string, _ []byte) []byte {
					payload, _ := json.Marshal(map[string]any{"targetArtifact": b.target})
					return stamp(t, b.tsa, payload, b.start.Add(-2*hour))
				}
			}), refused: "failed to get timestamp from timestamp countersignature"},
		{name: "expired, stamped by a TSA only another statement trusts", sv: afterExpiry, stores: storesCATSA,
			sig:     expiredLeaf.with(func(s *sigSpec) { s.token = stampedBy(otherTSA, -2*hour) }),
			refused: "failed to verify the timestamp countersignature"},
		{name: "expired, stamped by a TSA only another statement trusts, no tsa store", sv: afterExpiry, stores: storesCA,
			sig:     expiredLeaf.with(func(s *sigSpec) { s.token = stampedBy(otherTSA, -2*hour) }),
			refused: "verification time is after certificate"},
		{name: "expired, stamped by a TSA the signing root issued", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(func(t testing.TB, b *clockBench) *testTSA {
					return b.newTSA(t, "Signing Root TSA", b.issuedBySigningRoot(), -48*hour, 48*hour, nil)
				}, -2*hour)
			}), refused: "failed to verify the timestamp countersignature"},
		{name: "expired, TSA certificate without extended key usage", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(tsaLeaf(func(c *x509.Certificate) { c.ExtraExtensions = nil }), -2*hour)
			}), refused: "failed to verify the timestamp countersignature"},
		{name: "expired, TSA extended key usage not critical", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(tsaLeaf(func(c *x509.Certificate) {
					c.ExtraExtensions, c.ExtKeyUsage = nil, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
				}), -2*hour)
			}), refused: "failed to verify the timestamp countersignature"},
		{name: "expired, TSA extended key usage time stamping and code signing", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(tsaLeaf(func(c *x509.Certificate) {
					eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}, {1, 3, 6, 1, 5, 5, 7, 3, 3}})
					c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
				}), -2*hour)
			}), refused: "failed to verify the timestamp countersignature"},
		{name: "expired, TSA certificate a CA", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(tsaLeaf(func(c *x509.Certificate) { c.IsCA, c.KeyUsage = true, c.KeyUsage|x509.KeyUsageCertSign }), -2*hour)
			}), refused: "failed to validate the timestamping certificate chain"},
		{name: "expired, TSA certificate not valid at the time it states", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = stampedBy(tsaLeaf(func(c *x509.Certificate) { c.NotBefore = c.NotBefore.Add(48*hour - 30*time.Minute) }), -2*hour)
			}), refused: "failed to verify the timestamp countersignature"},
		{name: "expired, TSA whose revocation status cannot be had", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = func(t testing.TB, b *clockBench, _ string, sig []byte) []byte {
					url := closedURL(t)
					tsa := b.newTSA(t, "Acme TSA 2", b.tsa, -48*hour, 48*hour, func(c *x509.Certificate) { c.CRLDistributionPoints = []string{url} })
					return stamp(t, tsa, sig, b.start.Add(-2*hour))
				}
			}), refused: "revocation status is unknown"},
		{name: "expired, stamped before the certificate was valid", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(stampedAt(-4 * hour)), refused: "timestamp can be before certificate"},
		{name: "expired, stamped just after it expired", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(stampedAt(expiredLeafTo + time.Second)), refused: "timestamp can be after certificate"},
		{name: "expired, not a timestamp token", sv: afterExpiry, stores: storesCATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.token = func(testing.TB, *clockBench, string, []byte) []byte { return []byte("not a token") }
			}), refused: "failed to parse timestamp countersignature"},
		{name: "valid, stamped always, the timestamp stripped", sv: levelStrict, stores: storesCATSA,
			sig: sigSpec{from: -hour, to: hour}, refused: "no timestamp countersignature"},
		{name: "valid, stamped always, by an untrusted TSA", sv: levelStrict, stores: storesCATSA,
			sig:     sigSpec{from: -hour, to: hour, token: stampedBy(otherTSA, 0)},
			refused: "failed to verify the timestamp countersignature"},

		// the signature's own expiry is judged at now, timestamp or not
		{name: "signature expired, stamped before it expired", sv: levelStrict, stores: storesCATSA,
			sig:     sigSpec{from: -hour, to: hour, signed: -50 * time.Minute, expiry: -10 * time.Minute, token: stampedBy(trustedTSA, -50*time.Minute)},
			refused: "expiry check failed: digital signature has expired"},
		{name: "signature not expired, stamped", sv: levelStrict, stores: storesCATSA,
			sig:      sigSpec{from: -hour, to: hour, signed: -50 * time.Minute, expiry: 10 * time.Minute, token: stampedBy(trustedTSA, -50*time.Minute)},
			recorded: ptr(-50*time.Minute - time.Second), timestamped: true},

		// levels and overrides: the statement's own actions
		{name: "expired, authenticity only logged", sv: `{"level": "strict", "override": {"authenticity": "log"}}`, stores: storesCA,
			sig: expiredLeaf, refused: "authenticTimestamp check failed"},
		{name: "expired, revocation skipped", sv: `{"level": "strict", "override": {"revocation": "skip"}}`, stores: storesCA,
			sig: expiredLeaf, refused: "authenticTimestamp check failed"},
		{name: "expired, permissive enforcing authenticTimestamp", sv: `{"level": "permissive", "override": {"authenticTimestamp": "enforce"}}`, stores: storesCA,
			sig: expiredLeaf, refused: "authenticTimestamp check failed"},
		{name: "expired, audit enforcing authenticTimestamp", sv: `{"level": "audit", "override": {"authenticTimestamp": "enforce"}}`, stores: storesCA,
			sig: expiredLeaf, refused: "authenticTimestamp check failed"},
		{name: "signature expired, permissive enforcing expiry", sv: `{"level": "permissive", "override": {"expiry": "enforce"}}`, stores: storesCA,
			sig: sigSpec{from: -hour, to: hour, signed: -30 * time.Minute, expiry: -time.Minute}, refused: "expiry check failed"},
		{name: "signature expired, audit enforcing expiry", sv: `{"level": "audit", "override": {"expiry": "enforce"}}`, stores: storesCA,
			sig: sigSpec{from: -hour, to: hour, signed: -30 * time.Minute, expiry: -time.Minute}, refused: "expiry check failed"},
		{name: "expired, permissive", sv: `{"level": "permissive"}`, stores: storesCA,
			sig: expiredLeaf, logged: "authenticTimestamp: verification time is after certificate"},
		{name: "expired, permissive, stamped by an untrusted TSA: not recorded as timestamped", sv: `{"level": "permissive", "verifyTimestamp": "afterCertExpiry"}`, stores: storesCATSA,
			sig:    expiredLeaf.with(func(s *sigSpec) { s.token = stampedBy(otherTSA, -2*hour) }),
			logged: "authenticTimestamp: failed to verify the timestamp countersignature"},

		// signing schemes: the signed signing time counts only under
		// signingAuthority
		{name: "signingAuthority, expired, signed within its validity", sv: levelStrict, stores: storesSA,
			sig: expiredLeaf.with(func(s *sigSpec) { s.authority = true }), recorded: ptr(-2 * hour)},
		{name: "signingAuthority, a timestamp is no matter", sv: afterExpiry, stores: storesSATSA,
			sig: expiredLeaf.with(func(s *sigSpec) {
				s.authority = true
				s.token = func(testing.TB, *clockBench, string, []byte) []byte { return []byte("not a token") }
			}), recorded: ptr(-2 * hour)},
		{name: "signingAuthority, claims a signing time after its certificate expired", sv: levelStrict, stores: storesSA,
			sig: expiredLeaf.with(func(s *sigSpec) { s.authority = true }), jwsOnly: true,
			resign: func(h map[string]any) {
				h["io.cncf.notary.authenticSigningTime"] = time.Now().Add(-30 * time.Minute).Format(time.RFC3339)
			}, refused: "was not valid when the digital signature was produced"},
		{name: "signingAuthority, claims a signing time before its certificate", sv: levelStrict, stores: storesSA,
			sig: expiredLeaf.with(func(s *sigSpec) { s.authority = true }), jwsOnly: true,
			resign: func(h map[string]any) {
				h["io.cncf.notary.authenticSigningTime"] = time.Now().Add(-4 * hour).Format(time.RFC3339)
			}, refused: "was not valid when the digital signature was produced"},
		{name: "signingAuthority signature, only a ca store", sv: levelStrict, stores: storesCA,
			sig: expiredLeaf.with(func(s *sigSpec) { s.authority = true }), refused: "authenticity check failed"},
		{name: "notary.x509 signature, only a signingAuthority store", sv: levelStrict, stores: storesSA,
			sig: sigSpec{from: -hour, to: hour}, refused: "authenticity check failed"},
		{name: "notary.x509, expired, its signing time moved into validity", sv: levelStrict, stores: storesCA,
			sig: expiredLeaf, jwsOnly: true,
			resign: func(h map[string]any) {
				h["io.cncf.notary.signingTime"] = time.Now().Add(-2 * hour).Format(time.RFC3339)
			}, refused: "verification time is after certificate"},

		// audit only logs authenticity: what an untrusted signer claims is
		// not recorded as established
		{name: "audit, untrusted signingAuthority signer claiming a signing time", sv: `{"level": "audit"}`, stores: storesSA,
			sig:    expiredLeaf.with(func(s *sigSpec) { s.authority, s.untrusted = true, true }),
			logged: "authenticity: "},
		{name: "audit, untrusted signer stamped by the trusted TSA", sv: `{"level": "audit", "verifyTimestamp": "afterCertExpiry"}`, stores: storesCATSA,
			sig:    expiredLeaf.with(func(s *sigSpec) { s.untrusted = true; s.token = stampedBy(trustedTSA, -2*hour) }),
			logged: "authenticity: ", recorded: ptr(-2*hour - time.Second), timestamped: true},

		// the clock before the certificate
		{name: "not yet valid", sv: levelStrict, stores: storesCA,
			sig: sigSpec{from: hour, to: 2 * hour, signed: 90 * time.Minute}, refused: "verification time is before certificate"},
		{name: "not yet valid, stamped, afterCertExpiry", sv: afterExpiry, stores: storesCATSA,
			sig: sigSpec{from: hour, to: 2 * hour, signed: 90 * time.Minute, token: stampedBy(trustedTSA, 90*time.Minute)}, refused: "verification time is before certificate"},
		// under always the timestamp, not the clock, is what the chain is
		// judged at (notation's rule): a trusted TSA vouches for it
		{name: "not yet valid, stamped, always", sv: levelStrict, stores: storesCATSA,
			sig:      sigSpec{from: hour, to: 2 * hour, signed: 90 * time.Minute, token: stampedBy(trustedTSA, 90*time.Minute)},
			recorded: ptr(90*time.Minute - time.Second), timestamped: true},
		{name: "valid, judged at an earlier clock", sv: levelStrict, stores: storesCA,
			sig: sigSpec{from: -hour, to: hour}, now: -2 * hour, refused: "verification time is before certificate"},
		{name: "valid, judged at a later clock", sv: levelStrict, stores: storesCA,
			sig: sigSpec{from: -hour, to: hour}, now: 2 * hour, refused: "verification time is after certificate"},
		{name: "stamped, judged at a later clock: afterCertExpiry asks for the timestamp", sv: afterExpiry, stores: storesCATSA,
			sig: sigSpec{from: -hour, to: hour, token: stampedBy(otherTSA, 0)}, now: 2 * hour,
			refused: "failed to verify the timestamp countersignature"},
		{name: "signature expiring, judged at a later clock", sv: levelStrict, stores: storesCATSA,
			sig: sigSpec{from: -hour, to: 3 * hour, expiry: hour, token: stampedBy(trustedTSA, 0)}, now: hour,
			refused: "expiry check failed"},
	}
	for _, c := range cases {
		for _, mediaType := range envelopes {
			if c.jwsOnly && mediaType != evidence.NotationJWS {
				continue
			}
			t.Run(c.name+"/"+mediaType, func(t *testing.T) {
				b := newClockBench(t)
				blob, key := b.envelope(t, mediaType, c.sig)
				if c.resign != nil {
					blob = resignJWS(t, blob, key, c.resign)
				}
				cfg := b.config(t, c.sv, c.stores)
				sig, rejected := b.judge(t, cfg, mediaType, blob, b.start.Add(c.now))
				if c.now == 0 {
					if err := b.notationGo(t, cfg, mediaType, blob); (err == nil) != (sig != nil) {
						t.Errorf("notation-go, at the time of verification, says %v; dossier accepted %v", err, sig != nil)
					}
				}
				if c.refused != "" {
					if sig != nil {
						t.Fatalf("accepted: %+v", sig.Verification)
					}
					if !strings.Contains(rejected.Reason, c.refused) {
						t.Fatalf("refused as %s: %s; want a reason containing %q", rejected.Kind, rejected.Reason, c.refused)
					}
					return
				}
				if sig == nil {
					t.Fatalf("refused as %s: %s", rejected.Kind, rejected.Reason)
				}
				if sig.Notation.Timestamped != c.timestamped {
					t.Errorf("timestamped %v, want %v", sig.Notation.Timestamped, c.timestamped)
				}
				switch {
				case c.recorded == nil && sig.SigningTime != nil:
					t.Errorf("signing time %v recorded", sig.SigningTime)
				case c.recorded != nil && (sig.SigningTime == nil || !sig.SigningTime.Equal(b.start.Add(*c.recorded))):
					t.Errorf("signing time %v, want %v", sig.SigningTime, b.start.Add(*c.recorded))
				}
				logged := strings.Join(sig.Notation.Logged, "; ")
				if (c.logged == "") != (logged == "") || !strings.Contains(logged, c.logged) {
					t.Errorf("logged %q, want %q", logged, c.logged)
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Malformed timestamp countersignatures, and envelopes whose certificate
// chain was tampered with, are refused, never a panic.
func TestAttackClockMalformed(t *testing.T) {
	for _, mediaType := range envelopes {
		t.Run(mediaType, func(t *testing.T) {
			b := newClockBench(t)
			cfg := b.config(t, afterExpiry, storesCATSA)
			blob, _ := b.envelope(t, mediaType, expiredLeaf)
			good := stamp(t, b.tsa, signatureOf(t, mediaType, blob), b.start.Add(-2*hour))
			if sig, rj := b.judge(t, cfg, mediaType, withToken(t, mediaType, blob, good), b.start); sig == nil {
				t.Fatalf("the genuine timestamp: refused: %s", rj.Reason)
			}
			tokens := map[string][]byte{
				"empty sequence":    {0x30, 0x00},
				"indefinite length": {0x30, 0x80, 0x00, 0x00},
				"one byte":          {0x30},
				"huge length":       {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff},
				"nested empty":      {0x30, 0x03, 0x06, 0x01, 0x00},
				"a certificate":     b.tsa.cert.Raw,
				"the TSA root":      b.tsa.root.Raw,
			}
			for n := 1; n < len(good); n += 1 + n/8 {
				tokens[fmt.Sprintf("truncated to %d bytes", n)] = good[:n]
			}
			for i := 0; i < len(good); i += 3 {
				flipped := append([]byte(nil), good...)
				flipped[i] ^= 0x41
				tokens[fmt.Sprintf("byte %d changed", i)] = flipped
			}
			// a changed byte the TSA's signature does not cover (the digest
			// algorithm list, the signer identifier, which the signed
			// signing certificate attribute supersedes) may still verify,
			// but never states another time
			for name, token := range tokens {
				sig, _ := b.judge(t, cfg, mediaType, withToken(t, mediaType, blob, token), b.start)
				if sig != nil && (!sig.Notation.Timestamped || !sig.SigningTime.Equal(b.start.Add(-2*hour-time.Second))) {
					t.Errorf("%s: accepted, stating another time: %+v", name, sig.Verification)
				}
				if sig != nil && !strings.Contains(name, "changed") {
					t.Errorf("%s: accepted", name)
				}
			}
		})
	}
	// JWS carries the chain in its unsigned header: whoever pushes can
	// reorder, drop or repeat certificates
	b := newClockBench(t)
	cfg := b.config(t, afterExpiry, storesCATSA)
	blob, _ := b.envelope(t, evidence.NotationJWS, expiredLeaf.with(func(s *sigSpec) { s.token = stampedBy(trustedTSA, -2*hour) }))
	var env map[string]json.RawMessage
	if err := json.Unmarshal(blob, &env); err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(env["header"], &header); err != nil {
		t.Fatal(err)
	}
	if sig, rj := b.judge(t, cfg, evidence.NotationJWS, blob, b.start); sig == nil {
		t.Fatalf("the genuine chain: refused: %s", rj.Reason)
	}
	x5c := header["x5c"].([]any)
	other := b.newTSA(t, "Unrelated", nil, -hour, hour, nil)
	for name, chain := range map[string][]any{
		"none":                   {},
		"the leaf alone":         {x5c[0]},
		"the root alone":         {x5c[1]},
		"reversed":               {x5c[1], x5c[0]},
		"root repeated":          {x5c[0], x5c[1], x5c[1]},
		"an unrelated root last": {x5c[0], x5c[1], other.root.Raw},
		"not a certificate":      {x5c[0], "bm90IGEgY2VydGlmaWNhdGU="},
	} {
		header["x5c"] = chain
		h, err := json.Marshal(header)
		if err != nil {
			t.Fatal(err)
		}
		env["header"] = h
		tampered, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		if sig, _ := b.judge(t, cfg, evidence.NotationJWS, tampered, b.start); sig != nil {
			t.Errorf("chain %s: accepted", name)
		}
	}
}

// FuzzTimestampCountersignature: whatever timestamp token a pusher puts in
// a trusted signature's envelope (the statement asks for one always), it
// is refused or, if it verifies, it states the time the trusted TSA
// stated; never a panic.
func FuzzTimestampCountersignature(f *testing.F) {
	b := newClockBench(f)
	cfg := b.config(f, levelStrict, storesCATSA)
	blobs := map[string][]byte{}
	for i, mediaType := range envelopes {
		blobs[mediaType], _ = b.envelope(f, mediaType, sigSpec{from: -hour, to: hour})
		f.Add(uint8(i), stamp(f, b.tsa, signatureOf(f, mediaType, blobs[mediaType]), b.start))
	}
	f.Fuzz(func(t *testing.T, kind uint8, token []byte) {
		mediaType := envelopes[int(kind)%len(envelopes)]
		sig, rejected := b.judge(t, cfg, mediaType, withToken(t, mediaType, blobs[mediaType], token), b.start)
		if (sig == nil) == (rejected == nil) {
			t.Fatalf("judged %v and %v", sig, rejected)
		}
		if sig != nil && (!sig.Notation.Timestamped || sig.SigningTime == nil || !sig.SigningTime.Equal(b.start.Add(-time.Second))) {
			t.Fatalf("accepted, stating another time: %+v", sig.Verification)
		}
	})
}
