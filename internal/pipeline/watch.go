package pipeline

import (
	"context"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/store"
)

// Watched is one tag a watch pass recorded.
type Watched struct {
	Tag string
	// Previous is the digest the tag pointed to before ("" for a new tag).
	Previous string
	*Recorded
}

// WatchOnce records, as Record does, every tag of repository that is new
// or points to another digest than st last saw, with opts (its Reference
// and Now set per tag, Now from now), and tells recorded of each as it
// is written.
func WatchOnce(ctx context.Context, st *store.Store, repository string, registry oci.RegistryOptions, opts RecordOptions, now func() time.Time, recorded func(Watched)) error {
	tags, err := oci.ListTags(ctx, repository, registry)
	if err != nil {
		return err
	}
	for _, tag := range tags {
		if strings.HasPrefix(tag, "sha256-") {
			continue // cosign's signature, attestation and SBOM tags
		}
		ref := repository + ":" + tag
		art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: ref, Reference: ref}, registry)
		if err != nil {
			return err
		}
		moves, err := st.TagHistory(ctx, art.Subject.Repository, tag)
		if err != nil {
			return err
		}
		previous := ""
		if len(moves) > 0 {
			previous = moves[len(moves)-1].Digest
		}
		if previous == art.Subject.Digest {
			continue
		}
		opts.Reference, opts.Now = art.Subject.Repository+":"+tag, now()
		r, err := Record(ctx, st, art, opts)
		if err != nil {
			return err
		}
		recorded(Watched{Tag: tag, Previous: previous, Recorded: r})
	}
	return nil
}
