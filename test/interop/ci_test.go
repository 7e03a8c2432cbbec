package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// The GitHub workflows and the composite action pass actionlint v1.7.12
// (which also checks that the workflows give the local action the inputs
// it declares).
func TestWorkflowsPassActionlint(t *testing.T) {
	cmd := exec.Command(testutil.Peer(t, "actionlint"), "-color=false")
	cmd.Dir = testutil.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}

// ciRun is what a simulated CI job needs: an offline Sigstore (Fulcio- and
// Rekor-API servers and their trusted root), an OIDC token for the job's
// identity, an image pushed to a registry, advisory data.
type ciRun struct {
	dir, image, advisories, signArgs, identity, issuer string
}

func newCIRun(t *testing.T, identity, issuer string) *ciRun {
	t.Helper()
	vs := testutil.NewSigstore(t)
	fulcio, rekor := testutil.StartFulcio(t, vs), testutil.StartRekor(t, vs.VS)
	dir := t.TempDir()
	root := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(root, vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	host := testutil.Registry(t)
	image := host + "/acme/app@" + testutil.PushSample(t, "npm-app", host+"/acme/app:v1")
	return &ciRun{dir: dir, image: image, advisories: filepath.Join(testutil.VulnData(t), "osv", "npm", "all.zip"),
		signArgs: fmt.Sprintf("--fulcio-url %s --rekor-url %s --trusted-root %s", fulcio.URL, rekor.URL, root), identity: identity, issuer: issuer}
}

// verifyReleased checks, with dossier, that the image carries a keyless
// signature and provenance by the job's identity.
func (r *ciRun) verifyReleased(t *testing.T) {
	t.Helper()
	root := filepath.Join(r.dir, "trusted-root.json")
	if code, _, errOut := runDossier(t, "verify", r.image, "--trusted-root", root, "--certificate-identity", r.identity, "--certificate-oidc-issuer", r.issuer); code != 0 {
		t.Errorf("verify the released image: %s", errOut)
	}
	if code, _, errOut := runDossier(t, "verify-attestation", r.image, "--type", "slsaprovenance1", "--trusted-root", root,
		"--certificate-identity", r.identity, "--certificate-oidc-issuer", r.issuer); code != 0 {
		t.Errorf("verify the released image's provenance: %s", errOut)
	}
}

// sarifRuns reads a SARIF file's runs.
func sarifRuns(t *testing.T, path string) int {
	t.Helper()
	var sarif struct {
		Version string
		Runs    []json.RawMessage
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &sarif) != nil || sarif.Version != "2.1.0" {
		t.Fatalf("SARIF %s: %v %.200s", path, err, b)
	}
	return len(sarif.Runs)
}

// actionStep is a composite action's step.
type actionStep struct {
	ID, If, Shell, Run string
	Env                map[string]string
}

// runner runs a composite action's steps as GitHub's runner does, for the
// expressions the action uses (inputs, steps' outputs, runner.temp; a
// condition of always() and steps' outputs compared with the empty
// string): anything else fails the test, so the simulation never guesses.
type runner struct {
	t       *testing.T
	inputs  map[string]string
	outputs map[string]map[string]string
	env     []string
	temp    string
}

var expression = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

func (r *runner) value(expr string) string {
	r.t.Helper()
	parts := strings.Split(expr, ".")
	switch {
	case len(parts) == 2 && parts[0] == "inputs":
		v, ok := r.inputs[parts[1]]
		if !ok {
			r.t.Fatalf("the action reads undeclared input %s", parts[1])
		}
		return v
	case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
		return r.outputs[parts[1]][parts[3]]
	case expr == "runner.temp":
		return r.temp
	}
	r.t.Fatalf("the simulated runner does not know the expression %q", expr)
	return ""
}

func (r *runner) expand(s string) string {
	return expression.ReplaceAllStringFunc(s, func(m string) string { return r.value(expression.FindStringSubmatch(m)[1]) })
}

// condition evaluates a step's if: (the default is success()).
func (r *runner) condition(cond string, failed bool) bool {
	r.t.Helper()
	if cond == "" {
		return !failed
	}
	ok := true
	hasStatus := false
	for _, term := range strings.Split(cond, "&&") {
		term = strings.TrimSpace(term)
		switch {
		case term == "always()":
			hasStatus = true
		case strings.HasSuffix(term, "!= ''"):
			ok = ok && r.value(strings.TrimSpace(strings.TrimSuffix(term, "!= ''"))) != ""
		default:
			r.t.Fatalf("the simulated runner does not know the condition %q", term)
		}
	}
	return ok && (hasStatus || !failed)
}

// run runs the action's steps; it returns the action's outputs and
// whether a step failed.
func (r *runner) run(action map[string]any) (map[string]string, bool) {
	r.t.Helper()
	b, _ := yaml.Marshal(action["runs"].(map[string]any)["steps"])
	var steps []actionStep
	if err := yaml.Unmarshal(b, &steps); err != nil {
		r.t.Fatal(err)
	}
	failed := false
	for _, s := range steps {
		if !r.condition(s.If, failed) {
			continue
		}
		if s.Shell != "bash" {
			r.t.Fatalf("step %s: shell %q", s.ID, s.Shell)
		}
		out := filepath.Join(r.temp, "output-"+s.ID)
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
		cmd.Env = append(append([]string{}, r.env...), "GITHUB_OUTPUT="+out)
		for k, v := range s.Env {
			cmd.Env = append(cmd.Env, k+"="+r.expand(v))
		}
		stdoutStderr, err := cmd.CombinedOutput()
		r.t.Logf("step %s: %v\n%s", s.ID, err, stdoutStderr)
		if err != nil {
			failed = true
		}
		r.outputs[s.ID] = map[string]string{}
		if b, err := os.ReadFile(out); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					r.outputs[s.ID][k] = v
				}
			}
		}
	}
	outputs := map[string]string{}
	for name, o := range action["outputs"].(map[string]any) {
		outputs[name] = r.expand(o.(map[string]any)["value"].(string))
	}
	return outputs, failed
}

// The composite action in .github/actions/dossier, run step by step as
// GitHub's runner would in a release job: it builds the dossier of its
// own checkout, imports advisory data, runs the pipeline keyless with the
// job's OIDC token (from the runner's token endpoint) and writes SARIF;
// the image is then verified by the workflow's identity. A second run
// whose gate fails still gives the digest and the SARIF.
func TestGitHubAction(t *testing.T) {
	const identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	const issuer = "https://token.actions.githubusercontent.com"
	c := newCIRun(t, identity, issuer)
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer runner-request-token" || req.URL.Query().Get("audience") != "sigstore" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": testutil.IDToken(identity, issuer)})
	}))
	defer tokens.Close()
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), ".github", "actions", "dossier", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action map[string]any
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatal(err)
	}
	// the checkout holds the workflow the job runs: it uses an action by tag
	workspace := t.TempDir()
	writeWorkflow(t, workspace, ".github/workflows/release.yml", `name: release
on: {push: {tags: ["v*"]}}
permissions: {contents: read, id-token: write, packages: write}
jobs:
  release:
    runs-on: ubuntu-latest
    environment: release
    steps:
      - uses: docker/login-action@v3
      - run: make release
`)
	release := func(failOn string) (map[string]string, bool) {
		temp := t.TempDir()
		inputs := map[string]string{}
		for name, in := range action["inputs"].(map[string]any) {
			if d, ok := in.(map[string]any)["default"]; ok {
				inputs[name] = fmt.Sprint(d)
			}
		}
		inputs["image"], inputs["fail-on"], inputs["advisories"], inputs["args"] = c.image, failOn, c.advisories, c.signArgs
		inputs["sarif-file"] = filepath.Join(temp, "dossier.sarif")
		env := append(os.Environ(), "RUNNER_TEMP="+temp, "GITHUB_ACTION_PATH="+filepath.Join(testutil.RepoRoot(), ".github", "actions", "dossier"),
			"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/app", "GITHUB_REPOSITORY_ID=42", "GITHUB_SHA="+strings.Repeat("a", 40),
			"GITHUB_REF=refs/tags/v1", "GITHUB_WORKFLOW_REF=acme/app/.github/workflows/release.yml@refs/tags/v1", "GITHUB_EVENT_NAME=push",
			"GITHUB_RUN_ID=7", "GITHUB_RUN_ATTEMPT=1", "GITHUB_SERVER_URL=https://github.com", "RUNNER_ENVIRONMENT=github-hosted",
			"ACTIONS_ID_TOKEN_REQUEST_URL="+tokens.URL+"/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=runner-request-token",
			"SIGSTORE_ID_TOKEN=", "GITHUB_OUTPUT=", "GITHUB_WORKSPACE="+workspace)
		r := &runner{t: t, inputs: inputs, outputs: map[string]map[string]string{}, env: env, temp: temp}
		return r.run(action)
	}
	out, failed := release("")
	if failed {
		t.Fatal("the action failed")
	}
	if out["digest"] != c.image || out["signer"] != identity+" (issuer "+issuer+")" ||
		!strings.HasPrefix(out["sbom"], "sha256:") || !strings.HasPrefix(out["provenance"], "sha256:") || out["scan-summary"] == "" {
		t.Errorf("the action's outputs: %v", out)
	}
	if sarifRuns(t, out["sarif-file"]) != 1 {
		t.Error("the SARIF file has no run")
	}
	c.verifyReleased(t)
	// the audit of the workflow was attested next to the provenance: a
	// policy requiring a controlled build sees the unpinned action
	policy := filepath.Join(c.dir, "controlled.yaml")
	for failOn, wantCode := range map[string]int{"high": 1, "critical": 0} {
		writeWorkflow(t, c.dir, "controlled.yaml", fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: controlled}
spec:
  mode: enforce
  images: ["**"]
  signers: [{name: release, keyless: {identities: [{issuer: %q, subject: %q}]}}]
  rules:
    - name: controlled-build
      attestation:
        predicateType: slsaprovenance1
        signers: [release]
        refs: ["refs/tags/v*"]
        triggers: [push]
        workflowAudit: {failOn: %s, required: true}
`, issuer, identity, failOn))
		code, stdout, errOut := runDossier(t, "policy", "check", c.image, "--policy", policy, "--trusted-root", filepath.Join(c.dir, "trusted-root.json"))
		if code != wantCode || wantCode == 1 && !strings.Contains(stdout+errOut, "unpinned-uses at .github/workflows/release.yml:9") {
			t.Errorf("controlled build at failOn %s: exit %d\n%s%s", failOn, code, stdout, errOut)
		}
	}

	// the gate stops before signing; the digest and SARIF still come out
	out, failed = release("critical")
	if !failed || out["digest"] != c.image || out["signer"] != "" || out["sarif-file"] == "" {
		t.Errorf("a failed gate: failed=%v outputs %v", failed, out)
	}
}

func writeWorkflow(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The GitLab CI template's job script, run as GitLab's runner would with
// the template's variables and the job's id_token: it releases the image
// keyless, leaves the dotenv report and the SARIF file.
func TestGitLabTemplate(t *testing.T) {
	const identity = "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/tags/v1"
	const issuer = "https://gitlab.com"
	c := newCIRun(t, identity, issuer)
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "ci", "gitlab", "dossier.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var template map[string]struct {
		Image     string
		IDTokens  map[string]map[string]string `yaml:"id_tokens"`
		Variables map[string]string
		Script    []string
		Artifacts struct {
			Reports struct{ Dotenv string }
		}
	}
	if err := yaml.Unmarshal(data, &template); err != nil {
		t.Fatalf("the template: %v", err)
	}
	job, ok := template[".dossier-release"]
	if !ok || len(job.Script) != 1 || job.IDTokens["SIGSTORE_ID_TOKEN"]["aud"] != "sigstore" || job.Artifacts.Reports.Dotenv != "dossier.env" {
		t.Fatalf("the template's job: %+v", job)
	}
	// a dossier on PATH, as a runner image with it installed has
	bin := filepath.Join(t.TempDir(), "dossier")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dossier")
	build.Dir = testutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	project := t.TempDir()
	vars := map[string]string{"CI_PROJECT_DIR": project, "GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": "acme/app",
		"CI_PROJECT_URL": "https://gitlab.com/acme/app", "CI_COMMIT_SHA": strings.Repeat("b", 40), "CI_COMMIT_TAG": "v1", "CI_COMMIT_REF_NAME": "v1",
		"CI_CONFIG_PATH": ".gitlab-ci.yml", "CI_JOB_URL": "https://gitlab.com/acme/app/-/jobs/9", "CI_PIPELINE_SOURCE": "push", "CI_RUNNER_ID": "3",
		"SIGSTORE_ID_TOKEN": testutil.IDToken(identity, issuer), "HOME": t.TempDir()}
	for k, v := range job.Variables {
		vars[k] = os.Expand(v, func(name string) string { return vars[name] })
	}
	vars["DOSSIER_IMAGE"], vars["DOSSIER_ADVISORIES"], vars["DOSSIER_PIPELINE_ARGS"] = c.image, c.advisories, c.signArgs
	vars["DOSSIER_FAIL_ON"] = ""
	env := []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", job.Script[0])
	cmd.Dir, cmd.Env = project, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the template's script: %v\n%s", err, out)
	}
	dotenv, err := os.ReadFile(filepath.Join(project, "dossier.env"))
	if err != nil || !strings.Contains(string(dotenv), "DOSSIER_DIGEST="+c.image+"\n") || !strings.Contains(string(dotenv), "DOSSIER_SIGNER=") {
		t.Errorf("dotenv report: %q %v", dotenv, err)
	}
	if sarifRuns(t, filepath.Join(project, "dossier.sarif")) != 1 {
		t.Error("the SARIF file has no run")
	}
	c.verifyReleased(t)
}
