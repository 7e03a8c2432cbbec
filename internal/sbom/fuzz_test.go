package sbom

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds the decoders arbitrary bytes seeded with real SBOMs of
// every format: they must return a document or an *Error, never panic.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","purl":"pkg:npm/x@1","components":[{"type":"library","name":"y","purl":"pkg:"}]}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[null]}`))
	f.Add([]byte(`{"artifacts":[],"descriptor":{},"source":{"type":"image","version":"sha256:00"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(bytes.NewReader(data), "fuzz")
		if err == nil && doc == nil {
			t.Fatal("nil document without error")
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
	})
}
