package attest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

func TestProvenanceFromGitHubActions(t *testing.T) {
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app",
		"GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/tags/v1.2.0", "GITHUB_REF": "refs/tags/v1.2.0",
		"GITHUB_SHA": "2f1c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
		"GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY_ID": "1", "GITHUB_REPOSITORY_OWNER_ID": "2", "RUNNER_ENVIRONMENT": "github-hosted",
	}
	data, err := Provenance(env, ProvenanceOptions{Now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		BuildDefinition struct {
			BuildType          string
			ExternalParameters struct {
				Workflow struct{ Ref, Repository, Path string }
			}
			ResolvedDependencies []struct {
				URI    string
				Digest map[string]string
			}
		}
		RunDetails struct {
			Builder  struct{ ID string }
			Metadata struct{ InvocationID string }
		}
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	bd, rd := p.BuildDefinition, p.RunDetails
	if bd.BuildType != GitHubBuildType || bd.ExternalParameters.Workflow.Path != ".github/workflows/release.yml" ||
		bd.ResolvedDependencies[0].URI != "git+https://github.com/acme/app@refs/tags/v1.2.0" || bd.ResolvedDependencies[0].Digest["gitCommit"] != env["GITHUB_SHA"] {
		t.Fatalf("build definition: %+v", bd)
	}
	if rd.Builder.ID != "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0" || rd.Metadata.InvocationID != "https://github.com/acme/app/actions/runs/42/attempts/2" {
		t.Fatalf("run details: %+v", rd)
	}
}

func TestProvenanceFromGitLabAndFlags(t *testing.T) {
	gl := map[string]string{"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": "acme/app", "CI_RUNNER_ID": "7",
		"CI_PROJECT_URL": "https://gitlab.com/acme/app", "CI_COMMIT_REF_NAME": "main", "CI_COMMIT_SHA": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", "CI_JOB_URL": "https://gitlab.com/acme/app/-/jobs/9"}
	data, err := Provenance(gl, ProvenanceOptions{})
	if err != nil || !strings.Contains(string(data), `"builder"`) || !strings.Contains(string(data), "https://gitlab.com/acme/app/-/jobs/9") {
		t.Fatalf("gitlab: %s %v", data, err)
	}
	if _, err := Provenance(map[string]string{}, ProvenanceOptions{}); !errors.Is(err, ErrNoBuilder) {
		t.Fatalf("outside CI without flags: %v", err)
	}
	data, err = Provenance(map[string]string{}, ProvenanceOptions{BuilderID: "https://ci.example/builder", SourceURI: "git+https://example.com/app@refs/heads/main", SourceDigest: "0123456789abcdef0123456789abcdef01234567"})
	if err != nil || !strings.Contains(string(data), GenericBuildType) {
		t.Fatalf("flags: %s %v", data, err)
	}
}

// The summary policies judge is read back from the predicates dossier
// writes: GitHub Actions, GitLab tag pipelines (refs/tags, not refs/heads)
// and flags.
func TestProvenanceSummaries(t *testing.T) {
	gh := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app",
		"GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/tags/v1.2.0", "GITHUB_REF": "refs/tags/v1.2.0",
		"GITHUB_SHA": "2f1c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e", "GITHUB_RUN_ID": "42", "GITHUB_EVENT_NAME": "push",
	}
	gl := map[string]string{"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": "acme/app", "CI_RUNNER_ID": "7",
		"CI_PROJECT_URL": "https://gitlab.com/acme/app", "CI_COMMIT_REF_NAME": "v1.2.0", "CI_COMMIT_TAG": "v1.2.0", "CI_PIPELINE_SOURCE": "push",
		"CI_COMMIT_SHA": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", "CI_JOB_URL": "https://gitlab.com/acme/app/-/jobs/9"}
	glBranch := map[string]string{}
	for k, v := range gl {
		glBranch[k] = v
	}
	delete(glBranch, "CI_COMMIT_TAG")
	glBranch["CI_COMMIT_REF_NAME"] = "main"
	cases := []struct {
		name string
		env  map[string]string
		opts ProvenanceOptions
		want evidence.Provenance
	}{
		{"github", gh, ProvenanceOptions{}, evidence.Provenance{BuilderID: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0", BuildType: GitHubBuildType,
			SourceRepository: "https://github.com/acme/app", Ref: "refs/tags/v1.2.0", Commit: gh["GITHUB_SHA"], Trigger: "push"}},
		{"gitlab tag pipeline", gl, ProvenanceOptions{}, evidence.Provenance{BuilderID: "https://gitlab.com/acme/app/-/runners/7", BuildType: GitLabBuildType,
			SourceRepository: "https://gitlab.com/acme/app", Ref: "refs/tags/v1.2.0", Commit: gl["CI_COMMIT_SHA"], Trigger: "push"}},
		{"gitlab branch pipeline", glBranch, ProvenanceOptions{}, evidence.Provenance{BuilderID: "https://gitlab.com/acme/app/-/runners/7", BuildType: GitLabBuildType,
			SourceRepository: "https://gitlab.com/acme/app", Ref: "refs/heads/main", Commit: gl["CI_COMMIT_SHA"], Trigger: "push"}},
		{"flags", map[string]string{}, ProvenanceOptions{BuilderID: "https://ci.example/builder", SourceURI: "git+https://example.com/app.git@refs/heads/main", SourceDigest: "0123456789abcdef0123456789abcdef01234567"},
			evidence.Provenance{BuilderID: "https://ci.example/builder", BuildType: GenericBuildType, SourceRepository: "https://example.com/app", Ref: "refs/heads/main", Commit: "0123456789abcdef0123456789abcdef01234567"}},
	}
	for _, c := range cases {
		data, err := Provenance(c.env, c.opts)
		if err != nil {
			t.Fatal(c.name, err)
		}
		got, err := SummarizeProvenance(evidence.PredicateSLSA1, data)
		if err != nil {
			t.Fatal(c.name, err)
		}
		if *got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, *got, c.want)
		}
	}
	if _, err := SummarizeProvenance(evidence.PredicateSLSA1, []byte(`{"runDetails":{}}`)); err == nil {
		t.Error("a provenance without a builder id must be refused")
	}
	if _, err := SummarizeProvenance(evidence.PredicateCycloneDX, []byte(`{}`)); err == nil {
		t.Error("an SBOM is not provenance")
	}
}
