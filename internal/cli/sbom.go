package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
)

func (a *app) sbomCommand() *cobra.Command {
	var output, outputFile, platform string
	var attestFlag bool
	var f signingFlags
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "sbom SOURCE",
		Short: "Generate an SBOM of an image, layout, archive, directory or file",
		Long: `Generate an SBOM bound to the digest of SOURCE.

The SBOM names its subject (for images the manifest digest, as a pkg:oci purl in CycloneDX
metadata.component and as the described package in SPDX), the tool and the creation time.
SOURCE_DATE_EPOCH sets the creation time, so two runs on the same input are byte-identical.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, generate.Formats...); err != nil {
				return err
			}
			if attestFlag {
				if err := f.check(); err != nil {
					return usageError("--attest signs the SBOM: give --key FILE or --keyless")
				}
			} else if f.given() {
				return usageError("--key and --keyless go with --attest")
			}
			p, err := parsePlatformFlag(platform)
			if err != nil {
				return usageError("%v", err)
			}
			created, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			art, err := a.resolveSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			opts := generate.Options{Platform: p, Created: created}
			if art.Source.IsImage() {
				var closeCache func()
				opts.Cache, closeCache = a.layerCache(cmd.Context(), sf)
				defer closeCache()
			}
			res, err := generate.Generate(cmd.Context(), art, opts)
			if err != nil {
				return err
			}
			if res.Subject != art.Subject {
				fmt.Fprintf(a.stderr, "selected %s manifest %s of index %s\n", res.Platform, res.Subject.Digest, art.Subject.Digest)
			}
			if res.Layers != nil {
				fmt.Fprintf(a.stderr, "catalogued %s: %s\n", res.Subject, res.Layers)
			}
			if attestFlag {
				if err := a.attestSBOM(cmd.Context(), art, res, output, f); err != nil {
					return err
				}
			}
			if outputFile == "" {
				return res.Encode(a.stdout, output)
			}
			if err := writeFileAtomic(outputFile, func(w io.Writer) error { return res.Encode(w, output) }); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "wrote %s SBOM of %s to %s\n", output, res.Subject, outputFile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "cyclonedx-json", "SBOM format: "+strings.Join(generate.Formats, ", "))
	cmd.Flags().StringVar(&outputFile, "output-file", "", "write the SBOM to this file instead of stdout")
	cmd.Flags().StringVar(&platform, "platform", "", "platform to read from a multi-platform index: os/arch[/variant] (default linux/amd64)")
	cmd.Flags().BoolVar(&attestFlag, "attest", false, "also attach the SBOM to the image digest as a signed attestation (with --key or --keyless)")
	f.register(cmd, "the SBOM attestation")
	sf.register(cmd)
	cmd.AddCommand(a.sbomInspectCommand())
	return cmd
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org) or
// returns the zero time, which means now.
func sourceDateEpoch() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Time{}, nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}

func (a *app) sbomInspectCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Summarise an SBOM (CycloneDX, SPDX or syft JSON): subject, counts, components without purl",
		Long:  "Summarise an SBOM. FILE may be - for standard input.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			doc, err := a.readSBOM(args[0])
			if err != nil {
				return err
			}
			s := sbom.Summarize(doc)
			if output == "json" {
				return writeJSON(a.stdout, s)
			}
			return renderSummary(a.stdout, s)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (a *app) readSBOM(path string) (*evidence.Document, error) {
	if path == "-" {
		return sbom.Decode(a.stdin, "standard input")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sbom.Decode(f, path)
}

func renderSummary(w io.Writer, s sbom.Summary) error {
	t := newTable(w)
	subject := "(none: the SBOM names no digest)"
	if s.Subject != nil {
		subject = s.Subject.String()
	}
	fmt.Fprintf(t, "subject\t%s\n", subject)
	if s.SubjectName != "" {
		fmt.Fprintf(t, "name\t%s\n", s.SubjectName)
	}
	fmt.Fprintf(t, "format\t%s %s\n", s.Format, s.SpecVersion)
	if s.Tool != "" {
		fmt.Fprintf(t, "tool\t%s\n", s.Tool)
	}
	if s.Created != "" {
		fmt.Fprintf(t, "created\t%s\n", s.Created)
	}
	fmt.Fprintf(t, "components\t%d\n", s.Components)
	fmt.Fprintf(t, "without purl\t%d\n", len(s.WithoutPURL))
	if err := t.Flush(); err != nil {
		return err
	}
	for _, section := range []struct {
		title string
		rows  []sbom.Count
	}{{"TYPE", s.ByType}, {"ECOSYSTEM", s.ByEcosystem}} {
		fmt.Fprintln(w)
		t = newTable(w)
		fmt.Fprintf(t, "%s\tCOUNT\n", section.title)
		for _, c := range section.rows {
			fmt.Fprintf(t, "%s\t%d\n", c.Key, c.Count)
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if len(s.WithoutPURL) > 0 {
		fmt.Fprintln(w)
		t = newTable(w)
		fmt.Fprintln(t, "WITHOUT PURL\tVERSION\tTYPE")
		for _, c := range s.WithoutPURL {
			fmt.Fprintf(t, "%s\t%s\t%s\n", c.Name, c.Version, c.Type)
		}
		return t.Flush()
	}
	return nil
}

// sbomPredicateTypes are the attestation types of each SBOM format.
var sbomPredicateTypes = map[string]string{
	"cyclonedx-json": evidence.PredicateCycloneDX,
	"spdx-json":      evidence.PredicateSPDX,
	"syft-json":      "https://syft.dev/bom",
}

func (a *app) attestSBOM(ctx context.Context, art *oci.Artifact, res *generate.Result, format string, f signingFlags) error {
	var buf bytes.Buffer
	if err := res.Encode(&buf, format); err != nil {
		return err
	}
	attached, err := a.attach(ctx, art, res.Subject.Digest, sbomPredicateTypes[format], buf.Bytes(), f)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "attested the %s SBOM to %s\n", format, attached.Subject)
	return nil
}
