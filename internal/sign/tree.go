package sign

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/dossier-dev/dossier/internal/oci"
)

// Attachment is one piece of evidence attached to a digest.
type Attachment struct {
	// Kind is "signature", "attestation", "sbom" or "other".
	Kind string `json:"kind"`
	// Layout is "referrer" (OCI 1.1 / tag schema) or "legacy-tag".
	Layout        string `json:"layout"`
	PredicateType string `json:"predicateType,omitempty"`
	ArtifactType  string `json:"artifactType,omitempty"`
	// Digest is the manifest that carries it; Tag the legacy tag.
	Digest string `json:"digest"`
	Tag    string `json:"tag,omitempty"`
	// Entries counts signatures or attestations under a legacy tag.
	Entries int `json:"entries,omitempty"`
}

var sbomArtifactTypes = map[string]bool{
	"application/vnd.cyclonedx+json": true, "application/spdx+json": true,
	"application/vnd.syft+json": true, "text/spdx": true,
}

// Tree lists everything attached to subject, from the referrers API (or
// its tag schema) and from cosign's legacy .sig/.att/.sbom tags.
func Tree(ctx context.Context, subject name.Digest, reg oci.RegistryOptions) ([]Attachment, error) {
	ropts := reg.Remote(ctx)
	descs, err := referrers(subject, ropts)
	if err != nil {
		return nil, err
	}
	var out []Attachment
	for _, d := range descs {
		a := Attachment{Layout: "referrer", ArtifactType: d.ArtifactType, Digest: d.Digest.String(), Kind: "other"}
		pt, bundle := d.Annotations[predicateTypeAnnotation]
		switch {
		case bundle || d.ArtifactType == BundleMediaType:
			a.PredicateType = pt
			a.Kind = "attestation"
			if pt == SignPredicateType {
				a.Kind = "signature"
			}
		case sbomArtifactTypes[d.ArtifactType]:
			a.Kind = "sbom"
		}
		out = append(out, a)
	}
	for suffix, kind := range map[string]string{"sig": "signature", "att": "attestation", "sbom": "sbom"} {
		tag := LegacyTag(subject, suffix)
		img, err := remote.Image(tag, ropts...)
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) && te.StatusCode == 404 {
				continue
			}
			return nil, fmt.Errorf("reading %s: %w", tag, err)
		}
		mf, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		a := Attachment{Kind: kind, Layout: "legacy-tag", Digest: d.String(), Tag: tag.String(), Entries: len(mf.Layers)}
		if kind == "attestation" && len(mf.Layers) > 0 {
			a.PredicateType = mf.Layers[0].Annotations["predicateType"]
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind > out[j].Kind // signatures, sbom, other, attestations
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}
