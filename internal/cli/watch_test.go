package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// watch records new and moved tags, and nothing when nothing changed.
func TestWatch(t *testing.T) {
	host := testutil.Registry(t)
	data := filepath.Join(t.TempDir(), "data")
	first := testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	testutil.PushSample(t, "debian", host+"/team/app:v2")
	r := dossier(t, "", "watch", host+"/team/app", "--once", "--data-dir", data)
	if r.code != 0 || strings.Count(r.stdout, "(new tag)") != 2 {
		t.Fatalf("first pass: %+v", r)
	}
	if r := dossier(t, "", "watch", host+"/team/app", "--once", "--data-dir", data); r.code != 0 || r.stdout != "" {
		t.Errorf("a pass with nothing new: %+v", r)
	}
	testutil.PushSample(t, "debian", host+"/team/app:v1")
	r = dossier(t, "", "watch", host+"/team/app", "--once", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, host+"/team/app:v1 = ") || !strings.Contains(r.stdout, "(moved from "+first+")") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("a moved tag: %+v", r)
	}
	if r := dossier(t, "", "query", "tag", host+"/team/app:v1", "--data-dir", data, "-o", "json"); r.code != 0 || strings.Count(r.stdout, `"digest"`) < 2 {
		t.Errorf("the tag's history: %+v", r)
	}
	if r := dossier(t, "", "watch", host+"/team/app", "--interval", "10ms"); r.code != ExitError {
		t.Errorf("a too short interval: %+v", r)
	}
}
