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

// The parsed references a webhook keeps are ParseImage's, bounded: a
// reference that does not parse is never kept, and the map starts afresh
// when full.
func TestParsedImagesAreBounded(t *testing.T) {
	var p parsedImages
	for i := range maxParsedImages + 10 {
		image := fmt.Sprintf("registry.example/team/app%d:v1", i)
		ref, err := p.parse(image)
		want, wantErr := ParseImage(image)
		if err != nil || wantErr != nil || ref.Name() != want.Name() {
			t.Fatalf("%s: %v (%v), want %v (%v)", image, ref, err, want, wantErr)
		}
		if len(p.refs) > maxParsedImages {
			t.Fatalf("%d references kept", len(p.refs))
		}
	}
	if len(p.refs) != 10 {
		t.Errorf("%d references kept after the map was started afresh, want 10", len(p.refs))
	}
	if _, err := p.parse("REGISTRY.example/Team/App:v1"); err == nil {
		t.Error("an upper-case repository parsed")
	}
	if ref, err := p.parse("Registry.Example:443/team/app:v1"); err != nil || ref.Name() != "registry.example/team/app:v1" {
		t.Errorf("a registry spelled otherwise: %v, %v", ref, err)
	}
	if _, ok := p.refs["REGISTRY.example/Team/App:v1"]; ok {
		t.Error("a reference that does not parse was kept")
	}
}
