package generate

import (
	"archive/tar"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/anchore/syft/syft/pkg"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// openCache is an evidence store in a new data directory.
func openCache(t testing.TB) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

// corruptLayerCache changes the bytes of every stored analysis, as a disk
// or a hand might, leaving their checksums.
func corruptLayerCache(t testing.TB, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE layer_analyses SET entry = ?`, base64.StdEncoding.EncodeToString([]byte("not the analysis")))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatal("no analysis stored to corrupt")
	}
}

func catalogue(t testing.TB, art *oci.Artifact, cache LayerCache) *Result {
	t.Helper()
	opts := Options{Created: created}
	if cache != nil {
		opts.Cache = cache
	}
	r, err := Generate(context.Background(), art, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// packages lists a catalogue's packages: type, name, version, purl and
// every file each was found from, with its layer.
func packages(r *Result) []string {
	var out []string
	for _, p := range r.sbom.Artifacts.Packages.Sorted() {
		var locations []string
		for _, l := range p.Locations.ToSlice() {
			locations = append(locations, l.RealPath+"@"+l.FileSystemID)
		}
		slices.Sort(locations)
		out = append(out, fmt.Sprintf("%s %s %s %s %v", p.Type, p.Name, p.Version, p.PURL, locations))
	}
	slices.Sort(out)
	return out
}

func purls(r *Result) []string {
	var out []string
	for _, p := range r.sbom.Artifacts.Packages.Sorted() {
		out = append(out, p.PURL)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sameAsSyft catalogues art with syft on its squash, then with the layer
// cache cold and warm, and requires the same packages, versions, purls
// and locations each time, and the distribution syft found; the warm
// catalogue reads no layer.
func sameAsSyft(t *testing.T, art *oci.Artifact, cache LayerCache, want ...string) *Result {
	t.Helper()
	whole := catalogue(t, art, nil)
	wantPackages := packages(whole)
	for _, w := range want {
		if !slices.ContainsFunc(wantPackages, func(p string) bool { return strings.Contains(p, w) }) {
			t.Fatalf("syft's catalogue has no %q: %v", w, wantPackages)
		}
	}
	for _, run := range []string{"cold", "warm"} {
		r := catalogue(t, art, cache)
		if got := packages(r); !slices.Equal(got, wantPackages) {
			t.Errorf("%s: the merged catalogue differs from syft's:\n%s", run, diff(wantPackages, got))
		}
		if !slices.Equal(purls(r), purls(whole)) {
			t.Errorf("%s: purls %v, syft's %v", run, purls(r), purls(whole))
		}
		if fmt.Sprint(r.sbom.Artifacts.LinuxDistribution) != fmt.Sprint(whole.sbom.Artifacts.LinuxDistribution) {
			t.Errorf("%s: distribution %v, syft's %v", run, r.sbom.Artifacts.LinuxDistribution, whole.sbom.Artifacts.LinuxDistribution)
		}
		if r.sbom.Source.ID != whole.sbom.Source.ID || fmt.Sprint(r.sbom.Source.Metadata) != fmt.Sprint(whole.sbom.Source.Metadata) {
			t.Errorf("%s: source %+v, syft's %+v", run, r.sbom.Source, whole.sbom.Source)
		}
		if r.Layers == nil || r.Layers.Whole != "" {
			t.Errorf("%s: catalogued whole: %+v", run, r.Layers)
		}
		if run == "warm" && (r.Layers.Cached != r.Layers.Layers || r.Layers.Analysed != 0) {
			t.Errorf("warm: %+v, want every layer from the cache", r.Layers)
		}
		if run == "warm" {
			return r
		}
	}
	return nil
}

func diff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  missing %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  extra   %s\n", g)
		}
	}
	return b.String()
}

func TestLayeredSamplesEqualSyft(t *testing.T) {
	cache, _ := openCache(t)
	for _, s := range testutil.Samples {
		t.Run(s, func(t *testing.T) {
			src, err := oci.ParseSource("oci-layout:" + testutil.SampleLayout(s))
			if err != nil {
				t.Fatal(err)
			}
			art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameAsSyft(t, art, cache)
		})
	}
}

// The layers of the test images over the Debian sample.
var (
	// an application layer: an npm project
	npmApp = func(t testing.TB) v1.Layer { return testutil.SampleLayers(t, "npm-app", "amd64")[0] }
	// xz-utils removed, as apt-get remove leaves it: the status rewritten
	// without it, its files and file list deleted
	xzRemoved = func(t testing.TB) v1.Layer {
		return testutil.TarLayer(t,
			testutil.Entry{Name: "var/lib/dpkg/status", Body: dpkgStatusWithout(t, "xz-utils")},
			testutil.Entry{Name: "usr/bin/.wh.xz"}, testutil.Entry{Name: "usr/bin/.wh.unxz"}, testutil.Entry{Name: "usr/bin/.wh.xzcat"},
			testutil.Entry{Name: "var/lib/dpkg/info/.wh.xz-utils.list"}, testutil.Entry{Name: "var/lib/dpkg/info/.wh.xz-utils.md5sums"},
			testutil.Entry{Name: "usr/share/doc/.wh.xz-utils"})
	}
	// a package installed later: the status rewritten with it, its file
	// list and files added
	helloInstalled = func(t testing.TB) v1.Layer {
		return testutil.TarLayer(t,
			testutil.Entry{Name: "var/lib/dpkg/status", Body: dpkgStatusWithout(t, "") + helloStanza},
			testutil.Entry{Name: "var/lib/dpkg/info/hello.list", Body: "/.\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/share/doc/hello/copyright\n"},
			testutil.Entry{Name: "var/lib/dpkg/info/hello.md5sums", Body: "0123456789abcdef0123456789abcdef  usr/bin/hello\n"},
			testutil.Entry{Name: "usr/bin/hello", Body: "#!/bin/sh\necho hello\n"},
			testutil.Entry{Name: "usr/share/doc/hello/copyright", Body: "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n"})
	}
)

const helloStanza = `Package: hello
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 280
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 2.10-3
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello

`

// dpkgStatusWithout is the Debian sample's status without a package.
func dpkgStatusWithout(t testing.TB, name string) string {
	t.Helper()
	rc, err := testutil.SampleLayers(t, "debian", "amd64")[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no dpkg status in the Debian sample: %v", err)
		}
		if h.Name != "var/lib/dpkg/status" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, stanza := range strings.SplitAfter(string(data), "\n\n") {
			if name == "" || !strings.HasPrefix(stanza, "Package: "+name+"\n") {
				kept = append(kept, stanza)
			}
		}
		out := strings.Join(kept, "")
		if !strings.HasSuffix(out, "\n\n") {
			out = strings.TrimRight(out, "\n") + "\n\n"
		}
		return out
	}
}

func TestLayeredDebianImagesEqualSyft(t *testing.T) {
	debian := testutil.SampleLayers(t, "debian", "amd64")[0]
	goAMD64, goARM64 := testutil.SampleLayers(t, "go-app", "amd64")[0], testutil.SampleLayers(t, "go-app", "arm64")[0]
	cache, _ := openCache(t)
	for name, c := range map[string]struct {
		layers []v1.Layer
		want   []string
	}{
		"application layers": {layers: []v1.Layer{debian, npmApp(t), goAMD64}, want: []string{"pkg:deb/debian/openssl", "pkg:npm/lodash@4.17.20", "pkg:golang/golang.org/x/text@v0.3.5"}},
		// the base's packages are dropped: their status was rewritten
		"a package installed later": {layers: []v1.Layer{debian, helloInstalled(t)}, want: []string{"pkg:deb/debian/hello@2.10-3", "pkg:deb/debian/openssl"}},
		"a package removed later":   {layers: []v1.Layer{debian, npmApp(t), xzRemoved(t)}, want: []string{"pkg:deb/debian/liblzma5"}},
		// the arm64 build replaces the amd64 one at the same path
		"a Go binary replaced": {layers: []v1.Layer{debian, goAMD64, goARM64}, want: []string{"pkg:golang/golang.org/x/net"}},
		"a Python application": {layers: []v1.Layer{debian, pythonApp(t, "2.31.0"), pythonApp(t, "2.32.3")}, want: []string{"pkg:pypi/requests@2.32.3", "pkg:pypi/flask@3.0.0"}},
	} {
		t.Run(name, func(t *testing.T) {
			warm := sameAsSyft(t, layoutOf(t, testutil.LinuxImage(t, c.layers...)), cache, c.want...)
			if name == "a package removed later" && slices.ContainsFunc(purls(warm), func(p string) bool { return strings.Contains(p, "/xz-utils@") }) {
				t.Errorf("xz-utils was removed: %v", purls(warm))
			}
			if name == "a Python application" && slices.ContainsFunc(purls(warm), func(p string) bool { return strings.Contains(p, "requests@2.31.0") }) {
				t.Errorf("requests 2.31.0 was replaced: %v", purls(warm))
			}
		})
	}
}

// pythonApp installs requests at a version (deleting the dist-info of
// the other version) and flask into /usr/local's site-packages.
func pythonApp(t testing.TB, requests string) v1.Layer {
	dir := "usr/local/lib/python3.11/site-packages/"
	other := map[string]string{"2.31.0": "2.32.3", "2.32.3": "2.31.0"}[requests]
	info := dir + "requests-" + requests + ".dist-info/"
	return testutil.TarLayer(t,
		testutil.Entry{Name: dir + ".wh.requests-" + other + ".dist-info"},
		testutil.Entry{Name: info + "METADATA", Body: "Metadata-Version: 2.1\nName: requests\nVersion: " + requests + "\nSummary: Python HTTP for Humans.\nLicense: Apache 2.0\nRequires-Dist: urllib3 (<3,>=1.21.1)\n\n"},
		testutil.Entry{Name: info + "RECORD", Body: "requests/__init__.py,sha256=abc,10\n" + info[len(dir):] + "METADATA,,\n"},
		testutil.Entry{Name: info + "top_level.txt", Body: "requests\n"},
		testutil.Entry{Name: dir + "requests/__init__.py", Body: "__version__ = '" + requests + "'\n"},
		testutil.Entry{Name: dir + "flask-3.0.0.dist-info/METADATA", Body: "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.0\nLicense: BSD-3-Clause\n\n"},
		testutil.Entry{Name: dir + "flask-3.0.0.dist-info/RECORD", Body: "flask/__init__.py,,\n"},
		testutil.Entry{Name: dir + "flask/__init__.py", Body: "\n"})
}

const alpineOSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`

func apkStanza(name, version, license string, files ...string) string {
	s := "C:Q1" + strings.Repeat("A", 27) + "=\nP:" + name + "\nV:" + version + "\nA:x86_64\nS:1000\nI:4000\nT:" + name + " package\nU:https://example.org/" + name + "\nL:" + license + "\no:" + name + "\nm:Natanael Copa <ncopa@alpinelinux.org>\nt:1700000000\nc:0123456789abcdef0123456789abcdef01234567\n"
	dir := ""
	for _, f := range files {
		if d := f[:strings.LastIndex(f, "/")]; d != dir {
			s += "F:" + d + "\n"
			dir = d
		}
		s += "R:" + f[strings.LastIndex(f, "/")+1:] + "\n"
	}
	return s + "\n"
}

func TestLayeredAlpineEqualsSyft(t *testing.T) {
	musl := apkStanza("musl", "1.2.4_git20230717-r4", "MIT", "lib/ld-musl-x86_64.so.1")
	busybox := apkStanza("busybox", "1.36.1-r15", "GPL-2.0-only", "bin/busybox")
	curl := apkStanza("curl", "8.5.0-r0", "curl", "usr/bin/curl")
	base := testutil.TarLayer(t,
		testutil.Entry{Name: "etc/os-release", Body: alpineOSRelease},
		testutil.Entry{Name: "etc/apk/repositories", Body: "https://dl-cdn.alpinelinux.org/alpine/v3.19/main\n"},
		testutil.Entry{Name: "lib/apk/db/installed", Body: musl + busybox},
		testutil.Entry{Name: "lib/ld-musl-x86_64.so.1", Body: "musl"},
		testutil.Entry{Name: "bin/busybox", Body: "busybox"})
	added := testutil.TarLayer(t,
		testutil.Entry{Name: "lib/apk/db/installed", Body: musl + busybox + curl},
		testutil.Entry{Name: "usr/bin/curl", Body: "curl"})
	cache, _ := openCache(t)
	warm := sameAsSyft(t, layoutOf(t, testutil.LinuxImage(t, base, added)), cache, "pkg:apk/alpine/curl@8.5.0-r0", "pkg:apk/alpine/musl")
	for _, p := range warm.sbom.Artifacts.Packages.Sorted() {
		if p.Type == pkg.ApkPkg && p.Locations.ToSlice()[0].FileSystemID != mustDiffID(t, added) {
			t.Errorf("%s found in the base's database, which the second layer rewrote", p.Name)
		}
	}
	// another image on the same base shares its analysis
	sameAsSyft(t, layoutOf(t, testutil.LinuxImage(t, base, testutil.TarLayer(t, testutil.Entry{Name: "app/README", Body: "hi"}))), cache, "pkg:apk/alpine/busybox")
}

func mustDiffID(t testing.TB, l v1.Layer) string {
	t.Helper()
	d, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// Layers a squash reads oddly: a path that climbs out of the root, a
// whiteout of nothing, an opaque directory, a file replaced by a link.
func TestLayeredOddLayersEqualSyft(t *testing.T) {
	debian := testutil.SampleLayers(t, "debian", "amd64")[0]
	cache, _ := openCache(t)
	for name, layers := range map[string][]v1.Layer{
		"path traversal": {debian, testutil.TarLayer(t, testutil.Entry{Name: "../../../app/node_modules/left-pad/package.json", Body: `{"name":"left-pad","version":"1.3.0"}`},
			testutil.Entry{Name: "/app/../../etc/dpkg/origins/debian", Body: "Vendor: Debian\n"})},
		"whiteout of nothing": {debian, testutil.TarLayer(t, testutil.Entry{Name: "opt/.wh.nothing-here"}, testutil.Entry{Name: "var/lib/dpkg/info/.wh.no-such.list"})},
		"opaque directory": {debian, npmApp(t), testutil.TarLayer(t, testutil.Entry{Name: "app/node_modules/"}, testutil.Entry{Name: "app/node_modules/.wh..wh..opq"},
			testutil.Entry{Name: "app/node_modules/minimist/package.json", Body: `{"name":"minimist","version":"1.2.8"}`})},
		"a database turned into a link": {debian, testutil.TarLayer(t, testutil.Entry{Name: "var/lib/dpkg/status.real", Body: dpkgStatusWithout(t, "openssl")},
			testutil.Entry{Name: "var/lib/dpkg/status", Link: "status.real"})},
	} {
		t.Run(name, func(t *testing.T) {
			sameAsSyft(t, layoutOf(t, testutil.LinuxImage(t, layers...)), cache)
		})
	}
}

// A stored analysis whose bytes changed is refused and the layer
// catalogued again; the catalogue is syft's all the same.
func TestLayeredCorruptEntryIsRecomputed(t *testing.T) {
	cache, dir := openCache(t)
	art := layoutOf(t, testutil.LinuxImage(t, testutil.SampleLayers(t, "debian", "amd64")[0], npmApp(t)))
	sameAsSyft(t, art, cache)
	corruptLayerCache(t, dir)
	r := catalogue(t, art, cache)
	if r.Layers.Corrupt == 0 || r.Layers.Analysed == 0 {
		t.Fatalf("corrupt entries served: %+v", r.Layers)
	}
	if got, want := packages(r), packages(catalogue(t, art, nil)); !slices.Equal(got, want) {
		t.Errorf("after corruption:\n%s", diff(want, got))
	}
	if r := catalogue(t, art, cache); r.Layers.Cached != r.Layers.Layers {
		t.Errorf("the recomputed analyses were not stored: %+v", r.Layers)
	}
}

// A layer that does not decompress fails the catalogue (and is not
// stored); a layer over the bound fails it even when an analysis made
// under a larger bound is stored.
func TestLayeredBadLayers(t *testing.T) {
	cache, _ := openCache(t)
	t.Run("does not decompress", func(t *testing.T) {
		art := layoutOf(t, testutil.LinuxImage(t, testutil.SampleLayers(t, "npm-app", "amd64")[0], brokenLayer{}))
		if _, err := Generate(context.Background(), art, Options{Cache: cache}); err == nil || !strings.Contains(err.Error(), "sha256:"+strings.Repeat("d", 64)) {
			t.Errorf("want an error naming the layer, got %v", err)
		}
		if u, err := cache.LayerCache(context.Background()); err != nil || u.Entries != 0 {
			t.Errorf("stored %+v (%v) from an image that failed", u, err)
		}
	})
	t.Run("over the bound", func(t *testing.T) {
		art := layoutOf(t, testutil.LinuxImage(t, testutil.SampleLayers(t, "debian", "amd64")[0]))
		catalogue(t, art, cache)
		_, err := Generate(context.Background(), art, Options{Cache: cache, MaxLayerBytes: 1 << 20})
		var tooLarge *ErrTooLarge
		if !errors.As(err, &tooLarge) {
			t.Errorf("want ErrTooLarge, got %v", err)
		}
	})
}

// brokenLayer claims gzip and holds something else.
type brokenLayer struct{}

func (brokenLayer) Digest() (v1.Hash, error) {
	return v1.NewHash("sha256:" + strings.Repeat("b", 64))
}
func (brokenLayer) DiffID() (v1.Hash, error) {
	return v1.NewHash("sha256:" + strings.Repeat("d", 64))
}
func (brokenLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("this is not gzip")), nil
}
func (brokenLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("not gzip")
}
func (brokenLayer) Size() (int64, error) { return int64(len("this is not gzip")), nil }
func (brokenLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

// Catalogues of images sharing layers, run at once, each equal syft's,
// and each layer is stored once.
func TestLayeredConcurrentCatalogues(t *testing.T) {
	cache, _ := openCache(t)
	debian := testutil.SampleLayers(t, "debian", "amd64")[0]
	images := []*oci.Artifact{
		layoutOf(t, testutil.LinuxImage(t, debian, npmApp(t))),
		layoutOf(t, testutil.LinuxImage(t, debian, testutil.SampleLayers(t, "go-app", "amd64")[0])),
		layoutOf(t, testutil.LinuxImage(t, debian, npmApp(t), helloInstalled(t))),
	}
	want := make([][]string, len(images))
	for i, art := range images {
		want[i] = packages(catalogue(t, art, nil))
	}
	var wg sync.WaitGroup
	for round := range 2 {
		for i, art := range images {
			wg.Go(func() {
				r, err := Generate(context.Background(), art, Options{Cache: cache, Created: created})
				if err != nil {
					t.Errorf("round %d image %d: %v", round, i, err)
					return
				}
				if got := packages(r); !slices.Equal(got, want[i]) {
					t.Errorf("round %d image %d:\n%s", round, i, diff(want[i], got))
				}
			})
		}
	}
	wg.Wait()
	u, err := cache.LayerCache(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Entries < 4 {
		t.Errorf("%d analyses stored for 4 distinct layers", u.Entries)
	}
}
