// Package audit tells a team whether the CI workflows that build, sign and
// publish can be driven by someone else: GitHub Actions workflows (parsed
// with actionlint's parser, which keeps positions), composite actions and
// GitLab CI files (with their local includes) are read, and rules find
// unpinned actions, untrusted code run with privileges, expression
// injection, excessive permissions, secrets and signing reachable from
// untrusted triggers, and more. Every finding carries file:line:column, a
// severity, why it matters and the fix.
package audit

import (
	"cmp"
	"slices"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Rule is one check.
type Rule struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Severity    string `json:"severity"`
	Explanation string `json:"explanation"`
	Fix         string `json:"fix"`
}

// The rules' IDs.
const (
	RuleSyntax              = "syntax"
	RuleUnpinned            = "unpinned-uses"
	RuleUntrustedCheckout   = "untrusted-checkout"
	RuleInjection           = "expression-injection"
	RuleNoPermissions       = "permissions-missing"
	RuleWritePermissions    = "excessive-permissions"
	RuleSecretsToUntrusted  = "secrets-to-untrusted"
	RuleUntrustedRelease    = "untrusted-release"
	RuleSelfHostedPublic    = "self-hosted-public"
	RuleContainerByTag      = "container-by-tag"
	RuleCurlPipeShell       = "curl-pipe-shell"
	RuleCheckoutCredentials = "checkout-credentials"
	RuleUnpinnedInclude     = "unpinned-include"
)

// Rules are every check, with its default severity.
var Rules = []Rule{
	{RuleSyntax, "The file is not a valid workflow", evidence.SeverityMedium,
		"A workflow GitHub cannot load does not run, or runs differently from what it says.", "Correct the error actionlint's parser reports."},
	{RuleUnpinned, "Action, reusable workflow or docker:// image not pinned", evidence.SeverityHigh,
		"A tag or branch can be moved by whoever controls the action's repository: the code your job runs — with its token and secrets — changes without a change to your workflow.",
		"Pin a full 40-character commit SHA (keep the version in a comment: `uses: owner/action@<sha> # v1.2.3`); docker:// images by @sha256 digest."},
	{RuleUntrustedCheckout, "Untrusted code checked out and run by a privileged trigger", evidence.SeverityCritical,
		"pull_request_target, workflow_run and issue_comment run with the base repository's token and secrets; checking out the pull request's head and then building, testing or installing runs a stranger's code with them.",
		"Use the pull_request trigger for anything that runs the contribution's code; keep pull_request_target for labelling and commenting, without checking out the head."},
	{RuleInjection, "Attacker-controlled text expanded into a script", evidence.SeverityHigh,
		"`${{ }}` is expanded into the script before the shell runs it: an issue title, pull request body, branch name or commit message can close a quote and run commands.",
		"Pass the value through an environment variable (`env: TITLE: ${{ github.event.issue.title }}`) and use \"$TITLE\" in the script."},
	{RuleNoPermissions, "No permissions declared", evidence.SeverityMedium,
		"Without `permissions:` the job's token gets the repository's default, often read-write on everything.",
		"Declare least permissions at the workflow (`permissions: {}` or `contents: read`) and widen them per job."},
	{RuleWritePermissions, "Write permissions reachable from untrusted triggers", evidence.SeverityHigh,
		"`write-all`, or id-token/packages/contents/actions write in a job a pull request or comment can start, hands that power to whoever opens one.",
		"Grant write scopes only to jobs started by push, release, workflow_dispatch or schedule; `pull-requests: write` and `issues: write` for labelling and commenting are fine."},
	{RuleSecretsToUntrusted, "Secrets reachable by untrusted code", evidence.SeverityHigh,
		"A job that runs a fork's code can read every secret it references; `secrets: inherit` into a third-party reusable workflow gives it all of yours.",
		"Keep secrets out of jobs that run contributed code; pass a reusable workflow only the secrets it needs, by name."},
	{RuleUntrustedRelease, "Signing or publishing reachable from untrusted triggers", evidence.SeverityCritical,
		"A job that signs, attests, pushes images or requests the OIDC token keyless signing trusts, and that a pull request or comment can start, lets anyone produce artifacts signed as your release.",
		"Sign and publish only from push, release or workflow_dispatch on protected refs, or behind a protected `environment` with required reviewers."},
	{RuleSelfHostedPublic, "Self-hosted runner on pull request triggers", evidence.SeverityHigh,
		"A pull request from a fork runs its code on your machine, which persists between jobs.",
		"Run pull request jobs on GitHub-hosted (ephemeral) runners, or require approval for outside contributors."},
	{RuleContainerByTag, "Job container or service image by tag", evidence.SeverityMedium,
		"The image a tag names can change between runs: the job's environment is not what was reviewed.",
		"Reference container and service images by digest (`image@sha256:…`)."},
	{RuleCurlPipeShell, "Download piped into a shell without a checksum", evidence.SeverityMedium,
		"`curl … | sh` runs whatever the server returns today, with the job's token and secrets.",
		"Download to a file, check its SHA-256 (`sha256sum -c`), then run it; or install a pinned package."},
	{RuleCheckoutCredentials, "Checkout keeps credentials in a job that uploads artifacts", evidence.SeverityMedium,
		"actions/checkout leaves the token in .git/config unless `persist-credentials: false`; an uploaded workspace then carries it.",
		"Set `persist-credentials: false` on actions/checkout."},
	{RuleUnpinnedInclude, "GitLab include not pinned", evidence.SeverityHigh,
		"A project include at a branch or a remote URL runs whatever it holds today in your pipeline.",
		"Include projects at a commit SHA (`ref: <sha>`) and remote files with `integrity: sha256-…`."},
}

// RuleByID finds a rule.
func RuleByID(id string) (Rule, bool) {
	i := slices.IndexFunc(Rules, func(r Rule) bool { return r.ID == id })
	if i < 0 {
		return Rule{}, false
	}
	return Rules[i], true
}

// Finding is one rule broken at one place.
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	// Job and Step name where, when the finding is in one.
	Job     string `json:"job,omitempty"`
	Step    string `json:"step,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// Waiver names the waiver that covers it (it then fails no gate).
	Waiver *AppliedWaiver `json:"waiver,omitempty"`
}

// Options configure the audit.
type Options struct {
	// AllowedOwners are owners (or owner/repo) whose actions may be
	// referenced by tag.
	AllowedOwners []string
	// FirstParty checks GitHub's own actions (actions/*, github/*) for
	// pinning too; by default they are trusted by tag.
	FirstParty bool
}

// sortFindings orders findings by file, position and rule.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.File, b.File), a.Line-b.Line, a.Column-b.Column, strings.Compare(a.Rule, b.Rule))
	})
}

// newFinding is a finding of a rule with its default severity and fix.
func newFinding(rule, file string, line, col int, message string) Finding {
	r, _ := RuleByID(rule)
	return Finding{Rule: rule, Severity: r.Severity, File: file, Line: line, Column: col, Message: message, Fix: r.Fix}
}
