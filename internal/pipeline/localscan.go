package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// ScanLocally catalogues an artifact and scans it against the local
// advisory database: a multi-platform index on every platform it holds
// (Catalogue), or on platform alone when one is named.
func ScanLocally(ctx context.Context, db scan.Database, art *oci.Artifact, platform *v1.Platform, exceptions []evidence.Exception) (*evidence.VulnerabilityEvidence, error) {
	return scanLocally(ctx, db, art, platform, exceptions, nil)
}

func scanLocally(ctx context.Context, db scan.Database, art *oci.Artifact, platform *v1.Platform, exceptions []evidence.Exception, cache generate.LayerCache) (*evidence.VulnerabilityEvidence, error) {
	doc, err := Catalogue(ctx, art, platform, cache)
	if err != nil {
		return nil, err
	}
	r, err := scan.Scan(ctx, db, doc, scan.Config{Source: art.Source.Input, Exceptions: exceptions})
	if err != nil {
		return nil, err
	}
	return r.Evidence(), nil
}

// Catalogue is the SBOM of an artifact. Of a multi-platform index with no
// platform named it is the union of every image's a runtime could pick
// from it (oci.RunnableImages: entries naming no platform and nested
// indexes included), about the index itself, each location naming its
// platform ("linux/arm64 /app/go.mod"):
// a vulnerability gate on an index then judges every image a node may pull
// from it, not the one a default platform picks, and "which digests
// contain X" counts the index when any of its platforms does. cache, when
// not nil, keeps what each image layer holds, so that a layer is
// catalogued once for every image sharing it.
func Catalogue(ctx context.Context, art *oci.Artifact, platform *v1.Platform, cache generate.LayerCache) (*evidence.Document, error) {
	if !art.IsIndex() || platform != nil {
		return generate.Document(ctx, art, generate.Options{Platform: platform, Cache: cache})
	}
	images, err := art.RunnableImages(ctx)
	if err != nil {
		return nil, err
	}
	var merged *evidence.Document
	index := map[string]int{} // a component's identity → its position
	labels := map[string]bool{}
	for _, image := range images {
		// an image is named by its platform, and by its digest when it
		// has none or shares its platform with another
		label := image.Platform
		if label == "" || labels[label] {
			label = strings.TrimSpace(label + " " + image.Digest)
		}
		labels[label] = true
		doc, err := generate.Document(ctx, image.Artifact, generate.Options{Cache: cache})
		if err != nil {
			return nil, fmt.Errorf("image %s of index %s: %w", label, art.Subject.Digest, err)
		}
		if merged == nil {
			subject := art.Subject
			merged = &evidence.Document{Format: doc.Format, SpecVersion: doc.SpecVersion, Subject: &subject, SubjectName: "SBOM of " + subject.String(),
				Tool: doc.Tool, Cataloguer: doc.Cataloguer, Created: doc.Created, Components: []evidence.Component{}}
		}
		for _, c := range doc.Components {
			locations := make([]string, 0, max(len(c.Locations), 1))
			for _, l := range c.Locations {
				locations = append(locations, label+" "+l)
			}
			if len(locations) == 0 {
				locations = append(locations, label)
			}
			key := c.PURL + "\x00" + c.Type + "\x00" + c.Name + "\x00" + c.Version
			if i, ok := index[key]; ok {
				for _, l := range locations {
					if !slices.Contains(merged.Components[i].Locations, l) {
						merged.Components[i].Locations = append(merged.Components[i].Locations, l)
					}
				}
				continue
			}
			c.Locations = locations
			index[key] = len(merged.Components)
			merged.Components = append(merged.Components, c)
		}
	}
	if merged == nil {
		return nil, fmt.Errorf("%s: index %s holds no image of a platform to catalogue", art.Source.Input, art.Subject.Digest)
	}
	return merged, nil
}

// LocalScanner scans for collect on the local advisory database, as
// ScanLocally does.
type LocalScanner struct {
	DB         scan.Database
	Exceptions []evidence.Exception
	// Platform, when set, is the one platform of an index scanned.
	Platform *v1.Platform
	// Cache, when set, keeps what each image layer holds.
	Cache generate.LayerCache
}

var _ collect.Scanner = LocalScanner{}

// Scan catalogues and scans art.
func (s LocalScanner) Scan(ctx context.Context, art *oci.Artifact) (*evidence.VulnerabilityEvidence, error) {
	return scanLocally(ctx, s.DB, art, s.Platform, s.Exceptions, s.Cache)
}

// LocalScanning points opts at the advisory database in dataDir, or
// records why there is none (rules that need a local scan then fail with
// that reason); close releases it. A server keeps warm bytes of the
// database's records decoded (vulndb.DB.KeepWarm); a command, none.
func LocalScanning(dataDir string, opts *collect.Options, warm int64) (close func(), err error) {
	db, missing, err := vulndb.OpenIfPresent(dataDir)
	switch {
	case err != nil:
		return nil, err
	case db == nil:
		opts.NoScanner = missing
		return func() {}, nil
	}
	db.KeepWarm(warm)
	opts.Scanner = LocalScanner{DB: db}
	return func() { db.Close() }, nil
}
