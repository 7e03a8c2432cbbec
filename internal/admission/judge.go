package admission

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/metrics"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
)

// Rules is one version of what the webhook decides with: the policies and
// exceptions, what verifies their signers, and a version naming both.
type Rules struct {
	Set     *policy.Set
	Collect collect.Options
	// Version changes whenever the policies, exceptions or trust material
	// change: cached evidence of another version is never used.
	Version string
}

// judge resolves image references and gathers the evidence the policies
// need about each digest, caching both for a while. A cached answer is
// the evidence itself, re-evaluated on every request: a hit never skips a
// check the policies require. Concurrent requests for one digest share
// one gathering; evidence that could not be gathered whole is not kept.
type judge struct {
	registry oci.RegistryOptions
	// evidenceTTL bounds how long gathered evidence is reused; tagTTL how
	// long a tag's digest is.
	evidenceTTL, tagTTL time.Duration
	now                 func() time.Time

	mu       sync.Mutex
	evidence map[string]*gathering
	tags     map[string]*resolution
	// gatherings and resolutions count the work done, hits the answers
	// the caches gave
	gatherings, resolutions, hits atomic.Int64
	metrics                       *metrics.Metrics
	// resolving and gathering hand out the slots of the two kinds of
	// shared work (see workSlots)
	resolving, gathering *workSlots
	// bundles bounds the signatures and attestations held at once
	bundles *oci.ReadBudget
}

type gathering struct {
	done    chan struct{}
	ev      *evidence.Collected
	expires time.Time
	// slot says what the gathering waits on (workSlots)
	slot slotWait
}

type resolution struct {
	done    chan struct{}
	art     *oci.Artifact
	err     error
	expires time.Time
	slot    slotWait
}

func newJudge(registry oci.RegistryOptions, evidenceTTL, tagTTL time.Duration, now func() time.Time, m *metrics.Metrics) *judge {
	registry.ShareClients()
	return &judge{registry: registry, evidenceTTL: evidenceTTL, tagTTL: tagTTL, now: now, metrics: m,
		evidence: map[string]*gathering{}, tags: map[string]*resolution{}, resolving: newWorkSlots(maxWork, maxWorkPerRegistry), gathering: newWorkSlots(maxGathering, maxGatheringPerRegistry),
		bundles: oci.NewReadBudget(maxBundleBytesHeld)}
}

// parsedImages remembers the references reviews name, parsed: parsing
// (three grammars, by regular expressions) was a tenth of a warm review's
// CPU, and a cluster runs the same few hundred images over and over. Only
// references that parse are kept, at most maxParsedImages, forgotten all
// at once when full (names a Pod creator makes up cost a parse each, as
// before, and never grow it past the bound).
type parsedImages struct {
	mu   sync.RWMutex
	refs map[string]name.Reference
}

const maxParsedImages = 4096

func (p *parsedImages) parse(image string) (name.Reference, error) {
	p.mu.RLock()
	ref, ok := p.refs[image]
	p.mu.RUnlock()
	if ok {
		return ref, nil
	}
	ref, err := ParseImage(image)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.refs == nil || len(p.refs) >= maxParsedImages {
		p.refs = map[string]name.Reference{}
	}
	p.refs[image] = ref
	p.mu.Unlock()
	return ref, nil
}

// ParseImage reads a container image reference as the container runtime
// would: a registry reference, Docker Hub by default ("busybox" is
// index.docker.io/library/busybox:latest), then spells it canonically
// (evidence.CanonicalRepository) so that every spelling of one registry
// meets the same policies.
func ParseImage(image string) (name.Reference, error) {
	if strings.TrimSpace(image) == "" {
		return nil, fmt.Errorf("empty image reference")
	}
	// the grammar container runtimes parse by: a name they refuse
	// ("a/../b", "localhost.:5000/x") is one no policy's glob should be
	// asked to match
	if _, err := reference.ParseDockerRef(image); err != nil {
		return nil, fmt.Errorf("image %.300q is not a reference a container runtime reads: %w", image, err)
	}
	ref, err := name.ParseReference(image, name.StrictValidation)
	if err != nil {
		// a tag-less reference is valid to the runtime (it means :latest)
		if ref, err = name.ParseReference(image); err != nil {
			return nil, fmt.Errorf("image %.300q: %w", image, err)
		}
	}
	if host := ref.Context().RegistryStr(); !evidence.ValidHost(host) {
		return nil, fmt.Errorf("image %q: registry host %q is not one name for one registry (numbers that are not an IPv4 address as written everywhere)", image, host)
	}
	repository := evidence.CanonicalRepository(ref.Context().Name())
	var canonical string
	switch r := ref.(type) {
	case name.Digest:
		canonical = repository + "@" + r.DigestStr()
	case name.Tag:
		canonical = repository + ":" + r.TagStr()
	}
	if canonical == ref.Name() {
		return ref, nil
	}
	out, err := name.ParseReference(canonical, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image %q (%s): %w", image, canonical, err)
	}
	return out, nil
}

// resolve names an image by digest: at once when it carries one, else by
// asking its registry (shared by concurrent requests, kept for tagTTL).
// The shared work runs on its own clock (shared): the request that
// started it only waits for it, as the others do, so that one review's
// short budget is never another's outage.
func (j *judge) resolve(ctx context.Context, ref name.Reference, secrets *oci.PullSecrets) (*oci.Artifact, error) {
	// what one namespace's pull secret let dossier read is kept apart
	key := ref.Name() + "\x00" + secrets.Fingerprint(ref.Context())
	j.mu.Lock()
	r, ok := j.tags[key]
	if ok && !r.expired(j.now()) {
		j.mu.Unlock()
		j.hits.Add(1)
		return r.wait(ctx)
	}
	j.resolutions.Add(1)
	r = &resolution{done: make(chan struct{})}
	j.tags[key] = r
	j.pruneTagsLocked()
	j.mu.Unlock()
	go func() {
		work, cancel := shared(ctx)
		defer cancel()
		release, err := j.resolving.acquire(work, ref.Context().RegistryStr(), &r.slot)
		if err != nil {
			r.err = err
			close(r.done)
			return
		}
		defer release()
		r.art, r.err = oci.Resolve(work, oci.Source{Kind: oci.KindRegistry, Input: ref.Name(), Reference: ref.Name()}, j.registry.WithPullSecrets(secrets))
		r.expires = j.now().Add(j.tagTTL)
		if r.err != nil {
			r.expires = time.Time{} // a failure is not remembered
		}
		close(r.done)
	}()
	return r.wait(ctx)
}

// shared is the context of work that concurrent reviews share: the
// values of the request that started it, but none of its cancellation or
// deadline, and the longest budget any review may have.
func shared(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
}

func (r *resolution) expired(now time.Time) bool {
	select {
	case <-r.done:
		return !now.Before(r.expires)
	default:
		return false // still running: share it
	}
}

func (r *resolution) wait(ctx context.Context) (*oci.Artifact, error) {
	select {
	case <-r.done:
		return r.art, r.err
	case <-ctx.Done():
		if r.slot.busy() {
			return nil, errWebhookBusy // not read for other registries' images: no outage of its own
		}
		return nil, ctx.Err()
	}
}

// gather returns the evidence the rules need about an artifact reached by
// reference, from the cache when it holds it for this rules version. Like
// resolve, the gathering is shared work on its own clock.
func (j *judge) gather(ctx context.Context, rules *Rules, art *oci.Artifact, reference string) *evidence.Collected {
	key := art.Subject.String() + "\x00" + reference + "\x00" + rules.Version
	j.mu.Lock()
	g, ok := j.evidence[key]
	if ok {
		select {
		case <-g.done:
			ok = j.now().Before(g.expires)
		default: // being gathered: share it
		}
	}
	if ok {
		j.mu.Unlock()
		j.hits.Add(1)
		j.metrics.CacheLookup(true)
		return g.wait(ctx, art, reference)
	}
	j.gatherings.Add(1)
	g = &gathering{done: make(chan struct{})}
	j.evidence[key] = g
	j.pruneLocked()
	j.mu.Unlock()
	j.metrics.CacheLookup(false)
	go func() {
		work, cancel := shared(ctx)
		defer cancel()
		host, _, _ := strings.Cut(art.Subject.Repository, "/")
		release, err := j.gathering.acquire(work, host, &g.slot)
		if err != nil {
			g.ev = &evidence.Collected{Subject: art.Subject, Reference: reference, Unavailable: map[string]string{evidence.NeedSignatures: err.Error()}}
			close(g.done)
			return
		}
		defer release()
		work, endReads := oci.WithReadBudget(work, j.bundles)
		defer endReads()
		start := time.Now()
		opts := rules.Collect
		if opts.Now == nil {
			// signatures' validity is judged on the clock decisions use
			opts.Now = j.now
		}
		g.ev = collect.Collect(work, rules.Set, art, reference, opts)
		j.metrics.Verification(time.Since(start))
		if len(g.ev.Unavailable) == 0 {
			g.expires = j.now().Add(j.evidenceTTL)
		}
		close(g.done)
	}()
	return g.wait(ctx, art, reference)
}

// wait returns the gathered evidence, or, when the request's own time
// runs out first, evidence that says the signatures could not be read.
func (g *gathering) wait(ctx context.Context, art *oci.Artifact, reference string) *evidence.Collected {
	select {
	case <-g.done:
		return g.ev
	case <-ctx.Done():
		why := ctx.Err()
		if g.slot.busy() {
			why = errWebhookBusy
		}
		return &evidence.Collected{Subject: art.Subject, Reference: reference,
			Unavailable: map[string]string{evidence.NeedSignatures: why.Error()}}
	}
}

// maxCached bounds each cache, the evidence gathered and the tags
// resolved; expired entries go first, then any finished one.
const maxCached = 10000

func (j *judge) pruneLocked() {
	if len(j.evidence) <= maxCached {
		return
	}
	now := j.now()
	for k, g := range j.evidence {
		select {
		case <-g.done:
			if !now.Before(g.expires) || len(j.evidence) > maxCached {
				delete(j.evidence, k)
			}
		default:
		}
	}
}

// pruneTagsLocked keeps the resolved tags within maxCached: references
// that fail to resolve are never used again, and must not pile up.
func (j *judge) pruneTagsLocked() {
	if len(j.tags) <= maxCached {
		return
	}
	now := j.now()
	for k, r := range j.tags {
		select {
		case <-r.done:
			if !now.Before(r.expires) || len(j.tags) > maxCached {
				delete(j.tags, k)
			}
		default:
		}
	}
}
