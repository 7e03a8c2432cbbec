package testutil

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
)

// KeylessBundle signs an in-toto statement as identity/issuer with
// sigstore-go's offline Fulcio-like CA, Rekor-like log and TSA, and returns
// the Sigstore bundle v0.3 JSON; withProof false leaves out the log entry
// and the timestamp.
func KeylessBundle(t testing.TB, vs *ca.VirtualSigstore, statement []byte, identity, issuer string, withProof bool) []byte {
	t.Helper()
	ent, err := vs.AttestAtTime(identity, issuer, statement, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	cert := vc.(*sgbundle.Certificate).Certificate()
	sc, _ := ent.SignatureContent()
	env := sc.(*sgbundle.Envelope).Envelope
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	b := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{}
	if withProof {
		entries, _ := ent.TlogEntries()
		for _, e := range entries {
			tle := e.TransparencyLogEntry()
			var body struct{ APIVersion, Kind string }
			if err := json.Unmarshal(tle.CanonicalizedBody, &body); err != nil {
				t.Fatal(err)
			}
			tle.KindVersion = &protorekor.KindVersion{Kind: body.Kind, Version: body.APIVersion}
			b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
		}
		ts, _ := ent.Timestamps()
		tvd := &protobundle.TimestampVerificationData{}
		for _, raw := range ts {
			tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: raw})
		}
		b.VerificationMaterial.TimestampVerificationData = tvd
	}
	data, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TrustedRootJSON writes the offline CA, log and TSA as a Sigstore trusted
// root, the file `--trusted-root` takes.
func TrustedRootJSON(t testing.TB, vs *ca.VirtualSigstore) []byte {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), vs.CTLogs(), vs.TimestampingAuthorities(), rawLogIDs(vs))
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
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

// LegacyKeylessAnnotations signs payload as identity/issuer with the
// offline CA and log and returns the annotations cosign's legacy layout
// puts on the signature layer: signature, certificate and Rekor bundle.
func LegacyKeylessAnnotations(t testing.TB, vs *ca.VirtualSigstore, payload []byte, identity, issuer string) map[string]string {
	t.Helper()
	ent, err := vs.SignAtTime(identity, issuer, payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	cert := vc.(*sgbundle.Certificate).Certificate()
	sc, _ := ent.SignatureContent()
	sig := sc.(*sgbundle.MessageSignature).Signature()
	entries, _ := ent.TlogEntries()
	tle := entries[0].TransparencyLogEntry()
	rekorPayload := tlog.RekorPayload{
		Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), IntegratedTime: tle.IntegratedTime,
		LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId),
	}
	set, err := vs.RekorSignPayload(rekorPayload)
	if err != nil {
		t.Fatal(err)
	}
	rekorBundle, err := json.Marshal(map[string]any{"SignedEntryTimestamp": set, "Payload": rekorPayload})
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return map[string]string{
		"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig),
		"dev.sigstore.cosign/certificate":    string(certPEM),
		"dev.sigstore.cosign/chain":          "",
		"dev.sigstore.cosign/bundle":         string(rekorBundle),
	}
}
