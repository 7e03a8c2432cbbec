package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/distribution/v3"
	godigest "github.com/opencontainers/go-digest"
)

// blobIndexSetting marks a store whose manifests pushed before dossier
// indexed their blobs have been indexed since.
const blobIndexSetting = "manifest-blobs-indexed"

// indexStoredBlobs indexes the blobs of every manifest the storage holds,
// once per store (replicas racing do the same work twice, harmlessly):
// the blobs of manifests pushed before the index existed are then held
// with them. Until it ends those blobs are served as before.
func (r *Registry) indexStoredBlobs(ctx context.Context) error {
	_, err := r.store.Setting(ctx, blobIndexSetting, func() (string, error) {
		n, err := r.indexEveryManifest(ctx)
		return fmt.Sprintf("%d manifests", n), err
	})
	return err
}

func (r *Registry) indexEveryManifest(ctx context.Context) (int, error) {
	indexed := 0
	page := make([]string, 100)
	for last := ""; ; {
		n, err := r.content.Repositories(ctx, page, last)
		for _, name := range page[:n] {
			m, err := r.indexRepository(ctx, name)
			indexed += m
			if err != nil {
				return indexed, fmt.Errorf("indexing the blobs of %s: %w", name, err)
			}
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return indexed, nil
		}
		if err != nil {
			return indexed, err
		}
		last = page[n-1]
	}
}

func (r *Registry) indexRepository(ctx context.Context, name string) (int, error) {
	repo, err := r.stored(ctx, name)
	if err != nil {
		return 0, err
	}
	manifests, err := repo.Manifests(ctx)
	if err != nil {
		return 0, err
	}
	enumerator, ok := manifests.(distribution.ManifestEnumerator)
	if !ok {
		return 0, errors.New("the storage cannot list its manifests")
	}
	indexed := 0
	err = enumerator.Enumerate(ctx, func(d godigest.Digest) error {
		payload, err := readManifest(ctx, manifests, d)
		if err != nil {
			// distribution cannot serve it either; the others are indexed
			r.report(fmt.Errorf("the blobs of %s@%s are not indexed: %w", name, d, err))
			return nil
		}
		var fields manifest
		if json.Unmarshal(payload, &fields) != nil {
			return nil // nothing dossier reads, nothing it could index
		}
		indexed++
		_, isEvidence := evidenceSubject(payload, "")
		blobs, _, err := r.withCanonicalNames(ctx, name, blobsOf(fields))
		if err != nil {
			return err
		}
		return r.store.IndexBlobs(ctx, name, d.String(), isEvidence, blobs)
	})
	return indexed, err
}

// withCanonicalNames adds to a repository's blob digests the sha256 digest
// distribution stores each under, where one is named by another algorithm:
// a blob uploaded as sha512:… is served as its sha256 too, and the index
// must hold it by both (helper-14 read a held image's sha512-named layers
// by their sha256). unstored are those named by another algorithm that
// the repository does not store, whose sha256 no one can know.
func (r *Registry) withCanonicalNames(ctx context.Context, name string, blobs []string) (names, unstored []string, err error) {
	names = blobs
	for _, b := range blobs {
		canonical, err := r.canonicalBlob(ctx, name, b)
		switch {
		case err != nil:
			return nil, nil, err
		case canonical == "":
			unstored = append(unstored, b)
		case canonical != b:
			names = append(names, canonical)
		}
	}
	return names, unstored, nil
}

// canonicalBlob is the digest distribution stores a repository's blob
// under: the digest itself when it is sha256, else the one its link names
// ("" when the repository has no such blob).
func (r *Registry) canonicalBlob(ctx context.Context, name, blob string) (string, error) {
	if strings.HasPrefix(blob, "sha256:") {
		return blob, nil
	}
	d, err := godigest.Parse(blob)
	if err != nil {
		return "", nil // not a digest distribution stores anything under
	}
	repo, err := r.stored(ctx, name)
	if err != nil {
		return "", err
	}
	desc, err := repo.Blobs(ctx).Stat(ctx, d)
	if errors.Is(err, distribution.ErrBlobUnknown) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading what blob %s of %s is: %w", blob, name, err)
	}
	return desc.Digest.String(), nil
}
