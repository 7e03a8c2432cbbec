package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Repository is where an artifact and the evidence attached to it live: a
// registry repository or an OCI image layout, behind one interface so that
// signing, attestation and discovery work the same against either. Every
// fetch is bounded by the descriptor's size and checked against its digest.
type Repository interface {
	// Name is "registry.example/team/app" or "oci-layout:/abs/dir".
	Name() string
	// Resolve returns the descriptor a tag or a digest names now.
	Resolve(ctx context.Context, reference string) (v1.Descriptor, error)
	// Fetch reads the content desc names: a manifest or a blob.
	Fetch(ctx context.Context, desc v1.Descriptor) ([]byte, error)
	// Push stores content: a manifest when desc's media type is one, else
	// a blob.
	Push(ctx context.Context, desc v1.Descriptor, content []byte) error
	// Tag points tag at the manifest desc (already pushed).
	Tag(ctx context.Context, desc v1.Descriptor, tag string) error
	// Referrers lists the manifests whose subject is the digest, with
	// artifactType and annotations; artifactType filters when not empty.
	Referrers(ctx context.Context, subject v1.Descriptor, artifactType string) ([]v1.Descriptor, error)
}

// MaxFetchSize bounds what Fetch reads into memory: manifests, Sigstore
// bundles, signature payloads and attested SBOMs, never image layers.
const MaxFetchSize = 128 << 20

// MaxReferrers bounds the referrers dossier reads of one subject: a
// subject with more cannot be judged (its evidence is unavailable), so
// that pushing thousands of referrers costs the pusher, not the verifier.
const MaxReferrers = 500

// MaxBundleBytes bounds one signature or attestation (a Sigstore bundle,
// or a legacy payload): an attested SBOM can be large, a signature cannot.
const MaxBundleBytes = 64 << 20

// MaxAttachedBytes bounds what is read of the signatures or attestations
// attached to one subject in one layout (referrers, or one legacy tag's
// layers): more cannot be judged, and says so, rather than being read.
const MaxAttachedBytes = 256 << 20

// tooManyReferrers says a subject has more referrers than dossier reads.
func tooManyReferrers(where string, subject v1.Hash, n int) error {
	return fmt.Errorf("listing referrers of %s@%s: %d referrers, more than the %d dossier reads of one subject", where, subject, n, MaxReferrers)
}

// ErrNotFound says a tag, manifest or blob does not exist.
var ErrNotFound = errors.New("not found")

// ErrDenied is a registry refusing one piece of content the reader may
// otherwise read (403): held by a quarantine, say.
var ErrDenied = errors.New("denied by the registry")

// Descriptor describes content about to be pushed.
func Descriptor(mediaType types.MediaType, content []byte) v1.Descriptor {
	sum := sha256.Sum256(content)
	return v1.Descriptor{
		MediaType: mediaType,
		Size:      int64(len(content)),
		Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
	}
}

// readVerified reads exactly desc.Size bytes from r and checks the digest.
func readVerified(r io.Reader, desc v1.Descriptor, where string) ([]byte, error) {
	if desc.Size < 0 || desc.Size > MaxFetchSize {
		return nil, fmt.Errorf("%s: %s is %d bytes, more than the %d MiB dossier reads into memory", where, desc.Digest, desc.Size, MaxFetchSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", where, desc.Digest, err)
	}
	if int64(len(data)) != desc.Size {
		return nil, fmt.Errorf("%s: %s: got %d bytes, the descriptor says %d", where, desc.Digest, len(data), desc.Size)
	}
	if err := verifyDigest(data, desc.Digest); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return data, nil
}

func verifyDigest(data []byte, want v1.Hash) error {
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if want.Algorithm != "sha256" {
		return fmt.Errorf("%s: only sha256 digests are verified", want)
	}
	if got != want {
		return fmt.Errorf("content of %s hashes to %s: refusing it", want, got)
	}
	return nil
}

// OpenRepository opens the repository an artifact's subject names.
func OpenRepository(repository string, reg RegistryOptions) (Repository, error) {
	if dir, ok := strings.CutPrefix(repository, string(KindOCILayout)+":"); ok {
		return OpenLayout(dir)
	}
	for _, k := range []Kind{KindDockerArchive, KindDir, KindFile} {
		if strings.HasPrefix(repository, string(k)+":") {
			return nil, fmt.Errorf("%s: a %s holds no signatures or attestations; push the image to a registry (or an OCI layout) first", repository, k)
		}
	}
	return OpenRegistry(repository, reg)
}

// Repository opens the repository the artifact was resolved from.
func (a *Artifact) Repository() (Repository, error) {
	return OpenRepository(a.Subject.Repository, a.options)
}

// SubjectDescriptor is the descriptor of the artifact's top-level manifest.
func (a *Artifact) SubjectDescriptor() (v1.Descriptor, error) {
	h, err := v1.NewHash(a.Subject.Digest)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s: %w", a.Subject, err)
	}
	return v1.Descriptor{MediaType: types.MediaType(a.MediaType), Size: a.Size, Digest: h}, nil
}

// LegacySuffixes name cosign's legacy attachments to a digest: its
// signatures, attestations and SBOMs.
var LegacySuffixes = []string{"sig", "att", "sbom"}

// LegacyTag is the tag of cosign's legacy attachments to digest with suffix
// (one of LegacySuffixes): sha256-<hex>.<suffix>.
func LegacyTag(digest v1.Hash, suffix string) string {
	return digest.Algorithm + "-" + digest.Hex + "." + suffix
}

var legacyTag = regexp.MustCompile(`^(sha256)-([0-9a-f]{64})\.(sig|att|sbom)$`)

// ParseLegacyTag reads a tag of cosign's legacy attachments: the digest
// it attaches to ("sha256:<hex>") and its suffix; ok is false for any
// other tag.
func ParseLegacyTag(tag string) (digest, suffix string, ok bool) {
	m := legacyTag.FindStringSubmatch(tag)
	if m == nil {
		return "", "", false
	}
	return m[1] + ":" + m[2], m[3], true
}
