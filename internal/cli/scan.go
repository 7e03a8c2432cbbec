package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

type scanFlags struct {
	dataDir, output, sbomFile, platform, failOn string
	vexFiles                                    []string
	ignoreFile                                  string
	onlyFixed                                   bool
	attest                                      bool
	key                                         string
}

func (a *app) scanCommand() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [SOURCE]",
		Short: "Find known vulnerabilities in an artifact or SBOM using the local OSV database",
		Long: `Scan SOURCE (image, layout, archive, directory, file) or --sbom FILE (CycloneDX, SPDX, syft JSON)
against the local advisory database (dossier db import / update).

--fail-on SEVERITY exits 1 when a finding at or above it remains after VEX and ignore rules; findings
of unknown severity fail every threshold. --only-fixed hides findings with no published fix and says
how many it hid and how many of unknown fix state it kept.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(cmd, args, f)
		},
	}
	addDataDirFlag(cmd, &f.dataDir)
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table, json or sarif")
	cmd.Flags().StringVar(&f.sbomFile, "sbom", "", "scan this SBOM instead of a source")
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform to read from a multi-platform index: os/arch[/variant]")
	cmd.Flags().StringVar(&f.failOn, "fail-on", "", "exit 1 when a finding at or above low, medium, high or critical remains")
	cmd.Flags().BoolVar(&f.onlyFixed, "only-fixed", false, "hide findings that have no fixed version (unknown fix state is kept)")
	cmd.Flags().StringSliceVar(&f.vexFiles, "vex", nil, "OpenVEX document(s): not_affected and fixed statements suppress findings")
	cmd.Flags().StringVar(&f.ignoreFile, "ignore-file", "", "YAML ignore rules (id, package, digest, reason, owner, expires)")
	cmd.Flags().BoolVar(&f.attest, "attest", false, "attach the report to the image digest as a signed vuln attestation (needs --key)")
	cmd.Flags().StringVar(&f.key, "key", "", "private key for --attest")
	return cmd
}

func (a *app) runScan(cmd *cobra.Command, args []string, f scanFlags) error {
	if err := checkOutput(f.output, "table", "json", "sarif"); err != nil {
		return err
	}
	if (len(args) == 1) == (f.sbomFile != "") {
		return usageError("give either a SOURCE or --sbom FILE")
	}
	if f.attest && (f.key == "" || f.sbomFile != "") {
		return usageError("--attest needs --key FILE and a registry SOURCE (not --sbom)")
	}
	if f.failOn != "" {
		if _, err := (&scan.Report{}).Gate(f.failOn); err != nil {
			return usageError("%v", err)
		}
	}
	ctx := cmd.Context()
	db, err := vulndb.Open(f.dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.Status(ctx)
	if err != nil {
		return err
	}

	started := time.Now()
	var doc *evidence.Document
	var art *oci.Artifact
	source := f.sbomFile
	if f.sbomFile != "" {
		if doc, err = a.readSBOM(f.sbomFile); err != nil {
			return err
		}
	} else {
		source = args[0]
		if doc, art, err = a.catalogue(cmd, args[0], f.platform); err != nil {
			return err
		}
	}
	matches, err := scan.Match(ctx, db, doc.Components)
	if err != nil {
		return err
	}
	var warnings []string
	now := time.Now()
	for _, path := range f.vexFiles {
		vex, err := scan.LoadVEX(path)
		if err != nil {
			return err
		}
		vex.Apply(matches.Findings, doc.Subject)
	}
	if f.ignoreFile != "" {
		rules, err := scan.LoadIgnoreFile(f.ignoreFile)
		if err != nil {
			return err
		}
		warnings = append(warnings, rules.Apply(matches.Findings, doc.Subject, now)...)
	}
	info := scan.DatabaseInfo{Path: st.Path, LastImport: st.LastImport, NewestModified: st.NewestModified, AgeHours: now.Sub(st.LastImport).Hours()}
	report := scan.NewReport(source, doc.Subject, info, matches, scan.Options{OnlyFixed: f.onlyFixed})
	report.Warnings = warnings
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	if err := a.renderReport(report, f.output, source); err != nil {
		return err
	}
	if f.attest {
		if err := a.attestReport(cmd, art, report, started, f.key); err != nil {
			return err
		}
	}
	if f.onlyFixed {
		fmt.Fprintf(a.stderr, "--only-fixed: hid %d findings with no fix; kept %d of unknown fix state\n", report.Summary.HiddenNotFixed, report.Summary.UnknownFixState)
	}
	if f.failOn == "" {
		return nil
	}
	failing, err := report.Gate(f.failOn)
	if err != nil {
		return err
	}
	if len(failing) > 0 {
		return gateError{msg: fmt.Sprintf("%d findings at or above %s (or of unknown severity) in %s", len(failing), f.failOn, subjectOr(doc.Subject, source))}
	}
	return nil
}

// catalogue generates the SBOM of source in memory and reads it back into
// the component model, the same path an SBOM file takes.
func (a *app) catalogue(cmd *cobra.Command, source, platform string) (*evidence.Document, *oci.Artifact, error) {
	p, err := parsePlatformFlag(platform)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	art, err := a.resolveSource(cmd.Context(), source)
	if err != nil {
		return nil, nil, err
	}
	res, err := generate.Generate(cmd.Context(), art, generate.Options{Platform: p})
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := res.Encode(&buf, sbom.FormatCycloneDX); err != nil {
		return nil, nil, err
	}
	doc, err := sbom.Decode(&buf, "SBOM of "+res.Subject.String())
	if err != nil {
		return nil, nil, err
	}
	subject := res.Subject
	doc.Subject = &subject
	fmt.Fprintf(a.stderr, "scanning %s (%d components)\n", subject, len(doc.Components))
	return doc, art, nil
}

// attestReport attaches the report as a cosign "vuln" attestation.
func (a *app) attestReport(cmd *cobra.Command, art *oci.Artifact, r *scan.Report, started time.Time, keyPath string) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var result map[string]any
	if err := json.Unmarshal(raw, &result); err != nil {
		return err
	}
	predicate := map[string]any{
		"invocation": map[string]any{"parameters": nil, "uri": "", "event_id": "", "builder.id": ""},
		"scanner": map[string]any{
			"uri": "https://github.com/dossier-dev/dossier", "version": buildinfo.Read().Version,
			"db":     map[string]any{"uri": "file://" + r.Database.Path, "version": r.Database.LastImport.Format(time.RFC3339)},
			"result": result,
		},
		"metadata": map[string]any{"scanStartedOn": started.UTC().Format(time.RFC3339), "scanFinishedOn": time.Now().UTC().Format(time.RFC3339)},
	}
	uri, _ := sign.PredicateType("vuln")
	digest, _, err := a.attach(cmd, art, r.Subject.Digest, predicate, uri, keyPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "attested the scan report to %s\n", digest)
	return nil
}

func subjectOr(s *evidence.Subject, fallback string) string {
	if s == nil {
		return fallback
	}
	return s.String()
}

func (a *app) renderReport(r *scan.Report, output, source string) error {
	switch output {
	case "json":
		return writeJSON(a.stdout, r)
	case "sarif":
		return writeJSON(a.stdout, r.ToSARIF(buildinfo.Read().Version, source))
	}
	return renderFindings(a.stdout, r)
}

func renderFindings(w io.Writer, r *scan.Report) error {
	fmt.Fprintf(w, "%s\n", subjectOr(r.Subject, r.Source))
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no vulnerabilities found")
	} else {
		t := newTable(w)
		fmt.Fprintln(t, "SEVERITY\tPACKAGE\tINSTALLED\tFIXED IN\tID\tALIASES")
		for _, f := range r.Findings {
			fixed := strings.Join(f.FixedVersions, ", ")
			if fixed == "" {
				fixed = "(" + f.FixState + ")"
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity.Rating, f.Component.Name, f.Component.Version, fixed, f.ID, strings.Join(f.Aliases, ", "))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\n%d findings", r.Summary.Total)
	for _, s := range []string{evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityMedium, evidence.SeverityLow, evidence.SeverityUnknown} {
		if n := r.Summary.BySeverity[s]; n > 0 {
			fmt.Fprintf(w, ", %d %s", n, s)
		}
	}
	fmt.Fprintf(w, "; %d suppressed; %d components checked, %d not checkable", r.Summary.Suppressed, r.Stats.Checked, r.Stats.Unmatched)
	if r.Stats.GitRangesIgnored > 0 {
		fmt.Fprintf(w, "; %d GIT ranges ignored", r.Stats.GitRangesIgnored)
	}
	fmt.Fprintf(w, "\nadvisory data imported %s (%.0f h ago)\n", r.Database.LastImport.Format(time.RFC3339), r.Database.AgeHours)
	if len(r.Unmatched) > 0 {
		fmt.Fprintln(w, "\nNOT CHECKED\tVERSION\tREASON")
		t := newTable(w)
		for _, u := range r.Unmatched {
			fmt.Fprintf(t, "%s\t%s\t%s\n", u.Component.Name, u.Component.Version, u.Reason)
		}
		return t.Flush()
	}
	return nil
}
