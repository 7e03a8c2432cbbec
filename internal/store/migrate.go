package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migration brings a store from one version to the next: statements, then,
// when rows must change layout, a move over them.
type migration struct {
	statements []string
	move       func(ctx context.Context, s *Store, tx *sql.Tx) error
}

// dialect is what differs between the backends.
type dialect struct {
	name string
	// id is the column definition of an auto-incrementing key.
	id string
	// placeholders rewrites ? placeholders for the driver.
	placeholders func(string) string
	// lockSchema serialises schema changes between processes (SQLite's
	// immediate transactions already do).
	lockSchema string
}

var sqlite = dialect{name: "sqlite", id: "INTEGER PRIMARY KEY", placeholders: func(q string) string { return q }}

// replicas starting together must not race to create the schema: an
// advisory lock held to the end of the migration serialises them
var postgres = dialect{name: "postgres", id: "BIGSERIAL PRIMARY KEY", placeholders: dollarPlaceholders,
	lockSchema: "SELECT pg_advisory_xact_lock(7306813)"}

func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// migrate brings the schema to the current version in one transaction.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	return migrateWith(ctx, db, d, migrations)
}

// migrateWith applies steps (the migrations up to some version).
func migrateWith(ctx context.Context, db *sql.DB, d dialect, steps []migration) error {
	// a store already at this version is only read: opening it takes no
	// write lock, so a query never waits for a writer or makes one wait
	var current int
	if err := db.QueryRowContext(ctx, `SELECT version FROM dossier_schema`).Scan(&current); err == nil && current == len(steps) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if d.lockSchema != "" {
		if _, err := tx.ExecContext(ctx, d.lockSchema); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS dossier_schema (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var version int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM dossier_schema`).Scan(&version); err {
	case sql.ErrNoRows:
		if _, err := tx.ExecContext(ctx, `INSERT INTO dossier_schema (version) VALUES (0)`); err != nil {
			return err
		}
	case nil:
	default:
		return err
	}
	if version > len(steps) {
		return fmt.Errorf("%w (schema version %d, this dossier knows up to %d): upgrade dossier", ErrNewerSchema, version, len(steps))
	}
	for v := version; v < len(steps); v++ {
		for _, stmt := range steps[v].statements {
			if _, err := tx.ExecContext(ctx, strings.ReplaceAll(stmt, "{{id}}", d.id)); err != nil {
				return fmt.Errorf("migrating the evidence store to version %d: %w", v+1, err)
			}
		}
		if steps[v].move != nil {
			if err := steps[v].move(ctx, &Store{db: db, d: d}, tx); err != nil {
				return fmt.Errorf("migrating the evidence store to version %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, d.placeholders(`UPDATE dossier_schema SET version = ?`), len(steps)); err != nil {
		return err
	}
	return tx.Commit()
}
