package sign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
)

// Annotations of keyless signatures in cosign's legacy layout.
const (
	legacyCertificateAnnot = "dev.sigstore.cosign/certificate"
	legacyChainAnnot       = "dev.sigstore.cosign/chain"
	legacyBundleAnnot      = "dev.sigstore.cosign/bundle"
)

type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	}
}

// keylessMaterial rebuilds a Sigstore v0.1 bundle's verification material
// (certificate chain, log entry with its signed entry timestamp) from the
// layer annotations cosign writes for keyless legacy signatures.
func keylessMaterial(annotations map[string]string) (*protobundle.VerificationMaterial, error) {
	var chain []*protocommon.X509Certificate
	for _, pemText := range []string{annotations[legacyCertificateAnnot], annotations[legacyChainAnnot]} {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(pemText))
		if err != nil {
			return nil, fmt.Errorf("certificate annotation: %w", err)
		}
		for _, c := range certs {
			chain = append(chain, &protocommon.X509Certificate{RawBytes: c.Raw})
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	var rb rekorBundle
	if err := json.Unmarshal([]byte(annotations[legacyBundleAnnot]), &rb); err != nil {
		return nil, fmt.Errorf("no valid log bundle annotation: %w", err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, fmt.Errorf("log bundle body: %w", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, fmt.Errorf("log bundle log ID: %w", err)
	}
	var kind struct{ APIVersion, Kind string }
	if err := json.Unmarshal(body, &kind); err != nil {
		return nil, fmt.Errorf("log entry body: %w", err)
	}
	return &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{Certificates: chain}},
		TlogEntries: []*protorekor.TransparencyLogEntry{{
			LogIndex: rb.Payload.LogIndex, LogId: &protocommon.LogId{KeyId: logID},
			KindVersion:    &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
			IntegratedTime: rb.Payload.IntegratedTime, InclusionPromise: &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
			CanonicalizedBody: body,
		}},
	}, nil
}

const bundleV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// legacyMessageBundle is a keyless simple-signing signature as a bundle.
func legacyMessageBundle(annotations map[string]string, payload, sig []byte) (*sgbundle.Bundle, error) {
	vm, err := keylessMaterial(annotations)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	return sgbundle.NewBundle(&protobundle.Bundle{
		MediaType:            bundleV01,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]}, Signature: sig,
		}},
	})
}

// LegacyDSSEBundle turns a DSSE envelope from cosign's legacy .att layout
// (with, for keyless attestations, the certificate and log bundle in the
// layer annotations) into a Sigstore bundle for the usual verification.
func LegacyDSSEBundle(envelopeJSON []byte, annotations map[string]string) ([]byte, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(envelopeJSON, &env); err != nil || len(env.Signatures) == 0 {
		return nil, invalid("not a signed DSSE envelope")
	}
	pe := &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType}
	for _, s := range env.Signatures {
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	pb := &protobundle.Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: env.Signatures[0].KeyID}}},
		Content:              &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe},
	}
	if annotations[legacyCertificateAnnot] != "" {
		vm, err := keylessMaterial(annotations)
		if err != nil {
			return nil, invalid("%v", err)
		}
		pb.MediaType, pb.VerificationMaterial = bundleV01, vm
	}
	return protojson.Marshal(pb)
}
