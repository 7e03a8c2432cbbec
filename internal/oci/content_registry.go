package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// registryRepository is a Repository in an OCI registry.
type registryRepository struct {
	repo name.Repository
	reg  RegistryOptions
}

// OpenRegistry opens a registry repository ("host/path").
func OpenRegistry(repository string, reg RegistryOptions) (Repository, error) {
	ref, err := reg.ParseReference(repository)
	if err != nil {
		return nil, fmt.Errorf("%s: not a repository name: %w", repository, err)
	}
	return &registryRepository{repo: ref.Context(), reg: reg}, nil
}

func (r *registryRepository) Name() string { return r.repo.Name() }

func (r *registryRepository) ref(reference string) (name.Reference, error) {
	if _, err := v1.NewHash(reference); err == nil {
		return r.repo.Digest(reference), nil
	}
	t := r.repo.Tag(reference)
	if t.TagStr() != reference {
		return nil, fmt.Errorf("%s: %q is neither a tag nor a digest", r.repo, reference)
	}
	return t, nil
}

// notFound maps a registry's 404 to ErrNotFound and its 403 to ErrDenied
// (with what the registry said).
func notFound(err error, what string) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if errors.As(err, &te) && te.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%s: %w: %w", what, ErrDenied, describeRemoteError(err))
	}
	return fmt.Errorf("%s: %w", what, describeRemoteError(err))
}

func (r *registryRepository) Resolve(ctx context.Context, reference string) (v1.Descriptor, error) {
	ref, err := r.ref(reference)
	if err != nil {
		return v1.Descriptor{}, err
	}
	// HEAD, as crane and cosign resolve: it does not count as a pull
	// (rate limits, quarantines) and carries no body
	desc, err := remote.Head(ref, r.reg.Remote(ctx)...)
	if err != nil || desc.MediaType == "" {
		var terr *transport.Error
		if err != nil && errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return v1.Descriptor{}, notFound(err, ref.String())
		}
		// a registry that answers HEAD badly is asked with GET
		d, gerr := remote.Get(ref, r.reg.Remote(ctx)...)
		if gerr != nil {
			return v1.Descriptor{}, notFound(gerr, ref.String())
		}
		desc = &d.Descriptor
	}
	if dr, ok := ref.(name.Digest); ok && dr.DigestStr() != desc.Digest.String() {
		return v1.Descriptor{}, fmt.Errorf("%s: registry returned content with digest %s", ref, desc.Digest)
	}
	return *desc, nil
}

func (r *registryRepository) Fetch(ctx context.Context, desc v1.Descriptor) ([]byte, error) {
	where := r.repo.Name()
	if desc.Size > MaxFetchSize {
		return nil, fmt.Errorf("%s: %s is %d bytes, more than the %d MiB dossier reads into memory", where, desc.Digest, desc.Size, MaxFetchSize>>20)
	}
	ref := r.repo.Digest(desc.Digest.String())
	if desc.MediaType.IsImage() || desc.MediaType.IsIndex() || desc.MediaType == types.DockerManifestSchema1Signed {
		d, err := remote.Get(ref, r.reg.Remote(ctx)...)
		if err != nil {
			return nil, notFound(err, ref.String())
		}
		return readVerified(bytes.NewReader(d.Manifest), desc, where)
	}
	layer, err := remote.Layer(ref, r.reg.Remote(ctx)...)
	if err != nil {
		return nil, notFound(err, ref.String())
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, notFound(err, ref.String())
	}
	defer rc.Close()
	return readVerified(rc, desc, where)
}

func (r *registryRepository) Push(ctx context.Context, desc v1.Descriptor, content []byte) error {
	if err := verifyDigest(content, desc.Digest); err != nil {
		return err
	}
	if desc.MediaType.IsImage() || desc.MediaType.IsIndex() {
		if err := remote.Put(r.repo.Digest(desc.Digest.String()), rawManifest{content, desc.MediaType}, r.reg.Remote(ctx)...); err != nil {
			return fmt.Errorf("storing manifest %s in %s: %w", desc.Digest, r.repo, describeRemoteError(err))
		}
		return nil
	}
	if err := remote.WriteLayer(r.repo, static.NewLayer(content, desc.MediaType), r.reg.Remote(ctx)...); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", desc.Digest, r.repo, describeRemoteError(err))
	}
	return nil
}

func (r *registryRepository) Tag(ctx context.Context, desc v1.Descriptor, tag string) error {
	content, err := r.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	t := r.repo.Tag(tag)
	if t.TagStr() != tag {
		return fmt.Errorf("%s: %q is not a valid tag", r.repo, tag)
	}
	if err := remote.Put(t, rawManifest{content, desc.MediaType}, r.reg.Remote(ctx)...); err != nil {
		return fmt.Errorf("tagging %s as %s: %w", desc.Digest, t, describeRemoteError(err))
	}
	return nil
}

func (r *registryRepository) Referrers(ctx context.Context, subject v1.Descriptor, artifactType string) ([]v1.Descriptor, error) {
	// filtered here, not by the registry: some registries report the
	// config media type as artifactType, and would filter on that
	idx, err := remote.Referrers(r.repo.Digest(subject.Digest.String()), r.reg.Remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s@%s: %w", r.repo, subject.Digest, describeRemoteError(err))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s@%s: %w", r.repo, subject.Digest, err)
	}
	if len(m.Manifests) > MaxReferrers {
		return nil, tooManyReferrers(r.repo.Name(), subject.Digest, len(m.Manifests))
	}
	var out []v1.Descriptor
	for _, d := range m.Manifests {
		if d.ArtifactType == emptyMediaType || d.ArtifactType == string(types.OCIConfigJSON) {
			var err error
			if d, err = r.trueArtifactType(ctx, d); errors.Is(err, ErrDenied) || errors.Is(err, ErrNotFound) {
				// listed but not served: its type is unknown, so it is
				// the caller's to find unreadable, not the listing's end
				out = append(out, d)
				continue
			} else if err != nil {
				return nil, err
			}
		}
		if artifactType == "" || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out, nil
}

// emptyMediaType is the OCI empty descriptor's media type (an empty config).
const emptyMediaType = "application/vnd.oci.empty.v1+json"

// trueArtifactType reads a referrer's manifest for its artifactType, for
// registries that list the config media type in its place.
func (r *registryRepository) trueArtifactType(ctx context.Context, d v1.Descriptor) (v1.Descriptor, error) {
	raw, err := r.Fetch(ctx, d)
	if err != nil {
		return d, err
	}
	var m struct {
		ArtifactType string `json:"artifactType"`
	}
	if json.Unmarshal(raw, &m) == nil && m.ArtifactType != "" {
		d.ArtifactType = m.ArtifactType
	}
	return d, nil
}

// rawManifest lets go-containerregistry put bytes as they are.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// Copy copies what src names (an image or an index, with every blob and
// child manifest) to dst, a tag or a digest of another repository, and
// returns its descriptor; the digest is unchanged.
func Copy(ctx context.Context, src, dst string, reg RegistryOptions) (v1.Descriptor, error) {
	from, err := reg.ParseReference(src)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s: %w", src, err)
	}
	to, err := reg.ParseReference(dst)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s: %w", dst, err)
	}
	opts := reg.Remote(ctx)
	desc, err := remote.Get(from, opts...)
	if err != nil {
		return v1.Descriptor{}, notFound(err, src)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			err = remote.WriteIndex(to, idx, opts...)
		}
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("copying %s to %s: %w", src, dst, describeRemoteError(err))
		}
		return desc.Descriptor, nil
	}
	img, err := desc.Image()
	if err == nil {
		err = remote.Write(to, img, opts...)
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("copying %s to %s: %w", src, dst, describeRemoteError(err))
	}
	return desc.Descriptor, nil
}

// ListTags lists a registry repository's tags.
func ListTags(ctx context.Context, repository string, reg RegistryOptions) ([]string, error) {
	ref, err := reg.ParseReference(repository)
	if err != nil {
		return nil, fmt.Errorf("%s: not a repository name: %w", repository, err)
	}
	tags, err := remote.List(ref.Context(), reg.Remote(ctx)...)
	if err != nil {
		return nil, notFound(err, repository)
	}
	return tags, nil
}
