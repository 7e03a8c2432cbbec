package notation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestGeneratedKeySignsForNotation: key generate --notation's files are a
// 0600 key and a self-signed code-signing certificate; trusted in a ca
// store, its signatures verify in dossier and in notation-go.
func TestGeneratedKeySignsForNotation(t *testing.T) {
	w := newWorld(t, false, "strict")
	prefix := filepath.Join(t.TempDir(), "release")
	keyPath, certPath, err := WriteKeyFiles(prefix, "CN=release,O=Acme,ST=WA,C=US", time.Hour, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(keyPath); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", info.Mode(), err)
	}
	if _, _, err := WriteKeyFiles(prefix, "CN=release", time.Hour, time.Now(), false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrote key files: %v", err)
	}
	key, err := LoadKey(keyPath, certPath)
	if err != nil {
		t.Fatal(err)
	}
	// the self-signed certificate is its own trust anchor
	w.policyFile, w.storeTo = testutil.WriteNotationTrust(t, w.configDir, w.repoName, "strict", testutil.NotationReleaseIdentity, key.Chain[0])
	if _, err := Sign(context.Background(), w.repo, w.subject, key, SignOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := w.verify(t); len(res.Signatures) != 1 {
		t.Fatalf("dossier: %+v", res)
	}
	if _, err := w.notationVerify(t); err != nil {
		t.Fatalf("notation: %v", err)
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	keyPath, certPath, err := WriteKeyFiles(filepath.Join(dir, "k"), "CN=k", time.Hour, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(keyPath, certPath); !errors.Is(err, ErrKeyReadable) {
		t.Errorf("a key others may read: %v", err)
	}
	other, _, err := WriteKeyFiles(filepath.Join(dir, "other"), "CN=other", time.Hour, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(other, certPath); err == nil {
		t.Error("a key with another key's certificate")
	}
	if _, err := LoadKey(other, filepath.Join(dir, "missing.crt")); err == nil {
		t.Error("no certificate file")
	}
	for _, dn := range []string{"", "O=Acme", "CN=a,X=b", "CN"} {
		if _, _, err := GenerateKey(dn, time.Hour, time.Now()); err == nil {
			t.Errorf("subject %q accepted", dn)
		}
	}
}
