package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/audit"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
)

func (a *app) pipelineCommand() *cobra.Command {
	var sf storeFlags
	var f signingFlags
	var failOn, platform, trustedRoot, output, dotenv string
	var withProvenance bool
	var workflowWaivers []string
	var prov attest.ProvenanceOptions
	cmd := &cobra.Command{
		Use:   "pipeline REF (--key FILE | --keyless) [--fail-on SEVERITY] [--provenance]",
		Short: "The release sequence on one digest: SBOM, scan gate, sign, attest SBOM and scan, provenance, record",
		Long: `Resolve REF to its digest and run, in this order and bound to that digest: SBOM → scan against the
local advisory database (--fail-on is the gate) → sign → attest the SBOM → attest the scan report →
(with --provenance, SLSA provenance from the CI environment, attested, and the audit of the workflow
file the CI run is running, from the checkout, attested next to it) → record in the evidence store.
A failed gate stops before signing and says so: the digest stays unsigned and is recorded as failing
(exit 1). The outputs later steps need — digest, signer, SBOM and scan report references, scan
summary, provenance reference — are printed and, in GitHub Actions, appended to $GITHUB_OUTPUT (with
--dotenv, to a file of DOSSIER_DIGEST=… lines: GitLab's dotenv report).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if err := f.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := parsePlatformFlag(platform)
			if err != nil {
				return usageError("%v", err)
			}
			if failOn != "" {
				if _, err := policy.VulnerabilityGate(failOn, false); err != nil {
					return usageError("--fail-on: %v", err)
				}
			}
			signer, err := a.signer(ctx, f)
			if err != nil {
				return err
			}
			trust, err := a.pipelineTrust(signer, trustedRoot, f.keyless)
			if err != nil {
				return err
			}
			db, st, closeAll, err := sf.openWithDatabase(ctx)
			if err != nil {
				return err
			}
			defer closeAll()
			art, err := a.resolveSource(ctx, args[0])
			if err != nil {
				return err
			}
			waivers, err := audit.LoadWaivers(workflowWaivers...)
			if err != nil {
				return err
			}
			opts := pipeline.ReleaseOptions{Signer: signer, Trust: trust, DB: db, FailOn: failOn, Platform: p, WorkflowWaivers: waivers,
				Provenance: withProvenance, Env: environment(), ProvenanceOptions: prov,
				Progress: func(s pipeline.ReleaseStep) { fmt.Fprintf(a.stderr, "[%d/%d] %s\n", s.N, s.Of, s.Name) }}
			out, err := pipeline.Release(ctx, st, art, opts)
			if out != nil {
				if werr := a.releaseOutputs(out, output, dotenv); werr != nil {
					return werr
				}
			}
			if errors.Is(err, pipeline.ErrGateFailed) {
				return gateError{msg: err.Error()}
			}
			if errors.Is(err, attest.ErrNoBuilder) || errors.Is(err, attest.ErrNoSource) {
				return usageError("--provenance: %v: give --builder-id, --source-uri and --source-digest", err)
			}
			return err
		},
	}
	sf.register(cmd)
	f.register(cmd, "the digest, the SBOM, the scan and the provenance")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "stop before signing when a finding at or above low, medium, high or critical remains")
	cmd.Flags().BoolVar(&withProvenance, "provenance", false, "attest SLSA v1 provenance from the CI environment, and the audit of the CI workflow that runs it")
	cmd.Flags().StringSliceVar(&workflowWaivers, "workflow-waivers", nil, "waivers (WorkflowAuditWaiver) for the audit of the CI workflow (repeatable)")
	cmd.Flags().StringVar(&prov.BuilderID, "builder-id", "", "provenance: builder identity URI (default from the CI environment)")
	cmd.Flags().StringVar(&prov.SourceURI, "source-uri", "", "provenance: source repository URI")
	cmd.Flags().StringVar(&prov.SourceDigest, "source-digest", "", "provenance: source commit")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "keyless: trusted root JSON to verify the new signatures with when recording")
	cmd.Flags().StringVar(&platform, "platform", "", "platform to catalogue in a multi-platform index: os/arch[/variant]")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&dotenv, "dotenv", "", "also append the outputs to this file as DOSSIER_DIGEST=… lines (a GitLab dotenv report)")
	return cmd
}

// pipelineTrust verifies the pipeline's own signatures when recording: the
// signing key, or for keyless signing the trusted root.
func (a *app) pipelineTrust(signer *sign.Signer, trustedRootPath string, keyless bool) (*sign.Trust, error) {
	set := &policy.Set{}
	if kp := signer.KeyPair(); kp != nil {
		pemText, err := kp.GetPublicKeyPem()
		if err != nil {
			return nil, err
		}
		s, err := policy.KeySigner("signing key", []byte(pemText))
		if err != nil {
			return nil, err
		}
		set.Policies = []*policy.Policy{policy.SignatureGate(s)}
	}
	trusted, rootErr, err := collect.TrustedRoot(trustedRootPath, keyless)
	if err != nil {
		return nil, err
	}
	return collect.TrustFor(set, trusted, rootErr, time.Now())
}

// releaseOutputs prints the outputs and appends them to $GITHUB_OUTPUT in
// GitHub Actions.
func (a *app) releaseOutputs(out *pipeline.Released, format, dotenv string) error {
	values := [][2]string{
		{"digest", out.Subject.String()}, {"signer", out.Signer}, {"signature", out.Signature},
		{"sbom", out.SBOM}, {"scan-report", out.ScanReport}, {"scan-summary", out.Scan}, {"provenance", out.Provenance},
		{"workflow-audit", out.WorkflowAudit},
	}
	if format == "json" {
		if err := writeJSON(a.stdout, out); err != nil {
			return err
		}
	} else {
		t := newTable(a.stdout)
		for _, kv := range values {
			fmt.Fprintf(t, "%s\t%s\n", kv[0], dash(kv[1]))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if path := os.Getenv("GITHUB_OUTPUT"); path != "" {
		if err := appendLines(path, "GITHUB_OUTPUT", values, func(k string) string { return k }); err != nil {
			return err
		}
	}
	if dotenv == "" {
		return nil
	}
	// GitLab's dotenv reports take variable names: DOSSIER_SCAN_SUMMARY
	return appendLines(dotenv, "dotenv file", values, func(k string) string {
		return "DOSSIER_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
	})
}

// appendLines appends NAME=value lines, one value per line.
func appendLines(path, what string, values [][2]string, name func(string) string) error {
	var b strings.Builder
	for _, kv := range values {
		fmt.Fprintf(&b, "%s=%s\n", name(kv[0]), strings.ReplaceAll(kv[1], "\n", " "))
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if _, err := fh.WriteString(b.String()); err != nil {
		fh.Close()
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	return fh.Close()
}
