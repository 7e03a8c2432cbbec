package generate

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
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
// configuration it is stored under, is refused, never panics.
func FuzzDecodeAnalysis(f *testing.F) {
	catalogue, err := encodeCatalogue(&syftsbom.SBOM{Artifacts: syftsbom.Artifacts{Packages: pkg.NewCollection()}})
	if err != nil {
		f.Fatal(err)
	}
	an := &layerAnalysis{Format: layerFormat, Config: "cfg", DiffID: "sha256:1", Changes: []string{"f/etc/os-release", "l/bin\x00usr/bin"},
		Paths: []string{"/etc/os-release"}, PathsSignature: "x", Catalogue: catalogue, Descriptor: []byte(`{"name":"dossier","version":"1"}`)}
	entry, err := an.encode()
	if err != nil {
		f.Fatal(err)
	}
	if _, err := decodeAnalysis(entry, "cfg", "sha256:1"); err != nil {
		f.Fatalf("a valid analysis: %v", err)
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
