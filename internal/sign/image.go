package sign

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/dossier-dev/dossier/internal/oci"
)

// Signed says what was signed and where the signature went.
type Signed struct {
	Subject  string `json:"subject"`
	Referrer string `json:"referrer"`
}

// SignDigest signs subject (a registry digest reference) with kp: an
// in-toto statement of cosign's sign predicate naming the digest (with
// annotations), in a Sigstore bundle stored as a referrer of the digest.
func SignDigest(ctx context.Context, subject name.Digest, kp sgsign.Keypair, bundleOpts sgsign.BundleOptions, annotations map[string]any, reg oci.RegistryOptions) (*Signed, error) {
	st, err := Statement(subject.DigestStr(), SignPredicateType, map[string]any{}, annotations)
	if err != nil {
		return nil, err
	}
	bundle, err := BundleStatement(st, kp, bundleOpts)
	if err != nil {
		return nil, err
	}
	ref, err := Store(ctx, subject, bundle, SignPredicateType, reg)
	if err != nil {
		return nil, err
	}
	return &Signed{Subject: subject.String(), Referrer: ref}, nil
}

// RegistryDigest turns a resolved registry artifact into a digest reference.
func RegistryDigest(a *oci.Artifact, reg oci.RegistryOptions) (name.Digest, error) {
	if a.Source.Kind != oci.KindRegistry {
		return name.Digest{}, fmt.Errorf("%s: signatures are stored in a registry; push the image and sign it there", a.Source.Input)
	}
	ref, err := reg.ParseReference(a.Subject.String())
	if err != nil {
		return name.Digest{}, err
	}
	d, ok := ref.(name.Digest)
	if !ok {
		return name.Digest{}, fmt.Errorf("%s: not a digest reference", a.Subject)
	}
	return d, nil
}
