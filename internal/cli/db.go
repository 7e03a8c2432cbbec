package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

func (a *app) dbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the local vulnerability database (OSV advisory data)",
	}
	cmd.AddCommand(a.dbImportCommand(), a.dbStatusCommand(), a.dbUpdateCommand())
	return cmd
}

func (a *app) dbImportCommand() *cobra.Command {
	var dataDir string
	var strict bool
	var maxZipMiB int64
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import OSV records: bulk zips (<Ecosystem>/all.zip), directories of .json/.yaml records, single records",
		Long: `Import OSV advisory data into the local database.

The new database is built beside the old one and swapped in atomically: a failure, a corrupt zip or
Ctrl-C leaves the previous database intact. Malformed records are skipped, counted and the first ones
named (file, entry, field); --strict makes any malformed record fail the import.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			results, err := vulndb.Import(cmd.Context(), dataDir, args, vulndb.ImportOptions{Strict: strict, MaxUncompressed: maxZipMiB << 20, Progress: a.progressCounter("records")})
			if err != nil {
				return fmt.Errorf("import failed, database unchanged: %w", err)
			}
			total := a.printImported(results)
			fmt.Fprintf(a.stderr, "imported %d records into %s in %s\n", total, dataDir, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().BoolVar(&strict, "strict", false, "fail the import on any malformed record")
	addMaxZipFlag(cmd, &maxZipMiB)
	return cmd
}

func (a *app) dbStatusCommand() *cobra.Command {
	var dataDir, output string
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show records per ecosystem, imports and the age of the data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			db, err := vulndb.Open(dataDir)
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := db.Status(cmd.Context())
			if err != nil {
				return err
			}
			age := time.Since(st.LastImport)
			stale := age > maxAge
			if stale {
				fmt.Fprintf(a.stderr, "warning: advisory data was last imported %s ago (more than --max-age %s): run `dossier db update` or import newer data\n", age.Round(time.Minute), maxAge)
			}
			if output == "json" {
				return writeJSON(a.stdout, struct {
					*vulndb.Status
					AgeHours float64 `json:"ageHours"`
					Stale    bool    `json:"stale"`
				}{st, age.Hours(), stale})
			}
			t := newTable(a.stdout)
			fmt.Fprintf(t, "database\t%s\n", st.Path)
			fmt.Fprintf(t, "last import\t%s (%s ago)\n", st.LastImport.Format(time.RFC3339), age.Round(time.Minute))
			fmt.Fprintf(t, "newest modified\t%s\n", st.NewestModified.Format(time.RFC3339))
			fmt.Fprintln(t, "\nECOSYSTEM\tRECORDS\tWITHDRAWN")
			for _, e := range st.Ecosystems {
				fmt.Fprintf(t, "%s\t%d\t%d\n", e.Ecosystem, e.Records, e.Withdrawn)
			}
			fmt.Fprintln(t, "\nSOURCE\tIMPORTED\tRECORDS\tSKIPPED\tNEWEST MODIFIED")
			for _, i := range st.Imports {
				fmt.Fprintf(t, "%s\t%s\t%d\t%d\t%s\n", i.Source, i.ImportedAt.Format(time.RFC3339), i.Records, i.Skipped, i.NewestModified.Format(time.RFC3339))
			}
			return t.Flush()
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().DurationVar(&maxAge, "max-age", 72*time.Hour, "warn when the data was imported longer ago than this")
	return cmd
}

func (a *app) dbUpdateCommand() *cobra.Command {
	var dataDir, baseURL string
	var ecosystems []string
	var timeout time.Duration
	var maxZipMiB int64
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download OSV bulk data (<base-url>/<Ecosystem>/all.zip) and import what changed",
		Long: `Download OSV's per-ecosystem zips, conditional on the ETag/Last-Modified of the previous
download, then import the ones that changed. Offline? Use ` + "`dossier db import`" + ` with zips you copied in.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			got, err := vulndb.Download(cmd.Context(), dataDir, vulndb.DownloadOptions{
				BaseURL: baseURL, Ecosystems: ecosystems, Timeout: timeout, MaxSize: maxZipMiB << 20, Progress: a.progressBytes(),
			})
			if err != nil {
				if errors.Is(err, vulndb.ErrOffline) {
					return fmt.Errorf("%w\nworking offline? copy OSV zips here and run `dossier db import PATH...`", err)
				}
				return err
			}
			var changed []string
			for _, d := range got {
				if d.NotModified {
					fmt.Fprintf(a.stderr, "%s: not modified\n", d.Ecosystem)
					continue
				}
				fmt.Fprintf(a.stderr, "%s: downloaded %d bytes\n", d.Ecosystem, d.Bytes)
				changed = append(changed, d.Path)
			}
			if len(changed) == 0 {
				fmt.Fprintln(a.stdout, "advisory data is up to date")
				return nil
			}
			results, err := vulndb.Import(cmd.Context(), dataDir, changed, vulndb.ImportOptions{MaxUncompressed: maxZipMiB << 20, Progress: a.progressCounter("records")})
			if err != nil {
				return fmt.Errorf("import failed, database unchanged: %w", err)
			}
			a.printImported(results)
			return nil
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVar(&baseURL, "base-url", vulndb.DefaultBaseURL, "where <Ecosystem>/all.zip are published")
	cmd.Flags().StringSliceVar(&ecosystems, "ecosystem", nil, "ecosystems to download (default: "+strings.Join(vulndb.DefaultEcosystems, ", ")+")")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "bound on each download")
	addMaxZipFlag(cmd, &maxZipMiB)
	return cmd
}

// addMaxZipFlag bounds what is read of one zip, so that a zip bomb fails
// cleanly; the whole OSV export of a large distribution (Ubuntu's is
// several GiB) needs it raised.
func addMaxZipFlag(cmd *cobra.Command, mib *int64) {
	cmd.Flags().Int64Var(mib, "max-zip-mib", 2048, "MiB read at most of one zip, downloaded or inflated (one record: 8 MiB)")
}

// printImported reports each source's import, the records it skipped, and
// the ecosystems dossier matches no component against (imported, never
// used); it returns the records imported.
func (a *app) printImported(results []vulndb.SourceResult) int {
	total := 0
	for _, r := range results {
		total += r.Records
		fmt.Fprintf(a.stdout, "%s: %d records (%d withdrawn), %d malformed skipped\n", r.Source, r.Records, r.Withdrawn, r.Skipped)
		for _, e := range r.Errors {
			fmt.Fprintf(a.stdout, "  skipped: %s\n", e)
		}
		if r.Skipped > len(r.Errors) {
			fmt.Fprintf(a.stdout, "  … and %d more\n", r.Skipped-len(r.Errors))
		}
		for _, eco := range slices.Sorted(maps.Keys(r.Ecosystems)) {
			if !scan.Matched(eco) {
				fmt.Fprintf(a.stderr, "warning: %s: %d records of %s, an ecosystem dossier matches no component against\n", r.Source, r.Ecosystems[eco], eco)
			}
		}
	}
	return total
}
