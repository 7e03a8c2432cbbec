package generate

import (
	"context"
	"os"
	"testing"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// benchImage is the image the layer cache benchmarks catalogue: the OCI
// layout DOSSIER_BENCH_LAYOUT names (bench/layers.sh's images pulled with
// `crane pull --format oci`), else the Debian sample with the npm and Go
// samples' layers over it.
func benchImage(b *testing.B) *oci.Artifact {
	b.Helper()
	dir := os.Getenv("DOSSIER_BENCH_LAYOUT")
	if dir == "" {
		return layoutOf(b, testutil.LinuxImage(b, testutil.SampleLayers(b, "debian", "amd64")[0], npmApp(b), testutil.SampleLayers(b, "go-app", "amd64")[0]))
	}
	src, err := oci.ParseSource("oci-layout:" + dir)
	if err != nil {
		b.Fatal(err)
	}
	art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return art
}

// BenchmarkSyftSquash is syft's catalogue of the image's squash: what the
// layer cache is measured against.
func BenchmarkSyftSquash(b *testing.B) {
	art := benchImage(b)
	for b.Loop() {
		catalogue(b, art, nil)
	}
}

// BenchmarkLayerCacheCold catalogues the image with an empty cache: every
// layer analysed and stored.
func BenchmarkLayerCacheCold(b *testing.B) {
	art := benchImage(b)
	for b.Loop() {
		b.StopTimer()
		cache, _ := openCache(b)
		b.StartTimer()
		if r := catalogue(b, art, cache); r.Layers.Analysed != r.Layers.Layers {
			b.Fatalf("%+v, want every layer analysed", r.Layers)
		}
	}
}

// BenchmarkLayerCacheWarm catalogues the image with every layer's
// analysis stored: no layer is read.
func BenchmarkLayerCacheWarm(b *testing.B) {
	art := benchImage(b)
	cache, _ := openCache(b)
	catalogue(b, art, cache)
	for b.Loop() {
		if r := catalogue(b, art, cache); r.Layers.Cached != r.Layers.Layers {
			b.Fatalf("%+v, want every layer from the cache", r.Layers)
		}
	}
}
