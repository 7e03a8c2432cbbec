package policy

import (
	"encoding/json"
	"fmt"
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

// VulnReport reads a vuln attestation written by dossier (`dossier scan
// --attest`): the scanner result is dossier's scan report. Other
// scanners' reports are refused by name rather than misread.
func VulnReport(a evidence.Attestation) (*evidence.VulnerabilityEvidence, error) {
	var p struct {
		Scanner struct {
			URI string `json:"uri"`
			DB  struct {
				Version string `json:"version"`
			} `json:"db"`
			Result *struct {
				SchemaVersion string             `json:"schemaVersion"`
				Findings      []evidence.Finding `json:"findings"`
				Suppressed    []evidence.Finding `json:"suppressed"`
			} `json:"result"`
		} `json:"scanner"`
		Metadata struct {
			ScanFinishedOn string `json:"scanFinishedOn"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(a.Predicate, &p); err != nil {
		return nil, fmt.Errorf("not a vuln predicate: %v", err)
	}
	if p.Scanner.Result == nil || p.Scanner.Result.SchemaVersion == "" || p.Scanner.Result.Findings == nil {
		return nil, fmt.Errorf("the report of scanner %q is not in dossier's scan report format", p.Scanner.URI)
	}
	out := &evidence.VulnerabilityEvidence{
		Source: fmt.Sprintf("vuln attestation %s by %s", a.StoredAt, a.Signer),
	}
	out.Findings = append(out.Findings, p.Scanner.Result.Findings...)
	for _, f := range p.Scanner.Result.Suppressed {
		// VEX statements travel with the report; ignore rules were the
		// producer's and are judged again through exceptions
		if f.Suppression != nil && f.Suppression.Kind == "vex" {
			out.Findings = append(out.Findings, f)
		} else {
			f.Suppression = nil
			out.Findings = append(out.Findings, f)
		}
	}
	var err error
	if out.DatabaseUpdated, err = time.Parse(time.RFC3339, p.Scanner.DB.Version); err != nil {
		return nil, fmt.Errorf("the report does not say when its advisory data was updated (scanner.db.version)")
	}
	if t, err := time.Parse(time.RFC3339, p.Metadata.ScanFinishedOn); err == nil {
		out.ScannedAt = t
	}
	return out, nil
}
