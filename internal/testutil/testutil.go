// Package testutil holds helpers shared by dossier's tests: the repository
// root, the sample layouts, an in-process registry on 127.0.0.1 and the
// location of interop peers.
package testutil

import (
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL for store tests

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// RepoRoot is the repository's top directory: the nearest directory above
// the test's working directory (its package's) that holds dossier's go.mod.
// It is found from the working directory rather than from this file's
// compiled-in path, which -trimpath (as CI builds) replaces by the import path.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(fmt.Sprintf("testutil: no working directory: %v", err))
	}
	for d := dir; ; d = filepath.Dir(d) {
		if mod, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.HasPrefix(string(mod), "module github.com/dossier-dev/dossier\n") {
			return d
		}
		if filepath.Dir(d) == d {
			panic(fmt.Sprintf("testutil: no dossier go.mod above %s", dir))
		}
	}
}

// Samples lists the bundled sample images.
var Samples = []string{"debian", "go-app", "npm-app"}

// SampleLayout returns the path of a bundled sample image's OCI layout.
func SampleLayout(name string) string {
	return filepath.Join(RepoRoot(), "samples", "layouts", name)
}

// SampleIndex opens a sample layout's index.json.
func SampleIndex(t testing.TB, name string) layout.Path {
	t.Helper()
	p, err := layout.FromPath(SampleLayout(name))
	if err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return p
}

// Registry starts go-containerregistry's in-process registry on 127.0.0.1
// and returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	return strings.TrimPrefix(RegistryServer(t).URL, "http://")
}

// RegistryServer is Registry's server, for tests that stop it.
func RegistryServer(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(nullLogger())))
	t.Cleanup(srv.Close)
	return srv
}

// Loopback is a listener on a free 127.0.0.1 port and its host:port, for
// a server that must know the name it is reached by before it serves.
func Loopback(t testing.TB) (net.Listener, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l, l.Addr().String()
}

// ServeOn serves h on l until the test ends.
func ServeOn(t testing.TB, l net.Listener, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// PeersDir is where .ci/run installs the interop peers (syft, registry,
// crane, …): $DOSSIER_PEERS_DIR, else ~/.cache/dossier-peers.
func PeersDir() string {
	if d := os.Getenv("DOSSIER_PEERS_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "dossier-peers")
}

// Peer returns the path of an installed peer binary. When it is missing the
// test fails under CI (which must have installed it) and skips elsewhere,
// naming what to run.
func Peer(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(PeersDir(), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if lp, err := exec.LookPath(name); err == nil && os.Getenv("CI") == "" {
		return lp
	}
	Missing(t, "peer %s not installed at %s: run .ci/install-peers", name, p)
	return ""
}

// Missing fails under CI, where every prerequisite must be present, and
// skips elsewhere with the reason.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// SampleTagged returns a sample layout's index.json and the descriptor of
// its one tagged manifest (an image, or a multi-platform index).
func SampleTagged(t testing.TB, sample string) (v1.ImageIndex, v1.Descriptor) {
	t.Helper()
	idx, err := SampleIndex(t, sample).ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	top, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 {
		t.Fatalf("sample %s: want one manifest in index.json, have %d", sample, len(top.Manifests))
	}
	return idx, top.Manifests[0]
}

// SampleImageDigest is the manifest digest of a sample's image for arch:
// the tagged manifest itself, or the matching entry of the tagged index.
func SampleImageDigest(t testing.TB, sample, arch string) string {
	t.Helper()
	idx, desc := SampleTagged(t, sample)
	if !desc.MediaType.IsIndex() {
		return desc.Digest.String()
	}
	child, err := idx.ImageIndex(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := child.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Architecture == arch {
			return d.Digest.String()
		}
	}
	t.Fatalf("sample %s has no %s image", sample, arch)
	return ""
}

// VulnDataDir is where the real OSV data the tests read is:
// $DOSSIER_VULNDATA, by default ../shared/vulndata beside the repository.
func VulnDataDir() string {
	if dir := os.Getenv("DOSSIER_VULNDATA"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "..", "shared", "vulndata")
}

// VulnData is VulnDataDir, or the test is skipped (failed under CI)
// naming the missing path.
func VulnData(t testing.TB) string {
	t.Helper()
	dir := VulnDataDir()
	if _, err := os.Stat(filepath.Join(dir, "osv")); err != nil {
		Missing(t, "real OSV data not found at %s", dir)
	}
	return dir
}

// CopyLayout copies a sample layout into a temporary directory, so that a
// test may write to it.
func CopyLayout(t testing.TB, sample string) string {
	t.Helper()
	src := SampleLayout(sample)
	dst := filepath.Join(t.TempDir(), sample)
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// PostgresURL is the PostgreSQL server tests may create databases on
// ($DOSSIER_TEST_POSTGRES, which .ci/test sets after starting one), or the
// test is skipped (failed under CI).
func PostgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("DOSSIER_TEST_POSTGRES")
	if url == "" {
		Missing(t, "no PostgreSQL server: set DOSSIER_TEST_POSTGRES (bash .ci/postgres start prints one)")
	}
	return url
}

// PostgresDatabase creates a database for one test on the PostgreSQL
// server of the run (see PostgresURL), drops it after the test, and
// returns its URL.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := PostgresURL(t)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("dossier_test_%d_%d", time.Now().UnixNano(), databaseCounter.Add(1))
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		db.Close()
	})
	base, query, _ := strings.Cut(admin, "?")
	return base[:strings.LastIndex(base, "/")+1] + name + "?" + query
}

var databaseCounter atomic.Int64
