package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// watch --once prints each tag a pass records (pipeline.WatchOnce decides
// which) and refuses an interval under a second.
func TestWatch(t *testing.T) {
	host := testutil.Registry(t)
	data := filepath.Join(t.TempDir(), "data")
	first := testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	r := dossier(t, "", "watch", host+"/team/app", "--once", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "recorded "+host+"/team/app:v1 = "+first+" (new tag): ") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("first pass: %+v", r)
	}
	testutil.PushSample(t, "debian", host+"/team/app:v1")
	r = dossier(t, "", "watch", host+"/team/app", "--once", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "(moved from "+first+")") {
		t.Errorf("a moved tag: %+v", r)
	}
	if r := dossier(t, "", "watch", host+"/team/app", "--interval", "10ms"); r.code != ExitError {
		t.Errorf("a too short interval: %+v", r)
	}
}
