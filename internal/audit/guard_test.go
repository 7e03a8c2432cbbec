package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hostile files are refused with the file, the line and the problem —
// never a panic, never unbounded memory.
func TestHostileInput(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		bomb += string(i) + ": &" + string(i) + " [" + strings.Repeat("*"+string(i-1)+", ", 9) + "*" + string(i-1) + "]\n"
	}
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	for name, c := range map[string]struct {
		data string
		line int
		want string
	}{
		"alias bomb":     {bomb, 0, "aliases are expanded"},
		"deep nesting":   {"on: push\njobs: " + deep + "\n", 2, "nested more than 64 levels"},
		"huge":           {"on: push\n# " + strings.Repeat("x", maxFileBytes) + "\n", 0, "larger than"},
		"invalid UTF-8":  {"on: push\njobs:\n  a: \xff\xfe\n", 3, "not valid UTF-8"},
		"tabs":           {"on: push\njobs:\n\tbuild:\n\t\truns-on: x\n", 0, "found character that cannot start any token"},
		"duplicate keys": {"on: push\njobs:\n  build: {runs-on: a}\n  build: {runs-on: b}\n", 4, `key "build" is given twice (first on line 3)`},
		"empty":          {"", 0, "no YAML document"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Workflow("w.yml", []byte(c.data), Options{})
			var ie *InputError
			if !errors.As(err, &ie) || ie.File != "w.yml" || !strings.Contains(err.Error(), c.want) || c.line > 0 && ie.Line != c.line {
				t.Errorf("got %v, want an error at w.yml:%d saying %q", err, c.line, c.want)
			}
		})
	}
}

func TestWaivers(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ws, err := ParseWaivers("waivers.yaml", []byte(`apiVersion: dossier.dev/v1alpha1
kind: WorkflowAuditWaiver
metadata: {name: node-image}
spec:
  owner: platform@acme.example
  reason: the test container is rebuilt nightly from our base
  expires: 2026-12-31
  file: testdata/corpus/selfhosted-containers.yml
  rule: container-by-tag
---
apiVersion: dossier.dev/v1alpha1
kind: WorkflowAuditWaiver
metadata: {name: old}
spec:
  owner: platform@acme.example
  reason: migration
  expires: 2026-11-01T00:00:00Z
  file: "testdata/corpus/*.yml"
  rule: curl-pipe-shell
`))
	if err != nil || len(ws) != 2 {
		t.Fatalf("%v %v", ws, err)
	}
	r, err := Audit([]string{filepath.Join("testdata", "corpus", "selfhosted-containers.yml")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	expired := ApplyWaivers(r.Findings, ws, now)
	waived := map[string]int{}
	for _, f := range r.Findings {
		if f.Waiver != nil {
			waived[f.Rule]++
		}
	}
	if waived["container-by-tag"] != 2 || waived["curl-pipe-shell"] != 0 || len(expired) != 1 || expired[0].Name != "old" {
		t.Errorf("waived %v, expired %v", waived, expired)
	}
	for name, doc := range map[string]string{
		"no owner":     "apiVersion: dossier.dev/v1alpha1\nkind: WorkflowAuditWaiver\nmetadata: {name: x}\nspec: {reason: r, expires: 2027-01-01, file: a.yml, rule: syntax}\n",
		"unknown rule": "apiVersion: dossier.dev/v1alpha1\nkind: WorkflowAuditWaiver\nmetadata: {name: x}\nspec: {owner: o, reason: r, expires: 2027-01-01, file: a.yml, rule: nope}\n",
		"bad expiry":   "apiVersion: dossier.dev/v1alpha1\nkind: WorkflowAuditWaiver\nmetadata: {name: x}\nspec: {owner: o, reason: r, expires: soon, file: a.yml, rule: syntax}\n",
		"unknown key":  "apiVersion: dossier.dev/v1alpha1\nkind: WorkflowAuditWaiver\nmetadata: {name: x}\nspec: {owner: o, reason: r, expires: 2027-01-01, file: a.yml, rule: syntax, digest: x}\n",
		"wrong kind":   "apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainException\nmetadata: {name: x}\nspec: {}\n",
	} {
		if _, err := ParseWaivers("w.yaml", []byte(doc)); err == nil || !strings.HasPrefix(err.Error(), "w.yaml") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzWorkflow: any bytes give findings or an error naming the file, and
// never a panic.
func FuzzWorkflow(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.yml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Workflow("fuzz.yml", data, Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml") {
				t.Fatalf("an error that does not name the file: %v", err)
			}
			return
		}
		for _, f := range fs {
			if f.File != "fuzz.yml" || f.Line < 0 {
				t.Fatalf("a finding without a place: %+v", f)
			}
		}
		Action("action.yml", data, Options{})
		GitLab(filepath.Join(t.TempDir(), ".gitlab-ci.yml"), data, Options{})
	})
}
