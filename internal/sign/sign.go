package sign

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dossier-dev/dossier/internal/oci"
)

// Media and predicate types shared with cosign.
const (
	// SignPredicateType marks an in-toto statement that is an image
	// signature (cosign's "sign" predicate).
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// InTotoPayloadType is the DSSE payload type of in-toto statements.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// BundleMediaType is the Sigstore bundle v0.3 media type, also the
	// artifactType of the referrer manifest that carries it.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// annotation on the referrer manifest naming the statement's predicate
	predicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
	emptyJSONMediaType      = "application/vnd.oci.empty.v1+json"
)

// Statement builds the in-toto statement v1 about digest ("sha256:…").
func Statement(digest, predicateType string, predicate map[string]any, annotations map[string]any) ([]byte, error) {
	alg, hexDigest, ok := strings.Cut(digest, ":")
	if !ok {
		return nil, fmt.Errorf("digest %q: want algorithm:hex", digest)
	}
	pred, err := structpb.NewStruct(predicate)
	if err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	subject := &intoto.ResourceDescriptor{Digest: map[string]string{alg: hexDigest}}
	if len(annotations) > 0 {
		if subject.Annotations, err = structpb.NewStruct(annotations); err != nil {
			return nil, fmt.Errorf("annotations: %w", err)
		}
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{subject},
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}

// BundleStatement signs an in-toto statement into a Sigstore bundle with
// kp (a key pair, or a keyless signer's ephemeral key with options that
// fetch a certificate and log the signature).
func BundleStatement(statement []byte, kp sgsign.Keypair, opts sgsign.BundleOptions) ([]byte, error) {
	b, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: InTotoPayloadType}, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return protojson.Marshal(b)
}

// Store writes a bundle as an OCI 1.1 referrer of subject, as cosign does:
// an image manifest with artifactType the bundle media type, an empty
// config, the bundle as its one layer, and subject set. Registries without
// the referrers API get the referrers tag schema (sha256-<hex>) updated.
// It returns the digest of the referrer manifest.
func Store(ctx context.Context, subject name.Digest, bundle []byte, predicateType string, reg oci.RegistryOptions) (string, error) {
	ropts := reg.Remote(ctx)
	desc, err := remote.Head(subject, ropts...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", subject, err)
	}
	layer := static.NewLayer(bundle, types.MediaType(BundleMediaType))
	config := static.NewLayer([]byte("{}"), types.MediaType(emptyJSONMediaType))
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(subject.Context(), l, ropts...); err != nil {
			return "", fmt.Errorf("uploading to %s: %w", subject.Context(), err)
		}
	}
	m, err := referrerManifest(desc, config, layer, predicateType)
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	d, _, err := v1.SHA256(strings.NewReader(string(raw)))
	if err != nil {
		return "", err
	}
	if err := remote.Put(subject.Context().Digest(d.String()), rawManifest{raw}, ropts...); err != nil {
		return "", fmt.Errorf("storing the signature for %s: %w", subject, err)
	}
	return d.String(), nil
}

// manifest is an OCI image manifest with the 1.1 artifactType field.
type manifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

func referrerManifest(subject *v1.Descriptor, config, layer v1.Layer, predicateType string) (*manifest, error) {
	descriptor := func(l v1.Layer) (v1.Descriptor, error) {
		d, err := l.Digest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		n, err := l.Size()
		if err != nil {
			return v1.Descriptor{}, err
		}
		mt, err := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, err
	}
	cd, err := descriptor(config)
	if err != nil {
		return nil, err
	}
	ld, err := descriptor(layer)
	if err != nil {
		return nil, err
	}
	cd.ArtifactType = BundleMediaType
	return &manifest{
		Manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			Config:        cd,
			Layers:        []v1.Descriptor{ld},
			Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
			Annotations: map[string]string{
				"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339),
				"dev.sigstore.bundle.content":      "dsse-envelope",
				predicateTypeAnnotation:            predicateType,
			},
		},
		ArtifactType: BundleMediaType,
	}, nil
}

type rawManifest struct{ raw []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
