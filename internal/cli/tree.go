package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/attest"
)

func (a *app) treeCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "tree REF",
		Short: "List everything attached to a digest: signatures, attestations by type, SBOMs, in both layouts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			art, err := a.resolveSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			repo, desc, err := evidenceTarget(cmd.Context(), art, art.Subject.Digest)
			if err != nil {
				return err
			}
			attached, err := attest.Tree(cmd.Context(), repo, desc)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, struct {
					Subject     string              `json:"subject"`
					Attachments []attest.Attachment `json:"attachments"`
				}{art.Subject.String(), attached})
			}
			fmt.Fprintln(a.stdout, art.Subject.String())
			if len(attached) == 0 {
				fmt.Fprintln(a.stdout, "└── (nothing attached)")
			}
			for i, at := range attached {
				branch := "├──"
				if i == len(attached)-1 {
					branch = "└──"
				}
				what := at.Kind
				if at.PredicateType != "" && at.Kind == "attestation" {
					what += " " + at.PredicateType
				}
				if at.Format != "" {
					what += " (" + at.Format + ")"
				}
				where := at.Digest
				if at.Layout == "legacy-tag" {
					where = fmt.Sprintf("%s (%d entries)", at.Tag, at.Entries)
				}
				fmt.Fprintf(a.stdout, "%s %s [%s] %s\n", branch, what, at.Layout, where)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
