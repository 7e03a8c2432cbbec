package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/buildinfo"
)

func (a *app) versionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print dossier's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			info := buildinfo.Read()
			if output == "json" {
				return writeJSON(a.stdout, info)
			}
			fmt.Fprintf(a.stdout, "dossier %s\ncommit  %s\ngo      %s\nsyft    %s\n", info.Version, info.Commit, info.GoVersion, info.Syft)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
