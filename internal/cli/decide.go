package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
)

// decided is one reference's evidence and decision.
type decided struct {
	reference string
	evidence  *evidence.Collected
	decision  evidence.Decision
}

// trustedRoot reads the trusted root file, or, with no file and fetch set,
// fetches the public-good root. A fetch that fails is not an error but the
// reason keyless signatures cannot be verified (unavailable); a file that
// cannot be read is an error.
func trustedRoot(path string, fetch bool) (trusted root.TrustedMaterial, unavailable, err error) {
	switch {
	case path != "":
		tr, err := sign.LoadTrustedRoot(path)
		if err != nil {
			return nil, nil, err
		}
		return tr, nil, nil
	case fetch:
		tr, err := root.FetchTrustedRoot()
		if err != nil {
			return nil, fmt.Errorf("fetching the public-good trusted root failed (%v); offline, give --trusted-root FILE", err), nil
		}
		return tr, nil, nil
	}
	return nil, nil, nil
}

// trustFor loads what the policies' signers are verified against: their
// keys, and a trusted root when a policy trusts keyless signers (the file
// given, else the public-good root; when that cannot be had, keyless
// signatures are rejected with the reason).
func (a *app) trustFor(set *policy.Set, trustedRootPath string) (*sign.Trust, error) {
	var trusted root.TrustedMaterial
	var rootErr error
	if collect.NeedsTrustedRoot(set) {
		if named := collect.NamedTrustRoots(set); len(named) > 0 && trustedRootPath == "" {
			// never the public-good root in place of the one a policy names
			rootErr = fmt.Errorf("a policy verifies keyless signers against TrustRoot %s: give that trusted root as a file with --trusted-root", strings.Join(named, ", "))
		} else {
			var err error
			if trusted, rootErr, err = trustedRoot(trustedRootPath, true); err != nil {
				return nil, err
			}
		}
	}
	return collect.TrustFor(set, trusted, rootErr, time.Now())
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
	trust, err := a.trustFor(set, o.trustedRoot)
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
			results[i] = decided{reference: ref, evidence: ev, decision: policy.Evaluate(set, ev, time.Now())}
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
