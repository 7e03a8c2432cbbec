package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

type scanFlags struct {
	dataDir, output, sbomFile, platform, failOn string
	storeURL                                    string
	layerCacheMiB                               int64
	vexFiles                                    []string
	exceptions                                  []string
	onlyFixed                                   bool
	attest                                      bool
	signing                                     signingFlags
}

func (a *app) scanCommand() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [SOURCE]",
		Short: "Find known vulnerabilities in an artifact or SBOM using the local OSV database",
		Long: `Scan SOURCE (image, layout, archive, directory, file) or --sbom FILE (CycloneDX, SPDX, syft JSON)
against the local advisory database (dossier db import / update).

--fail-on SEVERITY exits 1 when a finding at or above it remains after VEX statements and
exceptions; findings of unknown severity fail every threshold. The gate is decided by the policy
engine, as "dossier policy check" decides. --only-fixed hides findings with no published fix (and lets
them pass the gate) and says how many it hid and how many of unknown fix state it kept.
--exceptions reads SupplyChainException documents (or the older ignore-file format).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(cmd, args, f)
		},
	}
	addDataDirFlag(cmd, &f.dataDir)
	addStoreFlag(cmd, &f.storeURL)
	addLayerCacheFlag(cmd, &f.layerCacheMiB)
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table, json or sarif")
	cmd.Flags().StringVar(&f.sbomFile, "sbom", "", "scan this SBOM instead of a source")
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform to read from a multi-platform index: os/arch[/variant]")
	cmd.Flags().StringVar(&f.failOn, "fail-on", "", "exit 1 when a finding at or above low, medium, high or critical remains")
	cmd.Flags().BoolVar(&f.onlyFixed, "only-fixed", false, "hide findings that have no fixed version (unknown fix state is kept)")
	cmd.Flags().StringSliceVar(&f.vexFiles, "vex", nil, "OpenVEX document(s): not_affected and fixed statements suppress findings")
	cmd.Flags().StringSliceVar(&f.exceptions, "exceptions", nil, "SupplyChainException file(s) or directories (owner, digest, reason, expiry)")
	cmd.Flags().StringSliceVar(&f.exceptions, "ignore-file", nil, "older name of --exceptions (the ignore-file format still loads)")
	cmd.Flags().BoolVar(&f.attest, "attest", false, "attach the report to the image digest as a signed vuln attestation (with --key or --keyless)")
	f.signing.register(cmd, "the vuln attestation")
	return cmd
}

// loadExceptions reads exception documents, refusing files that hold
// policies (those belong to dossier policy check).
func (a *app) loadExceptions(paths []string) ([]evidence.Exception, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	docs, err := policy.Load(paths...)
	if err != nil {
		return nil, err
	}
	if len(docs.Policies) > 0 {
		return nil, usageError("%s holds policies (%s); give them to dossier policy check --policy", docs.Policies[0].Source, docs.Policies[0].Name)
	}
	for _, w := range docs.Warnings {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	return docs.Exceptions, nil
}

func (a *app) runScan(cmd *cobra.Command, args []string, f scanFlags) error {
	if err := checkOutput(f.output, "table", "json", "sarif"); err != nil {
		return err
	}
	if (len(args) == 1) == (f.sbomFile != "") {
		return usageError("give either a SOURCE or --sbom FILE")
	}
	switch {
	case f.attest && f.sbomFile != "":
		return usageError("--attest attaches to an image digest: give a registry SOURCE, not --sbom")
	case f.attest:
		if err := f.signing.check(); err != nil {
			return usageError("--attest signs the report: give --key FILE or --keyless")
		}
	case f.signing.given():
		return usageError("--key and --keyless go with --attest")
	}
	var gate *policy.Policy
	if f.failOn != "" {
		var err error
		if gate, err = policy.VulnerabilityGate(f.failOn, f.onlyFixed); err != nil {
			return usageError("--fail-on: %v", err)
		}
	}
	platform, err := parsePlatformFlag(f.platform)
	if err != nil {
		return usageError("%v", err)
	}
	exceptions, err := a.loadExceptions(f.exceptions)
	if err != nil {
		return err
	}
	cfg := scan.Config{Exceptions: exceptions, OnlyFixed: f.onlyFixed, Now: time.Now()}
	for _, path := range f.vexFiles {
		vex, err := scan.LoadVEX(path)
		if err != nil {
			return err
		}
		cfg.VEX = append(cfg.VEX, vex)
	}
	ctx := cmd.Context()
	db, err := vulndb.Open(f.dataDir)
	if err != nil {
		return err
	}
	defer db.Close()

	started := time.Now()
	var doc *evidence.Document
	var art *oci.Artifact
	if f.sbomFile != "" {
		cfg.Source = f.sbomFile
		if doc, err = a.readSBOM(f.sbomFile); err != nil {
			return err
		}
	} else {
		cfg.Source = args[0]
		if art, err = a.resolveSource(ctx, args[0]); err != nil {
			return err
		}
		var cache generate.LayerCache
		if art.Source.IsImage() {
			var closeCache func()
			cache, closeCache = a.layerCache(ctx, storeFlags{dataDir: f.dataDir, url: f.storeURL, layerCacheMiB: f.layerCacheMiB})
			defer closeCache()
		}
		if doc, err = pipeline.Catalogue(ctx, art, platform, cache); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "scanning %s (%d components)\n", doc.Subject, len(doc.Components))
	}
	report, err := scan.Scan(ctx, db, doc, cfg)
	if err != nil {
		return err
	}
	for _, w := range report.Warnings {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	if err := a.renderReport(report, f.output, cfg.Source); err != nil {
		return err
	}
	if f.attest {
		predicate, err := attest.VulnPredicate(report, buildinfo.Read().Version, started, time.Now())
		if err != nil {
			return err
		}
		attached, err := a.attach(ctx, art, report.Subject.Digest, evidence.PredicateVuln, predicate, f.signing)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "attested the scan report to %s\n", attached.Subject)
	}
	if f.onlyFixed {
		fmt.Fprintf(a.stderr, "--only-fixed: hid %d findings with no fix; kept %d of unknown fix state\n", report.Summary.HiddenNotFixed, report.Summary.UnknownFixState)
	}
	if gate == nil {
		return nil
	}
	subject := evidence.Subject{Repository: cfg.Source}
	if doc.Subject != nil {
		subject = *doc.Subject
	}
	set := &policy.Set{Policies: []*policy.Policy{gate}, Exceptions: exceptions}
	d := policy.Evaluate(set, &evidence.Collected{Subject: subject, Vulnerabilities: report.Evidence()}, cfg.Now)
	if !d.Allowed {
		return gateError{msg: d.Failed()[0].Reason}
	}
	return nil
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
	if len(r.Coverage) > 0 {
		t := newTable(w)
		fmt.Fprintln(t, "\nECOSYSTEM\tCHECKED\tNOT CHECKED")
		for _, c := range r.Coverage {
			ecosystem := c.Ecosystem
			if ecosystem == "" {
				ecosystem = "(no ecosystem)"
			}
			fmt.Fprintf(t, "%s\t%d\t%d\n", ecosystem, c.Checked, c.NotChecked)
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
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

func subjectOr(s *evidence.Subject, fallback string) string {
	if s == nil {
		return fallback
	}
	return s.String()
}
