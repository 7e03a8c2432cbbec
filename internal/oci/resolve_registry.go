package oci

import (
	"context"
	"fmt"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

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
		Subject:   evidence.Subject{Repository: evidence.CanonicalRepository(repo.Name()), Digest: desc.Digest.String()},
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
