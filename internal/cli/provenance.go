package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/attest"
)

func (a *app) provenanceCommand() *cobra.Command {
	var outputFile string
	var opts attest.ProvenanceOptions
	cmd := &cobra.Command{
		Use:   "provenance REF -o FILE",
		Short: "Write a SLSA v1 provenance predicate for an image digest from the CI environment",
		Long: `Build a SLSA v1 provenance predicate from GitHub Actions or GitLab CI variables (or --builder-id,
--source-uri and --source-digest elsewhere), ready for
  dossier attest REF --type slsaprovenance --predicate FILE --key KEY
REF is resolved first, so the predicate is written for the digest it points to now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outputFile == "" {
				return usageError("give -o FILE")
			}
			art, err := a.resolveSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			predicate, err := attest.Provenance(environment(), opts)
			switch {
			case errors.Is(err, attest.ErrNoBuilder):
				return usageError("%v: give --builder-id", err)
			case errors.Is(err, attest.ErrNoSource):
				return usageError("%v: give --source-uri and --source-digest", err)
			case err != nil:
				return err
			}
			if err := writeFileAtomic(outputFile, func(w io.Writer) error { _, err := w.Write(predicate); return err }); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "wrote SLSA v1 provenance for %s to %s\n", art.Subject, outputFile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outputFile, "output", "o", "", "file to write the predicate to")
	cmd.Flags().StringVar(&opts.BuilderID, "builder-id", "", "builder identity URI (default from the CI environment)")
	cmd.Flags().StringVar(&opts.SourceURI, "source-uri", "", "source repository URI, e.g. git+https://github.com/org/repo@refs/heads/main")
	cmd.Flags().StringVar(&opts.SourceDigest, "source-digest", "", "source commit (git SHA)")
	return cmd
}
