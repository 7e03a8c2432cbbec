package generate

import (
	"bytes"
	"compress/gzip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/bmatcuk/doublestar/v4"
)

func view(t testing.TB, layers ...[]string) *squashView {
	t.Helper()
	sv := &squashView{}
	for i, lines := range layers {
		c, err := decodeChanges(lines)
		if err != nil {
			t.Fatal(err)
		}
		sv.diffIDs = append(sv.diffIDs, string(rune('a'+i)))
		sv.layers = append(sv.layers, c)
	}
	return sv
}

// The squash the layers' changes describe answers as stereoscope's does.
func TestSquashView(t *testing.T) {
	sv := view(t,
		[]string{"f/etc/os-release", "l/bin\x00usr/bin", "f/usr/bin/xz", "f/usr/bin/gzip", "f/app/a", "f/app/b", "f/opt/x/y", "f/var/lib/dpkg/status"},
		[]string{"w/usr/bin/xz", "o/app/.wh..wh..opq", "f/app/c", "f/opt/x", "f/var/lib/dpkg/status"},
		[]string{"d/app", "f/usr/bin/new"})
	for p, want := range map[string]string{
		"/etc/os-release":      "a",
		"/usr/bin/gzip":        "a",
		"/usr/bin/xz":          "", // deleted
		"/app/a":               "", // hidden by the opaque directory
		"/app/c":               "b",
		"/app":                 "c",
		"/opt/x/y":             "", // its directory became a file
		"/opt/x":               "b",
		"/var/lib/dpkg/status": "b", // rewritten
		"/usr/bin/new":         "c",
		"/nothing":             "",
	} {
		k, _, ok := sv.provider(p)
		got := ""
		if ok {
			got = sv.diffIDs[k]
		}
		if got != want {
			t.Errorf("%s: from layer %q, want %q", p, got, want)
		}
	}
	if real, k, ok := sv.resolve("/bin/gzip"); !ok || real != "/usr/bin/gzip" || sv.diffIDs[k] != "a" {
		t.Errorf("/bin/gzip resolves to %s in %d (%t)", real, k, ok)
	}
	if _, _, ok := sv.resolve("/bin/xz"); ok {
		t.Error("/bin/xz resolves, though xz was deleted")
	}

	// signatures change with what matters at a path, not with layers
	// elsewhere
	other := view(t, []string{"f/etc/os-release", "l/bin\x00usr/bin", "f/usr/bin/xz", "f/usr/bin/gzip"}, []string{"f/srv/app"})
	base := view(t, []string{"f/etc/os-release", "l/bin\x00usr/bin", "f/usr/bin/xz", "f/usr/bin/gzip"})
	if other.signature("/bin/gzip") != base.signature("/bin/gzip") {
		t.Error("a layer elsewhere changed the signature of /bin/gzip")
	}
	moved := view(t, []string{"f/etc/os-release", "l/bin\x00usr/bin", "f/usr/bin/xz", "f/usr/bin/gzip"}, []string{"l/bin\x00/opt/bin"})
	if moved.signature("/bin/gzip") == base.signature("/bin/gzip") {
		t.Error("a link replaced above /bin/gzip left its signature")
	}
	replaced := view(t, []string{"f/etc/os-release", "l/bin\x00usr/bin", "f/usr/bin/xz", "f/usr/bin/gzip"}, []string{"f/usr/bin/gzip"})
	if replaced.signature("/bin/gzip") == base.signature("/bin/gzip") {
		t.Error("the file a link leads to was replaced, and the link's signature stayed")
	}
}

func TestDecodeChangesRefusesMalformed(t *testing.T) {
	for _, line := range []string{"", "f", "xrelative", "q/etc/x"} {
		if _, err := decodeChanges([]string{line}); err == nil {
			t.Errorf("%q decoded", line)
		}
	}
}

// A stored analysis that is not one, or not of the layer and
// configuration it is stored under, is refused, never panics; one that is
// reads back as it was written, its packages' file lists included.
func FuzzDecodeAnalysis(f *testing.F) {
	packages := pkg.NewCollection()
	dpkg := pkg.Package{Name: "openssl", Version: "3.0.15-1~deb12u1", Type: pkg.DebPkg,
		Locations: file.NewLocationSet(file.NewLocation("/var/lib/dpkg/status")),
		Metadata: pkg.DpkgDBEntry{Package: "openssl", Files: []pkg.DpkgFileRecord{
			{Path: "/usr/bin/openssl", Digest: &file.Digest{Algorithm: "md5", Value: "0123456789abcdef0123456789abcdef"}},
			{Path: "/etc/ssl/openssl.cnf", IsConfigFile: true}}}}
	dpkg.SetID()
	packages.Add(dpkg)
	catalogue, lists, err := encodeCatalogue(&syftsbom.SBOM{Artifacts: syftsbom.Artifacts{Packages: packages}})
	if err != nil {
		f.Fatal(err)
	}
	if len(lists) != 1 {
		f.Fatalf("%d file lists kept apart, want 1", len(lists))
	}
	an := &layerAnalysis{Format: layerFormat, Config: "cfg", DiffID: "sha256:1", Changes: []string{"f/etc/os-release", "l/bin\x00usr/bin"},
		Paths: []string{"/etc/os-release", "/etc/os-release.d"}, PathsSignature: "x", Catalogue: catalogue, FileLists: lists, Descriptor: []byte(`{"name":"dossier","version":"1"}`)}
	entry, err := an.encode()
	if err != nil {
		f.Fatal(err)
	}
	got, err := decodeAnalysis(entry, "cfg", "sha256:1")
	if err != nil {
		f.Fatalf("a valid analysis: %v", err)
	}
	if !slices.Equal(got.Paths, an.Paths) || !slices.Equal(got.Changes, an.Changes) {
		f.Fatalf("read back as %v %v", got.Paths, got.Changes)
	}
	read := got.sbom.Artifacts.Packages.Package(dpkg.ID())
	if read == nil || !reflect.DeepEqual(read.Metadata, dpkg.Metadata) {
		f.Fatalf("the package read back as %+v, want %+v", read, dpkg)
	}
	if _, err := decodeAnalysis(entry, "cfg", "sha256:2"); err == nil || !strings.Contains(err.Error(), "it is of layer sha256:1") {
		f.Fatalf("another layer's analysis: %v", err)
	}
	f.Add(entry)
	var plain bytes.Buffer
	zw := gzip.NewWriter(&plain)
	zw.Write([]byte(`{"format":1,"config":"cfg","diffID":"sha256:1","changes":["q"],"catalogue":{},"descriptor":{},"extra":1}`))
	zw.Close()
	f.Add(plain.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeAnalysis(data, "cfg", "sha256:1")
	})
}

// The shortcuts of ownershipForbiddenAt skip only paths no pattern
// matches.
func TestOwnershipForbiddenAtMatchesTheGlobs(t *testing.T) {
	for _, p := range []string{"/var/lib/dpkg/status", "/var/lib/dpkg/status.d/base", "/var/lib/dpkg/status.d/x/y", "/x/var/lib/dpkg/status",
		"/var/lib/dpkg/info/status", "/lib/apk/db/installed", "/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages", "/x/rpm/Packages.db",
		"/usr/share/doc/openssl/copyright", "/usr/share/doc/a/b/copyright", "/usr/share/doc/copyright", "/usr/bin/openssl", "/usr/share/doc/openssl/changelog.gz", "/"} {
		want := slices.ContainsFunc(ownershipForbidden, func(g string) bool { ok, _ := doublestar.Match(g, p); return ok })
		if got := ownershipForbiddenAt(p); got != want {
			t.Errorf("%s: forbidden %t, the patterns say %t", p, got, want)
		}
	}
}
