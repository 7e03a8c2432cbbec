package oci

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// maxRunnableImages bounds the images one index may name (with those of
// its nested indexes, maxIndexDepth deep): a runtime follows nested
// indexes, so dossier does too, as far as the bounds and no further.
const maxRunnableImages = 256

// RunnableImage is an image manifest of an index a container runtime
// could pick.
type RunnableImage struct {
	// Platform is os/arch[/variant]: the index entry's, or for an entry
	// naming none, its config's ("" when the config names none either).
	Platform string
	Digest   string
	// Artifact is the image alone, named repository@its digest.
	Artifact *Artifact
}

// RunnableImages lists every image manifest of an index a runtime could
// pick: entries of any platform, entries naming no platform (a runtime
// reads those and checks their config), and the images of nested indexes.
// Only entries an index marks unknown/unknown (build attestations, which
// no runtime matches) are left out. A child that cannot be read is an
// error, never a skip: what is not read cannot be judged.
func (a *Artifact) RunnableImages(ctx context.Context) ([]RunnableImage, error) {
	if a.index == nil {
		return nil, fmt.Errorf("%s: not an index", a.Source.Input)
	}
	var found []RunnableImage
	if err := a.walkRunnable(ctx, a.index, a.Subject.Digest, 0, &found); err != nil {
		return nil, err
	}
	return found, nil
}

func (a *Artifact) walkRunnable(ctx context.Context, index v1.ImageIndex, digest string, depth int, found *[]RunnableImage) error {
	if depth >= maxIndexDepth {
		return fmt.Errorf("%s: index %s nests indexes deeper than %d", a.Source.Input, digest, maxIndexDepth)
	}
	m, err := index.IndexManifest()
	if err != nil {
		return fmt.Errorf("%s: corrupt index %s: %w", a.Source.Input, digest, err)
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := a.childIndex(ctx, index, d.Digest)
			if err != nil {
				return fmt.Errorf("%s: reading index %s named by %s: %w", a.Source.Input, d.Digest, digest, err)
			}
			if err := a.walkRunnable(ctx, child, d.Digest.String(), depth+1, found); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			if d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown" {
				continue
			}
			if len(*found) >= maxRunnableImages {
				return fmt.Errorf("%s: index %s names more than %d images", a.Source.Input, a.Subject.Digest, maxRunnableImages)
			}
			img, err := a.childImage(ctx, index, d.Digest)
			if err != nil {
				return fmt.Errorf("%s: reading image %s named by %s: %w", a.Source.Input, d.Digest, digest, err)
			}
			platform := ""
			if d.Platform != nil {
				platform = d.Platform.String()
			} else {
				cfg, err := img.ConfigFile()
				if err != nil {
					return fmt.Errorf("%s: reading the config of image %s, which index %s names without a platform: %w", a.Source.Input, d.Digest, digest, err)
				}
				if p := cfg.Platform(); p != nil {
					platform = p.String()
				}
			}
			*found = append(*found, RunnableImage{Platform: platform, Digest: d.Digest.String(), Artifact: &Artifact{
				Source: a.Source, Subject: evidence.Subject{Repository: a.Subject.Repository, Digest: d.Digest.String()},
				Tag: a.Tag, MediaType: string(d.MediaType), Size: d.Size, image: img, options: a.options,
			}})
		}
	}
	return nil
}

func (a *Artifact) childIndex(ctx context.Context, parent v1.ImageIndex, digest v1.Hash) (v1.ImageIndex, error) {
	if a.repo != nil {
		return remote.Index(a.repo.Digest(digest.String()), a.options.Remote(ctx)...)
	}
	return parent.ImageIndex(digest)
}

func (a *Artifact) childImage(ctx context.Context, parent v1.ImageIndex, digest v1.Hash) (v1.Image, error) {
	if a.repo != nil {
		return remote.Image(a.repo.Digest(digest.String()), a.options.Remote(ctx)...)
	}
	return parent.Image(digest)
}
