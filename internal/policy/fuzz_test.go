package policy

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary documents to the loader: it must return a
// policy set or an error, never panic, and what it accepts must evaluate.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/native.yaml", "testdata/cip.yaml", "testdata/exceptions.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("ignore:\n  - id: X\n    reason: r\n    owner: o\n    expires: 2026-01-01\n"))
	f.Add([]byte(policyHeader + "spec:\n  images: [\"**\"]\n" + keylessSigner + "  rules: [{signature: {}}, {vulnerabilities: {failOn: high}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data, LoadOptions{})
		if err != nil {
			return
		}
		set := &Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
		Evaluate(set, fullEvidence(t), now)
	})
}
