package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func resolveLayout(src Source) (*Artifact, error) {
	if _, err := os.Stat(filepath.Join(src.Path, "oci-layout")); err != nil {
		return nil, fmt.Errorf("%s: not an OCI layout (no oci-layout file in %s)", src.Input, src.Path)
	}
	root, err := layout.ImageIndexFromPath(src.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: unreadable OCI layout: %w", src.Input, err)
	}
	manifest, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt index.json: %w", src.Input, err)
	}
	desc, err := pickLayoutManifest(src, manifest.Manifests)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		return nil, err
	}
	a := &Artifact{
		Subject:   evidence.Subject{Repository: string(KindOCILayout) + ":" + abs, Digest: desc.Digest.String()},
		Tag:       src.Tag,
		MediaType: string(desc.MediaType),
		Size:      desc.Size,
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := root.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: reading index %s: %w", src.Input, desc.Digest, err)
		}
		return a, a.setIndex(idx)
	case desc.MediaType.IsImage():
		img, err := root.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: reading manifest %s: %w", src.Input, desc.Digest, err)
		}
		if _, err := img.Manifest(); err != nil {
			return nil, fmt.Errorf("%s: corrupt manifest %s: %w", src.Input, desc.Digest, err)
		}
		a.image = img
		return a, nil
	default:
		return nil, fmt.Errorf("%s: unsupported media type %q at %s", src.Input, desc.MediaType, desc.Digest)
	}
}

func pickLayoutManifest(src Source, descs []v1.Descriptor) (v1.Descriptor, error) {
	switch {
	case src.Digest != "":
		for _, d := range descs {
			if d.Digest.String() == src.Digest {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("%s: no manifest with digest %s in the layout", src.Input, src.Digest)
	case src.Tag != "":
		for _, d := range descs {
			ref := d.Annotations[refNameAnnotation]
			if ref == src.Tag || strings.HasSuffix(ref, ":"+src.Tag) {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("%s: unknown tag %q (layout has: %s)", src.Input, src.Tag, layoutTags(descs))
	case len(descs) == 1:
		return descs[0], nil
	case len(descs) == 0:
		return v1.Descriptor{}, fmt.Errorf("%s: the layout's index.json lists no manifests", src.Input)
	default:
		return v1.Descriptor{}, fmt.Errorf("%s: the layout holds %d manifests: name one with :TAG or @DIGEST (tags: %s)", src.Input, len(descs), layoutTags(descs))
	}
}

func layoutTags(descs []v1.Descriptor) string {
	var tags []string
	for _, d := range descs {
		if t := d.Annotations[refNameAnnotation]; t != "" {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}
