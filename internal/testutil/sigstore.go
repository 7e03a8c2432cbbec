package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/go-openapi/swag"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1" // the entry kind legacy signatures log
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore is an offline Sigstore for tests: a Fulcio-like certificate
// authority whose certificates embed a signed certificate timestamp (SCT)
// from its own certificate-transparency log, as Fulcio's do, and
// sigstore-go's offline Rekor-like log and timestamp authority.
type Sigstore struct {
	VS    *ca.VirtualSigstore
	root  *x509.Certificate
	key   *ecdsa.PrivateKey
	ctKey *ecdsa.PrivateKey
}

// NewSigstore makes a new offline Sigstore.
func NewSigstore(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dossier test fulcio", Organization: []string{"dossier test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, _ := x509.ParseCertificate(der)
	return &Sigstore{VS: vs, root: rootCert, key: key, ctKey: ctKey}
}

// Fulcio's OIDC issuer certificate extensions: the current one (a DER
// string) and the older one (raw bytes), which Fulcio still writes and
// older verifiers read.
var (
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
)

// Issue makes a ten-minute code-signing certificate for pub naming
// identity and issuer; withSCT embeds an SCT from the CT log, signed over
// the precertificate as RFC 6962 describes.
func (s *Sigstore) Issue(t testing.TB, pub crypto.PublicKey, identity, issuer string, withSCT bool) *x509.Certificate {
	t.Helper()
	san, err := url.Parse(identity)
	if err != nil {
		t.Fatal(err)
	}
	issuerExt, _ := asn1.Marshal(issuer)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs: []*url.URL{san}, ExtraExtensions: []pkix.Extension{{Id: oidIssuerV1, Value: []byte(issuer)}, {Id: oidIssuerV2, Value: issuerExt}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.root, pub, s.key)
	if err != nil {
		t.Fatal(err)
	}
	if withSCT {
		// the log signs the certificate as it will be without the SCT list
		pre, _ := x509.ParseCertificate(der)
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTSCT), Value: s.sctList(t, pre.RawTBSCertificate)})
		if der, err = x509.CreateCertificate(rand.Reader, tmpl, s.root, pub, s.key); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (s *Sigstore) ctLogID() [32]byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.ctKey.PublicKey)
	return sha256.Sum256(der)
}

// sctList is the SCT list extension value for a precertificate TBS.
func (s *Sigstore) sctList(t testing.TB, tbs []byte) []byte {
	ts := uint64(time.Now().UnixMilli())
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: s.ctLogID()}, Timestamp: ts}
	leaf := ct.MerkleTreeLeaf{Version: ct.V1, LeafType: ct.TimestampedEntryLeafType, TimestampedEntry: &ct.TimestampedEntry{
		EntryType: ct.PrecertLogEntryType, Timestamp: ts,
		PrecertEntry: &ct.PreCert{IssuerKeyHash: sha256.Sum256(s.root.RawSubjectPublicKeyInfo), TBSCertificate: tbs},
	}}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: leaf})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, s.ctKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sct.Signature = ct.DigitallySigned{Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA}, Signature: sig}
	serialized, err := cttls.Marshal(sct)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cttls.Marshal(ctx509.SignedCertificateTimestampList{SCTList: []ctx509.SerializedSCT{{Val: serialized}}})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := asn1.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

// TrustedRoot is the CA, the CT log, and the offline log and TSA as a
// Sigstore trusted root.
func (s *Sigstore) TrustedRoot(t testing.TB) *root.TrustedRoot {
	t.Helper()
	authority := &root.FulcioCertificateAuthority{Root: s.root, ValidityPeriodStart: s.root.NotBefore, ValidityPeriodEnd: s.root.NotAfter, URI: "https://fulcio.test"}
	id := s.ctLogID()
	ctlogs := map[string]*root.TransparencyLog{hex.EncodeToString(id[:]): {
		BaseURL: "https://ctlog.test", ID: id[:], ValidityPeriodStart: s.root.NotBefore, HashFunc: crypto.SHA256,
		PublicKey: &s.ctKey.PublicKey, SignatureHashFunc: crypto.SHA256,
	}}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{authority}, ctlogs, s.VS.TimestampingAuthorities(), rawLogIDs(s.VS))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TrustedRootJSON is TrustedRoot as the file `--trusted-root` takes.
func (s *Sigstore) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	data, err := s.TrustedRoot(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// PEM encodings of the CA certificate and the CT log's public key.
func (s *Sigstore) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.root.Raw})
}

func (s *Sigstore) CTLogPublicKeyPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.ctKey.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// RekorPublicKeyPEM is the offline log's public key.
func (s *Sigstore) RekorPublicKeyPEM() []byte {
	for _, l := range s.VS.RekorLogs() {
		der, _ := x509.MarshalPKIXPublicKey(l.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	return nil
}

// KeylessBundle signs an in-toto statement as identity/issuer (an
// ephemeral key, a certificate with an SCT) and returns the Sigstore bundle
// v0.3 JSON; withProof adds a log entry (inclusion proof and signed entry
// timestamp) and an RFC 3161 timestamp, and false leaves both out.
func (s *Sigstore) KeylessBundle(t testing.TB, statement []byte, identity, issuer string, withProof bool) []byte {
	t.Helper()
	return s.keylessBundle(t, statement, identity, issuer, withProof, true)
}

// KeylessBundleWithoutSCT is KeylessBundle with a certificate that no CT
// log has seen.
func (s *Sigstore) KeylessBundleWithoutSCT(t testing.TB, statement []byte, identity, issuer string) []byte {
	t.Helper()
	return s.keylessBundle(t, statement, identity, issuer, true, false)
}

func (s *Sigstore) keylessBundle(t testing.TB, statement []byte, identity, issuer string, withProof, withSCT bool) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := s.Issue(t, &key.PublicKey, identity, issuer, withSCT)
	const payloadType = "application/vnd.in-toto+json"
	pae := dsse.PAE(payloadType, statement)
	digest := sha256.Sum256(pae)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: payloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	if withProof {
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		if err := (VirtualLog{VS: s.VS}).GetTransparencyLogEntry(t.Context(), certPEM, b); err != nil {
			t.Fatal(err)
		}
		stamp, err := s.VS.TimestampResponse(sig)
		if err != nil {
			t.Fatal(err)
		}
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: stamp}},
		}
	}
	data, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rawLogIDs returns the offline log with its key ID as raw bytes: the
// offline log names itself by the hex string, a trusted root file by bytes.
func rawLogIDs(vs *ca.VirtualSigstore) map[string]*root.TransparencyLog {
	logs := map[string]*root.TransparencyLog{}
	for id, l := range vs.RekorLogs() {
		copied := *l
		if raw, err := hex.DecodeString(string(l.ID)); err == nil {
			copied.ID = raw
		}
		logs[id] = &copied
	}
	return logs
}

// LegacyKeylessAnnotations signs payload as identity/issuer and returns the
// annotations cosign's legacy layout puts on the signature layer:
// signature, certificate (with an SCT) and Rekor bundle.
func (s *Sigstore) LegacyKeylessAnnotations(t testing.TB, payload []byte, identity, issuer string) map[string]string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := s.Issue(t, &key.PublicKey, identity, issuer, true)
	digest := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	// a hashedrekord entry, canonicalised by Rekor's own types
	proposed := &models.Hashedrekord{APIVersion: swag.String("0.0.1"), Spec: models.HashedrekordV001Schema{
		Data:      &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{Algorithm: swag.String("sha256"), Value: swag.String(hex.EncodeToString(digest[:]))}},
		Signature: &models.HashedrekordV001SchemaSignature{Content: sig, PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: certPEM}},
	}}
	impl, err := types.CreateVersionedEntry(proposed)
	if err != nil {
		t.Fatal(err)
	}
	body, err := types.CanonicalizeEntry(t.Context(), impl)
	if err != nil {
		t.Fatal(err)
	}
	logID, err := s.VS.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rekorPayload := tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: time.Now().Unix(), LogIndex: 0, LogID: logID}
	set, err := s.VS.RekorSignPayload(rekorPayload)
	if err != nil {
		t.Fatal(err)
	}
	rekorBundle, err := json.Marshal(map[string]any{"SignedEntryTimestamp": set, "Payload": rekorPayload})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig),
		"dev.sigstore.cosign/certificate":    string(certPEM),
		"dev.sigstore.cosign/chain":          string(s.CAPEM()),
		"dev.sigstore.cosign/bundle":         string(rekorBundle),
	}
}
