package policy

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

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
				SchemaVersion string                `json:"schemaVersion"`
				Findings      []evidence.Finding    `json:"findings"`
				Suppressed    []evidence.Finding    `json:"suppressed"`
				Unmatched     []evidence.NotChecked `json:"unmatched"`
				Stats         *struct {
					Checked int `json:"checked"`
				} `json:"stats"`
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
	if r := p.Scanner.Result; r.Stats != nil && r.Unmatched != nil {
		out.Coverage = &evidence.Coverage{Checked: r.Stats.Checked, NotChecked: r.Unmatched}
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
