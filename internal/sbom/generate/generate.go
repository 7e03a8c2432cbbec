// Package generate catalogues the software in an artifact with the syft
// library and encodes the result as CycloneDX, SPDX or syft JSON bound to
// the artifact's digest. It is kept apart from package sbom so that
// consumers of SBOMs (policy, admission) do not link syft.
package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging/pkgcataloging"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/directorysource"
	"github.com/anchore/syft/syft/source/filesource"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	_ "modernc.org/sqlite" // syft reads RPM databases through database/sql

	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sbom"
)

// Options control generation.
type Options struct {
	// Platform selects an image from a multi-platform index.
	Platform *v1.Platform
	// Created is the creation time written into the SBOM; zero means now.
	// Callers honour SOURCE_DATE_EPOCH by setting it.
	Created time.Time
	// Parallelism bounds syft's cataloguing workers (0: syft's default).
	Parallelism int
	// MaxLayerBytes and MaxImageBytes bound what an image's layers unpack
	// to (0: DefaultMaxLayerBytes, DefaultMaxImageBytes).
	MaxLayerBytes, MaxImageBytes int64
	// MaxArchiveBytes bounds what the archives inside an artifact (a fat
	// jar's jars, and theirs) unpack to on disk at once (0:
	// DefaultMaxArchiveBytes).
	MaxArchiveBytes int64
	// Cache, when set, keeps what cataloguing found in each image layer:
	// an image is catalogued as the merge of its layers' analyses, each
	// layer catalogued once (layered.go).
	Cache LayerCache
	// Now is the clock the cache's use is recorded with (nil: time.Now).
	Now func() time.Time
}

// Result is a catalogued artifact, ready to encode.
type Result struct {
	// Subject is the exact content catalogued: for an index, the platform
	// manifest chosen.
	Subject evidence.Subject
	// Tag is the tag the subject was resolved from, if any.
	Tag string
	// Platform is os/arch[/variant] for images.
	Platform string
	Created  time.Time
	Tool     buildinfo.Info
	// Layers says how the layer cache served the catalogue (nil when no
	// cache was used).
	Layers *LayerReport

	sbom   *syftsbom.SBOM
	source oci.Source
}

// Generate catalogues the artifact.
func Generate(ctx context.Context, a *oci.Artifact, opts Options) (*Result, error) {
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	res := &Result{Subject: a.Subject, Tag: a.Tag, Created: created.UTC(), Tool: buildinfo.Read(), source: a.Source}
	if a.Source.IsImage() && opts.Cache != nil {
		s, err := res.catalogueLayers(ctx, a, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: cataloguing %s: %w", a.Source.Input, res.Subject, err)
		}
		res.sbom = s
		return res, nil
	}

	var (
		src     source.Source
		cleanup func()
		err     error
	)
	if a.Source.IsImage() {
		src, cleanup, err = res.imageSource(ctx, a, opts)
	} else {
		src, cleanup, err = localSource(a)
	}
	if err != nil {
		return nil, err
	}
	defer cleanup()

	s, err := res.catalogueWhole(ctx, src, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: cataloguing %s: %w", a.Source.Input, res.Subject, err)
	}
	res.sbom = s
	return res, nil
}

// syftConfig is the cataloguing dossier asks of syft; witness sees the
// Java archives.
func (res *Result) syftConfig(opts Options, witness *javaArchiveWitness) *syft.CreateSBOMConfig {
	cfg := syft.DefaultCreateSBOMConfig().WithTool("dossier", res.Tool.Version).WithArchiveConfig(archiveBounds(opts.MaxArchiveBytes)).
		WithCatalogers(pkgcataloging.NewAlwaysEnabledCatalogerReference(witness))
	if opts.Parallelism > 0 {
		cfg = cfg.WithParallelism(opts.Parallelism)
	}
	return cfg
}

// catalogueWhole is syft's catalogue of a source: of an image, of its
// squash.
func (res *Result) catalogueWhole(ctx context.Context, src source.Source, opts Options) (*syftsbom.SBOM, error) {
	witness := newJavaArchiveWitness()
	s, err := syft.CreateSBOM(ctx, src, res.syftConfig(opts, witness))
	if err == nil {
		// cataloguers stopped by the deadline return what they had found:
		// a catalogue cut short is no catalogue
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if err := archivesCatalogued(s, witness); err != nil {
		return nil, err
	}
	return s, nil
}

func (res *Result) imageSource(ctx context.Context, a *oci.Artifact, opts Options) (source.Source, func(), error) {
	img, meta, err := res.openImage(ctx, a, opts)
	if err != nil {
		return nil, nil, err
	}
	simg, cleanup, err := res.readImage(ctx, a, img, meta, opts)
	if err != nil {
		return nil, nil, err
	}
	// cleanup removes the image, as the source's Close would
	return res.stereoscopeSource(simg), cleanup, nil
}

// openImage resolves the image to catalogue (an index's platform image)
// and what stereoscope is told of it beyond its manifest and config.
func (res *Result) openImage(ctx context.Context, a *oci.Artifact, opts Options) (v1.Image, []image.AdditionalMetadata, error) {
	img, subject, err := a.Image(ctx, opts.Platform)
	if err != nil {
		return nil, nil, err
	}
	res.Subject = subject
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading manifest %s: %w", a.Source.Input, subject.Digest, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading image config of %s: %w", a.Source.Input, subject.Digest, err)
	}
	// an image whose config names no OS or architecture has no platform
	if p := cfg.Platform(); p != nil {
		res.Platform = p.String()
	}
	meta := []image.AdditionalMetadata{
		image.WithManifest(rawManifest),
		image.WithManifestDigest(subject.Digest),
	}
	if a.Source.Kind == oci.KindRegistry {
		meta = append(meta, image.WithRepoDigests(subject.String()))
		if a.Tag != "" {
			meta = append(meta, image.WithTags(subject.Repository+":"+a.Tag))
		}
	}
	return bounded(img, opts.MaxLayerBytes, opts.MaxImageBytes), meta, nil
}

// readImage unpacks an image's layers with stereoscope; cleanup removes
// what it wrote.
func (res *Result) readImage(ctx context.Context, a *oci.Artifact, img v1.Image, meta []image.AdditionalMetadata, opts Options) (*image.Image, func(), error) {
	tmp := stereofile.NewTempDirGenerator("dossier")
	cacheDir, err := tmp.NewDirectory("image")
	if err != nil {
		return nil, nil, errors.Join(err, tmp.Cleanup())
	}
	simg := image.New(img, tmp, cacheDir, meta...)
	// The squashed scope needs only the image's squash up front, so lower
	// layers' squashes are built lazily, as syft's own image provider does.
	if err := simg.Read(image.WithLazyLayerSquashes(ctx)); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("%s: reading layers of %s: %w", a.Source.Input, res.Subject.Digest, err), simg.Cleanup(), tmp.Cleanup())
	}
	return simg, func() { _ = simg.Cleanup(); _ = tmp.Cleanup() }, nil
}

// stereoscopeSource is syft's source of a read image, named by the subject.
func (res *Result) stereoscopeSource(simg *image.Image) source.Source {
	return stereoscopesource.New(simg, stereoscopesource.ImageConfig{
		Reference: res.Subject.String(),
		Alias:     source.Alias{Name: res.Subject.Repository, Version: res.Subject.Digest},
	})
}

func localSource(a *oci.Artifact) (source.Source, func(), error) {
	var (
		src source.Source
		err error
	)
	alias := source.Alias{Name: a.Subject.Repository, Version: a.Subject.Digest}
	switch a.Source.Kind {
	case oci.KindDir:
		src, err = directorysource.New(directorysource.Config{Path: a.Source.Path, Alias: alias})
	case oci.KindFile:
		src, err = filesource.New(filesource.Config{Path: a.Source.Path, Alias: alias})
	default:
		err = fmt.Errorf("source kind %q is not supported", a.Source.Kind)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", a.Source.Input, err)
	}
	return src, func() { _ = src.Close() }, nil
}

// Document catalogues art and reads the SBOM back into the component
// model (encoded as CycloneDX and decoded, the same path an SBOM file
// takes), with the subject it was made for.
func Document(ctx context.Context, art *oci.Artifact, opts Options) (*evidence.Document, error) {
	res, err := Generate(ctx, art, opts)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := res.Encode(&buf, sbom.FormatCycloneDX); err != nil {
		return nil, err
	}
	doc, err := sbom.Decode(&buf, "SBOM of "+res.Subject.String())
	if err != nil {
		return nil, err
	}
	subject := res.Subject
	doc.Subject, doc.Cataloguer = &subject, Cataloguer(opts)
	return doc, nil
}
