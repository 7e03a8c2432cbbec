package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
)

// cosign's legacy layout: signatures are layers of an image tagged
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

// SimpleSigningPayload is the payload cosign's legacy layout signs for a
// digest of repository, with optional annotations.
func SimpleSigningPayload(repository string, digest v1.Hash, annotations map[string]any) ([]byte, error) {
	var payload simpleSigning
	payload.Critical.Identity.DockerReference = repository
	payload.Critical.Image.DockerManifestDigest = digest.String()
	payload.Critical.Type = simpleSigningType
	if len(annotations) > 0 {
		payload.Optional = annotations
	}
	return json.Marshal(payload)
}

// SignLegacy signs subject with kp in cosign's legacy layout, appending to
// the signatures already under its .sig tag, and returns the tag.
func SignLegacy(ctx context.Context, repo oci.Repository, subject v1.Hash, kp *KeyPair, annotations map[string]any) (string, error) {
	payload, err := SimpleSigningPayload(repo.Name(), subject, annotations)
	if err != nil {
		return "", err
	}
	sig, _, err := kp.SignData(ctx, payload)
	if err != nil {
		return "", err
	}
	return AppendLegacySignature(ctx, repo, subject, payload, map[string]string{legacySignatureAnnot: base64.StdEncoding.EncodeToString(sig)})
}

// legacyImage reads the image under a legacy tag, or nil when there is none.
func legacyImage(ctx context.Context, repo oci.Repository, tag string) (v1.Descriptor, *v1.Manifest, error) {
	d, err := repo.Resolve(ctx, tag)
	if errors.Is(err, oci.ErrNotFound) {
		return v1.Descriptor{}, nil, nil
	}
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("reading %s:%s: %w", repo.Name(), tag, err)
	}
	raw, err := repo.Fetch(ctx, d)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%w: %s:%s: %v", ErrMalformedTag, repo.Name(), tag, err)
	}
	if err := CheckLegacyManifest(m, repo.Name()+":"+tag); err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%w: %v", ErrMalformedTag, err)
	}
	return d, m, nil
}

// fetchLayer reads a legacy layer, refusing one larger than a signature
// or attestation can be (never truncating it).
func fetchLayer(ctx context.Context, repo oci.Repository, tag string, d v1.Descriptor) ([]byte, error) {
	if d.Size > oci.MaxBundleBytes {
		return nil, invalid("%s layer %s is %d bytes, more than the %d MiB a signature or attestation may have", tag, d.Digest, d.Size, oci.MaxBundleBytes>>20)
	}
	return repo.Fetch(ctx, d)
}

// AppendLegacySignature adds a signed payload layer with its annotations
// (signature; for keyless signatures certificate and log bundle too) to
// the image under subject's .sig tag, and returns the tag.
func AppendLegacySignature(ctx context.Context, repo oci.Repository, subject v1.Hash, payload []byte, annotations map[string]string) (string, error) {
	tag := oci.LegacyTag(subject, "sig")
	_, existing, err := legacyImage(ctx, repo, tag)
	if err != nil {
		return "", err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	var adds []mutate.Addendum
	if existing != nil {
		for _, d := range existing.Layers {
			content, err := fetchLayer(ctx, repo, tag, d)
			if err != nil {
				return "", err
			}
			adds = append(adds, mutate.Addendum{Layer: static.NewLayer(content, d.MediaType), Annotations: d.Annotations})
		}
	}
	adds = append(adds, mutate.Addendum{Layer: static.NewLayer(payload, SimpleSigningMediaType), Annotations: annotations})
	if img, err = mutate.Append(img, adds...); err != nil {
		return "", err
	}
	if err := pushImage(ctx, repo, img, tag); err != nil {
		return "", err
	}
	return repo.Name() + ":" + tag, nil
}

// pushImage writes an image's blobs and manifest and tags it.
func pushImage(ctx context.Context, repo oci.Repository, img v1.Image, tag string) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		mt, _ := l.MediaType()
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := repo.Push(ctx, oci.Descriptor(mt, buf.Bytes()), buf.Bytes()); err != nil {
			return err
		}
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := repo.Push(ctx, oci.Descriptor(types.OCIConfigJSON, config), config); err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	md := oci.Descriptor(types.OCIManifestSchema1, raw)
	if err := repo.Push(ctx, md, raw); err != nil {
		return err
	}
	return repo.Tag(ctx, md, tag)
}

// verifyLegacySignatures checks the signatures under subject's .sig tag:
// key-based ones with the trusted keys, keyless ones (certificate, chain
// and log bundle in the annotations) against the trusted root.
func (t *Trust) verifyLegacySignatures(ctx context.Context, repo oci.Repository, subject v1.Hash) ([]evidence.VerifiedSignature, []evidence.RejectedSignature, error) {
	tag := oci.LegacyTag(subject, "sig")
	_, m, err := legacyImage(ctx, repo, tag)
	if Unreadable(err) || errors.Is(err, ErrMalformedTag) {
		return nil, []evidence.RejectedSignature{Rejection(evidence.PredicateSignatures, repo.Name()+":"+tag, err)}, nil
	}
	if err != nil || m == nil {
		return nil, nil, err
	}
	var total int64
	for _, d := range m.Layers {
		if d.MediaType == SimpleSigningMediaType {
			total += d.Size
		}
	}
	if err := oci.Reserve(ctx, total); err != nil {
		return nil, nil, fmt.Errorf("%s:%s: %w", repo.Name(), tag, err)
	}
	var verified []evidence.VerifiedSignature
	var rejected []evidence.RejectedSignature
	for _, d := range m.Layers {
		if d.MediaType != SimpleSigningMediaType {
			continue
		}
		where := fmt.Sprintf("%s:%s layer %s", repo.Name(), tag, d.Digest)
		v, err := t.verifyLegacyLayer(ctx, repo, tag, d, subject)
		if err != nil {
			rejected = append(rejected, Rejection(evidence.PredicateSignatures, where, err))
			continue
		}
		verified = append(verified, evidence.VerifiedSignature{Verification: Attached{Verified: *v, StoredAt: repo.Name() + ":" + tag, Layout: evidence.LayoutLegacyTag}.Verification()})
	}
	return verified, rejected, nil
}

func (t *Trust) verifyLegacyLayer(ctx context.Context, repo oci.Repository, tag string, d v1.Descriptor, subject v1.Hash) (*Verified, error) {
	sig, err := base64.StdEncoding.DecodeString(d.Annotations[legacySignatureAnnot])
	if err != nil || len(sig) == 0 {
		return nil, invalid("missing or malformed signature annotation")
	}
	payload, err := fetchLayer(ctx, repo, tag, d)
	if err != nil {
		return nil, err
	}
	var out *Verified
	if _, keyless := d.Annotations[legacyCertificateAnnot]; keyless {
		b, err := legacyMessageBundle(d.Annotations, payload, sig)
		if err != nil {
			return nil, invalid("%v", err)
		}
		if out, err = t.verify(b, verify.WithArtifact(bytes.NewReader(payload))); err != nil {
			return nil, err
		}
	} else {
		sum := sha256.Sum256(payload)
		for _, k := range t.keys {
			if pub, ok := k.pub.(*ecdsa.PublicKey); ok && ecdsa.VerifyASN1(pub, sum[:], sig) {
				out = &Verified{Signer: evidence.Signer{KeyFingerprint: k.fingerprint}, TransparencyLogSkipped: true}
				break
			}
		}
		if out == nil {
			return nil, fmt.Errorf("%w: no trusted key verifies the ECDSA signature over the payload", ErrUntrustedKey)
		}
	}
	// the payload is trusted only now that its signature verified
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil || ss.Critical.Type != simpleSigningType {
		return nil, invalid("not a cosign simple-signing payload")
	}
	if ss.Critical.Image.DockerManifestDigest != subject.String() {
		return nil, fmt.Errorf("%w: it names %s, not %s", ErrDigestMismatch, ss.Critical.Image.DockerManifestDigest, subject)
	}
	return out, nil
}

// VerifySignatures verifies every signature attached to subject, in both
// layouts: Sigstore bundles of cosign's sign predicate as referrers, and
// the legacy .sig tag. It returns who signed each one that verified and
// why each other one did not; err is for signatures that could not be read.
func (t *Trust) VerifySignatures(ctx context.Context, repo oci.Repository, subject v1.Descriptor) ([]evidence.VerifiedSignature, []evidence.RejectedSignature, error) {
	found, unreadable, err := FindBundles(ctx, repo, subject, evidence.PredicateSignatures)
	if err != nil {
		return nil, nil, err
	}
	attached, rejected := t.VerifyFound(found, subject.Digest, evidence.PredicateSignatures)
	rejected = append(rejected, unreadable...)
	var verified []evidence.VerifiedSignature
	s := evidence.Subject{Repository: repo.Name(), Digest: subject.Digest.String()}
	for _, a := range attached {
		verified = append(verified, evidence.VerifiedSignature{Subject: s, Verification: a.Verification()})
	}
	legacy, legacyRejected, err := t.verifyLegacySignatures(ctx, repo, subject.Digest)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range legacy {
		l.Subject = s
		verified = append(verified, l)
	}
	return verified, append(rejected, legacyRejected...), nil
}
