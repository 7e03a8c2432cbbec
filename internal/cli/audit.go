package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/audit"
	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/evidence"
)

func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit what builds and signs: the CI workflows",
	}
	cmd.AddCommand(a.auditWorkflowsCommand())
	return cmd
}

func (a *app) auditWorkflowsCommand() *cobra.Command {
	var output, failOn string
	var waiverFiles []string
	var o audit.Options
	cmd := &cobra.Command{
		Use:   "workflows [PATH...] [-o table|json|sarif] [--fail-on SEVERITY] [--waivers FILE]...",
		Short: "Find the ways someone else could drive the workflows that build, sign and publish",
		Long: `Read GitHub Actions workflows (.github/workflows/*.yml of a repository root, the default being the
current directory), composite actions (action.yml) and GitLab CI files (.gitlab-ci.yml with its local
includes) and report, at file:line:column, what lets someone else drive them: actions, reusable
workflows and images not pinned, pull_request_target/workflow_run/issue_comment jobs that run a
contribution's code, attacker-controlled text expanded into scripts, missing or excessive permissions,
secrets and signing reachable from untrusted triggers, self-hosted runners on pull requests, piped
installs, credentials left in uploaded checkouts, GitLab includes not pinned.

--fail-on SEVERITY exits 1 when a finding at or above it is not waived (2 is an error, as for scan).
Waivers (kind WorkflowAuditWaiver) accept one rule in one file, with an owner, a reason and an
expiry; an expired waiver never applies.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json", "sarif"); err != nil {
				return err
			}
			if failOn != "" && !evidence.ValidSeverity(failOn) {
				return usageError("--fail-on %q: want low, medium, high or critical", failOn)
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			waivers, err := audit.LoadWaivers(waiverFiles...)
			if err != nil {
				return err
			}
			r, err := audit.Audit(args, o)
			if err != nil {
				return err
			}
			for _, w := range audit.ApplyWaivers(r.Findings, waivers, time.Now()) {
				r.ExpiredWaivers = append(r.ExpiredWaivers, audit.AppliedWaiver{Name: w.Name, Owner: w.Owner, Reason: w.Reason, Expires: w.Expires})
				a.warnf("waiver %s (%s) expired %s: the findings it covered count again", w.Name, w.Source, w.Expires.Format(time.DateOnly))
			}
			switch output {
			case "json":
				err = writeJSON(a.stdout, r)
			case "sarif":
				root, _ := os.Getwd()
				err = writeJSON(a.stdout, r.ToSARIF(buildinfo.Read().Version, root))
			default:
				err = a.auditTable(r)
			}
			if err != nil {
				return err
			}
			if failOn == "" {
				return nil
			}
			failing := 0
			for _, f := range r.Findings {
				if f.Waiver == nil && evidence.SeverityRank(f.Severity) >= evidence.SeverityRank(failOn) {
					failing++
				}
			}
			if failing > 0 {
				return gateError{msg: fmt.Sprintf("%d workflow findings at or above %s", failing, failOn)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or sarif")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when a finding at or above low, medium, high or critical is not waived")
	cmd.Flags().StringSliceVar(&waiverFiles, "waivers", nil, "waiver file (WorkflowAuditWaiver documents; repeatable)")
	cmd.Flags().StringArrayVar(&o.AllowedOwners, "allow-owner", nil, "owner or owner/repo whose actions may be used by tag (repeatable)")
	cmd.Flags().BoolVar(&o.FirstParty, "first-party", false, "hold GitHub's own actions (actions/*, github/*) to pinning too")
	return cmd
}

func (a *app) auditTable(r *audit.Report) error {
	t := newTable(a.stdout)
	fmt.Fprintln(t, "SEVERITY\tRULE\tWHERE\tFINDING")
	for _, f := range r.Findings {
		where := fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
		msg := f.Message
		if f.Waiver != nil {
			msg += fmt.Sprintf(" (waived by %s, %s, until %s)", f.Waiver.Name, f.Waiver.Owner, f.Waiver.Expires.Format(time.DateOnly))
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", f.Severity, f.Rule, where, msg)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "%d files, %d findings\n", len(r.Files), len(r.Findings))
	return nil
}
