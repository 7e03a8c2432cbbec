// Package vulndb is dossier's local advisory database: the OSV record
// model, import from OSV bulk zips, directories and single records, and
// lookups by ecosystem and package name, in an embedded SQLite file that is
// rebuilt beside the old one and swapped in atomically.
package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxRecordSize bounds one OSV record (the largest real records are a few
// hundred KiB).
const MaxRecordSize = 8 << 20

// Record is one OSV advisory (https://ossf.github.io/osv-schema/).
type Record struct {
	SchemaVersion    string          `json:"schema_version,omitempty"`
	ID               string          `json:"id"`
	Modified         time.Time       `json:"modified"`
	Published        *time.Time      `json:"published,omitempty"`
	Withdrawn        *time.Time      `json:"withdrawn,omitempty"`
	Aliases          []string        `json:"aliases,omitempty"`
	Related          []string        `json:"related,omitempty"`
	Upstream         []string        `json:"upstream,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	References       []Reference     `json:"references,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
	// memo is set on records read from the database (see Memo)
	memo *Memo
}

// Memo keeps what a reader derives from a record read from the database,
// once for as long as the record is kept: a warm database keeps its
// records, and so what matching derived from them (each range's events in
// version order), while its file is current.
type Memo struct{ values sync.Map }

// Memo is the record's memo; nil (which derives every time) for a record
// not read from the database.
func (r *Record) Memo() *Memo { return r.memo }

// Get is the value kept under key, made by derive the first time (on a
// nil Memo, every time). Values are shared by every reader of the record:
// they must not be changed.
func (m *Memo) Get(key any, derive func() any) any {
	if m == nil {
		return derive()
	}
	if v, ok := m.values.Load(key); ok {
		return v
	}
	v, _ := m.values.LoadOrStore(key, derive())
	return v
}

// Severity is a scored severity: a CVSS vector or an ecosystem rating.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected names a package and the versions an advisory affects.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package identifies a package within an ecosystem ("Debian:12", "PyPI").
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range is a SEMVER, ECOSYSTEM or GIT range of events.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one point of a range; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the advisory.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// RecordError says which record (file, zip entry) failed, where, and why.
type RecordError struct {
	Source string
	Entry  string
	Field  string
	Err    error
}

func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Entry != "" {
		b.WriteString(": " + e.Entry)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *RecordError) Unwrap() error { return e.Err }

// ParseRecord decodes and validates one OSV record in JSON or, when the
// name ends in .yaml/.yml, YAML.
func ParseRecord(data []byte, name string) (*Record, error) {
	if len(data) > MaxRecordSize {
		return nil, &RecordError{Entry: name, Err: fmt.Errorf("record of %d bytes exceeds the %d MiB limit", len(data), MaxRecordSize>>20)}
	}
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		converted, err := yamlToJSON(data)
		if err != nil {
			return nil, &RecordError{Entry: name, Err: fmt.Errorf("invalid YAML: %w", err)}
		}
		data = converted
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, &RecordError{Entry: name, Err: fmt.Errorf("invalid OSV JSON: %w", err)}
	}
	if err := r.Validate(); err != nil {
		var re *RecordError
		if errors.As(err, &re) {
			re.Entry = name
			return nil, re
		}
		return nil, &RecordError{Entry: name, Err: err}
	}
	return &r, nil
}

// supportedSchemaMajor is the OSV schema major version dossier understands.
const supportedSchemaMajor = "1"

// Validate checks what matching relies on.
func (r *Record) Validate() error {
	if r.ID == "" {
		return &RecordError{Field: "id", Err: errors.New("missing")}
	}
	if r.SchemaVersion != "" {
		major, _, _ := strings.Cut(r.SchemaVersion, ".")
		if major != supportedSchemaMajor {
			return &RecordError{Field: "schema_version", Err: fmt.Errorf("unknown OSV schema version %q (dossier reads 1.x)", r.SchemaVersion)}
		}
	}
	for i, a := range r.Affected {
		where := fmt.Sprintf("affected[%d]", i)
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			if a.Package.PURL == "" {
				return &RecordError{Field: where + ".package", Err: errors.New("needs ecosystem and name")}
			}
		}
		for j, rg := range a.Ranges {
			rw := fmt.Sprintf("%s.ranges[%d]", where, j)
			switch rg.Type {
			case "SEMVER", "ECOSYSTEM", "GIT":
			default:
				return &RecordError{Field: rw + ".type", Err: fmt.Errorf("unknown range type %q", rg.Type)}
			}
			if len(rg.Events) == 0 {
				return &RecordError{Field: rw + ".events", Err: errors.New("empty")}
			}
			for k, e := range rg.Events {
				if e.count() != 1 {
					return &RecordError{Field: fmt.Sprintf("%s.events[%d]", rw, k), Err: errors.New("must set exactly one of introduced, fixed, last_affected, limit")}
				}
			}
		}
	}
	return nil
}

func (e Event) count() int {
	n := 0
	for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
		if s != "" {
			n++
		}
	}
	return n
}

// AllIDs is the record's ID followed by the other names of the one
// vulnerability it is about: its aliases, its upstream records (a
// DEBIAN-CVE's CVE; Chainguard's CVE and GHSA), and the CVE a
// distribution's record names in its ID ("UBUNTU-CVE-2024-0727" is
// CVE-2024-0727). A notice about several vulnerabilities (a USN whose
// upstream names two CVEs, a DSA whose aliases do) names none of them.
func (r *Record) AllIDs() []string {
	if r.Notice() {
		return []string{r.ID}
	}
	return withDistributionCVEs(slices.Concat([]string{r.ID}, r.Aliases, r.Upstream))
}

// Notice says whether the record announces fixes of several
// vulnerabilities: the names of NoticeIDs include more than one CVE.
func (r *Record) Notice() bool {
	var cves []string
	for _, id := range r.NoticeIDs() {
		if strings.HasPrefix(id, "CVE-") && !slices.Contains(cves, id) {
			cves = append(cves, id)
		}
	}
	return len(cves) > 1
}

// NoticeIDs are the vulnerabilities a distribution's advisory names: its
// upstream and, for an operating system's record, its aliases too
// (Debian's converter writes every CVE a DSA or DLA fixes into aliases),
// with the CVEs distribution records are named after. Other records'
// aliases are not read as a notice's: a GHSA or GO record listing two CVEs
// stays one advisory, as OSV's other consumers group it.
func (r *Record) NoticeIDs() []string {
	ids := slices.Clone(r.Upstream)
	if r.distribution() {
		ids = append(ids, r.Aliases...)
	}
	return withDistributionCVEs(ids)
}

// Distributions are the operating systems' ecosystems (without release):
// their advisories may be notices naming several CVEs in aliases.
var Distributions = []string{"Debian", "Ubuntu", "Echo", "Alpine", "Wolfi", "Chainguard", "MinimOS", "Alpaquita",
	"BellSoft Hardened Containers", "AlmaLinux", "Rocky Linux", "Red Hat", "Mageia", "Photon OS", "Azure Linux", "openEuler",
	"SUSE", "openSUSE"}

// distribution says whether every package the record names is an
// operating system's.
func (r *Record) distribution() bool {
	for _, a := range r.Affected {
		if !slices.Contains(Distributions, BaseEcosystem(a.Package.Ecosystem)) {
			return false
		}
	}
	return len(r.Affected) > 0
}

func withDistributionCVEs(ids []string) []string {
	for _, id := range ids {
		if cve := DistributionCVE(id); cve != "" && !slices.Contains(ids, cve) {
			ids = append(ids, cve)
		}
	}
	return ids
}

// DistributionCVE is the CVE a distribution's per-CVE record is named
// after ("DEBIAN-CVE-2024-1234", "UBUNTU-CVE-…", "ALPINE-CVE-…"), or "".
func DistributionCVE(id string) string {
	prefix, cve, ok := strings.Cut(id, "-CVE-")
	if !ok || prefix == "" || strings.ToUpper(prefix) != prefix || strings.ContainsAny(prefix, "-0123456789") {
		return ""
	}
	return "CVE-" + cve
}

func yamlToJSON(data []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return json.Marshal(normalizeYAML(v))
}

// normalizeYAML turns YAML's map[string]any trees into JSON-encodable ones
// and timestamps into RFC 3339 strings.
func normalizeYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeYAML(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalizeYAML(e)
		}
		return t
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	default:
		return v
	}
}

// matchView is the record without what matching never reads: details,
// references, related and ecosystem_specific (Go's symbol lists are most
// of its records).
func (r *Record) matchView() *Record {
	v := *r
	// upstream and related stay: they name the vulnerability a
	// distribution's record is about (DSA → CVE)
	v.Details, v.References = "", nil
	v.Affected = make([]Affected, len(r.Affected))
	for i, a := range r.Affected {
		a.EcosystemSpecific = nil
		v.Affected[i] = a
	}
	return &v
}
