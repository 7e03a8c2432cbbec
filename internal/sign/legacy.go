package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dossier-dev/dossier/internal/oci"
)

// The legacy cosign layout: signatures as layers of an image tagged
// sha256-<hex>.sig, each a "simple signing" payload with the signature in
// an annotation.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	legacySignatureAnnot   = "dev.cosignproject.cosign/signature"
	simpleSigningType      = "cosign container image signature"
)

type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// LegacyTag is the tag of subject's legacy attachments with suffix
// ("sig", "att", "sbom").
func LegacyTag(subject name.Digest, suffix string) name.Tag {
	return subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1) + "." + suffix)
}

// SignLegacy signs subject in cosign's legacy layout, appending to the
// signatures already under its .sig tag.
func SignLegacy(ctx context.Context, subject name.Digest, kp *KeyPair, annotations map[string]any, reg oci.RegistryOptions) (string, error) {
	var payload simpleSigning
	payload.Critical.Identity.DockerReference = subject.Context().Name()
	payload.Critical.Image.DockerManifestDigest = subject.DigestStr()
	payload.Critical.Type = simpleSigningType
	if len(annotations) > 0 {
		payload.Optional = annotations
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	sig, _, err := kp.SignData(ctx, raw)
	if err != nil {
		return "", err
	}
	return AppendLegacySignature(ctx, subject, raw, map[string]string{legacySignatureAnnot: base64.StdEncoding.EncodeToString(sig)}, reg)
}

// SimpleSigningPayload is the payload cosign's legacy layout signs for
// subject.
func SimpleSigningPayload(subject name.Digest) ([]byte, error) {
	var payload simpleSigning
	payload.Critical.Identity.DockerReference = subject.Context().Name()
	payload.Critical.Image.DockerManifestDigest = subject.DigestStr()
	payload.Critical.Type = simpleSigningType
	return json.Marshal(payload)
}

// AppendLegacySignature adds a signed payload layer with its annotations
// (signature, and for keyless signatures certificate and log bundle) to
// the image under subject's .sig tag.
func AppendLegacySignature(ctx context.Context, subject name.Digest, payload []byte, annotations map[string]string, reg oci.RegistryOptions) (string, error) {
	ropts := reg.Remote(ctx)
	tag := LegacyTag(subject, "sig")
	base, err := remote.Image(tag, ropts...)
	if err != nil {
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != 404 {
			return "", fmt.Errorf("reading %s: %w", tag, err)
		}
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	layer := static.NewLayer(payload, SimpleSigningMediaType)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: annotations})
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img, ropts...); err != nil {
		return "", fmt.Errorf("writing %s: %w", tag, err)
	}
	return tag.String(), nil
}

// Annotations of keyless signatures in the legacy layout.
const (
	legacyCertificateAnnot = "dev.sigstore.cosign/certificate"
	legacyChainAnnot       = "dev.sigstore.cosign/chain"
	legacyBundleAnnot      = "dev.sigstore.cosign/bundle"
)

// VerifyLegacy checks the signatures under subject's .sig tag for the
// expected signer: with the key, or — keyless — the certificate, chain and
// Rekor bundle in the layer annotations through sigstore-go.
func VerifyLegacy(ctx context.Context, subject name.Digest, who Verifier, reg oci.RegistryOptions) ([]Verified, []error, error) {
	tag := LegacyTag(subject, "sig")
	img, err := remote.Image(tag, reg.Remote(ctx)...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == 404 {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, err
	}
	var verified []Verified
	var failures []error
	for _, d := range m.Layers {
		if d.MediaType != SimpleSigningMediaType {
			continue
		}
		_, keyless := d.Annotations[legacyCertificateAnnot]
		var v *Verified
		switch key := who.legacyKey(); {
		case key != nil:
			ecPub, ok := key.(*ecdsa.PublicKey)
			if !ok {
				return nil, nil, fmt.Errorf("legacy signatures: %T keys are not supported", key)
			}
			v, err = verifyLegacyLayer(img, d, subject, ecPub)
			if err == nil {
				v.Identity = who.describe()
			}
		case keyless:
			v, err = verifyLegacyKeyless(img, d, subject, who)
		default:
			continue // a key-based signature, not for an identity check
		}
		if err != nil {
			failures = append(failures, fmt.Errorf("%s layer %s: %w", tag, d.Digest, err))
			continue
		}
		v.Referrer = tag.String()
		verified = append(verified, *v)
	}
	return verified, failures, nil
}

// legacyPayload reads a layer's payload and decoded signature.
func legacyPayload(img v1.Image, d v1.Descriptor) ([]byte, []byte, error) {
	sig, err := base64.StdEncoding.DecodeString(d.Annotations[legacySignatureAnnot])
	if err != nil || len(sig) == 0 {
		return nil, nil, fmt.Errorf("%w: missing or malformed signature annotation", ErrInvalid)
	}
	layer, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	payload, err := io.ReadAll(io.LimitReader(rc, maxBundleSize))
	return payload, sig, err
}

// checkSimpleSigning parses a verified payload and checks its digest.
func checkSimpleSigning(payload []byte, subject name.Digest) error {
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil || ss.Critical.Type != simpleSigningType {
		return fmt.Errorf("%w: not a cosign simple-signing payload", ErrInvalid)
	}
	if ss.Critical.Image.DockerManifestDigest != subject.DigestStr() {
		return fmt.Errorf("%w: it names %s, not %s", ErrDigestMismatch, ss.Critical.Image.DockerManifestDigest, subject.DigestStr())
	}
	return nil
}

// verifyLegacyKeyless rebuilds a Sigstore v0.1 bundle (message signature,
// certificate chain, log entry with its signed entry timestamp) from the
// layer annotations and verifies it for the expected identity.
func verifyLegacyKeyless(img v1.Image, d v1.Descriptor, subject name.Digest, who Verifier) (*Verified, error) {
	payload, sig, err := legacyPayload(img, d)
	if err != nil {
		return nil, err
	}
	b, err := legacyBundle(d.Annotations, payload, sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	v, identity, err := who.sigstore()
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(payload)), identity))
	if err != nil {
		return nil, classify(err)
	}
	if err := checkSimpleSigning(payload, subject); err != nil {
		return nil, err
	}
	out := &Verified{Digest: subject.DigestStr(), PredicateType: simpleSigningType, Statement: payload}
	fillResult(out, res, b)
	return out, nil
}

type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	}
}

func legacyBundle(annotations map[string]string, payload, sig []byte) (*sgbundle.Bundle, error) {
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
	sum := sha256.Sum256(payload)
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{Certificates: chain}},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex: rb.Payload.LogIndex, LogId: &protocommon.LogId{KeyId: logID},
				KindVersion:    &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
				IntegratedTime: rb.Payload.IntegratedTime, InclusionPromise: &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
				CanonicalizedBody: body,
			}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]}, Signature: sig,
		}},
	}
	return sgbundle.NewBundle(pb)
}

func verifyLegacyLayer(img v1.Image, d v1.Descriptor, subject name.Digest, pub *ecdsa.PublicKey) (*Verified, error) {
	payload, sig, err := legacyPayload(img, d)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return nil, fmt.Errorf("%w: ECDSA signature over the payload fails", ErrInvalid)
	}
	if err := checkSimpleSigning(payload, subject); err != nil {
		return nil, err
	}
	return &Verified{Digest: subject.DigestStr(), PredicateType: simpleSigningType, Statement: payload}, nil
}

// DSSEMediaType is the layer media type of legacy .att attestations.
const DSSEMediaType = "application/vnd.dsse.envelope.v1+json"

// legacyAttestations turns the DSSE envelopes under subject's .att tag into
// Sigstore bundles (key hint, or certificate and log entry from the
// annotations), keyed by tag and layer, for the usual bundle verification.
func legacyAttestations(ctx context.Context, subject name.Digest, predicateType string, reg oci.RegistryOptions) (map[string][]byte, error) {
	tag := LegacyTag(subject, "att")
	img, err := remote.Image(tag, reg.Remote(ctx)...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == 404 {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, d := range m.Layers {
		if d.MediaType != DSSEMediaType {
			continue
		}
		if pt := d.Annotations["predicateType"]; predicateType != "" && pt != "" && pt != predicateType {
			continue
		}
		layer, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(rc, maxBundleSize))
		rc.Close()
		if err != nil {
			return nil, err
		}
		data, err := legacyDSSEBundle(raw, d.Annotations)
		if err != nil {
			return nil, fmt.Errorf("%s layer %s: %w", tag, d.Digest, err)
		}
		out[tag.String()+" "+d.Digest.String()] = data
	}
	return out, nil
}

func legacyDSSEBundle(envelopeJSON []byte, annotations map[string]string) ([]byte, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(envelopeJSON, &env); err != nil || len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: not a signed DSSE envelope", ErrInvalid)
	}
	pe := &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType}
	for _, s := range env.Signatures {
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: env.Signatures[0].KeyID}}},
		Content:              &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe},
	}
	if annotations[legacyCertificateAnnot] != "" {
		keyless, err := legacyBundle(annotations, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		pb.MediaType = keyless.GetMediaType()
		pb.VerificationMaterial = keyless.GetVerificationMaterial()
	}
	return protojson.Marshal(pb)
}
