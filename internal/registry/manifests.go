package registry

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/distribution/distribution/v3"
	godigest "github.com/opencontainers/go-digest"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/jsonkeys"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// isDigest says a reference is a digest rather than a tag.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// digestOf is the digest of content in the algorithm a reference uses
// (sha256 unless the reference is a sha512 digest).
func digestOf(content []byte, reference string) string {
	var h hash.Hash = sha256.New()
	algorithm := "sha256"
	if strings.HasPrefix(reference, "sha512:") {
		h, algorithm = sha512.New(), "sha512"
	}
	h.Write(content)
	return algorithm + ":" + hex.EncodeToString(h.Sum(nil))
}

// blobSize is the size distribution stores a blob of a repository at (-1
// when it has none: distribution refuses the manifest then). It is read
// from storage: over HTTP an S3 backend answers with a redirect.
func (r *Registry) blobSize(ctx context.Context, repository, digest string) (int64, error) {
	d, err := godigest.Parse(digest)
	if err != nil {
		return -1, nil // not a digest: distribution refuses the manifest
	}
	repo, err := r.stored(ctx, repository)
	if err != nil {
		return 0, err
	}
	desc, err := repo.Blobs(ctx).Stat(ctx, d)
	if errors.Is(err, distribution.ErrBlobUnknown) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading blob %s of %s: %w", digest, repository, err)
	}
	return desc.Size, nil
}

var manifestMediaTypes = []string{
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
}

// headRecorder is a ResponseWriter for internal HEAD requests.
type headRecorder struct {
	header http.Header
	status int
}

func (h *headRecorder) Header() http.Header { return h.header }
func (h *headRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
func (h *headRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

// putManifest applies the gates to a manifest push, hands it to
// distribution, and on success indexes its subject and records the tag.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route, actor *tokens.Actor) {
	ctx := req.Context()
	body, err := readBody(req, MaxManifestBytes)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest: "+err.Error())
		return
	}
	digest := digestOf(body, rt.reference)
	var fields manifest
	// a manifest dossier cannot read is refused here, not left to
	// distribution: the gates below judge what they read, and one they
	// could not read would pass them unjudged (helper-9: a cosign tag of a
	// manifest whose "manifests" was a string)
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest: "+err.Error())
		return
	}
	if err := jsonkeys.Unambiguous(body, "a manifest"); err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest: "+err.Error())
		return
	}
	mediaType, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mediaType == "" {
		mediaType = fields.MediaType
	}
	tag := ""
	if !isDigest(rt.reference) {
		tag = rt.reference
	}
	if reason, err := r.shrinksLegacyTag(ctx, actor, rt.name, tag, body); err != nil {
		r.refuseUnjudged(w, rt.name, err)
		return
	} else if reason != "" {
		r.audit(ctx, store.RegistryEvent{Action: "push", Repository: r.repository(rt.name), Reference: tag, Digest: digest, Actor: actor.Name, Outcome: "refused", Reason: reason})
		writeError(w, http.StatusForbidden, "DENIED", reason)
		return
	}
	if fields.Subject != nil && fields.Subject.Digest != "" {
		release, err := r.attaching.acquire(ctx, rt.name+"@"+fields.Subject.Digest)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
			return
		}
		defer release()
	}
	if reason, err := r.pastTheReadBound(ctx, rt.name, tag, digest, body, fields); err != nil {
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
		return
	} else if reason != "" {
		r.audit(ctx, store.RegistryEvent{Action: "push", Repository: r.repository(rt.name), Reference: tag, Digest: digest, Actor: actor.Name, Outcome: "refused", Reason: reason})
		writeError(w, http.StatusForbidden, "DENIED", reason)
		return
	}
	// the blobs it names are indexed before it exists, so that none of
	// them is ever served where the manifest would not be
	_, isEvidence := evidenceSubject(body, tag)
	blobs, unstored, err := r.withCanonicalNames(ctx, rt.name, blobsOf(fields))
	if err == nil && len(unstored) > 0 && r.quarantine.rule(rt.name) != nil {
		// a blob named by another algorithm than sha256 must be stored
		// here, or its sha256 (which distribution would serve once the
		// bytes arrive) is known to no index: distribution does not ask a
		// foreign layer with URLs to exist (helper-15)
		writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", fmt.Sprintf("%s is not stored in %s: where quarantine holds images, a blob named by another algorithm than sha256 must be", unstored[0], rt.name))
		return
	}
	if err == nil {
		err = r.store.IndexBlobs(ctx, rt.name, digest, isEvidence, blobs)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", fmt.Sprintf("indexing the blobs of %s: %v", digest, err))
		return
	}
	claimed := false
	if rule := r.immutable(rt.name, tag); tag != "" && rule != nil {
		current, err := r.currentDigest(ctx, rt.name, tag)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
			return
		}
		bound := current
		if bound == "" || bound == digest {
			// concurrent pushes of a new tag: the store decides which wins
			if bound, err = r.store.ClaimTag(ctx, rt.name, tag, digest, r.now()); err != nil {
				writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "immutable tags cannot be checked now: "+err.Error())
				return
			}
			claimed = bound == digest
		}
		if bound != digest {
			reason := fmt.Sprintf("tag %s of %s is immutable (rule %s): it points to %s, and %s was pushed to it", tag, rt.name, rule.Text, bound, digest)
			r.audit(ctx, store.RegistryEvent{Action: "push", Repository: r.repository(rt.name), Reference: tag, Digest: digest, Actor: actor.Name, Outcome: "refused", Reason: reason})
			writeError(w, http.StatusForbidden, "DENIED", reason)
			return
		}
	}
	status := &statusRecorder{ResponseWriter: w, beforeWrite: func(status int, h http.Header) {
		if status == http.StatusCreated && fields.Subject != nil && fields.Subject.Digest != "" {
			h.Set("OCI-Subject", fields.Subject.Digest)
		}
	}}
	r.forward(status, req, body)
	if status.status != http.StatusCreated {
		if claimed && r.tagDigest(ctx, rt.name, tag) != digest {
			r.store.ReleaseTag(context.WithoutCancel(ctx), rt.name, tag, digest)
		}
		// a manifest distribution refused names nothing: its rows would
		// crowd out the images that do name its blobs (helper-12)
		if stored, err := r.manifestBody(context.WithoutCancel(ctx), rt.name, digest); err == nil && stored == nil {
			if err := r.store.UnindexBlobs(context.WithoutCancel(ctx), rt.name, digest); err != nil {
				r.report(fmt.Errorf("forgetting the blobs of refused manifest %s of %s: %w", digest, rt.name, err))
			}
		}
		return
	}
	// the push is done: what follows is bookkeeping that outlives the client
	ctx = context.WithoutCancel(ctx)
	if fields.Subject != nil && fields.Subject.Digest != "" {
		artifactType := fields.ArtifactType
		if artifactType == "" && fields.Config != nil && fields.Config.MediaType != "application/vnd.oci.empty.v1+json" {
			artifactType = fields.Config.MediaType
		}
		if err := r.store.AddReferrer(ctx, rt.name, store.Referrer{Subject: fields.Subject.Digest, Digest: digest, MediaType: mediaType,
			ArtifactType: artifactType, Size: int64(len(body)), Annotations: fields.Annotations, AttachedBytes: layerBytes(fields)}); err != nil {
			r.report(fmt.Errorf("indexing referrer %s of %s: %w", digest, rt.name, err))
		}
	}
	repository := r.repository(rt.name)
	r.enqueue(ctx, repository, tag, body, digest)
	if tag != "" {
		rec := store.Record{Subject: evidence.Subject{Repository: repository, Digest: digest}, MediaType: mediaType, At: r.now(), Tag: tag, TagSource: "push by " + actor.Name}
		if err := r.store.Record(ctx, rec); err != nil {
			r.report(fmt.Errorf("recording tag %s of %s: %w", tag, rt.name, err))
		}
	}
}

// pastTheReadBound says why a push is refused that would attach to one
// subject what readers cannot fetch (content quarantine holds), or more
// than a verifier reads of it (oci.MaxReferrers signatures
// or attestations in cosign's tag, or referrers, and oci.MaxAttachedBytes
// of them): past that bound the subject's evidence cannot be read at all,
// so one more junk signature would remove every real one in effect.
func (r *Registry) pastTheReadBound(ctx context.Context, repository, tag, digest string, body []byte, fields manifest) (string, error) {
	size := int64(len(body))
	_, _, legacy := oci.ParseLegacyTag(tag)
	attaches := legacy || fields.Subject != nil && fields.Subject.Digest != ""
	if !attaches {
		return "", nil
	}
	// an attachment is read as verifiers read it, not as distribution
	// does: one they cannot parse is rejected whole, with every real
	// signature in it (helper-9: a sha384 layer; helper-10: a platform's
	// "features" as a string, a subject digest in upper-case hex)
	if err := verifiersRead(body, fields); err != nil {
		return fmt.Sprintf("%s of %s attaches to a subject, and verifiers cannot read it: %v", digest, repository, err), nil
	}
	// an attachment readers cannot fetch hides the subject's evidence:
	// where quarantine holds what is not evidence, only evidence attaches
	if r.quarantine.rule(repository) != nil {
		if _, evidence := evidenceSubject(body, tag); !evidence {
			return fmt.Sprintf("%s of %s attaches to a subject but is not evidence (a signature, attestation or document, every layer of an evidence media type): quarantine would hold it from readers, and verifiers reading the subject's evidence with it", digest, repository), nil
		}
	}
	if legacy && len(fields.Layers) > oci.MaxReferrers {
		return fmt.Sprintf("tag %s of %s would attach %d signatures or attestations, more than the %d verifiers read of one subject", tag, repository, len(fields.Layers), oci.MaxReferrers), nil
	}
	// sizes as verifiers budget them: each layer as declared, and as stored
	var total int64
	for _, l := range fields.Layers {
		if l.Size > oci.MaxBundleBytes || l.Size < 0 {
			return fmt.Sprintf("%s of %s attaches a layer of %d bytes, outside the %d MiB verifiers read of one signature or attestation", digest, repository, l.Size, oci.MaxBundleBytes>>20), nil
		}
		stored, err := r.blobSize(ctx, repository, l.Digest)
		if err != nil {
			return "", err
		}
		if stored >= 0 && stored != l.Size {
			return fmt.Sprintf("%s of %s declares layer %s as %d bytes; it has %d", digest, repository, l.Digest, l.Size, stored), nil
		}
		if total += l.Size; total > oci.MaxAttachedBytes {
			return fmt.Sprintf("%s of %s attaches more than the %d MiB verifiers read of one subject", digest, repository, oci.MaxAttachedBytes>>20), nil
		}
	}
	if !(fields.Subject != nil && fields.Subject.Digest != "") {
		return "", nil
	}
	referrers, err := r.store.Referrers(ctx, repository, fields.Subject.Digest, "")
	if err != nil {
		return "", fmt.Errorf("reading the referrers of %s in %s: %w", fields.Subject.Digest, repository, err)
	}
	if slices.ContainsFunc(referrers, func(ref store.Referrer) bool { return ref.Digest == digest }) {
		return "", nil // pushed again: it attaches nothing new
	}
	if len(referrers) >= oci.MaxReferrers {
		return fmt.Sprintf("%s of %s has %d referrers, as many as verifiers read of one subject: no more can be attached", fields.Subject.Digest, repository, len(referrers)), nil
	}
	// verifiers read the referrers' manifests and their layers together
	attached := size + total
	for _, ref := range referrers {
		if ref.AttachedBytes < 0 {
			if ref.AttachedBytes, err = r.countAttachedBytes(ctx, repository, ref); err != nil {
				return "", err
			}
		}
		if attached += ref.Size + ref.AttachedBytes; attached > oci.MaxAttachedBytes {
			return fmt.Sprintf("%s of %s would have more than the %d MiB verifiers read of one subject attached to it as referrers", fields.Subject.Digest, repository, oci.MaxAttachedBytes>>20), nil
		}
	}
	return "", nil
}

// blobsOf are the blobs a manifest names: its config and layers.
func blobsOf(m manifest) []string {
	var blobs []string
	if m.Config != nil && m.Config.Digest != "" {
		blobs = append(blobs, m.Config.Digest)
	}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	return blobs
}

// layerBytes is what a manifest's layers declare in all.
func layerBytes(m manifest) int64 {
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// countAttachedBytes reads a referrer indexed before the store counted
// its layers, counts them and indexes it again with the count.
func (r *Registry) countAttachedBytes(ctx context.Context, repository string, ref store.Referrer) (int64, error) {
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("counting the layers of referrer %s of %s in %s: %w", ref.Digest, ref.Subject, repository, err)
	}
	payload, err := r.manifestBody(ctx, repository, ref.Digest)
	if err == nil && payload == nil {
		err = errors.New("it is not stored")
	}
	if err != nil {
		return fail(err)
	}
	var fields manifest
	if err := json.Unmarshal(payload, &fields); err != nil {
		return fail(err)
	}
	ref.AttachedBytes = layerBytes(fields)
	if err := r.store.AddReferrer(ctx, repository, ref); err != nil {
		return fail(err)
	}
	return ref.AttachedBytes, nil
}

// tagDigest is the digest a tag points to, "" when unknown or unreadable.
func (r *Registry) tagDigest(ctx context.Context, repository, tag string) string {
	d, _ := r.currentDigest(context.WithoutCancel(ctx), repository, tag)
	return d
}

// deleteManifest refuses deleting an immutable tag, or a manifest an
// immutable tag points to; otherwise distribution deletes, and the
// referrers index forgets the manifest.
func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, rt route, actor *tokens.Actor) {
	ctx := req.Context()
	refuse := func(reason string) {
		r.audit(ctx, store.RegistryEvent{Action: "delete", Repository: r.repository(rt.name), Reference: rt.reference, Actor: actor.Name, Outcome: "refused", Reason: reason})
		writeError(w, http.StatusForbidden, "DENIED", reason)
	}
	if !isDigest(rt.reference) {
		if rule := r.immutable(rt.name, rt.reference); rule != nil {
			refuse(fmt.Sprintf("tag %s of %s is immutable (rule %s) and cannot be deleted", rt.reference, rt.name, rule.Text))
			return
		}
		if reason, err := r.shrinksLegacyTag(ctx, actor, rt.name, rt.reference, nil); err != nil {
			r.refuseUnjudged(w, rt.name, err)
			return
		} else if reason != "" {
			refuse(reason)
			return
		}
	} else {
		why, err := r.held(ctx, actor, rt.name, rt.reference)
		if err != nil {
			r.refuseUnjudged(w, rt.name, err)
			return
		}
		if why != "" {
			refuse(fmt.Sprintf("%s@%s is %s: deleting it would break what the tag names", rt.name, rt.reference, why))
			return
		}
	}
	status := &statusRecorder{ResponseWriter: w}
	r.app.ServeHTTP(status, req)
	if status.status == http.StatusAccepted && isDigest(rt.reference) {
		if err := r.store.RemoveReferrer(context.WithoutCancel(ctx), rt.name, rt.reference); err != nil {
			r.report(fmt.Errorf("forgetting referrer %s of %s: %w", rt.reference, rt.name, err))
		}
		// a deleted image clears no blob it shared with a held one (helper-13)
		if err := r.store.UnindexBlobs(context.WithoutCancel(ctx), rt.name, rt.reference); err != nil {
			r.report(fmt.Errorf("forgetting the blobs of deleted manifest %s of %s: %w", rt.reference, rt.name, err))
		}
	}
	if status.status == http.StatusAccepted {
		r.audit(ctx, store.RegistryEvent{Action: "delete", Repository: r.repository(rt.name), Reference: rt.reference, Actor: actor.Name, Outcome: "deleted"})
	}
}

type bodyRecorder struct {
	headRecorder
	body []byte
}

func (b *bodyRecorder) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	b.body = append(b.body, p...)
	return len(p), nil
}

// referrers answers the OCI referrers API from the store's index.
func (r *Registry) referrers(w http.ResponseWriter, req *http.Request, rt route) {
	if !evidence.ValidDigest(rt.reference) {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("%q is not a digest", rt.reference))
		return
	}
	artifactType := req.URL.Query().Get("artifactType")
	list, err := r.store.Referrers(req.Context(), rt.name, rt.reference, artifactType)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "referrers cannot be read now: "+err.Error())
		return
	}
	type descriptor struct {
		MediaType    string            `json:"mediaType"`
		Digest       string            `json:"digest"`
		Size         int64             `json:"size"`
		ArtifactType string            `json:"artifactType,omitempty"`
		Annotations  map[string]string `json:"annotations,omitempty"`
	}
	index := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []descriptor{}}
	for _, ref := range list {
		index.Manifests = append(index.Manifests, descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size, ArtifactType: ref.ArtifactType, Annotations: ref.Annotations})
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		json.NewEncoder(w).Encode(index)
	}
}

// audit records a registry event; the store being down costs the record,
// not the answer.
func (r *Registry) audit(ctx context.Context, e store.RegistryEvent) {
	e.At = r.now()
	if err := r.store.AddRegistryEvent(context.WithoutCancel(ctx), e); err != nil {
		r.report(fmt.Errorf("recording a %s event of %s: %w", e.Action, e.Repository, err))
	}
}
