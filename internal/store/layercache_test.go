package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLayerCache(t *testing.T) {
	ctx := context.Background()
	layer := func(i int) string { return fmt.Sprintf("sha256:%064d", i) }
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			// stored once per variant, whoever writes it
			for range 2 {
				if err := s.PutLayerAnalysis(ctx, "cfg", layer(1), "v1", []byte("analysis one"), t0); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PutLayerAnalysis(ctx, "cfg", layer(1), "v2", []byte("analysis two"), t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			got, corrupt, err := s.LayerAnalyses(ctx, "cfg", layer(1), t0)
			if err != nil || corrupt != 0 {
				t.Fatal(err, corrupt)
			}
			if len(got) != 2 || !bytes.Equal(got[0], []byte("analysis one")) || !bytes.Equal(got[1], []byte("analysis two")) {
				t.Fatalf("got %q", got)
			}
			// another configuration (a syft upgrade) sees none of them
			if got, _, _ := s.LayerAnalyses(ctx, "other cfg", layer(1), t0); len(got) != 0 {
				t.Errorf("another configuration's analyses served: %q", got)
			}

			// a changed entry is refused and removed, never served
			if _, err := s.db.ExecContext(ctx, s.q(`UPDATE layer_analyses SET entry = ? WHERE variant = 'v1'`), "YW5hbHlzaXMgdHdv"); err != nil {
				t.Fatal(err)
			}
			got, corrupt, err = s.LayerAnalyses(ctx, "cfg", layer(1), t0)
			if err != nil || corrupt != 1 || len(got) != 1 || string(got[0]) != "analysis two" {
				t.Fatalf("after corruption: %q, %d corrupt, %v", got, corrupt, err)
			}
			if got, corrupt, _ := s.LayerAnalyses(ctx, "cfg", layer(1), t0); len(got) != 1 || corrupt != 0 {
				t.Errorf("the corrupt entry was kept: %q, %d corrupt", got, corrupt)
			}
		})
	}
}

// The cache keeps to its bound, evicting what was used least recently.
func TestLayerCacheEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	entry := bytes.Repeat([]byte("x"), 1000)
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			s.SetLayerCacheBound(3500)
			for i := range 3 {
				if err := s.PutLayerAnalysis(ctx, "cfg", fmt.Sprint(i), "v", entry, t0.Add(time.Duration(i)*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			// layer 0, the oldest, is used now: layer 1 is the least recent
			if got, _, _ := s.LayerAnalyses(ctx, "cfg", "0", t0.Add(10*time.Hour)); len(got) != 1 {
				t.Fatal("layer 0 not stored")
			}
			if err := s.PutLayerAnalysis(ctx, "cfg", "3", "v", entry, t0.Add(11*time.Hour)); err != nil {
				t.Fatal(err)
			}
			var kept []string
			for i := range 4 {
				if got, _, _ := s.LayerAnalyses(ctx, "cfg", fmt.Sprint(i), t0.Add(12*time.Hour)); len(got) == 1 {
					kept = append(kept, fmt.Sprint(i))
				}
			}
			if !slices.Equal(kept, []string{"0", "2", "3"}) {
				t.Errorf("kept %v, want 0, 2 and 3", kept)
			}
			u, err := s.LayerCache(ctx)
			if err != nil || u.Entries != 3 || u.Bytes != 3000 || u.Bound != 3500 {
				t.Errorf("usage %+v, %v", u, err)
			}
			if err := s.PutLayerAnalysis(ctx, "cfg", "4", "v", bytes.Repeat(entry, 4), t0); err == nil || !strings.Contains(err.Error(), "larger than the layer cache's bound") {
				t.Errorf("an entry over the bound: %v", err)
			}
		})
	}
}

// Replicas storing the same analyses at once store each once.
func TestLayerCacheConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := range 5 {
						if err := s.PutLayerAnalysis(ctx, "cfg", fmt.Sprint(i), "v", []byte(fmt.Sprint("analysis ", i)), t0.Add(time.Duration(w)*time.Second)); err != nil {
							t.Error(err)
						}
						if _, _, err := s.LayerAnalyses(ctx, "cfg", fmt.Sprint(i), t0.Add(time.Hour)); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if u, err := s.LayerCache(ctx); err != nil || u.Entries != 5 {
				t.Errorf("usage %+v, %v", u, err)
			}
		})
	}
}
