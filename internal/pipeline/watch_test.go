package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// A watch pass records tags that are new or moved, at the clock's time,
// skips cosign's tags, and records nothing when nothing changed.
func TestWatchOnce(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	repository := host + "/team/app"
	first := testutil.PushSample(t, "npm-app", repository+":v1")
	second := testutil.PushSample(t, "debian", repository+":v2")
	testutil.PushSample(t, "debian", repository+":sha256-"+first[len("sha256:"):]+".sig")
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	pass := func() map[string]Watched {
		t.Helper()
		seen := map[string]Watched{}
		if err := WatchOnce(ctx, st, repository, oci.RegistryOptions{}, RecordOptions{}, func() time.Time { return at }, func(w Watched) { seen[w.Tag] = w }); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	seen := pass()
	if len(seen) != 2 || seen["v1"].Subject.Digest != first || seen["v2"].Subject.Digest != second || seen["v1"].Previous != "" || seen["v1"].Components == 0 {
		t.Fatalf("first pass: %+v", seen)
	}
	if seen := pass(); len(seen) != 0 {
		t.Errorf("a pass with nothing new: %+v", seen)
	}
	testutil.PushSample(t, "debian", repository+":v1")
	at = at.Add(time.Hour)
	if seen = pass(); len(seen) != 1 || seen["v1"].Subject.Digest != second || seen["v1"].Previous != first {
		t.Errorf("a moved tag: %+v", seen)
	}
	moves, err := st.TagHistory(ctx, repository, "v1")
	if err != nil || len(moves) != 2 || moves[1].Digest != second || !moves[1].ObservedAt.Equal(at) {
		t.Errorf("the tag's history: %+v %v", moves, err)
	}
}
