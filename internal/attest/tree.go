package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// Attachment is one piece of evidence attached to a digest, unverified.
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
	// Format is "notation" for a Notation signature (cosign's otherwise).
	Format string `json:"format,omitempty"`
}

var sbomArtifactTypes = map[string]bool{
	"application/vnd.cyclonedx+json": true, "application/spdx+json": true,
	"application/vnd.syft+json": true, "text/spdx": true,
}

// Tree lists everything attached to subject, from the referrers API (or
// its tag schema) and from cosign's legacy .sig/.att/.sbom tags.
func Tree(ctx context.Context, repo oci.Repository, subject v1.Descriptor) ([]Attachment, error) {
	descs, err := repo.Referrers(ctx, subject, "")
	if err != nil {
		return nil, err
	}
	var out []Attachment
	for _, d := range descs {
		a := Attachment{Layout: evidence.LayoutReferrer, ArtifactType: d.ArtifactType, Digest: d.Digest.String(), Kind: "other"}
		pt, annotated := d.Annotations[sign.PredicateTypeAnnotation]
		switch {
		case annotated || d.ArtifactType == sign.BundleMediaType:
			a.PredicateType = pt
			a.Kind = "attestation"
			if pt == evidence.PredicateSignatures {
				a.Kind = "signature"
			}
		case d.ArtifactType == evidence.NotationSignatureType:
			a.Kind, a.Format = "signature", "notation"
		case sbomArtifactTypes[d.ArtifactType]:
			a.Kind = "sbom"
		}
		out = append(out, a)
	}
	for _, l := range []struct{ suffix, kind string }{{"sig", "signature"}, {"att", "attestation"}, {"sbom", "sbom"}} {
		tag := oci.LegacyTag(subject.Digest, l.suffix)
		d, err := repo.Resolve(ctx, tag)
		if errors.Is(err, oci.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s:%s: %w", repo.Name(), tag, err)
		}
		raw, err := repo.Fetch(ctx, d)
		if err != nil {
			return nil, err
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s:%s: %w", repo.Name(), tag, err)
		}
		a := Attachment{Kind: l.kind, Layout: evidence.LayoutLegacyTag, Digest: d.Digest.String(), Tag: repo.Name() + ":" + tag, Entries: len(m.Layers)}
		if l.kind == "attestation" && len(m.Layers) > 0 {
			a.PredicateType = m.Layers[0].Annotations["predicateType"]
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
