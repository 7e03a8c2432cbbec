package notation

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	notationregistry "github.com/notaryproject/notation-go/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
)

// Bounds on what is read of one Notation signature: a manifest of one
// layer is a few hundred bytes, an envelope with its certificate chain and
// a timestamp a few kilobytes.
const (
	MaxManifestBytes = 64 << 10
	MaxEnvelopeBytes = 1 << 20
)

// repository is notation-go's registry.Repository over dossier's own
// registry client (oci.Repository): the same keychain, timeouts and size
// and digest checks as every other read, referrers API or tag schema.
type repository struct {
	repo oci.Repository
	// pushed is the signature manifest PushSignature stored last.
	pushed v1.Descriptor
}

var _ notationregistry.Repository = (*repository)(nil)

func (r *repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	d, err := r.repo.Resolve(ctx, reference)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return toOCI(d), nil
}

func (r *repository) ListSignatures(ctx context.Context, desc ocispec.Descriptor, fn func([]ocispec.Descriptor) error) error {
	subject, err := fromOCI(desc)
	if err != nil {
		return err
	}
	descs, err := r.repo.Referrers(ctx, subject, evidence.NotationSignatureType)
	if err != nil {
		return err
	}
	out := make([]ocispec.Descriptor, len(descs))
	for i, d := range descs {
		out[i] = toOCI(d)
	}
	return fn(out)
}

// FetchSignatureBlob reads a signature manifest and its one envelope,
// refusing any other shape and any envelope type but JWS and COSE by name.
func (r *repository) FetchSignatureBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, ocispec.Descriptor, error) {
	md, err := fromOCI(desc)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	if md.MediaType != types.OCIManifestSchema1 {
		return nil, ocispec.Descriptor{}, fmt.Errorf("signature manifest %s is a %q, not an OCI image manifest", md.Digest, md.MediaType)
	}
	if md.Size > MaxManifestBytes {
		return nil, ocispec.Descriptor{}, fmt.Errorf("signature manifest %s is %d bytes, more than the %d KiB a Notation signature manifest may have", md.Digest, md.Size, MaxManifestBytes>>10)
	}
	raw, err := r.repo.Fetch(ctx, md)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	layer, err := envelopeLayer(raw)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("signature manifest %s: %w", md.Digest, err)
	}
	if err := oci.Reserve(ctx, layer.Size); err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("signature manifest %s: %w", md.Digest, err)
	}
	blob, err := r.repo.Fetch(ctx, layer)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	return blob, toOCI(layer), nil
}

// envelopeLayer is the one layer of a Notation signature manifest, checked
// for type and size before it is read.
func envelopeLayer(manifest []byte) (v1.Descriptor, error) {
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return v1.Descriptor{}, fmt.Errorf("unreadable manifest: %w", err)
	}
	if len(m.Layers) != 1 {
		return v1.Descriptor{}, fmt.Errorf("%d layers: a Notation signature manifest has exactly one, the envelope", len(m.Layers))
	}
	l := m.Layers[0]
	if err := CheckEnvelopeType(string(l.MediaType)); err != nil {
		return v1.Descriptor{}, err
	}
	if l.Size < 0 || l.Size > MaxEnvelopeBytes {
		return v1.Descriptor{}, fmt.Errorf("envelope of %d bytes, more than the %d KiB dossier reads of one signature", l.Size, MaxEnvelopeBytes>>10)
	}
	return l, nil
}

// CheckEnvelopeType refuses, by name, an envelope media type that is
// neither JWS nor COSE.
func CheckEnvelopeType(mediaType string) error {
	switch mediaType {
	case evidence.NotationJWS, evidence.NotationCOSE:
		return nil
	}
	return fmt.Errorf("envelope media type %q is neither %s (JWS) nor %s (COSE)", mediaType, evidence.NotationJWS, evidence.NotationCOSE)
}

// PushSignature stores the envelope and a signature manifest whose
// subject is the signed manifest, exactly as notation stores it: an OCI
// 1.1 image manifest whose config is the empty JSON object typed
// application/vnd.cncf.notary.signature (its artifactType) and whose one
// layer is the envelope. Registries without the
// referrers API get the referrers tag schema updated.
func (r *repository) PushSignature(ctx context.Context, mediaType string, blob []byte, subject ocispec.Descriptor, annotations map[string]string) (ocispec.Descriptor, ocispec.Descriptor, error) {
	if err := CheckEnvelopeType(mediaType); err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, err
	}
	sd, err := fromOCI(subject)
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, err
	}
	// the config is notation's: the empty JSON object, typed as the
	// signature, so that registries deriving a referrer's artifactType from
	// its config (older ones, go-containerregistry's) list it as one
	config := []byte("{}")
	cd := oci.Descriptor(evidence.NotationSignatureType, config)
	ld := oci.Descriptor(types.MediaType(mediaType), blob)
	for _, b := range []struct {
		d v1.Descriptor
		c []byte
	}{{cd, config}, {ld, blob}} {
		if err := r.repo.Push(ctx, b.d, b.c); err != nil {
			return ocispec.Descriptor{}, ocispec.Descriptor{}, err
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        cd,
		Layers:        []v1.Descriptor{ld},
		Subject:       &v1.Descriptor{MediaType: sd.MediaType, Digest: sd.Digest, Size: sd.Size},
		Annotations:   maps.Clone(annotations),
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, err
	}
	md := oci.Descriptor(types.OCIManifestSchema1, raw)
	if err := r.repo.Push(ctx, md, raw); err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, fmt.Errorf("storing the Notation signature of %s@%s: %w", r.repo.Name(), sd.Digest, err)
	}
	md.ArtifactType = evidence.NotationSignatureType
	r.pushed = md
	return toOCI(ld), toOCI(md), nil
}

func toOCI(d v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    string(d.MediaType),
		Digest:       digest.Digest(d.Digest.String()),
		Size:         d.Size,
		Annotations:  d.Annotations,
		ArtifactType: d.ArtifactType,
	}
}

func fromOCI(d ocispec.Descriptor) (v1.Descriptor, error) {
	h, err := v1.NewHash(d.Digest.String())
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("descriptor digest %q: %w", d.Digest, err)
	}
	return v1.Descriptor{MediaType: types.MediaType(d.MediaType), Digest: h, Size: d.Size, Annotations: d.Annotations, ArtifactType: d.ArtifactType}, nil
}
