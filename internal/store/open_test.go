package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The data directory and the database's files are private to this user,
// whatever modes an earlier tool or a careless mkdir gave them.
func TestDataDirectoryIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, FileName)
	if err := os.WriteFile(db, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v %v", fi.Mode(), err)
	}
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		fi, err := os.Stat(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", filepath.Base(f), fi.Mode(), err)
		}
	}
}
