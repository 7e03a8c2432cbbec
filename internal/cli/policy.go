package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/decide"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

func (a *app) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Decide about images with policies and exceptions, and check policy documents",
	}
	cmd.AddCommand(a.policyCheckCommand(), a.policyLintCommand())
	return cmd
}

func (a *app) policyCheckCommand() *cobra.Command {
	var policies, exceptions []string
	var output, trustedRoot, dataDir, platform, namespace, verifierID string
	var allowUnmatched, summarise bool
	var f signingFlags
	cmd := &cobra.Command{
		Use:   "check REF... --policy FILE|DIR [--exceptions FILE|DIR] [--attest (--key FILE | --keyless)]",
		Short: "Decide whether images meet the policies: each rule passes, fails, is waived or does not apply",
		Long: `Resolve each REF to its digest, gather exactly the evidence the matching policies need — signatures
and attestations (both storage layouts) verified for the policies' signers, vulnerability findings
from a signed vuln attestation when a policy accepts one, else by scanning against the local
advisory database — and decide with the policies (SupplyChainPolicy, ClusterImagePolicy or Kyverno ClusterPolicy/Policy/ImageValidatingPolicy documents)
and exceptions (SupplyChainException). Evidence that cannot be read is a failure of the rules that
need it, never a pass.

With --attest each allowed decision is published as a signed SLSA Verification Summary Attestation
(https://slsa.dev/verification_summary/v1) attached to the digest: --verifier-id, the time, the digest,
the policies by name and digest, PASSED, and a DOSSIER_<POLICY>_<RULE> level per rule that passed
(dossier verify-attestation --type vsa, or cosign verify-attestation, reads it).

Exit 0 when every REF is allowed (audit-mode violations are reported and allowed), 1 when one is
denied, 2 on errors. An image no policy matches is denied unless --allow-unmatched.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			if len(policies) == 0 {
				return usageError("give --policy FILE or DIR")
			}
			if summarise {
				if err := f.check(); err != nil {
					return err
				}
			} else if f.given() {
				return usageError("--key and --keyless sign the verification summaries of --attest")
			}
			p, err := parsePlatformFlag(platform)
			if err != nil {
				return usageError("%v", err)
			}
			if summarise && p != nil {
				// the summary is attached to the index's digest and would
				// vouch for every image of it, the gate having scanned one
				return usageError("--attest summarises the whole image: --platform, which scans one image of an index, cannot go with it")
			}
			docs, err := policy.Load(append(append([]string{}, policies...), exceptions...)...)
			if err != nil {
				return err
			}
			if len(docs.Policies) == 0 {
				return usageError("%v holds no policies", policies)
			}
			for _, w := range docs.Warnings {
				fmt.Fprintln(a.stderr, "warning:", w)
			}
			if summarise {
				if err := oneRulePerLevel(docs.Policies); err != nil {
					return err
				}
			}
			set := &policy.Set{Policies: docs.Policies, Exceptions: docs.Exceptions, AllowUnmatched: allowUnmatched}
			opts := decide.Options{TrustedRoot: trustedRoot, Namespace: namespace}
			if set.HasVulnerabilityRules() {
				db, missing, err := vulndb.OpenIfPresent(dataDir)
				switch {
				case err != nil:
					return err
				case db == nil:
					opts.NoScanner = missing
				default:
					defer db.Close()
					opts.Scanner = pipeline.LocalScanner{DB: db, Exceptions: docs.Exceptions, Platform: p}
				}
			}
			results, err := a.decideAll(cmd.Context(), set, args, opts)
			if err != nil {
				return err
			}
			denied := 0
			decisions := make([]evidence.Decision, len(results))
			for i, r := range results {
				decisions[i] = r.Decision
				if !r.Decision.Allowed {
					denied++
				}
			}
			if summarise {
				if err := a.publishSummaries(cmd.Context(), results, docs.Policies, verifierID, f); err != nil {
					return err
				}
			}
			if output == "json" {
				if err := writeJSON(a.stdout, decisions); err != nil {
					return err
				}
			} else {
				for i, d := range decisions {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					renderDecision(a.stdout, d)
				}
			}
			if denied > 0 {
				return gateError{msg: fmt.Sprintf("%d of %d denied", denied, len(args))}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&policies, "policy", nil, "policy file or directory of *.yaml (repeatable)")
	cmd.Flags().StringSliceVar(&exceptions, "exceptions", nil, "exception file or directory of *.yaml (repeatable)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root JSON for keyless signers (default: the public-good root, fetched)")
	cmd.Flags().StringVar(&namespace, "namespace", "", "judge as if admitted to this Kubernetes namespace (namespaced exceptions)")
	cmd.Flags().BoolVar(&allowUnmatched, "allow-unmatched", false, "allow images no policy matches (default: deny them)")
	cmd.Flags().StringVar(&platform, "platform", "", "platform to scan in a multi-platform index: os/arch[/variant]")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().BoolVar(&summarise, "attest", false, "publish each allowed decision as a signed SLSA Verification Summary Attestation on its digest")
	cmd.Flags().StringVar(&verifierID, "verifier-id", "https://dossier.dev/verifiers/policy-check", "--attest: the verifier's URI in the summaries (say which gate verified: your CI's URI)")
	f.register(cmd, "the verification summaries (--attest)")
	addDataDirFlag(cmd, &dataDir)
	return cmd
}

// localScanner catalogues an artifact and scans it against the local
// advisory database.
var outcomeLabels = map[string]string{
	evidence.OutcomePass: "pass", evidence.OutcomeFail: "FAIL", evidence.OutcomeWaived: "waived", evidence.OutcomeNotApplicable: "n/a",
}

func renderDecision(w io.Writer, d evidence.Decision) {
	verdict := "ALLOWED"
	switch {
	case !d.Allowed:
		verdict = "DENIED"
	case d.Violations > 0:
		verdict = fmt.Sprintf("ALLOWED (audit: %d violations)", d.Violations)
	}
	fmt.Fprintf(w, "%s: %s\n", d.Subject, verdict)
	for _, r := range d.Rules {
		name := r.Rule
		if r.Policy != "" {
			name = r.Policy + "/" + r.Rule
		}
		mode := ""
		if r.Mode == evidence.ModeAudit && r.Outcome == evidence.OutcomeFail {
			mode = " (audit)"
		}
		fmt.Fprintf(w, "  %-6s %s%s: %s\n", outcomeLabels[r.Outcome], name, mode, r.Reason)
		if r.Outcome == evidence.OutcomeFail && r.Fix != "" {
			fmt.Fprintf(w, "         fix: %s\n", r.Fix)
		}
	}
	for _, e := range d.ExpiredExceptions {
		fmt.Fprintf(w, "  note   exception %s\n", e)
	}
}

func (a *app) policyLintCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lint FILE|DIR...",
		Short: "Load and validate policy and exception documents (SupplyChainPolicy, ClusterImagePolicy, Kyverno ClusterPolicy/Policy/ImageValidatingPolicy, SupplyChainException)",
		Long: `Load every document and report what it holds, or the first problem in each file with the file,
the field and what is wrong; for a Kyverno policy, what each verifyImages rule or CEL validation became. Warnings
name what loads but deserves a look: unanchored regular expressions in ClusterImagePolicies and
Kyverno policies, what dossier does differently from Kyverno, exceptions that have expired or
expire within 7 days, ignore rules that cover every image. Exit 0 when every file is valid, 1
when one is not.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			invalid := 0
			for _, path := range args {
				docs, err := policy.Load(path)
				if err != nil {
					invalid++
					fmt.Fprintf(a.stdout, "invalid: %v\n", err)
					continue
				}
				fmt.Fprintf(a.stdout, "ok: %s: %d policies, %d exceptions\n", path, len(docs.Policies), len(docs.Exceptions))
				for _, p := range docs.Policies {
					fmt.Fprintf(a.stdout, "  policy %s (%s, %s): %d rules\n", p.Name, p.Kind, p.Mode, len(p.Rules))
					for _, line := range p.Explanation {
						fmt.Fprintf(a.stdout, "    %s\n", line)
					}
					for _, acc := range p.Summaries {
						fmt.Fprintf(a.stdout, "    rules %s also pass on a verification summary by %s, signed by %d signer(s), at most %s old, verifying %s\n",
							strings.Join(acc.Rules, ", "), acc.Verifier, len(acc.Signers), acc.MaxAge, strings.Join(acc.Levels, ", "))
					}
				}
				for _, w := range docs.Warnings {
					fmt.Fprintf(a.stdout, "  warning: %s\n", w)
				}
				for _, e := range docs.Exceptions {
					switch {
					case e.Expired(now):
						fmt.Fprintf(a.stdout, "  warning: exception %s (owner %s) expired %s and no longer applies\n", e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339))
					case e.Expiring(now):
						fmt.Fprintf(a.stdout, "  note: exception %s (owner %s) expires %s, in %s\n", e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339), e.ExpiresAt.Sub(now).Round(time.Hour))
					}
				}
			}
			if invalid > 0 {
				return gateError{msg: fmt.Sprintf("%d of %d invalid", invalid, len(args))}
			}
			return nil
		},
	}
	return cmd
}

// oneRulePerLevel refuses policies two of whose rules are spelled as the
// same verified level (policy payments rule release-signed and policy
// payments-release rule signed are both DOSSIER_PAYMENTS_RELEASE_SIGNED):
// a summary carrying it would not say which of them passed.
func oneRulePerLevel(policies []*policy.Policy) error {
	spelled := map[string]string{}
	for _, p := range policies {
		for _, r := range p.Rules {
			level, name := attest.Level(p.Name, r.Name), p.Name+"/"+r.Name
			if other, ok := spelled[level]; ok {
				return fmt.Errorf("rules %s and %s are both verified level %s in a verification summary: rename one of them", other, name, level)
			}
			spelled[level] = name
		}
	}
	return nil
}

// publishSummaries attaches a verification summary to each allowed
// decision's digest, and says so on stderr.
func (a *app) publishSummaries(ctx context.Context, results []decide.Result, policies []*policy.Policy, verifierID string, f signingFlags) error {
	opts := attest.SummaryOptions{VerifierID: verifierID, Version: buildinfo.Read().Version}
	for _, p := range policies {
		opts.Policies = append(opts.Policies, attest.SummaryPolicy{Name: p.Name, Digest: p.Digest})
	}
	for _, r := range results {
		if !r.Decision.Allowed || len(r.Decision.Policies) == 0 {
			continue // denied, or allowed unmatched: nothing was verified
		}
		predicate, err := attest.VerificationSummary(r.Decision, opts)
		if err != nil {
			return err
		}
		attached, err := a.attach(ctx, r.Artifact, r.Decision.Subject.Digest, evidence.PredicateVSA, predicate, f)
		if err != nil {
			return fmt.Errorf("publishing the verification summary of %s: %w", r.Decision.Subject, err)
		}
		fmt.Fprintf(a.stderr, "published a verification summary of %s\n", attached.Subject)
	}
	return nil
}
