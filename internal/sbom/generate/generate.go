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

	witness := newJavaArchiveWitness()
	cfg := syft.DefaultCreateSBOMConfig().WithTool("dossier", res.Tool.Version).WithArchiveConfig(archiveBounds(opts.MaxArchiveBytes)).
		WithCatalogers(pkgcataloging.NewAlwaysEnabledCatalogerReference(witness))
	if opts.Parallelism > 0 {
		cfg = cfg.WithParallelism(opts.Parallelism)
	}
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err == nil {
		// cataloguers stopped by the deadline return what they had found:
		// a catalogue cut short is no catalogue
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cataloguing %s: %w", a.Source.Input, res.Subject, err)
	}
	if err := archivesCatalogued(s, witness); err != nil {
		return nil, fmt.Errorf("%s: cataloguing %s: %w", a.Source.Input, res.Subject, err)
	}
	res.sbom = s
	return res, nil
}

func (res *Result) imageSource(ctx context.Context, a *oci.Artifact, opts Options) (source.Source, func(), error) {
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

	tmp := stereofile.NewTempDirGenerator("dossier")
	cacheDir, err := tmp.NewDirectory("image")
	if err != nil {
		return nil, nil, errors.Join(err, tmp.Cleanup())
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
	simg := image.New(bounded(img, opts.MaxLayerBytes, opts.MaxImageBytes), tmp, cacheDir, meta...)
	// The squashed scope needs only the image's squash up front, so lower
	// layers' squashes are built lazily, as syft's own image provider does.
	if err := simg.Read(image.WithLazyLayerSquashes(ctx)); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("%s: reading layers of %s: %w", a.Source.Input, subject.Digest, err), simg.Cleanup(), tmp.Cleanup())
	}
	src := stereoscopesource.New(simg, stereoscopesource.ImageConfig{
		Reference: subject.String(),
		Alias:     source.Alias{Name: subject.Repository, Version: subject.Digest},
	})
	return src, func() { _ = src.Close(); _ = tmp.Cleanup() }, nil
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
	doc.Subject = &subject
	return doc, nil
}
