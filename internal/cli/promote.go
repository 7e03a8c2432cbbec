package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
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
			closeDB, err := pipeline.LocalScanning(sf.dataDir, &opts, 0)
			if err != nil {
				return err
			}
			defer closeDB()
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			out, err := pipeline.Promote(ctx, st, src, pipeline.PromoteOptions{Repository: dstRepo, Tag: tag, Set: set, Collect: opts,
				Registry: a.registry, Actor: operator(), Now: time.Now()})
			if err != nil {
				return err
			}
			if len(out.Refusals) > 0 {
				return gateError{msg: fmt.Sprintf("%s is not promoted to %s:\n  %s", src.Subject, out.Reference, strings.Join(out.Refusals, "\n  "))}
			}
			fmt.Fprintf(a.stdout, "promoted %s to %s with %d signatures and attestations attached\n", src.Subject, out.Reference, out.Attached)
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

// explicitTag is the tag a reference names itself ("" for none: a bare
// repository does not mean :latest here).
func explicitTag(ref string) string {
	_, tag, _ := evidence.SplitTag(ref)
	return tag
}
