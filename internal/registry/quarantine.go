package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// QuarantineRule keeps a repository's images from being pulled (by
// anyone but admins) until their digest passes a policy.
type QuarantineRule struct {
	Text         string
	Repositories policy.Glob
	// Rules are the policies a digest must pass, read on every decision
	// (so that reloaded policies apply at once); Version names them.
	Rules func() (*policy.Set, string)
	// PendingPullable lets a digest whose scan has not finished be pulled;
	// by default it waits.
	PendingPullable bool
}

// verdict is a quarantine decision about one digest.
type verdict struct {
	allowed bool
	// missing says there is no such manifest (answered as unknown, never
	// left to distribution: it could be pushed before distribution reads)
	missing bool
	// pending says its scan has not finished
	pending bool
	reason  string
	until   time.Time
}

// quarantineTTL bounds how long a decision is reused: evidence recorded
// meanwhile (a signature arriving) and expiring exceptions count within
// that time.
const quarantineTTL = 5 * time.Second

type quarantine struct {
	rules []QuarantineRule
	mu    sync.Mutex
	cache map[string]verdict
}

func (q *quarantine) rule(repository string) *QuarantineRule {
	for i, r := range q.rules {
		if r.Repositories.Match(repository) {
			return &q.rules[i]
		}
	}
	return nil
}

// gate decides whether a manifest pull may proceed; it answers the
// refusal itself and returns false.
func (r *Registry) gate(w http.ResponseWriter, req *http.Request, rt route, actor *tokens.Actor) bool {
	rule := r.quarantine.rule(rt.name)
	if rule == nil || actor.Role == store.RoleAdmin {
		return true
	}
	ctx := req.Context()
	digest := rt.reference
	if !isDigest(digest) {
		var err error
		if digest, err = r.currentDigest(ctx, rt.name, rt.reference); err != nil {
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
			return false
		}
		if digest == "" {
			// answered here: a tag pushed before distribution read it
			// would be served unjudged
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("%s has no tag %s", rt.name, rt.reference))
			return false
		}
	}
	repository := r.repository(rt.name)
	v, err := r.quarantineVerdict(ctx, rule, repository, digest, rt.reference)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "quarantine cannot be decided now: "+err.Error())
		return false
	}
	if v.missing {
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("%s has no manifest %s", rt.name, digest))
		return false
	}
	if v.allowed {
		// serve the digest judged, even if the tag moves meanwhile
		// the path as the route was read, not as it was spelled: a
		// trailing slash would make a trimmed spelling another repository's
		// (helper-12)
		req.URL.Path = "/v2/" + rt.name + "/manifests/" + digest
		return true
	}
	r.audit(ctx, store.RegistryEvent{Action: "pull", Repository: repository, Reference: rt.reference, Digest: digest, Actor: actor.Name, Outcome: "refused", Reason: v.reason})
	writeError(w, http.StatusForbidden, "DENIED", fmt.Sprintf("%s@%s is quarantined (rule %s): %s", repository, digest, rule.Text, v.reason))
	return false
}

// maxManifestsOfBlob bounds the images a blob GET reads verdicts of: the
// newest first, where a layer many images share has its servable ones.
const maxManifestsOfBlob = 100

// gateBlob serves a blob under a quarantine rule to a non-admin only
// where an image of the repository that names it would be served: the
// layers and config of a held image are held with it, whoever learnt
// their digests.
func (r *Registry) gateBlob(w http.ResponseWriter, req *http.Request, rt route, actor *tokens.Actor) bool {
	rule := r.quarantine.rule(rt.name)
	if rule == nil || actor.Role == store.RoleAdmin {
		return true
	}
	return r.refuseHeldBlob(w, req, actor, rule, rt.name, rt.reference, "")
}

// gateMount refuses a non-admin's mount of a blob from a repository where
// it is held: mounted, it would be another repository's, named by no
// image there (helper-12).
func (r *Registry) gateMount(w http.ResponseWriter, req *http.Request, actor *tokens.Actor) bool {
	blob := req.URL.Query().Get("mount")
	if blob == "" || actor.Role == store.RoleAdmin {
		return true
	}
	for _, from := range req.URL.Query()["from"] {
		if rule := r.quarantine.rule(from); rule != nil && !r.refuseHeldBlob(w, req, actor, rule, from, blob, "mounting it: ") {
			return false
		}
	}
	return true
}

// refuseHeldBlob answers 403 when a blob of repository name is held, and
// says whether it may be read.
func (r *Registry) refuseHeldBlob(w http.ResponseWriter, req *http.Request, actor *tokens.Actor, rule *QuarantineRule, name, blob, doing string) bool {
	ctx := req.Context()
	reason, err := r.heldBlob(ctx, rule, name, blob)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "quarantine cannot be decided now: "+err.Error())
		return false
	}
	if reason == "" {
		return true
	}
	repository := r.repository(name)
	r.audit(ctx, store.RegistryEvent{Action: "pull", Repository: repository, Reference: blob, Digest: blob, Actor: actor.Name, Outcome: "refused", Reason: doing + reason})
	writeError(w, http.StatusForbidden, "DENIED", repository+": "+doing+reason)
	return false
}

// heldBlob says why a blob of a repository is held, "" when it is not:
// an image naming it (evidence never clears a blob an image names) that
// is still stored is judged allowed, or, under --pending-pullable, pending
// with none of them refused on a finished judgement (all of them asked); a blob no image names (an upload whose
// manifest is not pushed yet, a signature's bundle) is nothing quarantine
// holds. Images pushed and refused by distribution are not indexed; if
// the newest maxManifestsOfBlob images naming it are all gone, older ones
// are not asked and it is held.
func (r *Registry) heldBlob(ctx context.Context, rule *QuarantineRule, name, blob string) (string, error) {
	images, err := r.store.ManifestsOfBlob(ctx, name, blob, false, maxManifestsOfBlob)
	if err != nil {
		return "", err
	}
	// asked by another algorithm's digest, the blob is the one stored
	// under its sha256, which images may name
	if canonical, err := r.canonicalBlob(ctx, name, blob); err != nil {
		return "", err
	} else if canonical != blob && canonical != "" {
		more, err := r.store.ManifestsOfBlob(ctx, name, canonical, false, maxManifestsOfBlob)
		if err != nil {
			return "", err
		}
		images = append(images, more...)
	}
	if len(images) == 0 {
		return "", nil
	}
	repository := r.repository(name)
	pendingAllowed := false
	var refused, pending []string
	for _, digest := range images {
		v, err := r.quarantineVerdict(ctx, rule, repository, digest, digest)
		switch {
		case err != nil:
			return "", err
		case v.missing:
		case v.allowed:
			// judged on what the store recorded: the manifest itself must
			// still be there (helper-13: a deleted image kept clearing
			// the blobs it had shared with a held one)
			stored, err := r.manifestBody(ctx, name, digest)
			switch {
			case err != nil:
				return "", err
			case stored == nil:
			case !v.pending:
				return "", nil
			default:
				pendingAllowed = true
			}
		case v.pending:
			pending = append(pending, digest+": "+v.reason)
		default:
			refused = append(refused, digest+": "+v.reason)
		}
	}
	held := append(refused, pending...)
	switch {
	case pendingAllowed && len(refused) == 0 && len(images) < maxManifestsOfBlob:
		return "", nil
	case pendingAllowed && len(refused) == 0:
		// a refused image past the window would not be seen (helper-13
		// pushed a hundred pending twins of a refused image)
		return fmt.Sprintf("blob %s: the newest %d images naming it are all pending; older ones are not asked, and it is held until one is judged", blob, maxManifestsOfBlob), nil
	case len(held) > 0:
		return fmt.Sprintf("blob %s belongs only to images quarantine holds (rule %s): %s", blob, rule.Text, held[0]), nil
	case len(images) < maxManifestsOfBlob:
		return "", nil // every image naming it is gone
	}
	return fmt.Sprintf("blob %s: the newest %d images naming it are gone; older ones are not asked, and it is held", blob, maxManifestsOfBlob), nil
}

// quarantineVerdict decides about a digest from what the store holds: its
// scan job's state, then the policies evaluated on its recorded evidence
// with the clock.
func (r *Registry) quarantineVerdict(ctx context.Context, rule *QuarantineRule, repository, digest, reference string) (verdict, error) {
	set, version := rule.Rules()
	// policies may match a tag: a verdict reached by one is that tag's,
	// never the digest's or another tag's (helper-14)
	key := repository + "@" + digest + "\x00" + reference + "\x00" + version
	now := r.now()
	r.quarantine.mu.Lock()
	v, ok := r.quarantine.cache[key]
	r.quarantine.mu.Unlock()
	if ok && now.Before(v.until) {
		return v, nil
	}
	v, err := r.decideQuarantine(ctx, rule, set, repository, digest, reference, now)
	if err != nil || v.missing {
		return v, err
	}
	v.until = now.Add(quarantineTTL)
	r.quarantine.mu.Lock()
	if len(r.quarantine.cache) > 10000 {
		clear(r.quarantine.cache)
	}
	r.quarantine.cache[key] = v
	r.quarantine.mu.Unlock()
	return v, nil
}

func (r *Registry) decideQuarantine(ctx context.Context, rule *QuarantineRule, set *policy.Set, repository, digest, reference string, now time.Time) (verdict, error) {
	jobs, err := r.store.Jobs(ctx, repository, digest, 0)
	if err != nil {
		return verdict{}, err
	}
	scan := judgingScan(jobs)
	if scan == nil {
		return r.unqueued(ctx, rule, repository, digest)
	}
	switch scan.State {
	case store.JobQueued, store.JobRunning:
		return pending(rule, "its scan has not finished (pending)"), nil
	case store.JobFailed:
		return verdict{reason: "its scan failed: " + scan.Error}, nil
	}
	if !isDigest(reference) {
		reference = repository + ":" + reference
	} else {
		reference = ""
	}
	recorded, err := r.store.RecordedEvidence(ctx, evidence.Subject{Repository: repository, Digest: digest}, reference)
	if err != nil {
		return verdict{}, err
	}
	if recorded == nil {
		return verdict{reason: "nothing is recorded about it"}, nil
	}
	decision := policy.Evaluate(set, evidence.OwnEvidence(recorded), now)
	if decision.Allowed {
		return verdict{allowed: true}, nil
	}
	reasons := decision.Refusals()
	if len(reasons) == 0 {
		reasons = append(reasons, "no policy admits it")
	}
	return verdict{reason: strings.Join(reasons, "; ")}, nil
}

// judgingScan is the scan job of jobs (newest first) a digest is judged
// by: the newest, unless an older one finished: pushing a judged digest
// again does not reopen its judgement.
func judgingScan(jobs []store.Job) *store.Job {
	var scan *store.Job
	for i := range jobs {
		if jobs[i].Kind != store.JobScan {
			continue
		}
		if scan == nil {
			scan = &jobs[i]
		}
		if jobs[i].State == store.JobDone || jobs[i].State == store.JobFailed {
			return &jobs[i]
		}
	}
	return scan
}

// pending is the verdict about a digest whose scan has not finished.
func pending(rule *QuarantineRule, reason string) verdict {
	if rule.PendingPullable {
		return verdict{allowed: true, pending: true, reason: reason}
	}
	return verdict{pending: true, reason: reason + "; pull again when dossier query jobs shows it done"}
}

// unqueued decides about a digest no scan was queued for, by what its
// manifest is: evidence attached to another digest (what verifying a
// quarantined image needs to read) is served; anything else is queued
// for a scan now and pending until it is judged. A manifest that does not
// exist is unknown.
func (r *Registry) unqueued(ctx context.Context, rule *QuarantineRule, repository, digest string) (verdict, error) {
	path := strings.TrimPrefix(repository, r.name+"/")
	body, err := r.manifestBody(ctx, path, digest)
	if err != nil {
		return verdict{}, err
	}
	if body == nil {
		return verdict{missing: true}, nil
	}
	if _, ok := evidenceSubject(body, ""); ok {
		return verdict{allowed: true}, nil
	}
	if err := r.store.Enqueue(context.WithoutCancel(ctx), store.JobScan, repository, digest, r.now()); err != nil {
		return verdict{}, err
	}
	r.wakeWorker()
	return pending(rule, "no scan of it was queued; one is now (pending)"), nil
}
