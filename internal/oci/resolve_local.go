package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

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
