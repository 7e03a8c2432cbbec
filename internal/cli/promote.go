package cli

import (
	"errors"
	"fmt"
	"os/user"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

func (a *app) promoteCommand() *cobra.Command {
	var sf storeFlags
	var policies, exceptions, keys []string
	var trustedRoot string
	cmd := &cobra.Command{
		Use:   "promote SRC DST --policy FILE|DIR [--exceptions FILE|DIR] [--key PUB]... [--trusted-root FILE]",
		Short: "Copy an image by digest, with its signatures and attestations, only when the destination's policy allows it",
		Long: `Resolve SRC to its digest, judge it with the policies given (the destination's: they match DST's name) on
the evidence attached to it — signatures and attestations verified, a local scan when a policy asks for
one — and, when allowed, copy it by digest to DST (a repository, or repository:tag) with every
signature and attestation attached to it (referrers and cosign's legacy tags). The promotion or the
refusal is recorded in the evidence store with who asked. Exit 1 when the policy refuses.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(policies) == 0 {
				return usageError("give --policy FILE|DIR: the destination's policies, which decide the promotion")
			}
			ctx := cmd.Context()
			src, err := a.resolveSource(ctx, args[0])
			if err != nil {
				return err
			}
			if src.Source.Kind != oci.KindRegistry {
				return usageError("SRC %s: promotion copies between registries", args[0])
			}
			dstRef, err := a.registry.ParseReference(args[1])
			if err != nil {
				return usageError("DST %s: %v", args[1], err)
			}
			dstRepo, tag := dstRef.Context().Name(), explicitTag(args[1])
			if strings.Contains(args[1], "@") {
				return usageError("DST %s: give a repository or repository:tag; the digest is SRC's", args[1])
			}
			set, trust, err := a.recording(policies, exceptions, keys, trustedRoot)
			if err != nil {
				return err
			}
			opts := collect.Options{Trust: trust, Timeout: time.Minute}
			closeDB, err := localScanning(sf.dataDir, &opts)
			if err != nil {
				return err
			}
			defer closeDB()
			dst := evidence.Subject{Repository: dstRepo, Digest: src.Subject.Digest}
			reference := dst.String()
			if tag != "" {
				reference = dstRepo + ":" + tag
			}
			ev := collect.Collect(ctx, set, src, reference, opts)
			ev.Subject, ev.Reference = dst, reference
			now := time.Now()
			d := policy.Evaluate(set, ev, now)
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			who := "unknown user"
			if u, err := user.Current(); err == nil {
				who = u.Username
			}
			event := store.RegistryEvent{At: now, Action: "promote", Repository: dstRepo, Reference: reference, Digest: src.Subject.Digest,
				Actor: who, Reason: "from " + src.Subject.String()}
			if !d.Allowed {
				reasons := d.Refusals()
				if len(reasons) == 0 {
					reasons = append(reasons, "no policy for "+dstRepo+" matches it")
				}
				event.Outcome, event.Reason = "refused", event.Reason+": "+strings.Join(reasons, "; ")
				if err := st.AddRegistryEvent(ctx, event); err != nil {
					return err
				}
				return gateError{msg: fmt.Sprintf("%s is not promoted to %s:\n  %s", src.Subject, reference, strings.Join(reasons, "\n  "))}
			}
			target := dst.String()
			if tag != "" {
				target = reference
			}
			if _, err := oci.Copy(ctx, src.Subject.String(), target, a.registry); err != nil {
				return err
			}
			copied, err := a.copyAttached(cmd, src, dstRepo)
			if err != nil {
				return err
			}
			rec := store.Record{Subject: dst, MediaType: src.MediaType, At: now, Signatures: ev.Signatures, Attestations: ev.Attestations, Decision: &d}
			if tag != "" {
				rec.Tag, rec.TagSource = tag, "promote from "+src.Subject.String()+" by "+who
			}
			event.Outcome = "promoted"
			if err := st.Record(ctx, rec); err != nil {
				return err
			}
			if err := st.AddRegistryEvent(ctx, event); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "promoted %s to %s with %d signatures and attestations attached\n", src.Subject, reference, copied)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringSliceVar(&policies, "policy", nil, "the destination's policy file or directory (repeatable)")
	cmd.Flags().StringSliceVar(&exceptions, "exceptions", nil, "exception file or directory (repeatable)")
	cmd.Flags().StringSliceVar(&keys, "key", nil, "public key whose signatures verify (repeatable; the policies' signers do)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root (JSON) for keyless signers")
	return cmd
}

// copyAttached copies what is attached to src's digest — referrers, and
// cosign's legacy signature, attestation and SBOM tags — to dstRepo, and
// returns how many.
func (a *app) copyAttached(cmd *cobra.Command, src *oci.Artifact, dstRepo string) (int, error) {
	ctx := cmd.Context()
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
		if _, err := oci.Copy(ctx, src.Subject.Repository+"@"+r.Digest.String(), dstRepo+"@"+r.Digest.String(), a.registry); err != nil {
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
		_, err := oci.Copy(ctx, src.Subject.Repository+":"+tag, dstRepo+":"+tag, a.registry)
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

// explicitTag is the tag a reference names itself ("" for none: a bare
// repository does not mean :latest here).
func explicitTag(ref string) string {
	_, tag, _ := evidence.SplitTag(ref)
	return tag
}
