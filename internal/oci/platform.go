package oci

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

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
	return v1.Descriptor{}, fmt.Errorf("%s: index %s has %w %s (it has: %s)", a.Source.Input, a.Subject.Digest, ErrNoSuchPlatform, target.String(), strings.Join(have, ", "))
}

// ErrNoSuchPlatform says an index has no image for the platform asked for.
var ErrNoSuchPlatform = errors.New("no image for platform")

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
