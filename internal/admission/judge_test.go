package admission

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/oci"
)

// References that fail to resolve are not remembered without bound:
// reviews naming ever new tags cannot grow the webhook's memory.
func TestResolvedTagsAreBounded(t *testing.T) {
	now := time.Now()
	j := newJudge(oci.RegistryOptions{}, time.Minute, time.Minute, func() time.Time { return now }, nil)
	running := &resolution{done: make(chan struct{})}
	j.tags["running"] = running
	for i := range maxCached + 50 {
		failed := &resolution{done: make(chan struct{}), err: errors.New("no such tag")}
		close(failed.done)
		j.tags[fmt.Sprintf("registry.example/app:%d", i)] = failed
	}
	j.mu.Lock()
	j.pruneTagsLocked()
	j.mu.Unlock()
	if len(j.tags) > maxCached {
		t.Errorf("%d tags kept, bound %d", len(j.tags), maxCached)
	}
	if j.tags["running"] != running {
		t.Error("a resolution still running was dropped")
	}
}
