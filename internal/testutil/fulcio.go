package testutil

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Fulcio is a certificate authority on 127.0.0.1 that speaks Fulcio's
// /api/v2/signingCert for an offline Sigstore: it checks the proof of
// possession and issues the Sigstore's ten-minute certificate, with an
// SCT, naming the token's subject and issuer (the token's signature is not
// checked: it stands for the OIDC provider).
type Fulcio struct {
	URL string
	s   *Sigstore
	t   testing.TB
}

// StartFulcio runs a Fulcio-API CA for s.
func StartFulcio(t testing.TB, s *Sigstore) *Fulcio {
	t.Helper()
	f := &Fulcio{s: s, t: t}
	srv := httptest.NewServer(http.HandlerFunc(f.signingCert))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *Fulcio) signingCert(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/signingCert" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	claims, err := tokenClaims(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey         struct{ Content string }
			ProofOfPossession string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(req.PublicKeyRequest.PublicKey.Content))
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok {
		http.Error(w, "bad public key", http.StatusBadRequest)
		return
	}
	pop, _ := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	sum := sha256.Sum256([]byte(claims.Subject))
	if !ecdsa.VerifyASN1(ecPub, sum[:], pop) {
		http.Error(w, "proof of possession fails", http.StatusBadRequest)
		return
	}
	cert := f.s.Issue(f.t, ecPub, claims.Subject, claims.Issuer, true)
	der := cert.Raw
	leaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	rootPEM := string(f.s.CAPEM())
	_ = json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": []string{leaf, rootPEM}}}})
}

type claims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

func tokenClaims(token string) (claims, error) {
	var c claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errMalformedToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(raw, &c)
	return c, err
}

var errMalformedToken = &json.SyntaxError{}

// IDToken makes an (unsigned) OIDC token with subject and issuer.
func IDToken(subject, issuer string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body, _ := json.Marshal(map[string]any{"iss": issuer, "sub": subject, "aud": "sigstore", "exp": time.Now().Add(time.Hour).Unix()})
	return header + "." + enc.EncodeToString(body) + "." + enc.EncodeToString([]byte("unsigned"))
}

// VirtualLog is a transparency log backed by sigstore-go's offline log:
// it appends an entry with an inclusion proof for each bundle.
type VirtualLog struct{ VS *ca.VirtualSigstore }

// GetTransparencyLogEntry implements sigstore-go's sign.Transparency.
func (l VirtualLog) GetTransparencyLogEntry(_ context.Context, certPEM []byte, b *protobundle.Bundle) error {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return errMalformedToken
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	env := b.GetDsseEnvelope()
	sig := env.GetSignatures()[0].GetSig()
	e := &dsse.Envelope{PayloadType: env.GetPayloadType(), Payload: base64.StdEncoding.EncodeToString(env.GetPayload()),
		Signatures: []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}}
	integrated := time.Now().Unix()
	entry, err := l.VS.GenerateTlogEntry(cert, e, sig, integrated, true)
	if err != nil {
		return err
	}
	tle := entry.TransparencyLogEntry()
	// the signed entry timestamp, as a Rekor v1 log returns it, makes the
	// integrated time a verified signing time
	set, err := l.VS.RekorSignPayload(tlog.RekorPayload{
		Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), IntegratedTime: integrated,
		LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId),
	})
	if err != nil {
		return err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	var body struct{ APIVersion, Kind string }
	if err := json.Unmarshal(tle.CanonicalizedBody, &body); err != nil {
		return err
	}
	tle.KindVersion = &protorekor.KindVersion{Kind: body.Kind, Version: body.APIVersion}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
	return nil
}
