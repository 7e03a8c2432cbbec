package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

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

// protectedContent is what an immutable tag of a repository holds in
// place, by digest, with why: the manifest the tag points to, the
// platform manifests of an index, and the config and layers of each. None
// of it may be deleted while the tag points there.
func (r *Registry) protectedContent(ctx context.Context, repository string) (map[string]string, error) {
	protected := map[string]string{}
	if len(r.rules) == 0 {
		return protected, nil
	}
	tags, err := r.tagsOf(ctx, repository)
	if err != nil {
		return nil, err
	}
	for _, tag := range tags {
		rule := r.immutable(repository, tag)
		if rule == nil {
			continue
		}
		digest, err := r.currentDigest(ctx, repository, tag)
		if err != nil || digest == "" {
			return nil, err
		}
		why := fmt.Sprintf("held by immutable tag %s (rule %s)", tag, rule.Text)
		protected[digest] = "what " + why[len("held by "):] + " points to"
		if err := r.protectChildren(ctx, repository, digest, why, protected, 0); err != nil {
			return nil, err
		}
	}
	return protected, nil
}

// protectChildren adds what a manifest refers to: an index's manifests
// (and theirs), a manifest's config and layers.
func (r *Registry) protectChildren(ctx context.Context, repository, digest, why string, protected map[string]string, depth int) error {
	if depth > 2 {
		return nil // an index of indexes of images is as deep as images go
	}
	body, err := r.manifestBody(ctx, repository, digest)
	if err != nil || body == nil {
		return err
	}
	var m manifest
	if json.Unmarshal(body, &m) != nil {
		return nil // not a manifest dossier reads: distribution's own
	}
	if m.Config != nil && m.Config.Digest != "" {
		protected[m.Config.Digest] = "the config of a manifest " + why
	}
	for _, l := range m.Layers {
		protected[l.Digest] = "a layer of a manifest " + why
	}
	for _, child := range m.Manifests {
		protected[child.Digest] = "a manifest of an index " + why
		if err := r.protectChildren(ctx, repository, child.Digest, why, protected, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// manifestBody reads a manifest of a repository from distribution (nil
// when it does not exist).
func (r *Registry) manifestBody(ctx context.Context, repository, digest string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v2/"+repository+"/manifests/"+digest, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", strings.Join(manifestMediaTypes, ", "))
	rec := &bodyRecorder{headRecorder: headRecorder{header: http.Header{}}}
	r.app.ServeHTTP(rec, req)
	switch rec.status {
	case http.StatusOK:
		return rec.body, nil
	case http.StatusNotFound:
		return nil, nil
	}
	return nil, fmt.Errorf("reading manifest %s of %s: status %d", digest, repository, rec.status)
}

// tagsOf lists a repository's tags (none when it does not exist).
func (r *Registry) tagsOf(ctx context.Context, repository string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v2/"+repository+"/tags/list", nil)
	if err != nil {
		return nil, err
	}
	rec := &bodyRecorder{headRecorder: headRecorder{header: http.Header{}}}
	r.app.ServeHTTP(rec, req)
	if rec.status == http.StatusNotFound {
		return nil, nil
	}
	tags, err := tagList(rec)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repository, err)
	}
	return tags, nil
}

// deleteBlob refuses deleting the config or a layer of content an
// immutable tag holds; otherwise distribution deletes.
func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, rt route, actor *tokens.Actor) {
	ctx := req.Context()
	protected, err := r.protectedContent(ctx, rt.name)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
		return
	}
	if why, ok := protected[rt.reference]; ok {
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

// legacyTag is cosign's tag for what is attached to a digest.
var legacyTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.(sig|att|sbom)$`)

// shrinksLegacyTag says why a push to cosign's signature, attestation or
// SBOM tag of content an immutable tag holds is refused: there, what is
// attached can be added to (cosign appends by pushing the old layers and
// a new one), never removed or replaced.
func (r *Registry) shrinksLegacyTag(ctx context.Context, repository, tag string, body []byte) (string, error) {
	found := legacyTag.FindStringSubmatch(tag)
	if found == nil || len(r.rules) == 0 {
		return "", nil
	}
	subject := "sha256:" + found[1]
	protected, err := r.protectedContent(ctx, repository)
	if err != nil {
		return "", err
	}
	why, ok := protected[subject]
	if !ok {
		return "", nil
	}
	current, err := r.currentDigest(ctx, repository, tag)
	if err != nil || current == "" {
		return "", err
	}
	old, err := r.manifestBody(ctx, repository, current)
	if err != nil || old == nil {
		return "", err
	}
	var before, after manifest
	if json.Unmarshal(old, &before) != nil {
		return "", nil
	}
	if json.Unmarshal(body, &after) != nil {
		return fmt.Sprintf("tag %s of %s attaches to %s, %s: its new manifest must keep every layer of the old", tag, repository, subject, why), nil
	}
	kept := map[string]bool{}
	for _, l := range after.Layers {
		kept[l.Digest] = true
	}
	for _, l := range before.Layers {
		if !kept[l.Digest] {
			return fmt.Sprintf("tag %s of %s attaches to %s, %s: what is attached can be added to, not removed (layer %s would go)", tag, repository, subject, why, l.Digest), nil
		}
	}
	return "", nil
}
