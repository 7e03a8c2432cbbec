package cli

import (
	"context"
	"fmt"

	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
)

// layerCache opens the evidence store as the cache of what image layers
// hold when the cache is on (a bound given); a store that cannot be opened
// catalogues without one, and says so.
func (a *app) layerCache(ctx context.Context, f storeFlags) (generate.LayerCache, func()) {
	if f.layerCacheMiB == 0 {
		return nil, func() {}
	}
	st, err := f.open(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "note: cataloguing every layer anew, the layer cache is unavailable: %v\n", err)
		return nil, func() {}
	}
	return pipeline.LayerCache(st), func() { st.Close() }
}
