package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// layoutRepository is a Repository in an OCI image layout directory. Tags
// are index.json entries named by org.opencontainers.image.ref.name;
// manifests pushed untagged (signatures, attestations) are listed in
// index.json too, which is how referrers are found in a layout. One
// process writes a layout at a time.
type layoutRepository struct {
	dir  string
	path layout.Path
}

// OpenLayout opens an existing OCI image layout directory.
func OpenLayout(dir string) (Repository, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, "oci-layout")); err != nil {
		return nil, fmt.Errorf("%s: not an OCI layout (no oci-layout file)", abs)
	}
	return &layoutRepository{dir: abs, path: layout.Path(abs)}, nil
}

func (l *layoutRepository) Name() string { return string(KindOCILayout) + ":" + l.dir }

func (l *layoutRepository) index() (*v1.IndexManifest, error) {
	idx, err := l.path.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%s: unreadable index.json: %w", l.Name(), err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt index.json: %w", l.Name(), err)
	}
	return m, nil
}

func (l *layoutRepository) Resolve(_ context.Context, reference string) (v1.Descriptor, error) {
	m, err := l.index()
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, digestErr := v1.NewHash(reference)
	for _, d := range m.Manifests {
		if (digestErr == nil && d.Digest == h) || (digestErr != nil && d.Annotations[refNameAnnotation] == reference) {
			return d, nil
		}
	}
	if digestErr == nil {
		// a manifest an image index in the layout lists (a platform's)
		if d, ok := l.nested(m.Manifests, h, 0); ok {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%s: %s: %w", l.Name(), reference, ErrNotFound)
}

// maxIndexDepth bounds the walk through nested image indexes.
const maxIndexDepth = 4

// nested finds a manifest listed by an image index among descs, or by the
// indexes they list.
func (l *layoutRepository) nested(descs []v1.Descriptor, h v1.Hash, depth int) (v1.Descriptor, bool) {
	if depth >= maxIndexDepth {
		return v1.Descriptor{}, false
	}
	for _, d := range descs {
		if !d.MediaType.IsIndex() {
			continue
		}
		data, err := l.Fetch(context.Background(), d)
		if err != nil {
			continue // an index whose blob is absent lists nothing here
		}
		var child v1.IndexManifest
		if json.Unmarshal(data, &child) != nil {
			continue
		}
		for _, c := range child.Manifests {
			if c.Digest == h {
				return c, true
			}
		}
		if found, ok := l.nested(child.Manifests, h, depth+1); ok {
			return found, true
		}
	}
	return v1.Descriptor{}, false
}

func (l *layoutRepository) Fetch(_ context.Context, desc v1.Descriptor) ([]byte, error) {
	rc, err := l.path.Blob(desc.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: blob %s: %w", l.Name(), desc.Digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: blob %s: %w", l.Name(), desc.Digest, err)
	}
	defer rc.Close()
	return readVerified(rc, desc, l.Name())
}

func (l *layoutRepository) Push(_ context.Context, desc v1.Descriptor, content []byte) error {
	if err := verifyDigest(content, desc.Digest); err != nil {
		return err
	}
	if err := l.path.WriteBlob(desc.Digest, io.NopCloser(bytes.NewReader(content))); err != nil {
		return fmt.Errorf("%s: writing blob %s: %w", l.Name(), desc.Digest, err)
	}
	if !desc.MediaType.IsImage() && !desc.MediaType.IsIndex() {
		return nil
	}
	// list the manifest in index.json (once) so that it can be found
	if _, err := l.Resolve(context.Background(), desc.Digest.String()); err == nil {
		return nil
	}
	var m struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(content, &m); err != nil {
		return fmt.Errorf("%s: manifest %s: %w", l.Name(), desc.Digest, err)
	}
	entry := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	return l.path.AppendDescriptor(entry)
}

func (l *layoutRepository) Tag(_ context.Context, desc v1.Descriptor, tag string) error {
	if _, err := l.path.Bytes(desc.Digest); err != nil {
		return fmt.Errorf("%s: tagging %s: %w", l.Name(), desc.Digest, ErrNotFound)
	}
	entry := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, Annotations: map[string]string{refNameAnnotation: tag}}
	if err := l.path.RemoveDescriptors(match.Annotation(refNameAnnotation, tag)); err != nil {
		return fmt.Errorf("%s: tagging %s: %w", l.Name(), desc.Digest, err)
	}
	return l.path.AppendDescriptor(entry)
}

func (l *layoutRepository) Referrers(ctx context.Context, subject v1.Descriptor, artifactType string) ([]v1.Descriptor, error) {
	m, err := l.index()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	seen := map[v1.Hash]bool{}
	referrers := 0
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() || seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		raw, err := l.Fetch(ctx, d)
		if err != nil {
			return nil, err
		}
		var mf v1.Manifest
		var extra struct {
			ArtifactType string `json:"artifactType"`
		}
		if json.Unmarshal(raw, &mf) != nil || json.Unmarshal(raw, &extra) != nil || mf.Subject == nil || mf.Subject.Digest != subject.Digest {
			continue
		}
		if referrers++; referrers > MaxReferrers {
			return nil, tooManyReferrers(l.Name(), subject.Digest, referrers)
		}
		ref := v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest, ArtifactType: extra.ArtifactType, Annotations: mf.Annotations}
		if ref.ArtifactType == "" {
			ref.ArtifactType = string(mf.Config.MediaType)
		}
		if artifactType == "" || ref.ArtifactType == artifactType {
			out = append(out, ref)
		}
	}
	return out, nil
}
