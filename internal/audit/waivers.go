package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Waiver accepts one rule's findings in one workflow file for a time,
// with the same discipline as an exception: a name, an owner, a reason
// and an expiry, after which it never applies.
type Waiver struct {
	Name    string
	Owner   string
	Reason  string
	Expires time.Time
	// File is the workflow file from the repository root (a path glob:
	// `*` within a directory).
	File string
	Rule string
	// Job, when set, narrows the waiver to one job.
	Job string
	// Source is the waiver file it came from.
	Source string
}

// AppliedWaiver is the waiver a finding is under.
type AppliedWaiver struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires"`
}

type waiverDocument struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Owner   string `yaml:"owner"`
		Reason  string `yaml:"reason"`
		Expires string `yaml:"expires"`
		File    string `yaml:"file"`
		Rule    string `yaml:"rule"`
		Job     string `yaml:"job"`
	} `yaml:"spec"`
}

// WaiverKind is the kind of a waiver document.
const WaiverKind = "WorkflowAuditWaiver"

// LoadWaivers reads waiver documents (several per file, `---` apart).
func LoadWaivers(files ...string) ([]Waiver, error) {
	var out []Waiver
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		ws, err := ParseWaivers(file, data)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// ParseWaivers reads the waiver documents of one file: every field known,
// every required one given, the rule one that exists.
func ParseWaivers(file string, data []byte) ([]Waiver, error) {
	if _, err := readYAML(file, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out []Waiver
	for i := 1; ; i++ {
		var d waiverDocument
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &InputError{File: file, Err: fmt.Sprintf("document %d: %v", i, err)}
		}
		w, err := d.waiver(file)
		if err != nil {
			return nil, &InputError{File: file, Err: fmt.Sprintf("document %d: %v", i, err)}
		}
		out = append(out, w)
	}
}

func (d waiverDocument) waiver(file string) (Waiver, error) {
	if d.APIVersion != "dossier.dev/v1alpha1" || d.Kind != WaiverKind {
		return Waiver{}, fmt.Errorf("want apiVersion dossier.dev/v1alpha1, kind %s (got %s %s)", WaiverKind, d.APIVersion, d.Kind)
	}
	s := d.Spec
	for field, v := range map[string]string{"metadata.name": d.Metadata.Name, "spec.owner": s.Owner, "spec.reason": s.Reason, "spec.expires": s.Expires, "spec.file": s.File, "spec.rule": s.Rule} {
		if strings.TrimSpace(v) == "" {
			return Waiver{}, fmt.Errorf("waiver %q: %s is required", d.Metadata.Name, field)
		}
	}
	expires, err := time.Parse(time.RFC3339, s.Expires)
	if err != nil {
		if expires, err = time.Parse(time.DateOnly, s.Expires); err != nil {
			return Waiver{}, fmt.Errorf("waiver %q: spec.expires %q: want a date (2026-12-31) or an RFC 3339 time", d.Metadata.Name, s.Expires)
		}
	}
	if _, ok := RuleByID(s.Rule); !ok {
		return Waiver{}, fmt.Errorf("waiver %q: spec.rule %q is no audit rule", d.Metadata.Name, s.Rule)
	}
	if _, err := path.Match(s.File, ""); err != nil {
		return Waiver{}, fmt.Errorf("waiver %q: spec.file %q: %v", d.Metadata.Name, s.File, err)
	}
	return Waiver{Name: d.Metadata.Name, Owner: s.Owner, Reason: s.Reason, Expires: expires, File: s.File, Rule: s.Rule, Job: s.Job, Source: file}, nil
}

// covers reports whether the waiver is for the finding (expiry aside).
func (w Waiver) covers(f Finding) bool {
	if w.Rule != f.Rule || w.Job != "" && w.Job != f.Job {
		return false
	}
	// the waiver names the file from the repository root; the audit may
	// have been given it from anywhere: match the path's trailing parts
	file := filepath.ToSlash(f.File)
	for {
		if ok, _ := path.Match(w.File, file); ok {
			return true
		}
		_, rest, found := strings.Cut(file, "/")
		if !found {
			return false
		}
		file = rest
	}
}

// ApplyWaivers marks the findings waivers in force cover; it returns the
// waivers that would have applied but expired, for the report to name.
func ApplyWaivers(findings []Finding, waivers []Waiver, now time.Time) (expired []Waiver) {
	seenExpired := map[string]bool{}
	for i := range findings {
		for _, w := range waivers {
			if !w.covers(findings[i]) {
				continue
			}
			if !now.Before(w.Expires) {
				if !seenExpired[w.Name] {
					seenExpired[w.Name] = true
					expired = append(expired, w)
				}
				continue
			}
			findings[i].Waiver = &AppliedWaiver{Name: w.Name, Owner: w.Owner, Reason: w.Reason, Expires: w.Expires}
			break
		}
	}
	return expired
}
