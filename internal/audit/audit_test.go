package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
)

var want = regexp.MustCompile(`# want: ([a-z-]+(?:, *[a-z-]+)*)`)

// wanted reads the findings a corpus file declares: "# want: RULE" on the
// line where each is expected.
func wanted(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		if m := want.FindStringSubmatch(line); m != nil {
			for _, r := range strings.Split(m[1], ",") {
				out = append(out, fmt.Sprintf("%s:%d %s", file, i+1, strings.TrimSpace(r)))
			}
		}
	}
	return out
}

func found(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Rule))
	}
	return out
}

// Every rule against the corpus written for it: what each file marks is
// found at that line, and nothing else is — the near misses beside each
// case (pinned SHAs with a version comment, a pull_request_target that
// only labels, safe contexts, least permissions, a protected environment)
// must not be.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	files = append(files, filepath.Join("testdata", "action", "action.yml"), filepath.Join("testdata", "gitlab", ".gitlab-ci.yml"))
	covered := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file), func(t *testing.T) {
			r, err := Audit([]string{file}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			expect := wanted(t, file)
			for _, inc := range r.Files {
				if inc != file {
					expect = append(expect, wanted(t, inc)...)
				}
			}
			got := found(r.Findings)
			slices.Sort(expect)
			slices.Sort(got)
			if !slices.Equal(got, expect) {
				t.Errorf("findings:\n got  %v\n want %v", got, expect)
				for _, f := range r.Findings {
					t.Logf("%s:%d:%d %s: %s", f.File, f.Line, f.Column, f.Rule, f.Message)
				}
			}
			for _, f := range r.Findings {
				covered[f.Rule] = true
				if f.Message == "" || f.Fix == "" || !evidence.ValidSeverity(f.Severity) || f.Column < 1 {
					t.Errorf("an incomplete finding: %+v", f)
				}
			}
		})
	}
	for _, rule := range Rules {
		if !covered[rule.ID] {
			t.Errorf("rule %s is not exercised by the corpus", rule.ID)
		}
	}
}

// A workflow that follows the rules has no finding at medium or above.
func TestCleanWorkflow(t *testing.T) {
	r, err := Audit([]string{filepath.Join("testdata", "corpus", "clean.yml")}, Options{FirstParty: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if evidence.SeverityRank(f.Severity) >= evidence.SeverityRank(evidence.SeverityMedium) {
			t.Errorf("%s:%d %s: %s", f.File, f.Line, f.Rule, f.Message)
		}
	}
}
