package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/audit"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// The workflow audit beside actionlint v1.7.12 on the same corpus, for
// what both check — attacker-controlled expressions in scripts, and
// syntax: they agree but for the differences listed here, each with its
// reason (docs/benchmarks.md records them).
func TestAuditAgainstActionlint(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(), "internal", "audit", "testdata", "corpus")
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	cmd := exec.Command(testutil.Peer(t, "actionlint"), append([]string{"-shellcheck=", "-pyflakes=", "-format", "{{json .}}"}, files...)...)
	out, _ := cmd.Output() // exit 1: it found errors
	var errs []struct {
		Filepath      string `json:"filepath"`
		Line          int    `json:"line"`
		Kind, Message string
	}
	if err := json.Unmarshal(out, &errs); err != nil {
		t.Fatalf("actionlint's output: %v\n%s", err, out)
	}
	var theirs, ours []string
	for _, e := range errs {
		switch {
		case e.Kind == "expression" && strings.Contains(e.Message, "potentially untrusted"):
			theirs = append(theirs, fmt.Sprintf("%s:%d %s", filepath.Base(e.Filepath), e.Line, audit.RuleInjection))
		case e.Kind == "syntax-check":
			theirs = append(theirs, fmt.Sprintf("%s:%d %s", filepath.Base(e.Filepath), e.Line, audit.RuleSyntax))
		}
	}
	r, err := audit.Audit(files, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Rule == audit.RuleInjection || f.Rule == audit.RuleSyntax {
			ours = append(ours, fmt.Sprintf("%s:%d %s", filepath.Base(f.File), f.Line, f.Rule))
		}
	}
	// where they differ, and why
	onlyActionlint := []string{
		// actionlint reports an expression inside a multi-line script (run: |,
		// github-script's script: |) at the block's first line (its own
		// TODO); dossier at the expression's line
		"injection.yml:15 expression-injection",
		"injection.yml:24 expression-injection",
	}
	onlyDossier := []string{
		"injection.yml:17 expression-injection", // the same two findings, on their own lines
		"injection.yml:25 expression-injection",
		// the workflow_run event's head branch is the triggering pull
		// request's branch name: dossier counts it as attacker-controlled,
		// actionlint's list does not
		"workflow-run.yml:16 expression-injection",
	}
	if len(theirs) < 4 {
		t.Fatalf("actionlint found too little to compare: %v", theirs)
	}
	gotOnlyTheirs, gotOnlyOurs := missingFrom(ours, theirs), missingFrom(theirs, ours)
	if !slices.Equal(gotOnlyTheirs, onlyActionlint) || !slices.Equal(gotOnlyOurs, onlyDossier) {
		t.Errorf("differences from actionlint:\n only actionlint %v (documented %v)\n only dossier %v (documented %v)", gotOnlyTheirs, onlyActionlint, gotOnlyOurs, onlyDossier)
	}
	t.Logf("agreed on %d findings", len(theirs)-len(gotOnlyTheirs))
}

// dossier audit workflows as a CI step runs it: SARIF valid against the
// SARIF 2.1.0 schema with waived findings suppressed, --fail-on exit codes
// as scan's, an expired waiver applying to nothing and named.
func TestAuditCommand(t *testing.T) {
	validate := sarifSchema(t)
	repo := t.TempDir()
	corpus := filepath.Join(testutil.RepoRoot(), "internal", "audit", "testdata", "corpus")
	for _, name := range []string{"selfhosted-containers.yml", "clean.yml"} {
		data, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			t.Fatal(err)
		}
		writeWorkflow(t, repo, filepath.Join(".github", "workflows", name), string(data))
	}
	waivers := filepath.Join(t.TempDir(), "waivers.yaml")
	writeWorkflow(t, filepath.Dir(waivers), "waivers.yaml", `apiVersion: dossier.dev/v1alpha1
kind: WorkflowAuditWaiver
metadata: {name: images}
spec: {owner: platform@acme.example, reason: rebuilt nightly, expires: 2999-01-01, file: "*/selfhosted-containers.yml", rule: container-by-tag}
---
apiVersion: dossier.dev/v1alpha1
kind: WorkflowAuditWaiver
metadata: {name: runner}
spec: {owner: platform@acme.example, reason: old, expires: 2020-01-01, file: "*/selfhosted-containers.yml", rule: self-hosted-public}
`)
	code, stdout, errOut := runDossier(t, "audit", "workflows", repo, "-o", "sarif", "--waivers", waivers)
	if code != 0 {
		t.Fatalf("audit -o sarif: %d %s", code, errOut)
	}
	if err := validate(t, []byte(stdout)); err != nil {
		t.Errorf("the audit's SARIF is not valid SARIF 2.1.0: %v", err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID       string
				Suppressions []json.RawMessage
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatal(err)
	}
	suppressed := map[string]int{}
	for _, r := range log.Runs[0].Results {
		if len(r.Suppressions) > 0 {
			suppressed[r.RuleID]++
		}
	}
	if suppressed["container-by-tag"] != 2 || suppressed["self-hosted-public"] != 0 || !strings.Contains(errOut, "waiver runner") {
		t.Errorf("suppressed %v; stderr %s", suppressed, errOut)
	}
	// self-hosted-public (high) is not waived: --fail-on high fails, critical passes
	if code, _, _ := runDossier(t, "audit", "workflows", repo, "--waivers", waivers, "--fail-on", "high"); code != 1 {
		t.Errorf("--fail-on high: exit %d, want 1", code)
	}
	if code, _, _ := runDossier(t, "audit", "workflows", repo, "--waivers", waivers, "--fail-on", "critical"); code != 0 {
		t.Errorf("--fail-on critical: exit %d, want 0", code)
	}
	if code, _, errOut := runDossier(t, "audit", "workflows", filepath.Join(repo, "missing.yml")); code != 2 || !strings.Contains(errOut, "missing.yml") {
		t.Errorf("a missing file: exit %d %s", code, errOut)
	}
}
