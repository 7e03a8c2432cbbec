package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAudit1000 audits 1,000 workflow files (the corpus, copied
// over and over): the goal is under a second on 2 cores.
func BenchmarkAudit1000(b *testing.B) {
	corpus, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yml"))
	if err != nil || len(corpus) == 0 {
		b.Fatal("no corpus")
	}
	dir := b.TempDir()
	var files []string
	for i := range 1000 {
		data, err := os.ReadFile(corpus[i%len(corpus)])
		if err != nil {
			b.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("w%04d.yml", i))
		if err := os.WriteFile(f, data, 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
	}
	for b.Loop() {
		r, err := Audit(files, Options{})
		if err != nil || len(r.Files) != 1000 {
			b.Fatal(err)
		}
	}
}
