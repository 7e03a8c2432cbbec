package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// demoCommand runs the main job on the bundled sample images with no
// servers: resolve each to its digest, generate its SBOM, read the SBOM
// back into the component model and summarise it.
func (a *app) demoCommand() *cobra.Command {
	var advisories string
	cmd := &cobra.Command{
		Use:   "demo [SAMPLES_DIR]",
		Short: "Run dossier end to end on the bundled sample images (default samples/layouts)",
		Long: `Run dossier end to end on the bundled sample images: resolve each to its digest, generate its
SBOM, read it back, and — when OSV data is found at --advisories (<Ecosystem>/all.zip) — import it
into a temporary database and scan each image.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "samples/layouts"
			if len(args) == 1 {
				dir = args[0]
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				return fmt.Errorf("samples %s: %w (run from the repository root or name the directory)", dir, err)
			}
			var names []string
			for _, e := range entries {
				if _, err := os.Stat(filepath.Join(dir, e.Name(), "oci-layout")); err == nil {
					names = append(names, e.Name())
				}
			}
			if len(names) == 0 {
				return fmt.Errorf("samples %s: no OCI layouts found", dir)
			}
			sort.Strings(names)
			db, cleanup, err := a.demoDatabase(cmd, advisories)
			if err != nil {
				return err
			}
			defer cleanup()
			for _, n := range names {
				if err := a.demoSample(cmd, filepath.Join(dir, n), db); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&advisories, "advisories", filepath.Join("..", "shared", "vulndata", "osv"), "directory of OSV <Ecosystem>/all.zip to scan the samples against")
	return cmd
}

// demoDatabase imports the OSV zips under dir into a temporary database,
// or returns nil when there are none.
func (a *app) demoDatabase(cmd *cobra.Command, dir string) (*vulndb.DB, func(), error) {
	zips, _ := filepath.Glob(filepath.Join(dir, "*", "all.zip"))
	if len(zips) == 0 {
		fmt.Fprintf(a.stderr, "no OSV data at %s: skipping the scan step (give --advisories DIR)\n", dir)
		return nil, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "dossier-demo-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	results, err := vulndb.Import(cmd.Context(), tmp, zips, vulndb.ImportOptions{})
	if err == nil {
		total := 0
		for _, r := range results {
			total += r.Records
		}
		fmt.Fprintf(a.stdout, "advisories: %d OSV records from %s\n\n", total, dir)
	}
	var db *vulndb.DB
	if err == nil {
		db, err = vulndb.Open(tmp)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return db, func() { db.Close(); cleanup() }, nil
}

func (a *app) demoSample(cmd *cobra.Command, path string, db *vulndb.DB) error {
	input := "oci-layout:" + path + ":latest"
	art, err := a.resolveSource(cmd.Context(), input)
	if err != nil {
		return err
	}
	res, err := generate.Generate(cmd.Context(), art, generate.Options{})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := res.Encode(&buf, sbom.FormatCycloneDX); err != nil {
		return err
	}
	size := buf.Len()
	doc, err := sbom.Decode(&buf, "SBOM of "+res.Subject.String())
	if err != nil {
		return err
	}
	s := sbom.Summarize(doc)
	var eco []string
	for _, c := range s.ByEcosystem {
		eco = append(eco, fmt.Sprintf("%s=%d", c.Key, c.Count))
	}
	fmt.Fprintf(a.stdout, "== %s\n", filepath.Base(path))
	t := newTable(a.stdout)
	fmt.Fprintf(t, "subject\t%s\n", res.Subject)
	fmt.Fprintf(t, "platform\t%s\n", res.Platform)
	fmt.Fprintf(t, "sbom\t%s %s, %d bytes, %d components (%d without purl)\n", s.Format, s.SpecVersion, size, s.Components, len(s.WithoutPURL))
	fmt.Fprintf(t, "ecosystems\t%s\n", strings.Join(eco, " "))
	if db != nil {
		doc.Subject = &res.Subject
		r, err := scan.Scan(cmd.Context(), db, doc, scan.Config{Source: path})
		if err != nil {
			return err
		}
		var sev []string
		for _, s := range []string{evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityMedium, evidence.SeverityLow, evidence.SeverityUnknown} {
			if n := r.Summary.BySeverity[s]; n > 0 {
				sev = append(sev, fmt.Sprintf("%d %s", n, s))
			}
		}
		line := fmt.Sprint(r.Summary.Total)
		if len(sev) > 0 {
			line += " (" + strings.Join(sev, ", ") + ")"
		}
		fmt.Fprintf(t, "findings\t%s\n", line)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	return nil
}
