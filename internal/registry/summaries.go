package registry

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

// Summaries makes the registry publish its quarantine's allow decisions:
// when a scan job ends and the digest's quarantine policies allow it, a
// SLSA verification summary signed by Signer is attached to it, so that a
// cluster can accept the registry's judgement (verificationSummaries)
// instead of verifying every piece again.
type Summaries struct {
	// Key signs the summaries (and verifies those already attached).
	Key *sign.KeyPair
	// VerifierID is the registry's verifier URI, as policies name it.
	VerifierID string
	// Version is dossier's, recorded in the summary.
	Version string
}

// publishSummary attaches a verification summary to a digest its
// quarantine rule's policies allow, judged by digest on the recorded
// evidence as a pull by digest is. A digest no rule covers, or one denied
// or allowed by no policy, gets none; nor does one that already carries
// this registry's summary of the same policies (the summary's own push
// queues a verify job, which must not publish another).
func (r *Registry) publishSummary(ctx context.Context, job store.Job) error {
	path := strings.TrimPrefix(job.Repository, r.name+"/")
	rule := r.quarantine.rule(path)
	if rule == nil || job.Repository != r.repository(path) {
		return nil
	}
	// judged as the quarantine judges it: a digest whose scan has not
	// ended (or failed) is held whatever its evidence says, so a verify
	// job ending first publishes nothing (the scan's own job is the one
	// ending now)
	jobs, err := r.store.Jobs(ctx, job.Repository, job.Digest, 0)
	if err != nil {
		return err
	}
	scan := judgingScan(jobs)
	if scan == nil || (scan.ID != job.ID && scan.State != store.JobDone) {
		return nil
	}
	set, _ := rule.Rules()
	subject := evidence.Subject{Repository: job.Repository, Digest: job.Digest}
	recorded, err := r.store.RecordedEvidence(ctx, subject, "")
	if err != nil || recorded == nil {
		return err
	}
	now := r.now()
	decision := policy.Evaluate(set, evidence.OwnEvidence(recorded), now)
	if !decision.Allowed || len(decision.Policies) == 0 {
		return nil
	}
	opts := attest.SummaryOptions{VerifierID: r.summaries.VerifierID, Version: r.summaries.Version}
	for _, p := range set.Policies {
		opts.Policies = append(opts.Policies, attest.SummaryPolicy{Name: p.Name, Digest: p.Digest})
	}
	predicate, err := attest.VerificationSummary(decision, opts)
	if err != nil {
		return err
	}
	repo, err := oci.OpenRegistry(job.Repository, oci.RegistryOptions{Transport: r.publisher(path), Keychain: authn.NewMultiKeychain()})
	if err != nil {
		return err
	}
	desc, err := repo.Resolve(ctx, job.Digest)
	if err != nil {
		return err
	}
	if done, err := r.summarised(ctx, repo, desc, predicate, now); err != nil || done {
		return err
	}
	if _, err := attest.Attach(ctx, repo, desc, evidence.PredicateVSA, predicate, nil, sign.NewKeySigner(r.summaries.Key, ""), now); err != nil {
		return fmt.Errorf("publishing the verification summary of %s: %w", subject, err)
	}
	return nil
}

// summaryFacts are what tells one summary of the registry from another.
type summaryFacts struct {
	Verifier struct {
		ID string `json:"id"`
	} `json:"verifier"`
	Policy struct {
		Digest map[string]string `json:"digest"`
	} `json:"policy"`
	VerificationResult string `json:"verificationResult"`
}

// summarised reports whether desc carries a summary signed with the
// registry's key that says what predicate says: the same verifier, the
// same policies, PASSED.
func (r *Registry) summarised(ctx context.Context, repo oci.Repository, desc v1.Descriptor, predicate json.RawMessage, now time.Time) (bool, error) {
	var want summaryFacts
	if err := json.Unmarshal(predicate, &want); err != nil {
		return false, err
	}
	trust, err := sign.NewTrust([]crypto.PublicKey{r.summaries.Key.Public()}, nil, now)
	if err != nil {
		return false, err
	}
	found, _, err := attest.Verify(ctx, repo, desc, evidence.PredicateVSA, trust)
	if err != nil {
		return false, err
	}
	for _, a := range found {
		var got summaryFacts
		if json.Unmarshal(a.Predicate, &got) == nil && got.Verifier.ID == want.Verifier.ID &&
			got.VerificationResult == want.VerificationResult && maps.Equal(got.Policy.Digest, want.Policy.Digest) {
			return true, nil
		}
	}
	return false, nil
}

// publisher reaches this registry in-process with the right to read one
// repository and add to it (blob uploads and manifests, never a delete or
// a mount from elsewhere): what attaching a summary needs.
func (r *Registry) publisher(path string) http.RoundTripper {
	return inProcess{h: r, host: r.name, path: path, write: true}
}
