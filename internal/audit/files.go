package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
	"golang.org/x/sync/errgroup"
	"gopkg.in/yaml.v3"
)

// Report is an audit of some files.
type Report struct {
	Files    []string  `json:"files"`
	Findings []Finding `json:"findings"`
	// ExpiredWaivers would have covered findings had they not expired.
	ExpiredWaivers []AppliedWaiver `json:"expiredWaivers,omitempty"`
}

// kind of CI file.
type kind int

const (
	githubWorkflow kind = iota
	compositeAction
	gitlabCI
)

// maxFiles bounds what one audit reads (a repository, its includes).
const maxFiles = 10_000

// Audit reads the CI files at paths — files, or repository roots whose
// .github/workflows, action.yml files and .gitlab-ci.yml are found — and
// audits each. A file that cannot be read or parsed is an error naming it.
func Audit(paths []string, o Options) (*Report, error) {
	type target struct {
		path string
		kind kind
	}
	var targets []target
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			targets = append(targets, target{p, kindOf(p)})
			continue
		}
		found, err := discover(p)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no GitHub workflow, action.yml or .gitlab-ci.yml found", p)
		}
		for _, f := range found {
			targets = append(targets, target{f, kindOf(f)})
		}
	}
	// files are audited side by side; the report keeps their order
	type result struct {
		findings []Finding
		files    []string
	}
	results := make([]result, len(targets))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, t := range targets {
		g.Go(func() error {
			data, err := os.ReadFile(t.path)
			if err != nil {
				return err
			}
			var included []string
			var findings []Finding
			switch t.kind {
			case compositeAction:
				findings, err = Action(t.path, data, o)
			case gitlabCI:
				findings, included, err = GitLab(t.path, data, o)
			default:
				findings, err = Workflow(t.path, data, o)
			}
			results[i] = result{findings, append(included, t.path)}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r := &Report{Findings: []Finding{}}
	for _, res := range results {
		r.Files = append(r.Files, res.files...)
		r.Findings = append(r.Findings, res.findings...)
	}
	sortFindings(r.Findings)
	return r, nil
}

func kindOf(path string) kind {
	base := filepath.Base(path)
	switch {
	case base == "action.yml" || base == "action.yaml":
		return compositeAction
	case base == ".gitlab-ci.yml" || strings.HasSuffix(base, ".gitlab-ci.yml"):
		return gitlabCI
	}
	return githubWorkflow
}

// discover finds a repository's CI files.
func discover(root string) ([]string, error) {
	var out []string
	workflows, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	for _, w := range workflows {
		if strings.HasSuffix(w, ".yml") || strings.HasSuffix(w, ".yaml") {
			out = append(out, w)
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && slices.Contains([]string{"node_modules", "vendor", ".git", "testdata"}, d.Name()) {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "action.yml" || d.Name() == "action.yaml") {
			out = append(out, p)
		}
		if len(out) > maxFiles {
			return errors.New("more CI files than an audit reads")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".gitlab-ci.yml")); err == nil {
		out = append(out, filepath.Join(root, ".gitlab-ci.yml"))
	}
	return out, nil
}

// str is a YAML scalar as actionlint's String, with its position.
func str(n *yaml.Node) *actionlint.String {
	if n == nil || n.Kind != yaml.ScalarNode {
		return nil
	}
	return &actionlint.String{Value: n.Value, Quoted: n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0, Pos: &actionlint.Pos{Line: n.Line, Col: n.Column}}
}

// field is a mapping's value for key (nil when absent).
func field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Action audits a composite action's steps (other kinds of action run
// code of their own, which is not a workflow's).
func Action(file string, data []byte, o Options) ([]Finding, error) {
	doc, err := readYAML(file, data)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	runs := field(root, "runs")
	if using := str(field(runs, "using")); using == nil || using.Value != "composite" {
		return []Finding{}, nil
	}
	src := newSource(file, data)
	var out []Finding
	steps := field(runs, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return nil, &InputError{File: file, Line: runs.Line, Err: "a composite action needs runs.steps, a list"}
	}
	for i, s := range steps.Content {
		st := step{uses: str(field(s, "uses")), run: str(field(s, "run")), with: map[string]*actionlint.String{}}
		st.name = fmt.Sprintf("step %d", i+1)
		for _, key := range []string{"id", "name"} {
			if v := str(field(s, key)); v != nil {
				st.name = v.Value
			}
		}
		if with := field(s, "with"); with != nil && with.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(with.Content); j += 2 {
				st.with[strings.ToLower(with.Content[j].Value)] = str(with.Content[j+1])
			}
		}
		for _, f := range stepFindings(src, st, o) {
			f.Step = st.name
			out = append(out, f)
		}
	}
	sortFindings(out)
	return out, nil
}

// gitlabKeywords are a GitLab CI file's top-level keys that are no job.
var gitlabKeywords = []string{"default", "include", "stages", "variables", "workflow", "image", "services", "cache", "before_script", "after_script", "spec"}

// GitLab audits a GitLab CI file and the local files it includes; it
// returns the included files it read.
func GitLab(file string, data []byte, o Options) ([]Finding, []string, error) {
	root := filepath.Dir(file)
	seen := map[string]bool{file: true}
	queue := []string{file}
	var out []Finding
	var included []string
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur != file {
			var err error
			if data, err = os.ReadFile(cur); err != nil {
				return nil, nil, fmt.Errorf("%s: included file: %w", file, err)
			}
			included = append(included, cur)
		}
		doc, err := readYAML(cur, data)
		if err != nil {
			return nil, nil, err
		}
		top := doc.Content[0]
		if top.Kind != yaml.MappingNode {
			return nil, nil, &InputError{File: cur, Line: top.Line, Err: "a GitLab CI file is a mapping of jobs and keywords"}
		}
		src := newSource(cur, data)
		locals, fs := gitlabIncludes(src, field(top, "include"))
		out = append(out, fs...)
		for _, l := range locals {
			p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(l, "/")))
			if rel, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(rel, "..") {
				return nil, nil, &InputError{File: cur, Err: fmt.Sprintf("include %q is outside the repository", l)}
			}
			if !seen[p] {
				if len(seen) > maxFiles {
					return nil, nil, &InputError{File: file, Err: "includes more files than an audit reads"}
				}
				seen[p] = true
				queue = append(queue, p)
			}
		}
		out = append(out, gitlabJob(src, "", top)...)
		for i := 0; i+1 < len(top.Content); i += 2 {
			name := top.Content[i].Value
			if name == "default" {
				out = append(out, gitlabJob(src, "", top.Content[i+1])...)
			}
			if slices.Contains(gitlabKeywords, name) || top.Content[i+1].Kind != yaml.MappingNode {
				continue
			}
			out = append(out, gitlabJob(src, name, top.Content[i+1])...)
		}
	}
	sortFindings(out)
	return out, included, nil
}

// gitlabIncludes returns the local includes to read and the findings of
// the others: projects at a branch, remote files without integrity.
func gitlabIncludes(src *source, inc *yaml.Node) ([]string, []Finding) {
	if inc == nil {
		return nil, nil
	}
	items := []*yaml.Node{inc}
	if inc.Kind == yaml.SequenceNode {
		items = inc.Content
	}
	var locals []string
	var out []Finding
	for _, it := range items {
		if s := str(it); s != nil {
			if strings.HasPrefix(s.Value, "http://") || strings.HasPrefix(s.Value, "https://") {
				out = append(out, src.finding(RuleUnpinnedInclude, s, 0, fmt.Sprintf("remote include %s without integrity", s.Value)))
			} else {
				locals = append(locals, s.Value)
			}
			continue
		}
		switch {
		case field(it, "local") != nil:
			if l := str(field(it, "local")); l != nil && !strings.ContainsAny(l.Value, "*$") {
				locals = append(locals, l.Value)
			}
		case field(it, "remote") != nil:
			if r := str(field(it, "remote")); r != nil && field(it, "integrity") == nil {
				out = append(out, src.finding(RuleUnpinnedInclude, r, 0, fmt.Sprintf("remote include %s without integrity", r.Value)))
			}
		case field(it, "project") != nil:
			p := str(field(it, "project"))
			ref := str(field(it, "ref"))
			switch {
			case p == nil:
			case ref == nil:
				out = append(out, src.finding(RuleUnpinnedInclude, p, 0, fmt.Sprintf("project include %s at its default branch", p.Value)))
			case !fullSHA.MatchString(ref.Value):
				out = append(out, src.finding(RuleUnpinnedInclude, ref, 0, fmt.Sprintf("project include %s at %q, a branch or tag", p.Value, ref.Value)))
			}
		}
	}
	return locals, out
}

// gitlabJob audits a job (or the file's defaults, name ""): images by
// digest, scripts without piped downloads. The file's own mapping gives
// the defaults, as `default:` does.
func gitlabJob(src *source, name string, job *yaml.Node) []Finding {
	var out []Finding
	add := func(f Finding) {
		f.Job = name
		out = append(out, f)
	}
	image := func(n *yaml.Node, what string) {
		if n != nil && n.Kind == yaml.MappingNode {
			n = field(n, "name")
		}
		if s := str(n); s != nil && !strings.Contains(s.Value, "$") {
			if f, ok := imageByTag(src, s, what); ok {
				add(f)
			}
		}
	}
	image(field(job, "image"), "job")
	if svcs := field(job, "services"); svcs != nil && svcs.Kind == yaml.SequenceNode {
		for _, s := range svcs.Content {
			image(s, "service")
		}
	}
	for _, key := range []string{"script", "before_script", "after_script"} {
		n := field(job, key)
		if n == nil {
			continue
		}
		lines := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			lines = n.Content
		}
		for _, l := range lines {
			if s := str(l); s != nil {
				for _, f := range pipedDownloads(src, s) {
					add(f)
				}
			}
		}
	}
	return out
}
