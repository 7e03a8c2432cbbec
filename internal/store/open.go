package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL through database/sql
	sqlitedriver "modernc.org/sqlite"  // the embedded database, pure Go
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the embedded store's file in the data directory.
const FileName = "evidence.sqlite"

// Open opens the store a URL names — postgres://… or postgresql://… for
// PostgreSQL — or, without one, the SQLite store in dataDir, creating it.
// The schema is brought up to date.
func Open(ctx context.Context, dataDir, url string) (*Store, error) {
	if url != "" {
		if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
			return nil, fmt.Errorf("evidence store %q: want a postgres:// URL (or none, for the embedded store)", redact(url))
		}
		return open(ctx, "pgx", url, postgres, redact(url))
	}
	path := filepath.Join(dataDir, FileName)
	if err := private(dataDir, path); err != nil {
		return nil, fmt.Errorf("evidence store in %s: %w", dataDir, err)
	}
	// WAL lets readers run beside the one writer; immediate transactions
	// make writers queue (busy timeout) instead of failing part-way. The
	// page cache is per connection, and the pure-Go SQLite gives each
	// 4 KiB page an 8 KiB slot: 16 MiB of cache is about 35 MiB resident.
	// Statement journals over 64 KiB go to a temporary file: kept in
	// memory, those of large upserts were allocated and faulted in again
	// statement after statement (docs/benchmarks.md, "The embedded
	// store's memory").
	// busy_timeout comes first: switching a new database to WAL takes a
	// lock another opener may hold, and without the timeout already set
	// the switch fails at once with SQLITE_BUSY.
	dsn := "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(8192)&_txlock=immediate"
	st, err := open(ctx, "sqlite", dsn, sqlite, path)
	if err != nil {
		return nil, err
	}
	if err := private(dataDir, path); err != nil {
		st.Close()
		return nil, fmt.Errorf("evidence store in %s: %w", dataDir, err)
	}
	return st, nil
}

// private makes the data directory readable by this user only (0700) and
// the database's files 0600, whatever modes they were made with before.
func private(dataDir, database string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return err
	}
	for _, f := range []string{database, database + "-wal", database + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

func open(ctx context.Context, driver, dsn string, d dialect, where string) (*Store, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("evidence store %s: %w", where, err)
	}
	if d.name == "postgres" {
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ping(pctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("evidence store %s: %w", where, err)
	}
	// a migration may rebuild an index of millions of rows: it is not
	// bounded like the connection
	if err := migrate(ctx, db, d); err != nil {
		db.Close()
		return nil, fmt.Errorf("evidence store %s: %w", where, err)
	}
	return &Store{db: db, d: d}, nil
}

// ping connects, waiting out SQLITE_BUSY: a new connection's set-up
// (switching a database another process is creating to WAL) can meet a
// lock that SQLite's busy timeout does not wait for.
func ping(ctx context.Context, db *sql.DB) error {
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := db.PingContext(ctx)
		var busy *sqlitedriver.Error
		if err == nil || !errors.As(err, &busy) || busy.Code()&0xff != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// redact hides a password in a database URL, for messages.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	creds, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	user, _, _ := strings.Cut(creds, ":")
	return scheme + "://" + user + ":***@" + host
}
