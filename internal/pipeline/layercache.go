package pipeline

import (
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/store"
)

// LayerCache is the evidence store as the cache of what image layers
// hold (no cache without a store): every flow that catalogues an image
// and has a store catalogues each layer once.
func LayerCache(st *store.Store) generate.LayerCache {
	if st == nil {
		return nil
	}
	return st
}
