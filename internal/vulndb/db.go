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
	"sync"
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

// DB is a read-only view of the advisory database file in a data
// directory. It follows the file: an import or update swaps in a new one
// (rename), and the next scan (Freshness, Coverage) reads the new one.
type DB struct {
	path string
	// warm, when above zero, keeps what lookups read decoded in memory up
	// to that many bytes of stored records (KeepWarm)
	warm int64
	// mu is held for reading while a file is read, for writing while the
	// view moves to a new file
	mu  sync.RWMutex
	gen *generation
}

// generation is one database file, opened.
type generation struct {
	sql    *sql.DB
	lookup *sql.Stmt
	file   os.FileInfo
	cache  *warmCache // nil unless the database is kept warm
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

// Open opens the database in dataDir for reading. It checks the format
// (one page read), nothing more: the first lookup reads what it needs.
func Open(dataDir string) (*DB, error) {
	d := &DB{path: filepath.Join(dataDir, FileName)}
	fi, err := d.stat()
	if err != nil {
		return nil, err
	}
	if d.gen, err = d.open(fi, 0); err != nil {
		return nil, err
	}
	return d, nil
}

// KeepWarm makes the database keep the records its lookups read decoded
// in memory, up to budget bytes of stored records (the decoded ones, with
// what matching derives from them, take two to three times as much), for
// a process that scans again and again:
// a server. The cache is of one file, and is dropped when a new one is
// swapped in.
func (d *DB) KeepWarm(budget int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.warm = budget
	if budget > 0 && d.gen.cache == nil {
		d.gen.cache = newWarmCache(budget)
	}
}

func (d *DB) stat() (os.FileInfo, error) {
	fi, err := os.Stat(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.path, ErrNoDatabase)
	}
	return fi, err
}

// open opens the file fi describes and checks its format; warm is the
// budget of its cache.
func (d *DB) open(fi os.FileInfo, warm int64) (*generation, error) {
	db, err := sql.Open("sqlite", "file:"+d.path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: not a dossier vulnerability database: %w", d.path, err)
	}
	if version != schemaVersion {
		db.Close()
		return nil, fmt.Errorf("%s: written by another dossier version (format %d, want %d): run `dossier db import` or `dossier db update` again", d.path, version, schemaVersion)
	}
	// affected rows are unique per (vuln, ecosystem, name), and the index
	// returns them in vuln_id order: no DISTINCT or sort over the blobs
	lookup, err := db.Prepare(`SELECT v.id, v.match FROM affected a JOIN vulns v ON v.id = a.vuln_id
		 WHERE a.ecosystem = ? AND a.name = ? ORDER BY a.vuln_id`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: not a dossier vulnerability database: %w", d.path, err)
	}
	g := &generation{sql: db, lookup: lookup, file: fi}
	if warm > 0 {
		g.cache = newWarmCache(warm)
	}
	return g, nil
}

func (g *generation) close() error {
	g.lookup.Close()
	return g.sql.Close()
}

// follow moves the view to the file now at the path when an import or
// update has swapped in another since it was opened. A file that cannot be
// read fails the caller; the view stays on the old one.
func (d *DB) follow() error {
	fi, err := d.stat()
	if err != nil {
		return err
	}
	d.mu.RLock()
	same, warm := sameFile(d.gen.file, fi), d.warm
	d.mu.RUnlock()
	if same {
		return nil
	}
	g, err := d.open(fi, warm)
	if err != nil {
		return err
	}
	d.mu.Lock()
	old := d.gen
	if sameFile(old.file, fi) { // another scan moved it first
		d.mu.Unlock()
		return g.close()
	}
	d.gen = g
	d.mu.Unlock()
	// every read of the old file has finished: reads hold mu
	return old.close()
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// read runs f on the current file, which does not move meanwhile.
func (d *DB) read(f func(g *generation) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return f(d.gen)
}

// Close releases the database.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen.close()
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Lookup returns the advisories naming package name in ecosystem (the
// part before any ":release"), withdrawn ones included so callers can
// count them. name must already be normalised (see NormalizeName). The
// records carry what matching needs: no details, references or
// ecosystem_specific. They are shared: callers must not change them.
func (d *DB) Lookup(ctx context.Context, ecosystem, name string) (records []*Record, err error) {
	err = d.read(func(g *generation) error {
		key := [2]string{ecosystem, name}
		if cached, ok := g.cache.lookup(key); ok {
			records = cached
			return nil
		}
		rows, err := g.lookup.QueryContext(ctx, ecosystem, name)
		if err != nil {
			return fmt.Errorf("looking up %s/%s: %w", ecosystem, name, err)
		}
		var sizes []int64
		if records, sizes, err = d.records(rows); err != nil {
			return err
		}
		var size int64
		for _, n := range sizes {
			size += n
		}
		g.cache.keep(key, records, size)
		return nil
	})
	return records, err
}

// chunk bounds the values one query binds (SQLite's limit is 32,766).
const chunk = 500

// Names maps each of names (a CVE, a GHSA, a distribution's record) to the
// IDs of the records about the vulnerability it names, withdrawn ones
// included (the records say which: reading whether each is withdrawn here
// would read every record twice); a name no record bears is absent.
func (d *DB) Names(ctx context.Context, names []string) (map[string][]string, error) {
	out := map[string][]string{}
	err := d.read(func(g *generation) error {
		var unknown []string
		for _, name := range names {
			if ids, ok := g.cache.named(name); ok {
				if len(ids) > 0 {
					out[name] = ids
				}
				continue
			}
			unknown = append(unknown, name)
		}
		for part := range slices.Chunk(unknown, chunk) {
			rows, err := g.sql.QueryContext(ctx, `SELECT name, vuln_id FROM names WHERE name IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, anys(part)...)
			if err != nil {
				return fmt.Errorf("looking up the records of %s: %w", part[0], err)
			}
			for rows.Next() {
				var name, id string
				if err := rows.Scan(&name, &id); err != nil {
					rows.Close()
					return err
				}
				out[name] = append(out[name], id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, name := range unknown {
			g.cache.keepNamed(name, out[name])
		}
		return nil
	})
	return out, err
}

// Records returns the records with the given IDs, in the form Lookup
// returns them, ordered by ID; IDs the database lacks are left out.
func (d *DB) Records(ctx context.Context, ids []string) ([]*Record, error) {
	var out []*Record
	err := d.read(func(g *generation) error {
		var unknown []string
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if r, ok := g.cache.record(id); ok {
				out = append(out, r)
				continue
			}
			unknown = append(unknown, id)
		}
		for part := range slices.Chunk(unknown, chunk) {
			rows, err := g.sql.QueryContext(ctx, `SELECT id, match FROM vulns WHERE id IN (?`+strings.Repeat(", ?", len(part)-1)+`) ORDER BY id`, anys(part)...)
			if err != nil {
				return fmt.Errorf("reading record %s: %w", part[0], err)
			}
			records, sizes, err := d.records(rows)
			if err != nil {
				return err
			}
			for i, r := range records {
				g.cache.keepRecord(r, sizes[i])
			}
			out = append(out, records...)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *Record) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// records decodes (id, match view) rows; sizes are the bytes each was
// stored in.
func (d *DB) records(rows *sql.Rows) (out []*Record, sizes []int64, err error) {
	defer rows.Close()
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, nil, err
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, nil, fmt.Errorf("%s: stored record %s is corrupt: %w", d.path, id, err)
		}
		r.memo = &Memo{}
		sizes = append(sizes, int64(len(raw)))
		out = append(out, &r)
	}
	return out, sizes, rows.Err()
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

// Coverage is every ecosystem the database holds live records for, as
// the records name it, releases included ("Debian:12", "Ubuntu:22.04:LTS",
// "npm"): a component of an ecosystem or release outside it cannot be
// checked. A withdrawn record is not data to check against, so an
// ecosystem whose records are all withdrawn is not covered. A scan asks it
// first: it is read from the file now at the path (see DB). The map is
// shared: callers must not change it.
func (d *DB) Coverage(ctx context.Context) (map[string]bool, error) {
	if err := d.follow(); err != nil {
		return nil, err
	}
	var out map[string]bool
	err := d.read(func(g *generation) error {
		if out = g.cache.coverage(); out != nil {
			return nil
		}
		// per ecosystem, the first live record found ends the search: one
		// lookup of vulns for nearly every ecosystem, all of them only
		// where every record is withdrawn
		rows, err := g.sql.QueryContext(ctx, `SELECT d.ecosystem FROM (SELECT DISTINCT ecosystem FROM ecosystems) d
WHERE EXISTS (SELECT 1 FROM ecosystems e JOIN vulns v ON v.id = e.vuln_id WHERE e.ecosystem = d.ecosystem AND v.withdrawn = 0)`)
		if err != nil {
			return fmt.Errorf("reading the ecosystems of %s: %w", d.path, err)
		}
		defer rows.Close()
		out = map[string]bool{}
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				return fmt.Errorf("reading the ecosystems of %s: %w", d.path, err)
			}
			out[e] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		g.cache.keepCoverage(out)
		return nil
	})
	return out, err
}

// Freshness is which data a scan reads: the file, when its data was last
// imported and the newest record's modification.
type Freshness struct {
	Path string `json:"path"`
	// LastImport is when data was last imported: the database's version.
	LastImport time.Time `json:"lastImport"`
	// NewestModified is the latest `modified` of any record.
	NewestModified time.Time `json:"newestModified"`
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

// Status reports what the database holds: it counts every record, where
// Freshness reads only the imports.
func (d *DB) Status(ctx context.Context) (*Status, error) {
	if err := d.follow(); err != nil {
		return nil, err
	}
	s := &Status{}
	err := d.read(func(g *generation) error {
		rows, err := g.sql.QueryContext(ctx, `SELECT e.ecosystem, COUNT(*), SUM(v.withdrawn) FROM ecosystems e JOIN vulns v ON v.id = e.vuln_id GROUP BY e.ecosystem ORDER BY e.ecosystem`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e EcosystemStatus
			if err := rows.Scan(&e.Ecosystem, &e.Records, &e.Withdrawn); err != nil {
				return err
			}
			s.Ecosystems = append(s.Ecosystems, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var f Freshness
		f, s.Imports, err = d.imports(ctx, g)
		s.Path, s.LastImport, s.NewestModified = f.Path, f.LastImport, f.NewestModified
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Freshness says which data a scan reads, from the file now at the path
// (see DB): the imports alone, without counting the records.
func (d *DB) Freshness(ctx context.Context) (f Freshness, err error) {
	if err := d.follow(); err != nil {
		return Freshness{}, err
	}
	err = d.read(func(g *generation) error {
		f, _, err = d.imports(ctx, g)
		return err
	})
	return f, err
}

// imports reads the imports of g's file, and the freshness they give it.
func (d *DB) imports(ctx context.Context, g *generation) (Freshness, []ImportStatus, error) {
	f := Freshness{Path: d.path}
	rows, err := g.sql.QueryContext(ctx, `SELECT source, imported_at, records, skipped, newest_modified FROM imports ORDER BY id`)
	if err != nil {
		return f, nil, err
	}
	defer rows.Close()
	var imports []ImportStatus
	for rows.Next() {
		var i ImportStatus
		var at, newest string
		if err := rows.Scan(&i.Source, &at, &i.Records, &i.Skipped, &newest); err != nil {
			return f, nil, err
		}
		i.ImportedAt, _ = time.Parse(time.RFC3339Nano, at)
		i.NewestModified, _ = time.Parse(time.RFC3339Nano, newest)
		if i.ImportedAt.After(f.LastImport) {
			f.LastImport = i.ImportedAt
		}
		if i.NewestModified.After(f.NewestModified) {
			f.NewestModified = i.NewestModified
		}
		imports = append(imports, i)
	}
	return f, imports, rows.Err()
}
