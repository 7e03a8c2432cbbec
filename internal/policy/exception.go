package policy

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// The SupplyChainException document.
type exceptionSpec struct {
	Owner                string   `yaml:"owner"`
	ImageDigest          string   `yaml:"imageDigest"`
	Reason               string   `yaml:"reason"`
	CompensatingControls []string `yaml:"compensatingControls"`
	ExpiresAt            string   `yaml:"expiresAt"`
	Waives               struct {
		Vulnerabilities []string `yaml:"vulnerabilities"`
		Package         string   `yaml:"package"`
		Policies        []string `yaml:"policies"`
	} `yaml:"waives"`
}

func decodeException(d rawDocument) (evidence.Exception, error) {
	src := d.source
	spec, err := d.specNode()
	if err != nil {
		return evidence.Exception{}, err
	}
	var s exceptionSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return evidence.Exception{}, fmt.Errorf("%s: %v", src, err)
	}
	if err := checkName(src, KindException, d.header.Metadata.Name); err != nil {
		return evidence.Exception{}, err
	}
	for _, f := range []struct{ path, value, why string }{
		{"spec.owner", s.Owner, "who answers for this exception"},
		{"spec.imageDigest", s.ImageDigest, "the one digest it covers (repository@sha256:…)"},
		{"spec.reason", s.Reason, "why the risk is accepted"},
		{"spec.expiresAt", s.ExpiresAt, "when it ends (RFC 3339)"},
	} {
		if strings.TrimSpace(f.value) == "" {
			return evidence.Exception{}, fieldError(src, f.path, "missing: an exception must say %s", f.why)
		}
	}
	subject, err := parseDigestScope(s.ImageDigest)
	if err != nil {
		return evidence.Exception{}, fieldError(src, "spec.imageDigest", "%v", err)
	}
	expires, err := time.Parse(time.RFC3339, s.ExpiresAt)
	if err != nil {
		return evidence.Exception{}, fieldError(src, "spec.expiresAt", "%q: want an RFC 3339 time such as 2026-05-15T12:00:00Z", s.ExpiresAt)
	}
	w := s.Waives
	if len(w.Vulnerabilities) == 0 && len(w.Policies) == 0 {
		return evidence.Exception{}, fieldError(src, "spec.waives", "name the vulnerabilities or the policies (policy or policy/rule) it waives")
	}
	if w.Package != "" && len(w.Vulnerabilities) == 0 {
		return evidence.Exception{}, fieldError(src, "spec.waives.package", "narrows vulnerabilities; list them too")
	}
	for i, v := range w.Vulnerabilities {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t*") {
			return evidence.Exception{}, fieldError(src, fmt.Sprintf("spec.waives.vulnerabilities[%d]", i), "%q: name one advisory ID (no wildcards)", v)
		}
	}
	for i, p := range w.Policies {
		name, rule, _ := strings.Cut(p, "/")
		if !namePattern.MatchString(name) || (rule != "" && !namePattern.MatchString(rule)) {
			return evidence.Exception{}, fieldError(src, fmt.Sprintf("spec.waives.policies[%d]", i), "%q: want a policy name or policy/rule", p)
		}
	}
	return evidence.Exception{
		Name: d.header.Metadata.Name, Namespace: d.header.Metadata.Namespace, Owner: s.Owner,
		Subject: subject, Reason: s.Reason, CompensatingControls: s.CompensatingControls, ExpiresAt: expires,
		Vulnerabilities: w.Vulnerabilities, Package: w.Package, Policies: w.Policies, Source: src,
	}, nil
}

// parseDigestScope reads "repository@sha256:…" or a bare "sha256:…".
func parseDigestScope(s string) (evidence.Subject, error) {
	if strings.Contains(s, "@") {
		return evidence.ParseSubject(s)
	}
	if !evidence.ValidDigest(s) {
		if strings.Contains(s, ":") {
			return evidence.Subject{}, fmt.Errorf("%q is a tag or malformed: an exception covers one digest (repository@sha256:…), never a tag", s)
		}
		return evidence.Subject{}, fmt.Errorf("%q is not a digest (repository@sha256:… or sha256:…)", s)
	}
	return evidence.Subject{Digest: s}, nil
}

// ignoreFile is scan's older exception format, still read:
// `ignore: [{id, package, digest, reason, owner, expires}]`.
type ignoreFile struct {
	Ignore []struct {
		ID      string `yaml:"id"`
		Package string `yaml:"package"`
		Digest  string `yaml:"digest"`
		Reason  string `yaml:"reason"`
		Owner   string `yaml:"owner"`
		Expires string `yaml:"expires"`
	} `yaml:"ignore"`
}

// isIgnoreFile tells the older format from Kubernetes-style documents.
func isIgnoreFile(data []byte) bool {
	var probe map[string]yaml.Node
	if yaml.Unmarshal(data, &probe) != nil {
		return false
	}
	_, ok := probe["ignore"]
	return ok && len(probe) == 1
}

// decodeIgnoreFile turns each ignore rule into an Exception. Rules without
// a digest (allowed in this format) cover every digest: they are marked
// so, and reported by lint.
func decodeIgnoreFile(name string, data []byte) ([]evidence.Exception, []string, error) {
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("%s: larger than %d KiB", name, maxFileSize>>10)
	}
	var f ignoreFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []evidence.Exception
	var warnings []string
	for i, r := range f.Ignore {
		path := fmt.Sprintf("ignore[%d]", i)
		var missing []string
		for _, fl := range []struct{ name, value string }{{"id", r.ID}, {"reason", r.Reason}, {"owner", r.Owner}, {"expires", r.Expires}} {
			if strings.TrimSpace(fl.value) == "" {
				missing = append(missing, fl.name)
			}
		}
		if len(missing) > 0 {
			return nil, nil, fieldError(name, path, "(%s) missing %s", r.ID, strings.Join(missing, ", "))
		}
		expires, err := parseExpiry(r.Expires)
		if err != nil {
			return nil, nil, fieldError(name, path+".expires", "%v", err)
		}
		e := evidence.Exception{
			Name: r.ID, Owner: r.Owner, Reason: r.Reason, ExpiresAt: expires,
			Vulnerabilities: []string{r.ID}, Package: r.Package, Source: name,
		}
		if r.Digest == "" {
			e.AllDigests = true
			warnings = append(warnings, fmt.Sprintf("%s: %s (%s) has no digest and covers every image; scope it with digest: repository@sha256:…", name, path, r.ID))
		} else if e.Subject, err = parseDigestScope(r.Digest); err != nil {
			return nil, nil, fieldError(name, path+".digest", "%v", err)
		}
		out = append(out, e)
	}
	return out, warnings, nil
}

// parseExpiry reads a date (the whole day counts) or an RFC 3339 time.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("want a date (2026-12-31) or an RFC 3339 time")
	}
	return t.Add(24 * time.Hour), nil
}
