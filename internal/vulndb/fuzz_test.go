package vulndb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// FuzzParseRecord feeds the OSV parser arbitrary bytes seeded with real
// records: it must return a valid record or a *RecordError, never panic.
func FuzzParseRecord(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testutil.VulnDataDir(), "records", "*", "*"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data, filepath.Base(p))
		}
	}
	f.Add([]byte(`{"id":"X","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{}]}]}]}`), "x.json")
	f.Add([]byte("id: X\naffected:\n- package: {ecosystem: PyPI, name: x}\n  versions: [1.0]\n"), "x.yaml")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		r, err := ParseRecord(data, name)
		if err != nil {
			if _, ok := err.(*RecordError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if r.ID == "" {
			t.Fatal("accepted a record without id")
		}
	})
}
