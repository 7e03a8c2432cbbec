package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// defaultDataDir is $XDG_DATA_HOME/dossier, else ~/.local/share/dossier.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "dossier")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".dossier"
	}
	return filepath.Join(home, ".local", "share", "dossier")
}

func addDataDirFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "data-dir", defaultDataDir(), "dossier's data directory (advisory database, …)")
}
