// Package interop runs dossier side by side with the real peers (the syft
// CLI, the CNCF distribution registry, crane) and checks dossier's SBOMs
// against the official CycloneDX 1.6 and SPDX 2.3 JSON schemas. Peers are
// installed by .ci/install-peers.
package interop

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// dossierSBOM runs `dossier sbom SOURCE -o FORMAT` in-process.
func dossierSBOM(t *testing.T, source, format string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main([]string{"sbom", source, "-o", format}, nil, &out, &errOut); code != 0 {
		t.Fatalf("dossier sbom %s: exit %d: %s", source, code, errOut.String())
	}
	return out.Bytes()
}

// syftSBOM runs the syft CLI on source and returns its SBOM.
func syftSBOM(t *testing.T, source, format string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command(testutil.Peer(t, "syft"), "scan", source, "-o", format, "-q")
	cmd.Env = append(os.Environ(), append([]string{"SYFT_CHECK_FOR_APP_UPDATE=false"}, env...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("syft scan %s: %v: %s", source, err, errOut.String())
	}
	return out.Bytes()
}

// purlSet decodes an SBOM and returns its components' purls, sorted.
func purlSet(t *testing.T, data []byte, what string) []string {
	t.Helper()
	doc, err := sbom.Decode(bytes.NewReader(data), what)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range doc.Components {
		if c.PURL != "" {
			out = append(out, c.PURL)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func comparePURLs(t *testing.T, what string, ours, theirs []string) {
	t.Helper()
	if len(ours) == 0 {
		t.Fatalf("%s: dossier found no purls", what)
	}
	if !slices.Equal(ours, theirs) {
		t.Errorf("%s: purl sets differ\n only dossier: %v\n only syft:    %v", what, missingFrom(theirs, ours), missingFrom(ours, theirs))
	}
}

// missingFrom lists the items of from that set lacks, sorted.
func missingFrom(set, from []string) []string {
	var out []string
	for _, x := range from {
		if !slices.Contains(set, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

func TestSyftCLIFindsTheSamePackages(t *testing.T) {
	for _, s := range testutil.Samples {
		t.Run(s, func(t *testing.T) {
			layout := testutil.SampleLayout(s)
			ours := purlSet(t, dossierSBOM(t, "oci-layout:"+layout, "cyclonedx-json"), "dossier SBOM of "+s)
			theirs := purlSet(t, syftSBOM(t, "oci-dir:"+layout, "cyclonedx-json@1.6"), "syft SBOM of "+s)
			comparePURLs(t, s, ours, theirs)
			for _, want := range testutil.ExpectedPackages(t, s) {
				found := false
				for _, p := range ours {
					found = found || testutil.PackageKey(p) == want
				}
				if !found {
					t.Errorf("%s: %s (from the sample's inputs) is missing", s, want)
				}
			}
		})
	}
}

// A fat jar's nested jars: dossier catalogues them under a disk budget
// (syft's archive task), the syft CLI by its Java cataloguer's own
// recursion; the packages found must be the same.
func TestSyftCLIFindsTheSameNestedJars(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(testutil.FileImage(t, "app/app.jar", testutil.FatJar(t))); err != nil {
		t.Fatal(err)
	}
	ours := purlSet(t, dossierSBOM(t, "oci-layout:"+dir, "cyclonedx-json"), "dossier SBOM of a fat jar")
	theirs := purlSet(t, syftSBOM(t, "oci-dir:"+dir, "cyclonedx-json@1.6"), "syft SBOM of a fat jar")
	comparePURLs(t, "a fat jar", ours, theirs)
	if !slices.Contains(ours, "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1") {
		t.Errorf("the nested log4j-core is missing: %v", ours)
	}
}

func TestSBOMsValidateAgainstOfficialSchemas(t *testing.T) {
	cdx := cycloneDXSchema(t)
	spdx := spdxSchema(t)
	// the validators must be able to fail
	good := dossierSBOM(t, "oci-layout:"+testutil.SampleLayout("npm-app"), "cyclonedx-json")
	if err := cdx(t, bytes.Replace(good, []byte(`"type": "library"`), []byte(`"type": "gadget"`), 1)); err == nil {
		t.Fatal("the CycloneDX schema accepted a component of type gadget")
	}
	goodSPDX := dossierSBOM(t, "oci-layout:"+testutil.SampleLayout("npm-app"), "spdx-json")
	if err := spdx(t, bytes.Replace(goodSPDX, []byte(`"dataLicense": "CC0-1.0"`), []byte(`"dataLicense": 7`), 1)); err == nil {
		t.Fatal("the SPDX schema accepted a numeric dataLicense")
	}
	for _, s := range testutil.Samples {
		layout := testutil.SampleLayout(s)
		for _, c := range []struct {
			producer string
			data     []byte
			validate func(*testing.T, []byte) error
		}{
			{"dossier cyclonedx", dossierSBOM(t, "oci-layout:"+layout, "cyclonedx-json"), cdx},
			{"syft cyclonedx", syftSBOM(t, "oci-dir:"+layout, "cyclonedx-json@1.6"), cdx},
			{"dossier spdx", dossierSBOM(t, "oci-layout:"+layout, "spdx-json"), spdx},
			{"syft spdx", syftSBOM(t, "oci-dir:"+layout, "spdx-json@2.3"), spdx},
		} {
			if err := c.validate(t, c.data); err != nil {
				t.Errorf("%s SBOM of %s does not validate: %v", c.producer, s, err)
			}
		}
	}
}

// TestRegistries pushes the samples with crane to the CNCF distribution
// registry and to dossier's own (with a token from a Docker config), then
// checks that dossier resolves the tags to the pushed digests and
// catalogues the same packages as syft reading the same registry.
func TestRegistries(t *testing.T) {
	dossierHost, token := startDossierRegistry(t)
	dockerLogin(t, dossierHost, token)
	for name, host := range map[string]string{"distribution": startDistribution(t), "dossier serve": dossierHost} {
		t.Run(name, func(t *testing.T) {
			for _, s := range testutil.Samples {
				ref := host + "/samples/" + s + ":v1"
				cranePush(t, s, ref)
				var out, errOut bytes.Buffer
				if code := cli.Main([]string{"resolve", ref, "--platform", "linux/amd64"}, nil, &out, &errOut); code != 0 {
					t.Fatalf("resolve %s: %s", ref, errOut.String())
				}
				want := host + "/samples/" + s + "@" + testutil.SampleImageDigest(t, s, "amd64")
				if got := strings.TrimSpace(out.String()); got != want {
					t.Errorf("resolve %s = %s, want %s", ref, got, want)
				}
				ours := purlSet(t, dossierSBOM(t, ref, "cyclonedx-json"), "dossier SBOM of "+ref)
				theirs := purlSet(t, syftSBOM(t, "registry:"+ref, "cyclonedx-json@1.6", "SYFT_REGISTRY_INSECURE_USE_HTTP=true"), "syft SBOM of "+ref)
				comparePURLs(t, ref, ours, theirs)
			}
		})
	}
}

func startDistribution(t *testing.T) string {
	t.Helper()
	return startDistributionWith(t, "")
}

// startDistributionWith starts the distribution registry with more
// configuration (YAML appended to the file).
func startDistributionWith(t *testing.T, extra string) string {
	t.Helper()
	bin := testutil.Peer(t, "registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	err = os.WriteFile(config, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
%s`, filepath.Join(dir, "data"), addr, extra)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, "distribution registry on "+addr, exec.Command(bin, "serve", config), func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}

// startServer runs a peer's server until the test ends, and waits up to
// 20 seconds for ready; its output is shown if it never is.
func startServer(t *testing.T, what string, cmd *exec.Cmd, ready func() bool) {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("%s did not start: %s", what, logs.String())
		}
	}
}
