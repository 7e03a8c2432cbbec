package audit

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// Triggers anyone can cause: a pull request (from a fork too), a comment,
// an issue. privileged ones run with the base repository's token and
// secrets whoever caused them.
var (
	pullRequestTriggers = []string{"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}
	privilegedTriggers  = []string{"pull_request_target", "workflow_run", "issue_comment", "issues", "discussion", "discussion_comment"}
)

func untrustedTrigger(event string) bool {
	return slices.Contains(pullRequestTriggers, event) || slices.Contains(privilegedTriggers, event)
}

// step is a step of a job or a composite action.
type step struct {
	name string
	uses *actionlint.String
	with map[string]*actionlint.String
	run  *actionlint.String
	env  map[string]*actionlint.String
}

// source locates positions inside multi-line values of one file.
type source struct {
	file  string
	lines []string
}

func newSource(file string, data []byte) *source {
	return &source{file: file, lines: strings.Split(string(data), "\n")}
}

// at is the line and column of byte offset in s's value: a block scalar
// (`run: |`) starts on the next line at its indentation; a quoted one a
// column after its quote.
func (src *source) at(s *actionlint.String, offset int) (int, int) {
	line, col := s.Pos.Line, s.Pos.Col
	before := s.Value[:offset]
	nl := strings.Count(before, "\n")
	lastLine := before[strings.LastIndex(before, "\n")+1:]
	if line-1 < len(src.lines) && col-1 < len(src.lines[line-1]) && strings.ContainsAny(src.lines[line-1][col-1:col], "|>") {
		// the block's lines begin at its indentation, on the lines after
		for i := line; i < len(src.lines); i++ {
			if strings.TrimSpace(src.lines[i]) != "" {
				indent := len(src.lines[i]) - len(strings.TrimLeft(src.lines[i], " "))
				return line + 1 + nl, indent + 1 + len(lastLine)
			}
		}
	}
	if nl > 0 {
		return line + nl, len(lastLine) + 1
	}
	if s.Quoted {
		col++
	}
	return line, col + offset
}

func (src *source) finding(rule string, s *actionlint.String, offset int, message string) Finding {
	line, col := src.at(s, offset)
	return newFinding(rule, src.file, line, col, message)
}

// Workflow audits a GitHub Actions workflow file.
func Workflow(file string, data []byte, o Options) ([]Finding, error) {
	if _, err := readYAML(file, data); err != nil {
		return nil, err
	}
	src := newSource(file, data)
	wf, errs := actionlint.Parse(data)
	var out []Finding
	for _, e := range errs {
		f := newFinding(RuleSyntax, file, e.Line, e.Column, e.Message)
		out = append(out, f)
	}
	if wf == nil {
		return out, nil
	}
	var triggers []string
	for _, e := range wf.On {
		triggers = append(triggers, e.EventName())
	}
	for _, id := range sortedJobIDs(wf) {
		out = append(out, auditJob(src, wf, wf.Jobs[id], triggers, o)...)
	}
	sortFindings(out)
	return out, nil
}

func sortedJobIDs(wf *actionlint.Workflow) []string {
	ids := make([]string, 0, len(wf.Jobs))
	for id := range wf.Jobs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return wf.Jobs[a].Pos.Line - wf.Jobs[b].Pos.Line })
	return ids
}

var eventNameIs = regexp.MustCompile(`^\(*\s*github\.event_name\s*==\s*'([a-z_]+)'\s*\)*$`)

// jobTriggers are the workflow's triggers that can start the job: an `if:`
// that requires github.event_name to be some events — one comparison
// among conditions joined by &&, or comparisons joined by || — narrows
// them; any other condition leaves them all.
func jobTriggers(job *actionlint.Job, triggers []string) []string {
	if job.If == nil {
		return triggers
	}
	cond := strings.TrimSpace(job.If.Value)
	cond = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(cond, "${{"), "}}"))
	var events []string
	if strings.Contains(cond, "||") {
		for _, part := range strings.Split(cond, "||") {
			m := eventNameIs.FindStringSubmatch(strings.TrimSpace(part))
			if m == nil {
				return triggers
			}
			events = append(events, m[1])
		}
	} else {
		for _, part := range strings.Split(cond, "&&") {
			if m := eventNameIs.FindStringSubmatch(strings.TrimSpace(part)); m != nil {
				events = append(events, m[1])
				break
			}
		}
	}
	if len(events) == 0 {
		return triggers
	}
	var allowed []string
	for _, t := range triggers {
		if slices.Contains(events, t) {
			allowed = append(allowed, t)
		}
	}
	return allowed
}

func jobSteps(job *actionlint.Job) []step {
	var out []step
	for _, s := range job.Steps {
		st := step{name: stepName(s)}
		switch e := s.Exec.(type) {
		case *actionlint.ExecAction:
			st.uses, st.with = e.Uses, map[string]*actionlint.String{}
			for k, in := range e.Inputs {
				st.with[k] = in.Value
			}
		case *actionlint.ExecRun:
			st.run = e.Run
		}
		if s.Env != nil {
			st.env = map[string]*actionlint.String{}
			for k, v := range s.Env.Vars {
				st.env[k] = v.Value
			}
		}
		out = append(out, st)
	}
	return out
}

func stepName(s *actionlint.Step) string {
	switch {
	case s.Name != nil:
		return s.Name.Value
	case s.ID != nil:
		return s.ID.Value
	}
	if e, ok := s.Exec.(*actionlint.ExecAction); ok && e.Uses != nil {
		return e.Uses.Value
	}
	return fmt.Sprintf("step at line %d", s.Pos.Line)
}

func auditJob(src *source, wf *actionlint.Workflow, job *actionlint.Job, workflowTriggers []string, o Options) []Finding {
	id := job.ID.Value
	triggers := jobTriggers(job, workflowTriggers)
	untrusted := slices.ContainsFunc(triggers, untrustedTrigger)
	fromPR := slices.ContainsFunc(triggers, func(t string) bool { return slices.Contains(pullRequestTriggers, t) })
	steps := jobSteps(job)
	var out []Finding
	add := func(f Finding, stepName string) {
		f.Job, f.Step = id, stepName
		out = append(out, f)
	}
	for _, st := range steps {
		for _, f := range stepFindings(src, st, o) {
			add(f, st.name)
		}
	}
	// a reusable workflow: pinned, and given secrets by name only when third-party
	if call := job.WorkflowCall; call != nil && call.Uses != nil {
		if f, ok := unpinned(src, call.Uses, o); ok {
			add(f, "")
		}
		if call.InheritSecrets && !strings.HasPrefix(call.Uses.Value, "./") && !allowedOwner(call.Uses.Value, o) {
			add(src.finding(RuleSecretsToUntrusted, call.Uses, 0, fmt.Sprintf("secrets: inherit gives every secret to the third-party workflow %s", call.Uses.Value)), "")
		}
	}
	// permissions
	if wf.Permissions == nil && job.Permissions == nil {
		add(newFinding(RuleNoPermissions, src.file, job.ID.Pos.Line, job.ID.Pos.Col, fmt.Sprintf("job %s has no permissions: its token gets the repository's default", id)), "")
	}
	perms := job.Permissions
	if perms == nil {
		perms = wf.Permissions
	}
	var writes []string
	if perms != nil {
		if perms.All != nil && perms.All.Value == "write-all" {
			f := src.finding(RuleWritePermissions, perms.All, 0, fmt.Sprintf("job %s has write-all permissions", id))
			add(f, "")
			writes = []string{"id-token", "packages", "contents", "actions"}
		}
		for name, scope := range perms.Scopes {
			if scope.Value != nil && scope.Value.Value == "write" {
				writes = append(writes, name)
				if untrusted && slices.Contains([]string{"id-token", "packages", "contents", "actions"}, name) {
					add(src.finding(RuleWritePermissions, scope.Value, 0, fmt.Sprintf("job %s, started by %s, has %s: write", id, strings.Join(untrustedOf(triggers), ", "), name)), "")
				}
			}
		}
	}
	// untrusted code checked out and run by a privileged trigger
	privileged := untrustedOf(triggers, privilegedTriggers...)
	checkout, ran := headCheckout(steps)
	if len(privileged) > 0 && checkout != nil && ran != "" {
		add(src.finding(RuleUntrustedCheckout, checkout, 0, fmt.Sprintf("job %s, started by %s, checks out the pull request's head and then runs it (%s)", id, strings.Join(privileged, ", "), ran)), "")
		for _, name := range secretsUsed(job, steps) {
			add(newFinding(RuleSecretsToUntrusted, src.file, job.ID.Pos.Line, job.ID.Pos.Col, fmt.Sprintf("job %s runs the pull request's code and reads secrets.%s", id, name)), "")
		}
	}
	// signing or publishing a pull request or comment can start
	if untrusted && (job.Environment == nil || job.Environment.Name == nil || job.Environment.Name.Value == "") {
		if what := publishes(steps, writes); what != "" {
			add(newFinding(RuleUntrustedRelease, src.file, job.ID.Pos.Line, job.ID.Pos.Col,
				fmt.Sprintf("job %s %s and can be started by %s, with no protected environment", id, what, strings.Join(untrustedOf(triggers), ", "))), "")
		}
	}
	if fromPR && job.RunsOn != nil {
		for _, l := range job.RunsOn.Labels {
			if l.Value == "self-hosted" {
				add(src.finding(RuleSelfHostedPublic, l, 0, fmt.Sprintf("job %s runs pull requests on a self-hosted runner", id)), "")
			}
		}
	}
	// containers by digest
	if job.Container != nil && job.Container.Image != nil {
		if f, ok := imageByTag(src, job.Container.Image, "container"); ok {
			add(f, "")
		}
	}
	if job.Services != nil {
		for _, svc := range job.Services.Value {
			if svc.Container != nil && svc.Container.Image != nil {
				if f, ok := imageByTag(src, svc.Container.Image, "service "+svc.Name.Value); ok {
					add(f, "")
				}
			}
		}
	}
	// a workspace uploaded with the token in it
	if uploads(steps) {
		for _, st := range steps {
			if usesAction(st, "actions/checkout") && (st.with["persist-credentials"] == nil || st.with["persist-credentials"].Value != "false") {
				add(src.finding(RuleCheckoutCredentials, st.uses, 0, fmt.Sprintf("job %s uploads artifacts and its checkout keeps the token in .git/config", id)), st.name)
			}
		}
	}
	return out
}

// untrustedOf lists the triggers that are untrusted (or among only).
func untrustedOf(triggers []string, only ...string) []string {
	var out []string
	for _, t := range triggers {
		if untrustedTrigger(t) && (len(only) == 0 || slices.Contains(only, t)) {
			out = append(out, t)
		}
	}
	return out
}

// headRefs are what a checkout of the contribution asks for.
var headRefs = regexp.MustCompile(`github\.event\.pull_request\.head\.(sha|ref)|github\.head_ref|refs/pull/|github\.event\.workflow_run\.head_(sha|branch)|github\.event\.issue\.pull_request|steps\.[\w-]+\.outputs\.(head|sha|ref)`)

// headCheckout finds a checkout of the contribution's head and what runs
// it afterwards (a run step, or an action that builds or installs).
func headCheckout(steps []step) (*actionlint.String, string) {
	for i, st := range steps {
		if !usesAction(st, "actions/checkout") {
			continue
		}
		ref, repo := st.with["ref"], st.with["repository"]
		if !(ref != nil && headRefs.MatchString(ref.Value) || repo != nil && strings.Contains(repo.Value, "pull_request.head.repo")) {
			continue
		}
		for _, later := range steps[i+1:] {
			switch {
			case later.run != nil:
				return st.uses, "step " + later.name + " runs a script in it"
			case later.uses != nil && !strings.HasPrefix(later.uses.Value, "actions/upload-artifact") && !usesAction(later, "actions/checkout") &&
				!strings.HasPrefix(later.uses.Value, "actions/github-script"):
				return st.uses, "step " + later.name + " runs " + later.uses.Value + " on it"
			}
		}
	}
	return nil, ""
}

var secretRef = regexp.MustCompile(`secrets\.([A-Za-z_][A-Za-z0-9_]*)`)

// secretsUsed lists the secrets a job's steps reference, GITHUB_TOKEN aside.
func secretsUsed(job *actionlint.Job, steps []step) []string {
	seen := map[string]bool{}
	var out []string
	note := func(s *actionlint.String) {
		if s == nil {
			return
		}
		for _, m := range secretRef.FindAllStringSubmatch(s.Value, -1) {
			if m[1] != "GITHUB_TOKEN" && !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	if job.Env != nil {
		for _, v := range job.Env.Vars {
			note(v.Value)
		}
	}
	for _, st := range steps {
		note(st.run)
		for _, v := range st.with {
			note(v)
		}
		for _, v := range st.env {
			note(v)
		}
	}
	slices.Sort(out)
	return out
}

// publishers are steps that sign, attest or push.
var publishers = regexp.MustCompile(`\b(cosign\s+(sign|attest)|dossier\s+(sign|attest|pipeline)|docker\s+push|podman\s+push|crane\s+(push|copy|cp)|gh\s+release\s+(create|upload)|npm\s+publish|twine\s+upload|goreleaser)\b`)

// publishes says what the job does that only a release should.
func publishes(steps []step, writes []string) string {
	if slices.Contains(writes, "id-token") {
		return "can request the OIDC token keyless signing trusts"
	}
	for _, st := range steps {
		if st.run != nil && publishers.MatchString(st.run.Value) {
			return "signs or publishes (" + publishers.FindString(st.run.Value) + ")"
		}
		if st.uses != nil {
			for _, a := range []string{"sigstore/cosign-installer", "actions/attest-build-provenance", "actions/attest-sbom", "docker/build-push-action", "softprops/action-gh-release", "goreleaser/goreleaser-action"} {
				if usesAction(st, a) && (a != "docker/build-push-action" || st.with["push"] != nil && st.with["push"].Value == "true") {
					return "uses " + a
				}
			}
		}
	}
	return ""
}

func uploads(steps []step) bool {
	return slices.ContainsFunc(steps, func(st step) bool {
		return usesAction(st, "actions/upload-artifact") || usesAction(st, "actions/upload-pages-artifact")
	})
}

// usesAction reports whether the step uses owner/repo at any ref.
func usesAction(st step, action string) bool {
	return st.uses != nil && strings.HasPrefix(strings.ToLower(st.uses.Value), action+"@")
}
