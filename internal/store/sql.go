package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Store is the evidence store, over database/sql in either dialect (SQLite
// or PostgreSQL). Replicas sharing one PostgreSQL database share
// everything it holds.
type Store struct {
	db      *sql.DB
	d       dialect
	observe func(operation string, took time.Duration)
	// layerCacheBound bounds the layer analyses kept (0: the default)
	layerCacheBound int64
}

// Observe calls f with each operation's name and duration (the server's
// metrics); set it before the store is shared.
func (s *Store) Observe(f func(operation string, took time.Duration)) { s.observe = f }

// timed is deferred by every operation: defer s.timed("name")().
func (s *Store) timed(operation string) func() {
	if s.observe == nil {
		return func() {}
	}
	start := time.Now()
	return func() { s.observe(operation, time.Since(start)) }
}

func (s *Store) Close() error { return s.db.Close() }

func (s *Store) q(query string) string { return s.d.placeholders(query) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // evidence types always marshal
	}
	return string(data)
}

// purlBase is a purl without version, qualifiers and subpath.
func purlBase(p string) string {
	base, _ := evidence.SplitPURL(p)
	return base
}

// componentColumns selects what decodeComponent reads.
const componentColumns = `c.name, c.version, c.type, c.purl, c.component`

// openFindings are the open findings of an advisory ID or alias.
const openFindings = ` FROM finding_document_ids i JOIN subject_findings f ON f.document_id = i.document_id
	WHERE i.advisory_id = ? AND f.resolved_at IS NULL`

// storable is text as both backends keep it: valid UTF-8 without NUL
// (PostgreSQL refuses either), what does not fit escaped, so that a
// client's odd bytes neither fail a write nor pass unseen.
func storable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == 0:
			b.WriteString(`\x00`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += max(size, 1)
	}
	return b.String()
}

// imageKey is an image as written, bounded for an index: itself when
// short, else its SHA-256 (PostgreSQL's index rows are bounded; a Pod may
// name an image of any length).
func imageKey(image string) string {
	if len(image) <= 256 {
		return image
	}
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// skipLocked ends a query claiming a row: on PostgreSQL, replicas skip the
// rows another is claiming (SQLite's writers take turns anyway).
func (s *Store) skipLocked() string {
	if s.d.name == "postgres" {
		return ` FOR UPDATE SKIP LOCKED`
	}
	return ""
}
