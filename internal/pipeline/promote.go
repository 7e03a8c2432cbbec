package pipeline

import (
	"context"
	"errors"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// PromoteOptions say where a digest is promoted and what decides it.
type PromoteOptions struct {
	// Repository is the destination; Tag, when not "", is tagged there.
	Repository, Tag string
	// Set is the destination's policies: they match the destination's name.
	Set     *policy.Set
	Collect collect.Options
	// Registry reaches the source and the destination.
	Registry oci.RegistryOptions
	// Actor is who asked, for the record.
	Actor string
	Now   time.Time
}

// Promoted is what a promotion did.
type Promoted struct {
	// Subject is the digest at the destination; Reference names it as
	// asked (with the tag, when one was given).
	Subject   evidence.Subject
	Reference string
	Decision  evidence.Decision
	// Refusals say why the policies refused it; empty when promoted.
	Refusals []string
	// Attached counts the signatures and attestations copied with it.
	Attached int
}

// Promote judges src with the destination's policies on the evidence
// attached to it and, when they allow it, copies it by digest to the
// destination with everything attached to it (referrers and cosign's
// legacy tags). Either way the promotion or the refusal is recorded in st
// with who asked; a refusal is a result, not an error.
func Promote(ctx context.Context, st *store.Store, src *oci.Artifact, opts PromoteOptions) (*Promoted, error) {
	if src.Source.Kind != oci.KindRegistry {
		return nil, errors.New("promotion copies between registries: the source " + src.Subject.String() + " is not in one")
	}
	dst := evidence.Subject{Repository: opts.Repository, Digest: src.Subject.Digest}
	out := &Promoted{Subject: dst, Reference: dst.String()}
	if opts.Tag != "" {
		out.Reference = opts.Repository + ":" + opts.Tag
	}
	ev := collect.Collect(ctx, opts.Set, src, out.Reference, opts.Collect)
	ev.Subject, ev.Reference = dst, out.Reference
	out.Decision = policy.Evaluate(opts.Set, ev, opts.Now)
	event := store.RegistryEvent{At: opts.Now, Action: "promote", Repository: opts.Repository, Reference: out.Reference, Digest: src.Subject.Digest,
		Actor: opts.Actor, Reason: "from " + src.Subject.String()}
	if !out.Decision.Allowed {
		out.Refusals = out.Decision.Refusals()
		if len(out.Refusals) == 0 {
			out.Refusals = append(out.Refusals, "no policy for "+opts.Repository+" matches it")
		}
		event.Outcome, event.Reason = "refused", event.Reason+": "+strings.Join(out.Refusals, "; ")
		return out, st.AddRegistryEvent(ctx, event)
	}
	if _, err := oci.Copy(ctx, src.Subject.String(), out.Reference, opts.Registry); err != nil {
		return nil, err
	}
	var err error
	if out.Attached, err = copyAttached(ctx, src, opts.Repository, opts.Registry); err != nil {
		return nil, err
	}
	rec := store.Record{Subject: dst, MediaType: src.MediaType, At: opts.Now, Signatures: ev.Signatures, Attestations: ev.Attestations, Decision: &out.Decision}
	if opts.Tag != "" {
		rec.Tag, rec.TagSource = opts.Tag, "promote from "+src.Subject.String()+" by "+opts.Actor
	}
	if err := st.Record(ctx, rec); err != nil {
		return nil, err
	}
	event.Outcome = "promoted"
	return out, st.AddRegistryEvent(ctx, event)
}

// copyAttached copies what is attached to src's digest — referrers, and
// cosign's legacy signature, attestation and SBOM tags — to repository,
// and returns how many.
func copyAttached(ctx context.Context, src *oci.Artifact, repository string, reg oci.RegistryOptions) (int, error) {
	repo, err := src.Repository()
	if err != nil {
		return 0, err
	}
	desc, err := src.SubjectDescriptor()
	if err != nil {
		return 0, err
	}
	referrers, err := repo.Referrers(ctx, desc, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range referrers {
		if _, err := oci.Copy(ctx, src.Subject.Repository+"@"+r.Digest.String(), repository+"@"+r.Digest.String(), reg); err != nil {
			return n, err
		}
		n++
	}
	digest, err := v1.NewHash(src.Subject.Digest)
	if err != nil {
		return n, err
	}
	for _, suffix := range oci.LegacySuffixes {
		tag := oci.LegacyTag(digest, suffix)
		_, err := oci.Copy(ctx, src.Subject.Repository+":"+tag, repository+":"+tag, reg)
		switch {
		case errors.Is(err, oci.ErrNotFound):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}
