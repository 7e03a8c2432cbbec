package vulndb

import (
	"archive/zip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ImportOptions control an import.
type ImportOptions struct {
	// Strict makes any malformed record fail the whole import.
	Strict bool
	// MaxUncompressed bounds the bytes read out of one zip (default 2 GiB),
	// so a zip bomb fails instead of filling memory or disk.
	MaxUncompressed int64
	// Now stamps the import (default time.Now).
	Now func() time.Time
	// Progress, when set, is told the number of records read so far.
	Progress func(records int)
}

// SourceResult is what one input contributed.
type SourceResult struct {
	Source    string   `json:"source"`
	Records   int      `json:"records"`
	Withdrawn int      `json:"withdrawn"`
	Skipped   int      `json:"skipped"`
	Errors    []string `json:"errors,omitempty"`
	// Ecosystems counts the imported records per ecosystem, without
	// release ("Ubuntu").
	Ecosystems map[string]int `json:"ecosystems"`
}

// maxReportedErrors is how many malformed records an import names.
const maxReportedErrors = 10

// ErrZipTooLarge is returned when a zip inflates past MaxUncompressed.
var ErrZipTooLarge = errors.New("uncompressed content exceeds the import limit (zip bomb?)")

// Import adds the OSV records found at paths (bulk zips, directories, single
// JSON or YAML records) to the database in dataDir. The new database is
// built in a temporary file beside the old one and renamed over it only
// when every input was read: a failure, a corrupt zip or a cancelled
// context leaves the previous database as it was, and readers never see a
// half-import.
func Import(ctx context.Context, dataDir string, paths []string, opts ImportOptions) ([]SourceResult, error) {
	if opts.MaxUncompressed <= 0 {
		opts.MaxUncompressed = 2 << 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	unlock, err := lock(dataDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	final := filepath.Join(dataDir, FileName)
	tmp, err := os.CreateTemp(dataDir, FileName+".import-*")
	if err != nil {
		return nil, err
	}
	tmpPath := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmpPath)
		}
	}()
	if err := copyExisting(final, tmp); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}

	results, err := importInto(ctx, tmpPath, paths, opts)
	if err != nil {
		return nil, err
	}
	if err := syncFile(tmpPath); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpPath, final); err != nil {
		return nil, err
	}
	committed = true
	return results, syncFile(dataDir)
}

func importInto(ctx context.Context, path string, paths []string, opts ImportOptions) ([]SourceResult, error) {
	// The file is private until renamed, so durability comes from the final
	// fsync, not from a journal.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return nil, fmt.Errorf("reading the database: %w", err)
	}
	if version != schemaVersion {
		// an empty file, or one in an older format: start afresh
		for _, t := range []string{"imports", "vulns", "affected", "ecosystems"} {
			if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return nil, err
			}
		}
	}
	if _, err := db.ExecContext(ctx, schema+fmt.Sprintf("PRAGMA user_version = %d;", schemaVersion)); err != nil {
		return nil, fmt.Errorf("preparing the database: %w", err)
	}
	var results []SourceResult
	total := 0
	for _, p := range paths {
		w, err := newWriter(ctx, db)
		if err != nil {
			return nil, err
		}
		res := SourceResult{Source: p, Ecosystems: map[string]int{}}
		if abs, err := filepath.Abs(p); err == nil {
			res.Source = abs
		}
		newest := time.Time{}
		err = walkSource(ctx, p, opts.MaxUncompressed, func(entry string, data []byte) error {
			r, perr := ParseRecord(data, entry)
			if perr != nil {
				var re *RecordError
				if errors.As(perr, &re) {
					re.Source = p
				}
				if opts.Strict {
					return perr
				}
				res.Skipped++
				if len(res.Errors) < maxReportedErrors {
					res.Errors = append(res.Errors, perr.Error())
				}
				return nil
			}
			if err := w.put(ctx, r); err != nil {
				return err
			}
			res.Records++
			counted := map[string]bool{}
			for _, a := range r.Affected {
				if eco := BaseEcosystem(a.Package.Ecosystem); eco != "" && !counted[eco] {
					counted[eco] = true
					res.Ecosystems[eco]++
				}
			}
			if r.Withdrawn != nil {
				res.Withdrawn++
			}
			if r.Modified.After(newest) {
				newest = r.Modified
			}
			total++
			if opts.Progress != nil && total%500 == 0 {
				opts.Progress(total)
			}
			return nil
		})
		if err == nil && res.Records == 0 && res.Skipped == 0 {
			err = fmt.Errorf("%s: no OSV records found (want an OSV all.zip, a directory of .json/.yaml records or one record)", p)
		}
		if err == nil {
			err = w.finish(ctx, res, newest, opts.Now())
		}
		if err != nil {
			w.abort()
			return nil, err
		}
		results = append(results, res)
	}
	if opts.Progress != nil {
		opts.Progress(total)
	}
	return results, nil
}

// writer stores the records of one source in one transaction.
type writer struct {
	tx                                               *sql.Tx
	importID                                         int64
	existing, upsert, delAff, delEco, addAff, addEco *sql.Stmt
	delNames, addName                                *sql.Stmt
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	w := &writer{tx: tx}
	res, err := tx.ExecContext(ctx, `INSERT INTO imports (source, imported_at, records, skipped, newest_modified) VALUES ('', '', 0, 0, '')`)
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	if w.importID, err = res.LastInsertId(); err != nil {
		tx.Rollback()
		return nil, err
	}
	for _, s := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.existing, `SELECT modified FROM vulns WHERE id = ?`},
		{&w.upsert, `INSERT INTO vulns (id, modified, withdrawn, import_id, match, record) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, withdrawn = excluded.withdrawn,
			import_id = excluded.import_id, record = excluded.record, match = excluded.match`},
		{&w.delAff, `DELETE FROM affected WHERE vuln_id = ?`},
		{&w.delEco, `DELETE FROM ecosystems WHERE vuln_id = ?`},
		{&w.addAff, `INSERT INTO affected (vuln_id, ecosystem, name) VALUES (?, ?, ?)`},
		{&w.addEco, `INSERT OR IGNORE INTO ecosystems (vuln_id, ecosystem) VALUES (?, ?)`},
		{&w.delNames, `DELETE FROM names WHERE vuln_id = ?`},
		{&w.addName, `INSERT OR IGNORE INTO names (name, vuln_id) VALUES (?, ?)`},
	} {
		if *s.dst, err = tx.PrepareContext(ctx, s.query); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return w, nil
}

// put stores r unless the database already has a newer version of it.
func (w *writer) put(ctx context.Context, r *Record) error {
	var existing string
	switch err := w.existing.QueryRowContext(ctx, r.ID).Scan(&existing); {
	case err == nil:
		if t, perr := time.Parse(time.RFC3339Nano, existing); perr == nil && t.After(r.Modified) {
			return nil
		}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	match, err := json.Marshal(r.matchView())
	if err != nil {
		return err
	}
	withdrawn := 0
	if r.Withdrawn != nil {
		withdrawn = 1
	}
	if _, err := w.upsert.ExecContext(ctx, r.ID, r.Modified.UTC().Format(time.RFC3339Nano), withdrawn, w.importID, match, raw); err != nil {
		return err
	}
	if _, err := w.delAff.ExecContext(ctx, r.ID); err != nil {
		return err
	}
	if _, err := w.delEco.ExecContext(ctx, r.ID); err != nil {
		return err
	}
	if _, err := w.delNames.ExecContext(ctx, r.ID); err != nil {
		return err
	}
	for _, name := range r.AllIDs() {
		if _, err := w.addName.ExecContext(ctx, name, r.ID); err != nil {
			return err
		}
	}
	seen := map[[2]string]bool{}
	for _, a := range r.Affected {
		eco := BaseEcosystem(a.Package.Ecosystem)
		if eco == "" {
			continue
		}
		if _, err := w.addEco.ExecContext(ctx, r.ID, a.Package.Ecosystem); err != nil {
			return err
		}
		key := [2]string{eco, NormalizeName(eco, a.Package.Name)}
		if seen[key] {
			continue
		}
		seen[key] = true
		if _, err := w.addAff.ExecContext(ctx, r.ID, key[0], key[1]); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) finish(ctx context.Context, res SourceResult, newest, now time.Time) error {
	_, err := w.tx.ExecContext(ctx, `UPDATE imports SET source = ?, imported_at = ?, records = ?, skipped = ?, newest_modified = ? WHERE id = ?`,
		res.Source, now.UTC().Format(time.RFC3339Nano), res.Records, res.Skipped, newest.UTC().Format(time.RFC3339Nano), w.importID)
	if err != nil {
		return err
	}
	return w.tx.Commit()
}

func (w *writer) abort() { _ = w.tx.Rollback() }

// walkSource calls fn for every record file in a zip, directory or file.
func walkSource(ctx context.Context, path string, maxUncompressed int64, fn func(entry string, data []byte) error) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	switch {
	case info.IsDir():
		var files []string
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isRecordName(p) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Strings(files)
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			data, err := readBounded(f, MaxRecordSize)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(path, f)
			if err := fn(rel, data); err != nil {
				return err
			}
		}
		return nil
	case strings.HasSuffix(path, ".zip"):
		return walkZip(ctx, path, maxUncompressed, fn)
	default:
		data, err := readBounded(path, MaxRecordSize)
		if err != nil {
			return err
		}
		return fn(filepath.Base(path), data)
	}
}

func walkZip(ctx context.Context, path string, maxUncompressed int64, fn func(entry string, data []byte) error) error {
	z, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%s: not a readable zip: %w", path, err)
	}
	defer z.Close()
	var total int64
	for _, f := range z.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() || !isRecordName(f.Name) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		// Read by actual inflated bytes, not the header's claimed size.
		limit := min(int64(MaxRecordSize), maxUncompressed-total) + 1
		data, err := io.ReadAll(io.LimitReader(rc, limit))
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %s: corrupt entry: %w", path, f.Name, err)
		}
		total += int64(len(data))
		if total > maxUncompressed {
			return fmt.Errorf("%s: %w (limit %d MiB)", path, ErrZipTooLarge, maxUncompressed>>20)
		}
		if err := fn(f.Name, data); err != nil {
			return err
		}
	}
	return nil
}

func isRecordName(name string) bool {
	return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

func copyExisting(path string, dst *os.File) error {
	src, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(dst, src)
	return err
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// lock serialises imports into one data directory.
func lock(dataDir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "vulndb.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: another import is running", dataDir)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
