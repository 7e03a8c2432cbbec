package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// immutable returns the rule that binds a repository's tag, if one does.
func (r *Registry) immutable(repository, tag string) *TagRule {
	for i, rule := range r.rules {
		if rule.Repositories.Match(repository) && rule.Tags.Match(tag) {
			return &r.rules[i]
		}
	}
	return nil
}

// heldBounds bound what one question "does an immutable tag hold this?"
// reads: the tags and manifests it looks up, and the manifests' bytes.
// Past either the answer is errTooMuchHeld, and the deletion or push that
// asked is refused.
type heldBounds struct{ lookups, bytes int }

var defaultHeldBounds = heldBounds{lookups: 20000, bytes: 32 << 20}

// errUnreadableHeld says a manifest an immutable tag reaches cannot be
// read as one, so what it holds is unknown.
var errUnreadableHeld = errors.New("an immutable tag holds a manifest dossier cannot read: nothing in the repository can be deleted, nor a cosign tag of it changed")

// errTooMuchHeld says a repository holds more under its immutable tags
// than dossier reads to answer.
var errTooMuchHeld = errors.New("its immutable tags hold more than dossier reads to tell what they hold: nothing in it can be deleted, nor a cosign tag of it changed")

// maxHeldSearches is how many searches of what immutable tags hold one
// process runs at once, one per token; the others wait (bounded by their
// request), so a token whose repositories are built to be expensive
// delays its own deletions, not other tokens'.
const maxHeldSearches = 4

// held says why an immutable tag of a repository holds digest in place
// ("" when none does): the manifest a tag points to, every manifest an
// index names (to any depth), the config and layers of each, and what is
// attached to any of them (cosign's .sig, .att and .sbom tags and OCI
// referrers, and theirs). None of it may be deleted while the tag points
// there. Tags' own digests are looked at first (what cosign signs), then
// each tag's graph until digest is found; the search is bounded
// (heldBounds) and runs one at a time per token (maxHeldSearches in all),
// so repositories built to be expensive cost their pusher's deletions, not
// other tokens' or the registry's CPU.
func (r *Registry) held(ctx context.Context, actor *tokens.Actor, repository, digest string) (string, error) {
	if len(r.rules) == 0 {
		return "", nil
	}
	release, err := r.heldSearches.acquire(ctx, actor.Name)
	if err != nil {
		return "", err
	}
	defer release()
	tags, err := r.tagsOf(ctx, repository)
	if err != nil {
		return "", err
	}
	search := heldSearch{r: r, repository: repository, target: digest, visited: map[string]bool{}}
	type immutableTag struct{ tag, digest, why string }
	var roots []immutableTag
	for _, tag := range tags {
		rule := r.immutable(repository, tag)
		if rule == nil {
			continue
		}
		if err := search.lookup(); err != nil {
			return "", err
		}
		target, err := r.currentDigest(ctx, repository, tag)
		if err != nil {
			return "", err
		}
		if target == "" {
			continue // deleted since it was listed
		}
		why := fmt.Sprintf("held by immutable tag %s (rule %s)", tag, rule.Text)
		if target == digest {
			return "what " + why[len("held by "):] + " points to", nil
		}
		roots = append(roots, immutableTag{tag, target, why})
	}
	for _, root := range roots {
		if found, err := search.manifest(ctx, root.digest, root.why); found != "" || err != nil {
			return found, err
		}
	}
	return "", nil
}

// heldSearch walks what immutable tags hold, each manifest once, until it
// meets its target.
type heldSearch struct {
	r          *Registry
	repository string
	target     string
	visited    map[string]bool
	lookups    int
	bytes      int
}

// lookup counts one more tag or manifest read against the bounds.
func (h *heldSearch) lookup() error {
	if h.lookups++; h.lookups > h.r.heldBounds.lookups {
		return fmt.Errorf("%w (more than %d tags and manifests)", errTooMuchHeld, h.r.heldBounds.lookups)
	}
	return nil
}

// manifest searches a manifest, what it refers to and what is attached to
// it, saying why the target is held when it is found there.
func (h *heldSearch) manifest(ctx context.Context, digest, why string) (string, error) {
	if h.visited[digest] {
		return "", nil
	}
	h.visited[digest] = true
	if err := h.lookup(); err != nil {
		return "", err
	}
	body, err := h.r.manifestBody(ctx, h.repository, digest)
	if err != nil || body == nil {
		return "", err
	}
	if h.bytes += len(body); h.bytes > h.r.heldBounds.bytes {
		return "", fmt.Errorf("%w (more than %d KiB of manifests)", errTooMuchHeld, h.r.heldBounds.bytes>>10)
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		// distribution stored it, so it holds something: what, dossier
		// cannot tell, and a question it cannot answer is refused
		return "", fmt.Errorf("%w: manifest %s of %s cannot be read (%v)", errUnreadableHeld, digest, h.repository, err)
	}
	if m.Config != nil && m.Config.Digest == h.target {
		return "the config of a manifest " + why, nil
	}
	for _, l := range m.Layers {
		if l.Digest == h.target {
			return "a layer of a manifest " + why, nil
		}
	}
	for _, child := range m.Manifests {
		if child.Digest == h.target {
			return "a manifest of an index " + why, nil
		}
		if found, err := h.manifest(ctx, child.Digest, why); found != "" || err != nil {
			return found, err
		}
	}
	return h.attachments(ctx, digest, why)
}

// attachments searches what is attached to a held manifest: removing a
// signature or attestation would change what a policy decides about it.
func (h *heldSearch) attachments(ctx context.Context, digest, why string) (string, error) {
	hash, err := v1.NewHash(digest)
	if err != nil || hash.Algorithm != "sha256" {
		return "", nil
	}
	for _, suffix := range oci.LegacySuffixes {
		tag := oci.LegacyTag(hash, suffix)
		if err := h.lookup(); err != nil {
			return "", err
		}
		attached, err := h.r.currentDigest(ctx, h.repository, tag)
		if err != nil {
			return "", err
		}
		if attached == "" {
			continue
		}
		whatAttached := fmt.Sprintf("what tag %s attaches to a manifest %s", tag, why)
		if attached == h.target {
			return whatAttached, nil
		}
		if found, err := h.manifest(ctx, attached, whatAttached); found != "" || err != nil {
			return found, err
		}
	}
	referrers, err := h.r.store.Referrers(ctx, h.repository, digest, "")
	if err != nil {
		return "", fmt.Errorf("reading the referrers of %s in %s: %w", digest, h.repository, err)
	}
	for _, ref := range referrers {
		if ref.Digest == h.target {
			return "a referrer of a manifest " + why, nil
		}
		if found, err := h.manifest(ctx, ref.Digest, "a referrer of a manifest "+why); found != "" || err != nil {
			return found, err
		}
	}
	return "", nil
}

// refuseUnjudged answers a deletion that could not be judged.
func (r *Registry) refuseUnjudged(w http.ResponseWriter, repository string, err error) {
	if errors.Is(err, errTooMuchHeld) || errors.Is(err, errUnreadableHeld) {
		writeError(w, http.StatusForbidden, "DENIED", repository+": "+err.Error())
		return
	}
	writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
}

// deleteBlob refuses deleting the config or a layer of content an
// immutable tag holds; otherwise distribution deletes.
func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, rt route, actor *tokens.Actor) {
	ctx := req.Context()
	why, err := r.held(ctx, actor, rt.name, rt.reference)
	if err != nil {
		r.refuseUnjudged(w, rt.name, err)
		return
	}
	if why != "" {
		reason := fmt.Sprintf("blob %s of %s is %s: deleting it would break what the tag names", rt.reference, rt.name, why)
		r.audit(ctx, store.RegistryEvent{Action: "delete", Repository: r.repository(rt.name), Reference: rt.reference, Actor: actor.Name, Outcome: "refused", Reason: reason})
		writeError(w, http.StatusForbidden, "DENIED", reason)
		return
	}
	status := &statusRecorder{ResponseWriter: w}
	r.app.ServeHTTP(status, req)
	if status.status == http.StatusAccepted {
		r.audit(ctx, store.RegistryEvent{Action: "delete", Repository: r.repository(rt.name), Reference: rt.reference, Actor: actor.Name, Outcome: "deleted"})
	}
}

// shrinksLegacyTag says why a push to (or, with no body, a deletion of)
// cosign's signature, attestation or SBOM tag of content an immutable tag
// holds is refused: there, what is attached can be added to (cosign
// appends by pushing the old layers and a new one), never removed or
// replaced.
func (r *Registry) shrinksLegacyTag(ctx context.Context, actor *tokens.Actor, repository, tag string, body []byte) (string, error) {
	subject, _, ok := oci.ParseLegacyTag(tag)
	if !ok || len(r.rules) == 0 {
		return "", nil
	}
	why, err := r.held(ctx, actor, repository, subject)
	if err != nil || why == "" {
		return "", err
	}
	current, err := r.currentDigest(ctx, repository, tag)
	if err != nil || current == "" {
		return "", err
	}
	old, err := r.manifestBody(ctx, repository, current)
	if err != nil || old == nil {
		return "", err
	}
	var before, after struct {
		Layers []map[string]any `json:"layers"`
	}
	if json.Unmarshal(old, &before) != nil {
		return fmt.Sprintf("tag %s of %s attaches to %s, %s: its manifest %s cannot be read as one, so what a change would remove is unknown", tag, repository, subject, why, current), nil
	}
	if body == nil {
		return fmt.Sprintf("tag %s of %s attaches to %s, %s: what is attached cannot be deleted", tag, repository, subject, why), nil
	}
	if json.Unmarshal(body, &after) != nil {
		return fmt.Sprintf("tag %s of %s attaches to %s, %s: its new manifest must keep every layer of the old", tag, repository, subject, why), nil
	}
	for _, l := range before.Layers {
		if !slices.ContainsFunc(after.Layers, func(n map[string]any) bool { return reflect.DeepEqual(l, n) }) {
			// a layer's annotations carry cosign's signature and
			// certificate: keeping the digest but not them replaces it
			return fmt.Sprintf("tag %s of %s attaches to %s, %s: what is attached can be added to, not removed or changed (layer %v would go or change)", tag, repository, subject, why, l["digest"]), nil
		}
	}
	return "", nil
}

// turns lets one holder of a key go at a time, and, when it has a limit,
// no more than that many keys at once.
type turns struct {
	all  chan struct{} // nil: no limit across keys
	mu   sync.Mutex
	keys map[string]*turn
}

// turn is one key's, kept while anyone waits for it.
type turn struct {
	held    chan struct{}
	waiting int
}

func newTurns(limit int) *turns {
	t := &turns{keys: map[string]*turn{}}
	if limit > 0 {
		t.all = make(chan struct{}, limit)
	}
	return t
}

// acquire waits for key's turn and then for a slot, until ctx ends.
func (t *turns) acquire(ctx context.Context, key string) (release func(), err error) {
	t.mu.Lock()
	k := t.keys[key]
	if k == nil {
		k = &turn{held: make(chan struct{}, 1)}
		t.keys[key] = k
	}
	k.waiting++
	t.mu.Unlock()
	leave := func() {
		t.mu.Lock()
		if k.waiting--; k.waiting == 0 {
			delete(t.keys, key)
		}
		t.mu.Unlock()
	}
	select {
	case k.held <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	if t.all != nil {
		select {
		case t.all <- struct{}{}:
		case <-ctx.Done():
			<-k.held
			leave()
			return nil, ctx.Err()
		}
	}
	return func() {
		if t.all != nil {
			<-t.all
		}
		<-k.held
		leave()
	}, nil
}
