package generate

import (
	"fmt"
	"io"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Default bounds on what cataloguing unpacks: a layer's and an image's
// uncompressed bytes. A gzip of zeros a thousand times its size must fail
// cleanly, never fill the disk.
const (
	DefaultMaxLayerBytes = 8 << 30
	DefaultMaxImageBytes = 16 << 30
)

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
