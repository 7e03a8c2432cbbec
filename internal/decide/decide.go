// Package decide judges references as the CI gate does: each is resolved,
// the evidence its policies need is collected, and the policy set decides,
// several references at a time over shared registry clients.
package decide

import (
	"context"
	"sync"
	"time"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
)

// inFlight is how many references are resolved and judged at once: enough
// to overlap registry round trips, few enough not to storm a registry.
const inFlight = 4

// Resolver finds the artifact a reference names.
type Resolver func(ctx context.Context, reference string) (*oci.Artifact, error)

// Options say how evidence is gathered and when it is judged.
type Options struct {
	Resolve Resolver
	// TrustedRoot is the Sigstore trusted root keyless rules verify
	// against ("" for the public good instance's, when a rule needs it).
	TrustedRoot string
	// Namespace judges as if admitted to it (namespaced exceptions).
	Namespace string
	// Scanner scans for vulnerability rules; NoScanner says why there is
	// none.
	Scanner   collect.Scanner
	NoScanner string
	// Check runs on each resolved artifact before collection; its error,
	// like a resolution error, stops the whole judgement.
	Check func(reference string, art *oci.Artifact) error
	Now   func() time.Time
}

// Result is one reference's evidence and decision.
type Result struct {
	Reference string
	Artifact  *oci.Artifact
	Evidence  *evidence.Collected
	Decision  evidence.Decision
}

// All resolves and decides each reference; results keep the order given.
// The first reference that cannot be resolved (or fails Check) is the
// error, and no results are returned.
func All(ctx context.Context, set *policy.Set, references []string, o Options) ([]Result, error) {
	trust, err := collect.DecidingTrust(set, o.TrustedRoot, o.Now())
	if err != nil {
		return nil, err
	}
	opts := collect.Options{Trust: trust, Scanner: o.Scanner, NoScanner: o.NoScanner, Now: o.Now}
	results := make([]Result, len(references))
	errs := make([]error, len(references))
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	for i, ref := range references {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			art, err := o.Resolve(ctx, ref)
			if err == nil && o.Check != nil {
				err = o.Check(ref, art)
			}
			if err != nil {
				errs[i] = err
				return
			}
			tagged := ""
			if art.Tag != "" {
				tagged = art.Subject.Repository + ":" + art.Tag
			}
			ev := collect.Collect(ctx, set, art, tagged, opts)
			ev.Namespace = o.Namespace
			results[i] = Result{Reference: ref, Artifact: art, Evidence: ev, Decision: policy.Evaluate(set, ev, o.Now())}
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
