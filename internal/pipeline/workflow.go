package pipeline

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/audit"
	"github.com/dossier-dev/dossier/internal/evidence"
)

// auditWorkflow audits the workflow the CI run is running — in GitHub
// Actions the file GITHUB_WORKFLOW_REF names, in GITHUB_WORKSPACE; in
// GitLab CI CI_CONFIG_PATH in CI_PROJECT_DIR — as the source repository
// and commit the provenance names. It returns nil when the run names no
// workflow or its file is not in the checkout.
func auditWorkflow(env map[string]string, prov *evidence.Provenance, waivers []audit.Waiver, now time.Time) (*evidence.WorkflowAudit, error) {
	var workspace, workflow string
	switch {
	case env["GITHUB_ACTIONS"] == "true":
		workspace = env["GITHUB_WORKSPACE"]
		ref, _, _ := strings.Cut(env["GITHUB_WORKFLOW_REF"], "@")
		workflow = strings.TrimPrefix(ref, env["GITHUB_REPOSITORY"]+"/")
	case env["GITLAB_CI"] == "true":
		workspace, workflow = env["CI_PROJECT_DIR"], cmp.Or(env["CI_CONFIG_PATH"], ".gitlab-ci.yml")
	}
	if workspace == "" || workflow == "" || prov == nil || prov.Commit == "" || strings.Contains(workflow, "..") {
		return nil, nil
	}
	path := filepath.Join(workspace, filepath.FromSlash(workflow))
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	r, err := audit.Audit([]string{path}, audit.Options{})
	if err != nil {
		return nil, err
	}
	audit.ApplyWaivers(r.Findings, waivers, now)
	out := &evidence.WorkflowAudit{Repository: prov.SourceRepository, Commit: prov.Commit, Workflow: workflow, AuditedAt: now, Findings: []evidence.WorkflowFinding{}}
	for _, f := range r.Findings {
		file := f.File
		if rel, err := filepath.Rel(workspace, f.File); err == nil {
			file = filepath.ToSlash(rel)
		}
		wf := evidence.WorkflowFinding{Rule: f.Rule, Severity: f.Severity, File: file, Line: f.Line, Column: f.Column, Message: f.Message}
		if f.Waiver != nil {
			wf.Waiver = f.Waiver.Name
		}
		out.Findings = append(out.Findings, wf)
	}
	return out, nil
}
