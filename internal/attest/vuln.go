package attest

import (
	"encoding/json"
	"time"

	"github.com/dossier-dev/dossier/internal/scan"
)

// VulnPredicate is cosign's vuln predicate for a dossier scan report:
// the report itself as the scanner result (policies read it back), the
// advisory data's import time as the database version, and when the scan
// ran.
func VulnPredicate(r *scan.Report, scannerVersion string, started, finished time.Time) (json.RawMessage, error) {
	return json.Marshal(map[string]any{
		"invocation": map[string]any{"parameters": nil, "uri": "", "event_id": "", "builder.id": ""},
		"scanner": map[string]any{
			"uri": "https://github.com/dossier-dev/dossier", "version": scannerVersion,
			"db":     map[string]any{"uri": "file://" + r.Database.Path, "version": r.Database.LastImport.UTC().Format(time.RFC3339)},
			"result": r,
		},
		"metadata": map[string]any{"scanStartedOn": started.UTC().Format(time.RFC3339), "scanFinishedOn": finished.UTC().Format(time.RFC3339)},
	})
}
