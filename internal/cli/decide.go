package cli

import (
	"context"
	"time"

	"github.com/dossier-dev/dossier/internal/decide"
	"github.com/dossier-dev/dossier/internal/policy"
)

// decideAll judges each reference (package decide) through this command's
// registry clients, shared between the references.
func (a *app) decideAll(ctx context.Context, set *policy.Set, refs []string, o decide.Options) ([]decide.Result, error) {
	a.registry.ShareClients()
	o.Resolve = a.resolveSource
	o.Now = time.Now
	return decide.All(ctx, set, refs, o)
}
