package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
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
	layer := static.NewLayer(raw, SimpleSigningMediaType)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: map[string]string{
		legacySignatureAnnot: base64.StdEncoding.EncodeToString(sig),
	}})
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img, ropts...); err != nil {
		return "", fmt.Errorf("writing %s: %w", tag, err)
	}
	return tag.String(), nil
}

// VerifyLegacy checks the signatures under subject's .sig tag with the key.
func VerifyLegacy(ctx context.Context, subject name.Digest, pub crypto.PublicKey, reg oci.RegistryOptions) ([]Verified, []error, error) {
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("legacy signatures: %T keys are not supported", pub)
	}
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
	hint, _ := KeyHint(pub)
	var verified []Verified
	var failures []error
	for _, d := range m.Layers {
		if d.MediaType != SimpleSigningMediaType {
			continue
		}
		v, err := verifyLegacyLayer(img, d, subject, ecPub)
		if err != nil {
			failures = append(failures, fmt.Errorf("%s layer %s: %w", tag, d.Digest, err))
			continue
		}
		v.Identity, v.Referrer = "key "+hint, tag.String()
		verified = append(verified, *v)
	}
	return verified, failures, nil
}

func verifyLegacyLayer(img v1.Image, d v1.Descriptor, subject name.Digest, pub *ecdsa.PublicKey) (*Verified, error) {
	sig, err := base64.StdEncoding.DecodeString(d.Annotations[legacySignatureAnnot])
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: missing or malformed signature annotation", ErrInvalid)
	}
	layer, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	payload, err := io.ReadAll(io.LimitReader(rc, maxBundleSize))
	rc.Close()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return nil, fmt.Errorf("%w: ECDSA signature over the payload fails", ErrInvalid)
	}
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil || ss.Critical.Type != simpleSigningType {
		return nil, fmt.Errorf("%w: not a cosign simple-signing payload", ErrInvalid)
	}
	if ss.Critical.Image.DockerManifestDigest != subject.DigestStr() {
		return nil, fmt.Errorf("%w: it names %s, not %s", ErrDigestMismatch, ss.Critical.Image.DockerManifestDigest, subject.DigestStr())
	}
	return &Verified{Digest: subject.DigestStr(), PredicateType: simpleSigningType, Statement: payload}, nil
}
