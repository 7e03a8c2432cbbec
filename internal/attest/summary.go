package attest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// lookup walks a decoded JSON value along keys.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func lookupString(v any, keys ...string) string {
	s, _ := lookup(v, keys...).(string)
	return s
}

// SummarizeProvenance reads the builder, source, commit, ref and trigger
// from a SLSA provenance predicate (v1, or v0.2).
func SummarizeProvenance(predicateType string, predicate json.RawMessage) (*evidence.Provenance, error) {
	var v any
	if err := json.Unmarshal(predicate, &v); err != nil {
		return nil, fmt.Errorf("provenance predicate is not JSON: %v", err)
	}
	p := &evidence.Provenance{}
	switch predicateType {
	case evidence.PredicateSLSA1:
		p.BuilderID = lookupString(v, "runDetails", "builder", "id")
		p.BuildType = lookupString(v, "buildDefinition", "buildType")
		ext := lookup(v, "buildDefinition", "externalParameters")
		if deps, ok := lookup(v, "buildDefinition", "resolvedDependencies").([]any); ok && len(deps) > 0 {
			p.SourceRepository, p.Ref = splitSourceURI(lookupString(deps[0], "uri"))
			p.Commit = lookupString(deps[0], "digest", "gitCommit")
			if p.Commit == "" {
				p.Commit = lookupString(deps[0], "digest", "sha1")
			}
		}
		// GitHub's build type names the repository and ref directly
		if repo := lookupString(ext, "workflow", "repository"); repo != "" {
			p.SourceRepository, p.Ref = repo, lookupString(ext, "workflow", "ref")
		}
		p.Trigger = lookupString(v, "buildDefinition", "internalParameters", "github", "event_name")
		if p.Trigger == "" {
			p.Trigger = lookupString(v, "buildDefinition", "internalParameters", "gitlab", "pipeline_source")
		}
		if t, err := time.Parse(time.RFC3339, lookupString(v, "runDetails", "metadata", "startedOn")); err == nil {
			p.StartedOn = &t
		}
	case evidence.PredicateSLSA02:
		p.BuilderID = lookupString(v, "builder", "id")
		p.BuildType = lookupString(v, "buildType")
		p.SourceRepository, p.Ref = splitSourceURI(lookupString(v, "invocation", "configSource", "uri"))
		p.Commit = lookupString(v, "invocation", "configSource", "digest", "sha1")
		if t, err := time.Parse(time.RFC3339, lookupString(v, "metadata", "buildStartedOn")); err == nil {
			p.StartedOn = &t
		}
	default:
		return nil, fmt.Errorf("%s is not a SLSA provenance predicate type", predicateType)
	}
	if p.BuilderID == "" {
		return nil, errors.New("provenance names no builder id")
	}
	return p, nil
}

// splitSourceURI turns "git+https://host/org/repo@refs/heads/main" into
// the repository URL and the ref.
func splitSourceURI(uri string) (string, string) {
	uri = strings.TrimPrefix(uri, "git+")
	if i := strings.LastIndex(uri, "@"); i > strings.Index(uri, "://")+2 && i > 0 {
		return strings.TrimSuffix(uri[:i], ".git"), uri[i+1:]
	}
	return strings.TrimSuffix(uri, ".git"), ""
}

// PredicateTime is the time a signed predicate states it was made, for
// the predicate types that state one; nil otherwise.
func PredicateTime(predicateType string, predicate json.RawMessage) *time.Time {
	var v any
	if json.Unmarshal(predicate, &v) != nil {
		return nil
	}
	var paths [][]string
	switch predicateType {
	case evidence.PredicateSLSA1:
		paths = [][]string{{"runDetails", "metadata", "finishedOn"}, {"runDetails", "metadata", "startedOn"}}
	case evidence.PredicateSLSA02:
		paths = [][]string{{"metadata", "buildFinishedOn"}, {"metadata", "buildStartedOn"}}
	case evidence.PredicateCycloneDX:
		paths = [][]string{{"metadata", "timestamp"}}
	case evidence.PredicateSPDX:
		paths = [][]string{{"creationInfo", "created"}}
	case evidence.PredicateVuln:
		paths = [][]string{{"metadata", "scanFinishedOn"}, {"metadata", "scanStartedOn"}}
	case evidence.PredicateOpenVEX:
		paths = [][]string{{"timestamp"}}
	}
	for _, p := range paths {
		if t, err := time.Parse(time.RFC3339, lookupString(v, p...)); err == nil {
			return &t
		}
	}
	return nil
}
