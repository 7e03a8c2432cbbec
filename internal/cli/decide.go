package cli

import (
	"context"
	"sync"
	"time"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
)

// decided is one reference's evidence and decision.
type decided struct {
	reference string
	artifact  *oci.Artifact
	evidence  *evidence.Collected
	decision  evidence.Decision
}

// decideOptions say how decideAll gathers evidence.
type decideOptions struct {
	trustedRoot string
	// namespace judges as if admitted to it (namespaced exceptions).
	namespace string
	// scanner scans for vulnerability rules; noScanner says why there is none.
	scanner   collect.Scanner
	noScanner string
	// check runs on each resolved artifact before collection; its error,
	// like a resolution error, stops the command.
	check func(ref string, art *oci.Artifact) error
}

// decideAll resolves each reference, collects the evidence the set's
// policies need and decides, four at a time over shared registry clients;
// results keep the order given.
func (a *app) decideAll(ctx context.Context, set *policy.Set, refs []string, o decideOptions) ([]decided, error) {
	trust, err := collect.DecidingTrust(set, o.trustedRoot, time.Now())
	if err != nil {
		return nil, err
	}
	a.registry.ShareClients()
	opts := collect.Options{Trust: trust, Scanner: o.scanner, NoScanner: o.noScanner}
	results := make([]decided, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			art, err := a.resolveSource(ctx, ref)
			if err == nil && o.check != nil {
				err = o.check(ref, art)
			}
			if err != nil {
				errs[i] = err
				return
			}
			reference := ""
			if art.Tag != "" {
				reference = art.Subject.Repository + ":" + art.Tag
			}
			ev := collect.Collect(ctx, set, art, reference, opts)
			ev.Namespace = o.namespace
			results[i] = decided{reference: ref, artifact: art, evidence: ev, decision: policy.Evaluate(set, ev, time.Now())}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}
