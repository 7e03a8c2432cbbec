package pipeline

import (
	"slices"
	"testing"

	"github.com/dossier-dev/dossier/internal/vulndb"
)

// A release reports the steps it will take: the scan's attestation only
// with an advisory database to scan with, provenance and the workflow
// audit only when asked for.
func TestReleaseSteps(t *testing.T) {
	for _, c := range []struct {
		opts ReleaseOptions
		want []string
	}{
		{ReleaseOptions{}, []string{"sbom", "scan", "sign", "attest sbom", "record"}},
		{ReleaseOptions{DB: &vulndb.DB{}, Provenance: true}, []string{"sbom", "scan", "sign", "attest sbom", "attest scan", "provenance", "workflow audit", "record"}},
	} {
		if got := c.opts.steps(); !slices.Equal(got, c.want) {
			t.Errorf("steps with a database %v and provenance %v: %v, want %v", c.opts.DB != nil, c.opts.Provenance, got, c.want)
		}
	}
}
