package vulndb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the embedded database, pure Go
)

// FileName is the database file inside the data directory.
const FileName = "vulndb.sqlite"

// schemaVersion is stored as PRAGMA user_version; a database of another
// version is not read, and an import starts it afresh.
const schemaVersion = 6

const schema = `
CREATE TABLE IF NOT EXISTS imports (
	id INTEGER PRIMARY KEY,
	source TEXT NOT NULL,
	imported_at TEXT NOT NULL,
	records INTEGER NOT NULL,
	skipped INTEGER NOT NULL,
	newest_modified TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vulns (
	id TEXT PRIMARY KEY,
	modified TEXT NOT NULL,
	withdrawn INTEGER NOT NULL,
	import_id INTEGER NOT NULL,
	-- the fields matching reads, so lookups decode a fraction of the
	-- record; before it, so that reading them never walks the overflow
	-- pages of a long record
	match BLOB NOT NULL,
	record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
	vuln_id TEXT NOT NULL,
	ecosystem TEXT NOT NULL,
	name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_package ON affected (ecosystem, name, vuln_id);
CREATE INDEX IF NOT EXISTS affected_vuln ON affected (vuln_id);
-- each record's ecosystems as written, releases included
-- ("Ubuntu:22.04:LTS"): what the database covers
CREATE TABLE IF NOT EXISTS ecosystems (
	vuln_id TEXT NOT NULL,
	ecosystem TEXT NOT NULL,
	PRIMARY KEY (vuln_id, ecosystem)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ecosystems_ecosystem ON ecosystems (ecosystem);
-- every name of the vulnerability each record is about (Record.AllIDs):
-- a DSA without a rating finds the CVE's other records by it
CREATE TABLE IF NOT EXISTS names (
	name TEXT NOT NULL,
	vuln_id TEXT NOT NULL,
	PRIMARY KEY (name, vuln_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS names_vuln ON names (vuln_id);
`

// DB is an open, read-only view of the advisory database.
type DB struct {
	sql    *sql.DB
	path   string
	lookup *sql.Stmt
}

// ErrNoDatabase means nothing has been imported into the data directory.
var ErrNoDatabase = errors.New("no vulnerability database: run `dossier db import PATH` (offline) or `dossier db update`")

// OpenIfPresent opens the database in dataDir, or, when there is none,
// says so in missing (for "not checked" reasons and warnings) with a nil
// database and no error.
func OpenIfPresent(dataDir string) (db *DB, missing string, err error) {
	db, err = Open(dataDir)
	if errors.Is(err, ErrNoDatabase) {
		return nil, fmt.Sprintf("no advisory database in %s (dossier db import or dossier db update makes one)", dataDir), nil
	}
	return db, "", err
}

// Open opens the database in dataDir for reading.
func Open(dataDir string) (*DB, error) {
	path := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, ErrNoDatabase)
		}
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: not a dossier vulnerability database: %w", path, err)
	}
	if version != schemaVersion {
		db.Close()
		return nil, fmt.Errorf("%s: written by another dossier version (format %d, want %d): run `dossier db import` or `dossier db update` again", path, version, schemaVersion)
	}
	// affected rows are unique per (vuln, ecosystem, name), and the index
	// returns them in vuln_id order: no DISTINCT or sort over the blobs
	lookup, err := db.Prepare(`SELECT v.id, v.match FROM affected a JOIN vulns v ON v.id = a.vuln_id
		 WHERE a.ecosystem = ? AND a.name = ? ORDER BY a.vuln_id`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: not a dossier vulnerability database: %w", path, err)
	}
	return &DB{sql: db, path: path, lookup: lookup}, nil
}

// Close releases the database.
func (d *DB) Close() error {
	d.lookup.Close()
	return d.sql.Close()
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Lookup returns the advisories naming package name in ecosystem (the
// part before any ":release"), withdrawn ones included so callers can
// count them. name must already be normalised (see NormalizeName). The
// records carry what matching needs: no details, references or
// ecosystem_specific.
func (d *DB) Lookup(ctx context.Context, ecosystem, name string) ([]*Record, error) {
	rows, err := d.lookup.QueryContext(ctx, ecosystem, name)
	if err != nil {
		return nil, fmt.Errorf("looking up %s/%s: %w", ecosystem, name, err)
	}
	return d.records(rows)
}

// chunk bounds the values one query binds (SQLite's limit is 32,766).
const chunk = 500

// Names maps each of names (a CVE, a GHSA, a distribution's record) to the
// IDs of the records about the vulnerability it names, withdrawn ones left
// out; a name no record bears is absent.
func (d *DB) Names(ctx context.Context, names []string) (map[string][]string, error) {
	out := map[string][]string{}
	for part := range slices.Chunk(names, chunk) {
		rows, err := d.sql.QueryContext(ctx, `SELECT n.name, n.vuln_id FROM names n JOIN vulns v ON v.id = n.vuln_id
			WHERE v.withdrawn = 0 AND n.name IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("looking up the records of %s: %w", part[0], err)
		}
		for rows.Next() {
			var name, id string
			if err := rows.Scan(&name, &id); err != nil {
				rows.Close()
				return nil, err
			}
			out[name] = append(out[name], id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Records returns the records with the given IDs, in the form Lookup
// returns them, ordered by ID; IDs the database lacks are left out.
func (d *DB) Records(ctx context.Context, ids []string) ([]*Record, error) {
	var out []*Record
	for part := range slices.Chunk(ids, chunk) {
		rows, err := d.sql.QueryContext(ctx, `SELECT id, match FROM vulns WHERE id IN (?`+strings.Repeat(", ?", len(part)-1)+`) ORDER BY id`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("reading record %s: %w", part[0], err)
		}
		records, err := d.records(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, records...)
	}
	return out, nil
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// records decodes (id, match view) rows.
func (d *DB) records(rows *sql.Rows) ([]*Record, error) {
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("%s: stored record %s is corrupt: %w", d.path, id, err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// BaseEcosystem strips the release suffix: "Debian:12" → "Debian".
func BaseEcosystem(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}

// NormalizeName puts a package name in the form the index uses: PyPI names
// per PEP 503 (lowercase, runs of -_. as -); others unchanged.
func NormalizeName(ecosystem, name string) string {
	if BaseEcosystem(ecosystem) != "PyPI" {
		return name
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}

// Coverage is every ecosystem the database holds records for, as the
// records name it, releases included ("Debian:12", "Ubuntu:22.04:LTS",
// "npm"): a component of an ecosystem or release outside it cannot be
// checked.
func (d *DB) Coverage(ctx context.Context) (map[string]bool, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT DISTINCT ecosystem FROM ecosystems`)
	if err != nil {
		return nil, fmt.Errorf("reading the ecosystems of %s: %w", d.path, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("reading the ecosystems of %s: %w", d.path, err)
		}
		out[e] = true
	}
	return out, rows.Err()
}

// Status describes the database's contents.
type Status struct {
	Path       string            `json:"path"`
	Ecosystems []EcosystemStatus `json:"ecosystems"`
	Imports    []ImportStatus    `json:"imports"`
	// NewestModified is the latest `modified` of any record.
	NewestModified time.Time `json:"newestModified"`
	// LastImport is when data was last imported.
	LastImport time.Time `json:"lastImport"`
}

// EcosystemStatus counts records per ecosystem and release, as the
// records name them.
type EcosystemStatus struct {
	Ecosystem string `json:"ecosystem"`
	Records   int    `json:"records"`
	Withdrawn int    `json:"withdrawn"`
}

// ImportStatus records one import.
type ImportStatus struct {
	Source         string    `json:"source"`
	ImportedAt     time.Time `json:"importedAt"`
	Records        int       `json:"records"`
	Skipped        int       `json:"skipped"`
	NewestModified time.Time `json:"newestModified"`
}

// Status reports what the database holds.
func (d *DB) Status(ctx context.Context) (*Status, error) {
	s := &Status{Path: d.path}
	rows, err := d.sql.QueryContext(ctx, `SELECT e.ecosystem, COUNT(*), SUM(v.withdrawn) FROM ecosystems e JOIN vulns v ON v.id = e.vuln_id GROUP BY e.ecosystem ORDER BY e.ecosystem`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e EcosystemStatus
		if err := rows.Scan(&e.Ecosystem, &e.Records, &e.Withdrawn); err != nil {
			rows.Close()
			return nil, err
		}
		s.Ecosystems = append(s.Ecosystems, e)
	}
	rows.Close()
	rows, err = d.sql.QueryContext(ctx, `SELECT source, imported_at, records, skipped, newest_modified FROM imports ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var i ImportStatus
		var at, newest string
		if err := rows.Scan(&i.Source, &at, &i.Records, &i.Skipped, &newest); err != nil {
			return nil, err
		}
		i.ImportedAt, _ = time.Parse(time.RFC3339Nano, at)
		i.NewestModified, _ = time.Parse(time.RFC3339Nano, newest)
		if i.ImportedAt.After(s.LastImport) {
			s.LastImport = i.ImportedAt
		}
		if i.NewestModified.After(s.NewestModified) {
			s.NewestModified = i.NewestModified
		}
		s.Imports = append(s.Imports, i)
	}
	return s, rows.Err()
}

// LastImport is when data was last imported: the database's version, as
// Status reports it, without counting the records.
func (d *DB) LastImport(ctx context.Context) (time.Time, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT imported_at FROM imports`)
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var last time.Time
	for rows.Next() {
		var at string
		if err := rows.Scan(&at); err != nil {
			return time.Time{}, err
		}
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil && t.After(last) {
			last = t
		}
	}
	return last, rows.Err()
}
