package interop

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// dossier sbom with the layer cache — cold, then warm from the cache alone
// — names the purls the syft CLI names on images whose layers share a
// Debian base, replace a Go binary and delete a package's files.
func TestLayerCacheMatchesSyftCLI(t *testing.T) {
	debian := testutil.SampleLayers(t, "debian", "amd64")[0]
	npm := testutil.SampleLayers(t, "npm-app", "amd64")[0]
	goAMD64, goARM64 := testutil.SampleLayers(t, "go-app", "amd64")[0], testutil.SampleLayers(t, "go-app", "arm64")[0]
	xzDeleted := testutil.TarLayer(t, testutil.Entry{Name: "usr/bin/.wh.xz"}, testutil.Entry{Name: "var/lib/dpkg/info/.wh.xz-utils.list"},
		testutil.Entry{Name: "app/node_modules/.wh.minimist"})
	data := t.TempDir()
	for name, layers := range map[string][]v1.Layer{
		"application layers":   {debian, npm, goAMD64},
		"a Go binary replaced": {debian, goAMD64, goARM64},
		"files deleted":        {debian, npm, xzDeleted},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(testutil.LinuxImage(t, layers...)); err != nil {
				t.Fatal(err)
			}
			theirs := purlSet(t, syftSBOM(t, "oci-dir:"+dir, "cyclonedx-json@1.6"), "syft SBOM of "+name)
			for _, run := range []string{"cold", "warm"} {
				var out, errOut bytes.Buffer
				if code := cli.Main([]string{"sbom", "oci-layout:" + dir, "--data-dir", data, "--layer-cache-mib", "1024"}, nil, &out, &errOut); code != 0 {
					t.Fatalf("dossier sbom: exit %d: %s", code, errOut.String())
				}
				comparePURLs(t, name+" ("+run+")", purlSet(t, out.Bytes(), "dossier SBOM of "+name), theirs)
				if run == "warm" && !strings.Contains(errOut.String(), "3 layers: 3 from the layer cache, 0 catalogued") {
					t.Errorf("warm: %s", errOut.String())
				}
			}
		})
	}
}
