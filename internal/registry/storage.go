package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	godigest "github.com/opencontainers/go-digest"
)

// The registry reads distribution's storage directly (its Namespace), not
// through synthetic HTTP requests to distribution's handlers: over HTTP an
// S3 backend answers blob reads with redirects, and every read would pay
// for routing, headers and a recorder.

// stored is a repository of distribution's storage.
func (r *Registry) stored(ctx context.Context, repository string) (distribution.Repository, error) {
	named, err := reference.WithName(repository)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", repository, err)
	}
	repo, err := r.content.Repository(ctx, named)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", repository, err)
	}
	return repo, nil
}

// manifestBody reads a manifest of a repository as stored (nil when it
// does not exist).
func (r *Registry) manifestBody(ctx context.Context, repository, digest string) ([]byte, error) {
	d, err := godigest.Parse(digest)
	if err != nil {
		return nil, nil // not a digest: no manifest is stored under it
	}
	repo, err := r.stored(ctx, repository)
	if err != nil {
		return nil, err
	}
	manifests, err := repo.Manifests(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s of %s: %w", digest, repository, err)
	}
	payload, err := readManifest(ctx, manifests, d)
	var unknown distribution.ErrManifestUnknownRevision
	if errors.As(err, &unknown) || errors.Is(err, distribution.ErrBlobUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s of %s: %w", digest, repository, err)
	}
	return payload, nil
}

// errUnreadableManifest is a stored manifest distribution cannot read.
var errUnreadableManifest = errors.New("distribution cannot read the manifest it stored")

// readManifest reads a stored manifest's bytes. distribution panics on
// some bodies it stored (an image manifest without mediaType that its
// index decoder half-reads, helper-16): that is this manifest's error,
// not the process's end.
func readManifest(ctx context.Context, manifests distribution.ManifestService, d godigest.Digest) (payload []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			payload, err = nil, fmt.Errorf("%w: %v", errUnreadableManifest, p)
		}
	}()
	m, err := manifests.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	_, payload, err = m.Payload()
	return payload, err
}

// currentDigest is the digest a tag points to now ("" when it does not
// exist).
func (r *Registry) currentDigest(ctx context.Context, repository, tag string) (string, error) {
	repo, err := r.stored(ctx, repository)
	if err != nil {
		return "", err
	}
	desc, err := repo.Tags(ctx).Get(ctx, tag)
	var unknown distribution.ErrTagUnknown
	if errors.As(err, &unknown) || errors.As(err, new(distribution.ErrRepositoryUnknown)) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading tag %s of %s: %w", tag, repository, err)
	}
	return desc.Digest.String(), nil
}

// tagsOf lists a repository's tags (none when it does not exist).
func (r *Registry) tagsOf(ctx context.Context, repository string) ([]string, error) {
	repo, err := r.stored(ctx, repository)
	if err != nil {
		return nil, err
	}
	tags, err := repo.Tags(ctx).All(ctx)
	if errors.As(err, new(distribution.ErrRepositoryUnknown)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repository, err)
	}
	return tags, nil
}
