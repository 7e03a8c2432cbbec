package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// DefaultLayerCacheBytes bounds the layer analyses a store keeps when no
// other bound is set: some 4,000 layers of a few hundred packages each.
const DefaultLayerCacheBytes = 1 << 30

// layerTouchEvery is how stale a layer analysis's last use may be before a
// read records it again: reads of the layers every image shares do not
// each become a write.
const layerTouchEvery = time.Minute

// LayerCacheUsage is what the layer cache holds.
type LayerCacheUsage struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
	Bound   int64 `json:"bound"`
}

// SetLayerCacheBound turns the layer cache on for the flows that
// catalogue (pipeline.LayerCache) and bounds the bytes of layer analyses
// the store keeps; 0 leaves it off. Set it before the store is shared.
// Replicas sharing a database each evict to their own bound.
func (s *Store) SetLayerCacheBound(bytes int64) { s.layerCacheBound = bytes }

// LayerCacheOn says whether the flows that catalogue use the layer cache:
// only when a bound was set, because cataloguing layer by layer costs more
// than a whole image until most of its layers are cached
// (docs/benchmarks.md).
func (s *Store) LayerCacheOn() bool { return s.layerCacheBound > 0 }

func (s *Store) layerBound() int64 {
	if s.layerCacheBound > 0 {
		return s.layerCacheBound
	}
	return DefaultLayerCacheBytes
}

// LayerAnalyses returns the stored analyses of a layer under a cataloguer
// configuration whose checksum holds, and records their use at. An
// analysis whose bytes no longer match their checksum is deleted, never
// returned: corrupt counts them.
func (s *Store) LayerAnalyses(ctx context.Context, configKey, diffID string, at time.Time) (found [][]byte, corrupt int, err error) {
	defer s.timed("layer analyses")()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT variant, entry, checksum, used_at FROM layer_analyses WHERE config_key = ? AND diff_id = ? ORDER BY created_at, variant`), configKey, diffID)
	if err != nil {
		return nil, 0, err
	}
	var bad []string
	stale := false
	for rows.Next() {
		var variant, encoded, checksum string
		var used int64
		if err := rows.Scan(&variant, &encoded, &checksum, &used); err != nil {
			rows.Close()
			return nil, 0, err
		}
		entry, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || layerChecksum(entry) != checksum {
			bad = append(bad, variant)
			continue
		}
		stale = stale || fromMicros(used).Before(at.Add(-layerTouchEvery))
		found = append(found, entry)
	}
	if err := rows.Close(); err != nil {
		return nil, 0, err
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	for _, variant := range bad {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM layer_analyses WHERE config_key = ? AND diff_id = ? AND variant = ?`), configKey, diffID, variant); err != nil {
			return nil, 0, fmt.Errorf("deleting the corrupt analysis of layer %s: %w", diffID, err)
		}
	}
	if stale {
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE layer_analyses SET used_at = ? WHERE config_key = ? AND diff_id = ? AND used_at < ?`),
			micros(at), configKey, diffID, micros(at)); err != nil {
			return nil, 0, err
		}
	}
	return found, len(bad), nil
}

// PutLayerAnalysis stores an analysis of a layer under its variant (the
// same analysis written by replicas at once is one row; a variant written
// again replaces what was there, such as an entry that would not read),
// then evicts the least recently used analyses past the bound. An entry
// larger than the whole bound is not stored.
func (s *Store) PutLayerAnalysis(ctx context.Context, configKey, diffID, variant string, entry []byte, at time.Time) error {
	defer s.timed("put layer analysis")()
	bound := s.layerBound()
	if int64(len(entry)) > bound {
		return fmt.Errorf("the analysis of layer %s (%d bytes) is larger than the layer cache's bound of %d bytes: not kept", diffID, len(entry), bound)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO layer_analyses (config_key, diff_id, variant, entry, checksum, size, created_at, used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (config_key, diff_id, variant) DO UPDATE SET
		entry = excluded.entry, checksum = excluded.checksum, size = excluded.size, used_at = excluded.used_at`),
		configKey, diffID, variant, base64.StdEncoding.EncodeToString(entry), layerChecksum(entry), len(entry), micros(at), micros(at)); err != nil {
		return fmt.Errorf("storing the analysis of layer %s: %w", diffID, err)
	}
	return s.evictLayerAnalyses(ctx, bound)
}

// evictLayerAnalyses deletes the least recently used analyses until what
// is left fits bound.
func (s *Store) evictLayerAnalyses(ctx context.Context, bound int64) error {
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM layer_analyses`).Scan(&total); err != nil {
		return err
	}
	if total <= bound {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT config_key, diff_id, variant, size FROM layer_analyses ORDER BY used_at, created_at`)
	if err != nil {
		return err
	}
	type key struct{ config, diffID, variant string }
	var evict []key
	for rows.Next() && total > bound {
		var k key
		var size int64
		if err := rows.Scan(&k.config, &k.diffID, &k.variant, &size); err != nil {
			rows.Close()
			return err
		}
		evict = append(evict, k)
		total -= size
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, k := range evict {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM layer_analyses WHERE config_key = ? AND diff_id = ? AND variant = ?`), k.config, k.diffID, k.variant); err != nil {
			return fmt.Errorf("evicting the analysis of layer %s: %w", k.diffID, err)
		}
	}
	return nil
}

// LayerCache says what the layer cache holds.
func (s *Store) LayerCache(ctx context.Context) (LayerCacheUsage, error) {
	defer s.timed("layer cache usage")()
	u := LayerCacheUsage{Bound: s.layerBound()}
	err := s.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(SUM(size), 0) FROM layer_analyses`).Scan(&u.Entries, &u.Bytes)
	return u, err
}

func layerChecksum(entry []byte) string {
	sum := sha256.Sum256(entry)
	return hex.EncodeToString(sum[:])
}
