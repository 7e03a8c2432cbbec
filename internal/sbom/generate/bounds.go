package generate

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/sbom"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Default bounds on what cataloguing unpacks: a layer's and an image's
// uncompressed bytes. A gzip of zeros a thousand times its size must fail
// cleanly, never fill the disk.
const (
	DefaultMaxLayerBytes = 8 << 30
	DefaultMaxImageBytes = 16 << 30
	// DefaultMaxArchiveBytes bounds the nested archives (a fat jar's jars,
	// and theirs) one artifact's cataloguing has unpacked on disk at once.
	DefaultMaxArchiveBytes = 4 << 30
)

// Nested archives are catalogued by syft's archive task, which keeps to a
// disk and memory budget and records what it could not read, not by the
// Java cataloguer's own recursion, which unpacks without bound: a 31 KB
// jar of nested jars must not write gigabytes.
const (
	maxArchiveDepth       = 16
	maxArchiveMemoryBytes = 256 << 20
)

func archiveBounds(maxBytes int64) cataloging.ArchiveSearchConfig {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxArchiveBytes
	}
	return cataloging.DefaultArchiveSearchConfig().WithMaxDepth(maxArchiveDepth).
		WithMaxMemoryBytes(min(maxArchiveMemoryBytes, maxBytes)).WithMaxDiskBytes(maxBytes)
}

// archiveLosses are how syft's archive task says it read an archive only
// in part, or not at all, for want of budget or depth or because the
// archive contains itself: content not read is not catalogued, and an SBOM
// silent about it would call the image clean.
var archiveLosses = []string{"archive skipped", "archive cataloged from part", "nested archive depth limit", "identical to an archive that contains it"}

// ErrArchiveNotCatalogued says an archive inside the artifact could not be
// read whole.
type ErrArchiveNotCatalogued struct {
	Path, Reason string
}

func (e *ErrArchiveNotCatalogued) Error() string {
	return fmt.Sprintf("archive %s was not catalogued whole (%s): the artifact is not catalogued", e.Path, e.Reason)
}

// archivesCatalogued fails when syft left an archive unread, or a Java
// archive the witness saw yielded no package.
func archivesCatalogued(s *sbom.SBOM, witness *javaArchiveWitness) error {
	if archive, reason := witness.unreadable(); archive != "" {
		return &ErrArchiveNotCatalogued{Path: archive, Reason: reason}
	}
	if missed := witness.uncatalogued(s); len(missed) > 0 {
		return &ErrArchiveNotCatalogued{Path: missed[0], Reason: "a Java archive a JVM can load, under a name or behind leading bytes syft's Java cataloguer does not read"}
	}
	coordinates := slices.SortedFunc(maps.Keys(s.Artifacts.Unknowns), func(a, b file.Coordinates) int { return strings.Compare(a.RealPath, b.RealPath) })
	for _, c := range coordinates {
		for _, reason := range s.Artifacts.Unknowns[c] {
			if slices.ContainsFunc(archiveLosses, func(loss string) bool { return strings.Contains(reason, loss) }) {
				return &ErrArchiveNotCatalogued{Path: c.RealPath, Reason: reason}
			}
		}
	}
	return nil
}

// ErrTooLarge says an image unpacks to more than cataloguing takes.
type ErrTooLarge struct {
	Layer v1.Hash
	// What was exceeded, "a layer" or "an image", and its bound.
	What  string
	Limit int64
}

func (e *ErrTooLarge) Error() string {
	return fmt.Sprintf("layer %s unpacks to more than the %d MiB %s may have uncompressed: not catalogued", e.Layer, e.Limit>>20, e.What)
}

// boundedImage is an image whose layers stop unpacking past the bounds.
type boundedImage struct {
	v1.Image
	maxLayer, maxImage int64
	unpacked           *atomic.Int64
}

func bounded(img v1.Image, maxLayer, maxImage int64) v1.Image {
	if maxLayer <= 0 {
		maxLayer = DefaultMaxLayerBytes
	}
	if maxImage <= 0 {
		maxImage = DefaultMaxImageBytes
	}
	return &boundedImage{Image: img, maxLayer: maxLayer, maxImage: maxImage, unpacked: &atomic.Int64{}}
}

func (b *boundedImage) Layers() ([]v1.Layer, error) {
	layers, err := b.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(layers))
	for i, l := range layers {
		out[i] = &boundedLayer{Layer: l, image: b}
	}
	return out, nil
}

type boundedLayer struct {
	v1.Layer
	image *boundedImage
}

func (l *boundedLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	digest, _ := l.Digest()
	return &boundedReader{ReadCloser: rc, layer: digest, image: l.image}, nil
}

type boundedReader struct {
	io.ReadCloser
	layer v1.Hash
	image *boundedImage
	read  int64
}

func (r *boundedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.read += int64(n)
	switch {
	case r.read > r.image.maxLayer:
		return 0, &ErrTooLarge{Layer: r.layer, What: "a layer", Limit: r.image.maxLayer}
	case r.image.unpacked.Add(int64(n)) > r.image.maxImage:
		return 0, &ErrTooLarge{Layer: r.layer, What: "an image", Limit: r.image.maxImage}
	}
	return n, err
}
