package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// RetentionRule deletes a repository's digests that no tag protects, that
// are unsigned or fail their quarantine policy, once older than Age —
// unless an exception in force names them. Failed builds stay for
// investigation until then.
type RetentionRule struct {
	Text         string
	Repositories policy.Glob
	Age          time.Duration
}

// ParseRetentionRule reads REPOSITORY_GLOB=AGE ("team/**=720h").
func ParseRetentionRule(text string) (RetentionRule, error) {
	repos, age, ok := strings.Cut(text, "=")
	if !ok || repos == "" {
		return RetentionRule{}, fmt.Errorf("retention rule %q: want REPOSITORY_GLOB=AGE (720h)", text)
	}
	g, err := policy.CompileGlob(repos)
	if err != nil {
		return RetentionRule{}, fmt.Errorf("retention rule %q: %w", text, err)
	}
	d, err := time.ParseDuration(age)
	if err != nil || d <= 0 {
		return RetentionRule{}, fmt.Errorf("retention rule %q: %q is not a positive duration", text, age)
	}
	return RetentionRule{Text: text, Repositories: g, Age: d}, nil
}

// Swept is what a retention sweep did.
type Swept struct {
	Deleted []evidence.Subject
	Kept    int
}

// Sweep applies the retention rules once to every digest pushed here
// (those the registry queued a scan of); exceptions are the exceptions in
// force. Each deletion goes through the same gates as a client's (an
// immutable tag's digest is never deleted) and is audited.
func (r *Registry) Sweep(ctx context.Context, exceptions []evidence.Exception) (Swept, error) {
	var out Swept
	if len(r.retention) == 0 {
		return out, nil
	}
	jobs, err := r.store.Jobs(ctx, "", "", 0)
	if err != nil {
		return out, err
	}
	now := r.now()
	type doomed struct {
		subject evidence.Subject
		rule    *RetentionRule
		why     string
	}
	byPath := map[string][]doomed{}        // what each repository's rule would delete
	pushed := map[string][]string{}        // every manifest pushed to each repository
	tagged := map[string]map[string]bool{} // repository path → digests a tag points to
	seen := map[evidence.Subject]bool{}
	for _, job := range jobs {
		subject := evidence.Subject{Repository: job.Repository, Digest: job.Digest}
		// only what was pushed here, under the registry's own name
		path, ok := strings.CutPrefix(job.Repository, r.name+"/")
		if job.Kind != store.JobScan || seen[subject] || !ok {
			continue
		}
		seen[subject] = true
		pushed[path] = append(pushed[path], job.Digest)
		rule := r.retentionRule(path)
		if rule == nil || now.Sub(job.QueuedAt) < rule.Age {
			continue
		}
		if tagged[path] == nil {
			if tagged[path], err = r.taggedDigests(ctx, path); err != nil {
				return out, err
			}
		}
		why, err := r.retentionReason(ctx, subject, path, job, tagged[path], exceptions, now)
		if err != nil {
			return out, err
		}
		if why == "" {
			out.Kept++
			continue
		}
		byPath[path] = append(byPath[path], doomed{subject, rule, why})
	}
	for path, candidates := range byPath {
		digests := make([]string, len(candidates))
		for i, c := range candidates {
			digests[i] = c.subject.Digest
		}
		named, err := r.namedByKept(ctx, path, pushed[path], digests)
		if err != nil {
			// what the indexes name is not known: nothing of the
			// repository is deleted, the others are swept
			r.report(fmt.Errorf("retention kept every digest of %s: %w", path, err))
			out.Kept += len(candidates)
			continue
		}
		for _, c := range candidates {
			if named[c.subject.Digest] {
				out.Kept++
				continue
			}
			req, err := http.NewRequestWithContext(withActor(ctx, internalActor), http.MethodDelete, "/v2/"+path+"/manifests/"+c.subject.Digest, nil)
			if err != nil {
				return out, err
			}
			rec := &headRecorder{header: http.Header{}}
			r.ServeHTTP(rec, req)
			if rec.status != http.StatusAccepted {
				r.report(fmt.Errorf("retention could not delete %s: status %d", c.subject, rec.status))
				continue
			}
			r.audit(ctx, store.RegistryEvent{Action: "retention", Repository: c.subject.Repository, Reference: c.subject.Digest, Digest: c.subject.Digest, Actor: "retention rule " + c.rule.Text,
				Outcome: "deleted", Reason: c.why})
			out.Deleted = append(out.Deleted, c.subject)
		}
	}
	return out, nil
}

// maxRetentionRead bounds the manifest bytes a sweep reads of one
// repository to learn what its indexes name.
var maxRetentionRead int64 = 256 << 20

// namedByKept says which of the doomed manifests of a repository an index
// that stays names, directly or through other indexes: the platform images
// of a tagged (or signed, or allowed, or young) index are kept with it, or
// it could no longer be pulled (helper-16). An index that is itself doomed
// keeps nothing, unless something kept names it.
func (r *Registry) namedByKept(ctx context.Context, path string, pushed, doomed []string) (map[string]bool, error) {
	children := map[string][]string{}
	read := int64(0)
	for _, d := range pushed {
		body, err := r.manifestBody(ctx, path, d)
		if errors.Is(err, errUnreadableManifest) {
			// names nothing anyone can pull; it costs its own reads only
			r.report(fmt.Errorf("retention: %w", err))
			continue
		}
		if err != nil {
			return nil, err
		}
		if read += int64(len(body)); read > maxRetentionRead {
			return nil, fmt.Errorf("its manifests are more than %d MiB to read", maxRetentionRead>>20)
		}
		var fields manifest
		if body != nil && json.Unmarshal(body, &fields) == nil {
			for _, m := range fields.Manifests {
				children[d] = append(children[d], m.Digest)
			}
		}
	}
	isDoomed := map[string]bool{}
	for _, d := range doomed {
		isDoomed[d] = true
	}
	named := map[string]bool{}
	var walk func(d string)
	walk = func(d string) {
		for _, c := range children[d] {
			if !named[c] {
				named[c] = true
				walk(c)
			}
		}
	}
	for _, d := range pushed {
		if !isDoomed[d] {
			walk(d)
		}
	}
	return named, nil
}

func (r *Registry) retentionRule(path string) *RetentionRule {
	for i, rule := range r.retention {
		if rule.Repositories.Match(path) {
			return &r.retention[i]
		}
	}
	return nil
}

// taggedDigests lists the digests a repository's tags point to now.
func (r *Registry) taggedDigests(ctx context.Context, path string) (map[string]bool, error) {
	tags, err := r.tagsOf(ctx, path)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, tag := range tags {
		d, err := r.currentDigest(ctx, path, tag)
		if err != nil {
			return nil, err
		}
		out[d] = true
	}
	return out, nil
}

// retentionReason says why a digest is to be deleted, or "" to keep it.
func (r *Registry) retentionReason(ctx context.Context, subject evidence.Subject, path string, job store.Job, tagged map[string]bool, exceptions []evidence.Exception, now time.Time) (string, error) {
	if tagged[subject.Digest] {
		return "", nil
	}
	for _, e := range exceptions {
		if e.ExpiresAt.After(now) && e.Subject.Digest == subject.Digest && (e.Subject.Repository == "" || e.Subject.Repository == subject.Repository) {
			return "", nil
		}
	}
	age := fmt.Sprintf("untagged, pushed %d days ago", int(now.Sub(job.QueuedAt).Hours()/24))
	if job.State == store.JobFailed {
		return age + ", its scan failed: " + job.Error, nil
	}
	if rule := r.quarantine.rule(path); rule != nil {
		v, err := r.decideQuarantine(ctx, rule, mustSet(rule), subject.Repository, subject.Digest, subject.Digest, now)
		if err != nil {
			return "", err
		}
		if !v.allowed {
			return age + ", failing its quarantine policy: " + v.reason, nil
		}
		return "", nil
	}
	d, err := r.store.Dossier(ctx, subject)
	if err != nil {
		return "", err
	}
	if d == nil || len(d.Signatures) == 0 {
		return age + ", unsigned", nil
	}
	return "", nil
}

func mustSet(rule *QuarantineRule) *policy.Set {
	set, _ := rule.Rules()
	return set
}
