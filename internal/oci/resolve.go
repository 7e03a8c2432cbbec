package oci

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// refNameAnnotation is how OCI layouts tag their manifests.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Artifact is a resolved source: the immutable content a reference pointed
// to when it was read.
type Artifact struct {
	Source Source
	// Subject is repository@digest of the top-level manifest or index (for
	// dir and file sources: the path and, for files, the content digest).
	Subject evidence.Subject
	// Tag is the tag that was resolved, if any.
	Tag       string
	MediaType string
	Size      int64
	// Platforms lists the platforms of a multi-platform index.
	Platforms []Platform

	index v1.ImageIndex
	image v1.Image
	// repo fetches platform manifests of a registry index by digest.
	repo    *name.Repository
	options RegistryOptions
}

// Platform is one entry of a multi-platform index.
type Platform struct {
	Platform  string `json:"platform"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// IsIndex reports whether the artifact is a multi-platform index.
func (a *Artifact) IsIndex() bool { return a.index != nil }

// Resolve reads just enough of src to name it by digest: the manifest or
// index for images, the content for files.
func Resolve(ctx context.Context, src Source, opts RegistryOptions) (*Artifact, error) {
	var (
		a   *Artifact
		err error
	)
	switch src.Kind {
	case KindRegistry:
		a, err = resolveRegistry(ctx, src, opts)
	case KindOCILayout:
		a, err = resolveLayout(src)
	case KindDockerArchive:
		a, err = resolveDockerArchive(src)
	case KindDir:
		a, err = resolveDir(src)
	case KindFile:
		a, err = resolveFile(src)
	default:
		err = fmt.Errorf("unknown source kind %q", src.Kind)
	}
	if err != nil {
		return nil, err
	}
	a.Source, a.options = src, opts
	return a, nil
}

func (a *Artifact) setIndex(idx v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("%s: corrupt index: %w", a.Source.Input, err)
	}
	a.index = idx
	for _, d := range m.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		a.Platforms = append(a.Platforms, Platform{
			Platform: d.Platform.String(), Digest: d.Digest.String(),
			MediaType: string(d.MediaType), Size: d.Size,
		})
	}
	sort.SliceStable(a.Platforms, func(i, j int) bool { return a.Platforms[i].Platform < a.Platforms[j].Platform })
	return nil
}

// ErrNotImage is returned when an image is asked of a dir or file source.
var ErrNotImage = errors.New("source is not an image")

// Image returns the single image the artifact denotes and its subject. For
// an index it selects the manifest for platform (nil: linux/amd64 when the
// index has it, else the only platform), and says so in the subject.
func (a *Artifact) Image(ctx context.Context, platform *v1.Platform) (v1.Image, evidence.Subject, error) {
	if a.image != nil {
		if platform != nil {
			if err := checkImagePlatform(a.image, *platform); err != nil {
				return nil, evidence.Subject{}, fmt.Errorf("%s: %w", a.Source.Input, err)
			}
		}
		if a.repo != nil {
			// the image read at resolution keeps that read's context, which
			// may have ended (the webhook resolves on a clock of its own):
			// its config and layers are read with ctx
			img, err := remote.Image(a.repo.Digest(a.Subject.Digest), a.options.Remote(ctx)...)
			if err != nil {
				return nil, evidence.Subject{}, fmt.Errorf("%s: reading manifest %s: %w", a.Source.Input, a.Subject.Digest, err)
			}
			return img, a.Subject, nil
		}
		return a.image, a.Subject, nil
	}
	if a.index == nil {
		return nil, evidence.Subject{}, fmt.Errorf("%s: %w", a.Source.Input, ErrNotImage)
	}
	desc, err := a.selectPlatform(platform)
	if err != nil {
		return nil, evidence.Subject{}, err
	}
	subject := evidence.Subject{Repository: a.Subject.Repository, Digest: desc.Digest.String()}
	var img v1.Image
	if a.repo != nil {
		img, err = remote.Image(a.repo.Digest(desc.Digest.String()), a.options.Remote(ctx)...)
	} else {
		img, err = a.index.Image(desc.Digest)
	}
	if err != nil {
		return nil, evidence.Subject{}, fmt.Errorf("%s: reading platform manifest %s: %w", a.Source.Input, desc.Digest, err)
	}
	return img, subject, nil
}

// PlatformDigest returns the manifest digest the index holds for platform.
func (a *Artifact) PlatformDigest(platform v1.Platform) (string, error) {
	if a.index == nil {
		if a.image == nil {
			return "", fmt.Errorf("%s: %w", a.Source.Input, ErrNotImage)
		}
		if err := checkImagePlatform(a.image, platform); err != nil {
			return "", fmt.Errorf("%s: %w", a.Source.Input, err)
		}
		return a.Subject.Digest, nil
	}
	desc, err := a.selectPlatform(&platform)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}
