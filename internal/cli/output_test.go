package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// A write that fails half-way leaves the previous file as it was and no
// temporary file behind.
func TestWriteFileAtomicFailsHalfway(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sbom.json")
	if err := os.WriteFile(path, []byte("previous content"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeFileAtomic(path, func(w io.Writer) error {
		if _, err := w.Write([]byte(`{"half":`)); err != nil {
			return err
		}
		return errors.New("encoder failed")
	})
	if err == nil || !strings.Contains(err.Error(), "encoder failed") {
		t.Fatalf("error: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "previous content" {
		t.Errorf("the previous file was changed: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
	if err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Errorf("content %q", data)
	}
}

// Every command with -o refuses an unknown format before doing anything.
func TestOutputFormatsValidated(t *testing.T) {
	layout := "oci-layout:" + testutil.SampleLayout("npm-app")
	for _, args := range [][]string{
		{"resolve", layout}, {"sbom", layout}, {"sbom", "inspect", "x.json"}, {"scan", layout}, {"sign", layout, "--key", "k"},
		{"verify", layout, "--key", "k"}, {"attest", layout, "--predicate", "p", "--key", "k"}, {"verify-attestation", layout, "--key", "k"},
		{"tree", layout}, {"version"}, {"db", "status"}, {"policy", "check", layout, "--policy", "p"},
	} {
		r := dossier(t, "", append(args, "-o", "nonsense")...)
		if r.code != ExitError || !strings.Contains(r.stderr, `unknown output "nonsense"`) {
			t.Errorf("%v -o nonsense: exit %d, %s", args, r.code, r.stderr)
		}
	}
}

// A table cell cannot forge another cell, row or terminal state: tabs,
// newlines, escapes and invalid UTF-8 from Pods and SBOMs are escaped.
func TestTableCellsAreEscaped(t *testing.T) {
	var b strings.Builder
	row(&b, "Deployment/web\tweb-5d9f\tadmitted\n\x1b[8m", "caf\xe9", "ünïcode ok", 7)
	want := `Deployment/web\tweb-5d9f\tadmitted\n\x1b[8m` + "\t" + `caf\xe9` + "\t" + "ünïcode ok\t7\n"
	if b.String() != want {
		t.Errorf("row = %q, want %q", b.String(), want)
	}
}
