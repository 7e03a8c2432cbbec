package attest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	prov "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Build types recorded in provenance.
const (
	GitHubBuildType  = "https://actions.github.io/buildtypes/workflow/v1"
	GitLabBuildType  = "https://github.com/dossier-dev/dossier/buildtypes/gitlab-ci/v1"
	GenericBuildType = "https://github.com/dossier-dev/dossier/buildtypes/generic/v1"
)

// What provenance cannot be written without, outside GitHub Actions and
// GitLab CI unless given.
var (
	ErrNoBuilder = errors.New("no builder id: not in GitHub Actions or GitLab CI, and none given")
	ErrNoSource  = errors.New("no source repository and commit: not in GitHub Actions or GitLab CI, and none given")
)

// ProvenanceOptions override or supply what the CI environment does not.
type ProvenanceOptions struct {
	BuilderID    string
	SourceURI    string
	SourceDigest string // git commit
	// Now stamps finishedOn (default time.Now).
	Now time.Time
}

// Provenance builds a SLSA v1 provenance predicate from a CI environment
// (GitHub Actions or GitLab CI variables in env) and options, and returns
// it as JSON ready for `dossier attest --type slsaprovenance`.
func Provenance(env map[string]string, opts ProvenanceOptions) ([]byte, error) {
	p := &prov.Provenance{BuildDefinition: &prov.BuildDefinition{}, RunDetails: &prov.RunDetails{Builder: &prov.Builder{}, Metadata: &prov.BuildMetadata{}}}
	var external, internal map[string]any
	switch {
	case env["GITHUB_ACTIONS"] == "true":
		server, repo := orDefault(env["GITHUB_SERVER_URL"], "https://github.com"), env["GITHUB_REPOSITORY"]
		workflowPath := strings.TrimPrefix(strings.SplitN(env["GITHUB_WORKFLOW_REF"], "@", 2)[0], repo+"/")
		p.BuildDefinition.BuildType = GitHubBuildType
		external = map[string]any{"workflow": map[string]any{"ref": env["GITHUB_REF"], "repository": server + "/" + repo, "path": workflowPath}}
		internal = map[string]any{"github": map[string]any{"event_name": env["GITHUB_EVENT_NAME"], "repository_id": env["GITHUB_REPOSITORY_ID"],
			"repository_owner_id": env["GITHUB_REPOSITORY_OWNER_ID"], "runner_environment": env["RUNNER_ENVIRONMENT"]}}
		p.RunDetails.Builder.Id = server + "/" + env["GITHUB_WORKFLOW_REF"]
		p.RunDetails.Metadata.InvocationId = fmt.Sprintf("%s/%s/actions/runs/%s/attempts/%s", server, repo, env["GITHUB_RUN_ID"], orDefault(env["GITHUB_RUN_ATTEMPT"], "1"))
		setSource(p, "git+"+server+"/"+repo+"@"+env["GITHUB_REF"], env["GITHUB_SHA"])
	case env["GITLAB_CI"] == "true":
		p.BuildDefinition.BuildType = GitLabBuildType
		external = map[string]any{"source": env["CI_PROJECT_URL"], "ref": env["CI_COMMIT_REF_NAME"], "config": env["CI_CONFIG_PATH"]}
		internal = map[string]any{"gitlab": map[string]any{"pipeline_id": env["CI_PIPELINE_ID"], "job_id": env["CI_JOB_ID"], "pipeline_source": env["CI_PIPELINE_SOURCE"]}}
		p.RunDetails.Builder.Id = env["CI_SERVER_URL"] + "/" + env["CI_PROJECT_PATH"] + "/-/runners/" + env["CI_RUNNER_ID"]
		p.RunDetails.Metadata.InvocationId = env["CI_JOB_URL"]
		setSource(p, "git+"+env["CI_PROJECT_URL"]+"@"+gitLabRef(env), env["CI_COMMIT_SHA"])
	default:
		p.BuildDefinition.BuildType = GenericBuildType
		external = map[string]any{}
	}
	if opts.BuilderID != "" {
		p.RunDetails.Builder.Id = opts.BuilderID
	}
	if opts.SourceURI != "" || opts.SourceDigest != "" {
		setSource(p, opts.SourceURI, opts.SourceDigest)
		external["source"] = opts.SourceURI
	}
	if p.RunDetails.Builder.Id == "" {
		return nil, ErrNoBuilder
	}
	if len(p.BuildDefinition.ResolvedDependencies) == 0 || p.BuildDefinition.ResolvedDependencies[0].GetUri() == "" {
		return nil, ErrNoSource
	}
	var err error
	if p.BuildDefinition.ExternalParameters, err = structpb.NewStruct(external); err != nil {
		return nil, err
	}
	if internal != nil {
		if p.BuildDefinition.InternalParameters, err = structpb.NewStruct(internal); err != nil {
			return nil, err
		}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p.RunDetails.Metadata.FinishedOn = timestamppb.New(now.UTC())
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return protojson.MarshalOptions{Multiline: true}.Marshal(p)
}

// gitLabRef is the full ref a GitLab pipeline ran for: a tag pipeline
// sets CI_COMMIT_TAG, a branch pipeline only CI_COMMIT_REF_NAME.
func gitLabRef(env map[string]string) string {
	if tag := env["CI_COMMIT_TAG"]; tag != "" {
		return "refs/tags/" + tag
	}
	return "refs/heads/" + env["CI_COMMIT_REF_NAME"]
}

func setSource(p *prov.Provenance, uri, commit string) {
	dep := &intoto.ResourceDescriptor{Uri: uri}
	if commit != "" {
		dep.Digest = map[string]string{"gitCommit": commit}
	}
	p.BuildDefinition.ResolvedDependencies = []*intoto.ResourceDescriptor{dep}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
