package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

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

func resolveRegistry(ctx context.Context, src Source, opts RegistryOptions) (*Artifact, error) {
	ref, err := name.ParseReference(src.Reference, opts.nameOptions(src.Reference)...)
	if err != nil {
		return nil, fmt.Errorf("%s: not an image reference: %w", src.Input, err)
	}
	desc, err := remote.Get(ref, opts.Remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot resolve at %s: %w", src.Input, ref.Context().RegistryStr(), describeRemoteError(err))
	}
	repo := ref.Context()
	a := &Artifact{
		Subject:   evidence.Subject{Repository: repo.Name(), Digest: desc.Digest.String()},
		MediaType: string(desc.MediaType),
		Size:      desc.Size,
		repo:      &repo,
	}
	if t, ok := ref.(name.Tag); ok {
		a.Tag = t.TagStr()
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return nil, fmt.Errorf("%s: registry returned content with digest %s", src.Input, desc.Digest)
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("%s: reading index %s: %w", src.Input, desc.Digest, err)
		}
		return a, a.setIndex(idx)
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("%s: reading manifest %s: %w", src.Input, desc.Digest, err)
		}
		a.image = img
		return a, nil
	default:
		return nil, fmt.Errorf("%s: unsupported media type %q at %s (want an OCI or Docker image manifest or index)", src.Input, desc.MediaType, desc.Digest)
	}
}

// describeRemoteError turns a transport failure into advice.
func describeRemoteError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"), strings.Contains(msg, "i/o timeout"):
		return fmt.Errorf("registry unreachable: %w", err)
	case strings.Contains(msg, "MANIFEST_UNKNOWN"), strings.Contains(msg, "NAME_UNKNOWN"):
		return fmt.Errorf("no such tag or repository: %w", err)
	}
	return err
}

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

func resolveDockerArchive(src Source) (*Artifact, error) {
	img, err := tarball.ImageFromPath(src.Path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable docker archive: %w", src.Input, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt docker archive: %w", src.Input, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt docker archive: %w", src.Input, err)
	}
	size, err := img.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt docker archive: %w", src.Input, err)
	}
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		return nil, err
	}
	return &Artifact{
		Subject:   evidence.Subject{Repository: string(KindDockerArchive) + ":" + abs, Digest: digest.String()},
		MediaType: string(m.MediaType),
		Size:      size,
		image:     img,
	}, nil
}

func resolveDir(src Source) (*Artifact, error) {
	info, err := os.Stat(src.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Input, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", src.Input)
	}
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		return nil, err
	}
	return &Artifact{Subject: evidence.Subject{Repository: string(KindDir) + ":" + abs}}, nil
}

func resolveFile(src Source) (*Artifact, error) {
	f, err := os.Open(src.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Input, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Input, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s: is a directory (use dir:%s)", src.Input, src.Path)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", src.Input, err)
	}
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		return nil, err
	}
	return &Artifact{
		Subject: evidence.Subject{Repository: string(KindFile) + ":" + abs, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))},
		Size:    n,
	}, nil
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

// DefaultPlatform is what a multi-platform index is read as when no
// platform is named.
var DefaultPlatform = v1.Platform{OS: "linux", Architecture: "amd64"}

func (a *Artifact) selectPlatform(want *v1.Platform) (v1.Descriptor, error) {
	m, err := a.index.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s: corrupt index: %w", a.Source.Input, err)
	}
	target := DefaultPlatform
	if want != nil {
		target = *want
	}
	var images []v1.Descriptor
	for _, d := range m.Manifests {
		if d.MediaType.IsImage() && d.Platform != nil && !(d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown") {
			images = append(images, d)
		}
	}
	for _, d := range images {
		if platformMatches(*d.Platform, target) {
			return d, nil
		}
	}
	if want == nil && len(images) == 1 {
		return images[0], nil
	}
	var have []string
	for _, p := range a.Platforms {
		have = append(have, p.Platform)
	}
	return v1.Descriptor{}, fmt.Errorf("%s: index %s has no image for platform %s (it has: %s); choose one with --platform", a.Source.Input, a.Subject.Digest, target.String(), strings.Join(have, ", "))
}

// platformMatches compares os/architecture and, when asked for, variant.
func platformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || have.Variant == want.Variant
}

func checkImagePlatform(img v1.Image, want v1.Platform) error {
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading image config: %w", err)
	}
	have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if !platformMatches(have, want) {
		return fmt.Errorf("image is %s, not %s", have.String(), want.String())
	}
	return nil
}

// ParsePlatform reads "os/arch[/variant]".
func ParsePlatform(s string) (*v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("platform %q: want os/arch[/variant], e.g. linux/arm64/v8", s)
	}
	p := &v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
