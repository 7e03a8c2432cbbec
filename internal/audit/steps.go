package audit

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/rhysd/actionlint"
)

// stepFindings are the rules of one step, in a workflow or a composite
// action alike.
func stepFindings(src *source, st step, o Options) []Finding {
	var out []Finding
	if st.uses != nil {
		if f, ok := unpinned(src, st.uses, o); ok {
			out = append(out, f)
		}
		if usesAction(st, "actions/github-script") && st.with["script"] != nil {
			out = append(out, injections(src, st.with["script"], "script")...)
		}
	}
	if st.run != nil {
		out = append(out, injections(src, st.run, "run")...)
		out = append(out, pipedDownloads(src, st.run)...)
	}
	return out
}

var (
	fullSHA     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	imageDigest = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
)

// unpinned reports a uses: that is not a commit SHA (or, for docker://,
// a digest).
func unpinned(src *source, uses *actionlint.String, o Options) (Finding, bool) {
	v := uses.Value
	switch {
	case strings.HasPrefix(v, "./") || uses.ContainsExpression():
		return Finding{}, false
	case strings.HasPrefix(v, "docker://"):
		if imageDigest.MatchString(v) {
			return Finding{}, false
		}
		return src.finding(RuleUnpinned, uses, 0, fmt.Sprintf("%s is an image by tag, not by digest", v)), true
	}
	name, ref, ok := strings.Cut(v, "@")
	if !ok {
		return src.finding(RuleUnpinned, uses, 0, fmt.Sprintf("%s names no version at all", v)), true
	}
	if fullSHA.MatchString(ref) || allowedOwner(name, o) {
		return Finding{}, false
	}
	return src.finding(RuleUnpinned, uses, 0, fmt.Sprintf("%s is pinned to %q, a tag or branch its owner can move", name, ref)), true
}

// allowedOwner reports whether an action (owner/repo[/path][@ref]) is
// trusted by tag: GitHub's own unless asked, and the allow-list.
func allowedOwner(action string, o Options) bool {
	name, _, _ := strings.Cut(action, "@")
	parts := strings.SplitN(strings.ToLower(name), "/", 3)
	if len(parts) < 2 {
		return false
	}
	owner, repo := parts[0], parts[0]+"/"+parts[1]
	if !o.FirstParty && (owner == "actions" || owner == "github") {
		return true
	}
	for _, a := range o.AllowedOwners {
		if a = strings.ToLower(a); a == owner || a == repo {
			return true
		}
	}
	return false
}

// untrustedInputs are the contexts an outsider writes: actionlint's list,
// and the workflow_run event's head branch and commit that a pull
// request's run passes on.
var untrustedInputs = func() actionlint.UntrustedInputSearchRoots {
	roots := actionlint.UntrustedInputSearchRoots{}
	for k, v := range actionlint.BuiltinUntrustedInputs {
		roots[k] = v
	}
	m := actionlint.NewUntrustedInputMap
	run := m("workflow_run",
		m("head_branch"), m("display_title"),
		m("head_commit", m("message"), m("author", m("email"), m("name"))),
		m("pull_requests", m("*", m("head", m("ref")))))
	event := roots["github"].Children["event"]
	event.Children["workflow_run"] = run
	run.Parent = event
	return roots
}()

// injections finds attacker-controlled contexts expanded into a script.
func injections(src *source, script *actionlint.String, where string) []Finding {
	var out []Finding
	s := script.Value
	offset := 0
	for {
		i := strings.Index(s[offset:], "${{")
		if i < 0 {
			return out
		}
		start := offset + i
		body := s[start+3:]
		expr, err := actionlint.NewExprParser().Parse(actionlint.NewExprLexer(body))
		if err != nil {
			// a malformed expression is the syntax rule's; skip past it
			offset = start + 3
			continue
		}
		checker := actionlint.NewUntrustedInputChecker(untrustedInputs)
		checker.Init()
		actionlint.VisitExprNode(expr, func(n, _ actionlint.ExprNode, entering bool) {
			if entering {
				checker.OnVisitNodeEnter(n)
			} else {
				checker.OnVisitNodeLeave(n)
			}
		})
		checker.OnVisitEnd()
		for _, e := range checker.Errs() {
			f := src.finding(RuleInjection, script, start, fmt.Sprintf("%s: %s", where, untrustedMessage(e.Message)))
			out = append(out, f)
		}
		end := strings.Index(body, "}}")
		if end < 0 {
			return out
		}
		offset = start + 3 + end + 2
	}
}

var quotedPath = regexp.MustCompile(`"([^"]+)"`)

// untrustedMessage keeps actionlint's naming of the context and says what
// it means here.
func untrustedMessage(m string) string {
	if p := quotedPath.FindStringSubmatch(m); p != nil {
		return fmt.Sprintf("%s is written by whoever opens the issue, pull request or commit, and is expanded into the script before the shell runs it", p[1])
	}
	return m
}

var (
	pipeToShell = regexp.MustCompile(`\b(curl|wget)\b[^|\n]*\|\s*(sudo\s+(-\S+\s+)*)?(ba|z|da|k)?sh\b`)
	checksummed = regexp.MustCompile(`sha(256|512)sum|shasum|--checksum|gpg --verify|cosign verify`)
)

// pipedDownloads finds downloads run by a shell without a checksum.
func pipedDownloads(src *source, run *actionlint.String) []Finding {
	if checksummed.MatchString(run.Value) {
		return nil
	}
	var out []Finding
	for _, loc := range pipeToShell.FindAllStringIndex(run.Value, -1) {
		out = append(out, src.finding(RuleCurlPipeShell, run, loc[0], fmt.Sprintf("%q runs what the server returns", strings.TrimSpace(run.Value[loc[0]:loc[1]]))))
	}
	return out
}

// imageByTag reports a container image not referenced by digest.
func imageByTag(src *source, image *actionlint.String, what string) (Finding, bool) {
	if image.ContainsExpression() || imageDigest.MatchString(image.Value) {
		return Finding{}, false
	}
	return src.finding(RuleContainerByTag, image, 0, fmt.Sprintf("%s image %s is referenced by tag", what, image.Value)), true
}
