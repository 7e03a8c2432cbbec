package pipeline

import (
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/store"
)

// LayerCache is the evidence store as the cache of what image layers
// hold, when the store's layer cache is on (none without a store): every
// flow that catalogues an image then catalogues each layer once.
func LayerCache(st *store.Store) generate.LayerCache {
	if st == nil || !st.LayerCacheOn() {
		return nil
	}
	return st
}
