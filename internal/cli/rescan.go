package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/pipeline"
)

func (a *app) rescanCommand() *cobra.Command {
	var sf storeFlags
	var jf jobFlags
	var all bool
	var threshold, output string
	cmd := &cobra.Command{
		Use:   "rescan [--all [--rate N]] [--threshold SEVERITY]",
		Short: "After db import or update, re-match the stored SBOMs' components whose advisories changed; name the digests with new findings",
		Long: `Compare the advisory database with the one the last rescan saw, advisory by advisory, and re-match
only the stored components of packages whose advisories were added, changed, withdrawn or removed —
across every SBOM in the evidence store. New findings and findings no longer present are recorded with
the time. Output: the digests with new findings at or above --threshold (unknown severities included),
digests seen deployed first, then most severe first. The first rescan of a store matches every stored component.

With --all, every stored SBOM is re-matched, whatever changed (no image is catalogued again), as a durable
job in the evidence store: batch by batch, each batch's findings recorded with the job's progress, so that a
job interrupted anyhow (Ctrl-C, kill -9) continues where it stopped when dossier rescan --all is run again;
one process runs it at a time (a lease, renewed while it runs); --rate paces it. dossier jobs shows it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			if threshold != "" && (!evidence.ValidSeverity(threshold) || threshold == evidence.SeverityUnknown || threshold == evidence.SeverityNone) {
				return usageError("--threshold %q: want low, medium, high or critical", threshold)
			}
			ctx := cmd.Context()
			if all {
				return a.rescanAll(ctx, &sf, &jf, threshold, output)
			}
			db, st, closeAll, err := sf.openWithDatabase(ctx)
			if err != nil {
				return err
			}
			defer closeAll()
			r, err := pipeline.Rescan(ctx, st, db, threshold, time.Now())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, r)
			}
			scope := fmt.Sprintf("%d advisories changed since the last rescan (%d packages)", r.Changed, r.Packages)
			if r.Full {
				scope = fmt.Sprintf("first rescan: all %d advisories", r.Changed)
			}
			rechecked := ""
			if r.Rechecked > 0 {
				rechecked = fmt.Sprintf(" (and %d asked again about components their scan could not check)", r.Rechecked)
			}
			fmt.Fprintf(a.stdout, "%s; %d digests re-matched%s in %s; %d new findings\n", scope, r.Digests, rechecked, r.Duration.Round(time.Millisecond), len(r.New))
			return a.printNewFindings(r.New)
		},
	}
	sf.register(cmd)
	jf.register(cmd, false)
	cmd.Flags().BoolVar(&all, "all", false, "re-match every stored SBOM, as a durable job (see above)")
	cmd.Flags().StringVar(&threshold, "threshold", "", "list new findings at or above low, medium, high or critical (default: all)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}
