package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
)

// demoCommand runs the main job on the bundled sample images with no
// servers: resolve each to its digest, generate its SBOM, read the SBOM
// back into the component model and summarise it.
func (a *app) demoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo [SAMPLES_DIR]",
		Short: "Run dossier end to end on the bundled sample images (default samples/layouts)",
		Args:  cobra.MaximumNArgs(1),
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
			for _, n := range names {
				if err := a.demoSample(cmd, filepath.Join(dir, n)); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (a *app) demoSample(cmd *cobra.Command, path string) error {
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
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	return nil
}
