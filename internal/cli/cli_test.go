package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
)

type run struct {
	code           int
	stdout, stderr string
}

func dossier(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	return run{code, out.String(), errOut.String()}
}

func TestVersion(t *testing.T) {
	r := dossier(t, "", "version", "-o", "json")
	var info map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &info) != nil || !strings.HasPrefix(info["goVersion"], "go1.") || info["version"] == "" {
		t.Fatalf("version: %+v", r)
	}
}

func TestResolveTagFromRegistry(t *testing.T) {
	host := testutil.Registry(t)
	index := testutil.PushSample(t, "go-app", host+"/team/go-app:v1")

	r := dossier(t, "", "resolve", host+"/team/go-app:v1")
	if r.code != 0 || strings.TrimSpace(r.stdout) != host+"/team/go-app@"+index {
		t.Fatalf("resolve: %+v", r)
	}
	if !strings.Contains(r.stderr, "resolved "+host+"/team/go-app:v1 to "+host+"/team/go-app@"+index) {
		t.Errorf("resolve should state the digest on stderr: %q", r.stderr)
	}

	arm := testutil.SampleImageDigest(t, "go-app", "arm64")
	r = dossier(t, "", "resolve", "--platform", "linux/arm64", host+"/team/go-app:v1")
	if r.code != 0 || strings.TrimSpace(r.stdout) != host+"/team/go-app@"+arm {
		t.Fatalf("resolve --platform: %+v", r)
	}

	r = dossier(t, "", "resolve", "-o", "json", host+"/team/go-app:v1")
	var out resolveOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("resolve -o json: %+v", r)
	}
	if out.Tag != "v1" || out.Digest != index || out.MediaType != "application/vnd.oci.image.index.v1+json" || len(out.Platforms) != 2 || out.Size == 0 {
		t.Fatalf("resolve -o json: %+v", out)
	}
}

func TestSBOMToFileThenInspect(t *testing.T) {
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/npm-app:v1")
	file := filepath.Join(t.TempDir(), "npm.cdx.json")

	r := dossier(t, "", "sbom", host+"/team/npm-app:v1", "--output-file", file)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("sbom: %+v", r)
	}
	digest := testutil.SampleImageDigest(t, "npm-app", "amd64")
	r = dossier(t, "", "sbom", "inspect", file, "-o", "json")
	var s struct {
		Subject     struct{ Repository, Digest string }
		Format      string
		ByEcosystem []struct {
			Key   string
			Count int
		}
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil {
		t.Fatalf("inspect: %+v", r)
	}
	if s.Subject.Digest != digest || s.Subject.Repository != host+"/team/npm-app" || s.Format != "cyclonedx-json" {
		t.Fatalf("inspect: %+v", s)
	}
	if len(s.ByEcosystem) != 1 || s.ByEcosystem[0].Key != "npm" || s.ByEcosystem[0].Count < 2 {
		t.Fatalf("inspect ecosystems: %+v", s.ByEcosystem)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r = dossier(t, string(data), "sbom", "inspect", "-")
	if r.code != 0 || !strings.Contains(r.stdout, host+"/team/npm-app@"+digest) || !strings.Contains(r.stdout, "ECOSYSTEM") {
		t.Fatalf("inspect table from stdin: %+v", r)
	}
}

func TestSourceDateEpochMakesRunsIdentical(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	src := "oci-layout:" + testutil.SampleLayout("npm-app")
	for _, format := range []string{"cyclonedx-json", "spdx-json", "syft-json"} {
		a := dossier(t, "", "sbom", src, "-o", format)
		b := dossier(t, "", "sbom", src, "-o", format)
		if a.code != 0 || a.stdout != b.stdout {
			t.Errorf("%s: two runs differ (exit %d, %s)", format, a.code, a.stderr)
		}
	}
	r := dossier(t, "", "sbom", src)
	if !strings.Contains(r.stdout, "2023-11-14T22:13:20Z") {
		t.Errorf("SOURCE_DATE_EPOCH not used as the creation time")
	}
}

func TestBadInputExitsTwoNamingTheInput(t *testing.T) {
	dir := t.TempDir()
	notSBOM := filepath.Join(dir, "pod.json")
	if err := os.WriteFile(notSBOM, []byte(`{"kind":"Pod"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "never-written.json")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sbom", "inspect", notSBOM}, "not a CycloneDX, SPDX or syft JSON SBOM"},
		{[]string{"sbom", "inspect", filepath.Join(dir, "absent.json")}, "absent.json"},
		{[]string{"sbom", "oci-layout:" + filepath.Join(dir, "nolayout"), "--output-file", out}, "not an OCI layout"},
		{[]string{"sbom", "oci-layout:" + testutil.SampleLayout("go-app"), "-o", "xml"}, `unknown output "xml"`},
		{[]string{"resolve", "oci-layout:" + testutil.SampleLayout("go-app"), "--platform", "linux"}, "os/arch"},
		// the domain error names the platform; the CLI adds the flag
		{[]string{"sbom", "oci-layout:" + testutil.SampleLayout("go-app"), "--platform", "windows/amd64"}, "no image for platform windows/amd64 (it has: linux/amd64, linux/arm64) (choose one with --platform)"},
		{[]string{"resolve"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		r := dossier(t, "", tt.args...)
		if r.code != ExitError || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed sbom left %s behind", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".never-written*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestEnvironmentConfiguresFlags(t *testing.T) {
	t.Setenv("DOSSIER_PLATFORM", "linux/arm64")
	r := dossier(t, "", "resolve", "oci-layout:"+testutil.SampleLayout("go-app"), "-o", "json")
	var out resolveOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out.PlatformDigest != testutil.SampleImageDigest(t, "go-app", "arm64") {
		t.Fatalf("DOSSIER_PLATFORM not applied: %+v", r)
	}
	// a command's own flags are scoped by its name: DOSSIER_OUTPUT is no
	// setting, DOSSIER_RESOLVE_OUTPUT is resolve's --output
	t.Setenv("DOSSIER_OUTPUT", "bogus")
	if r := dossier(t, "", "resolve", "oci-layout:"+testutil.SampleLayout("go-app")); r.code != 0 || strings.HasPrefix(r.stdout, "{") {
		t.Errorf("DOSSIER_OUTPUT reached resolve: %+v", r)
	}
	t.Setenv("DOSSIER_RESOLVE_OUTPUT", "json")
	if r := dossier(t, "", "resolve", "oci-layout:"+testutil.SampleLayout("go-app")); r.code != 0 || !strings.HasPrefix(r.stdout, "{") {
		t.Errorf("DOSSIER_RESOLVE_OUTPUT not applied: %+v", r)
	}
	t.Setenv("DOSSIER_PLATFORM", "bogus")
	if r := dossier(t, "", "resolve", "oci-layout:"+testutil.SampleLayout("go-app")); r.code != ExitError {
		t.Fatalf("a bad DOSSIER_PLATFORM must be an error: %+v", r)
	}
}

// The demo runs from the repository alone: its defaults are the sample
// layouts and the advisory records bundled with them.
func TestDemoRunsOnSamples(t *testing.T) {
	t.Chdir(testutil.RepoRoot())
	r := dossier(t, "", "demo")
	if r.code != 0 {
		t.Fatalf("demo: %+v", r)
	}
	for _, s := range testutil.Samples {
		if !strings.Contains(r.stdout, "/demo/"+s+":v1") || !strings.Contains(r.stdout, sampleDigest(t, s)) {
			t.Errorf("demo output lacks %s and its digest:\n%s", s, r.stdout)
		}
	}
	npm := testutil.SampleImageDigest(t, "npm-app", "amd64")
	debian := testutil.SampleImageDigest(t, "debian", "amd64")
	for _, want := range []string{
		"scan-summary    2 findings: 1 critical, 1 high", // npm-app scanned with the real advisories
		"lodash 4.17.20  at /app/node_modules/lodash",    // which digests contain lodash < 4.17.21
		npm + "  GHSA-xvch-5gv4-984h minimist 1.2.5",     // which digests CVE-2021-44906 affects
		"  " + debian + "  (record)",                     // the tag overwrite is in the tag's history
		"GHSA-xvch-5gv4-984h critical minimist 1.2.5",    // the dossier of the first digest
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// The advisories bundled with the samples are unmodified copies of real
// OSV records, and all the samples need: the demo finds with them what it
// finds with the whole of the OSV data they come from.
func TestBundledAdvisories(t *testing.T) {
	full := filepath.Join(testutil.VulnData(t), "osv")
	bundled := filepath.Join(testutil.RepoRoot(), "samples", "advisories")
	records, err := filepath.Glob(filepath.Join(bundled, "*", "*.json"))
	if err != nil || len(records) == 0 {
		t.Fatalf("no bundled records in %s: %v", bundled, err)
	}
	for _, record := range records {
		ecosystem := filepath.Base(filepath.Dir(record))
		z, err := zip.OpenReader(filepath.Join(full, ecosystem, "all.zip"))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(z.File, func(f *zip.File) bool { return path.Base(f.Name) == filepath.Base(record) })
		if i < 0 {
			t.Errorf("%s is not in the %s OSV data", record, ecosystem)
			z.Close()
			continue
		}
		rc, _ := z.File[i].Open()
		upstream, _ := io.ReadAll(rc)
		rc.Close()
		z.Close()
		if copied, _ := os.ReadFile(record); !bytes.Equal(copied, upstream) {
			t.Errorf("%s differs from the record it copies", record)
		}
	}
	summaries := func(args ...string) []string {
		r := dossier(t, "", append([]string{"demo", filepath.Join(testutil.RepoRoot(), "samples", "layouts")}, args...)...)
		if r.code != 0 {
			t.Fatalf("demo %v: %+v", args, r)
		}
		var lines []string
		for line := range strings.Lines(r.stdout) {
			if strings.HasPrefix(line, "scan-summary") {
				lines = append(lines, line)
			}
		}
		return lines
	}
	withBundle, withAll := summaries("--advisories", bundled), summaries("--advisories", full)
	if len(withAll) != len(testutil.Samples) || !slices.Equal(withBundle, withAll) {
		t.Errorf("the samples' findings with the bundled records %q, with all of them %q", withBundle, withAll)
	}
}

// sampleDigest is the digest a sample's tagged manifest (image or index)
// has, as the demo pushes it.
func sampleDigest(t *testing.T, sample string) string {
	_, desc := testutil.SampleTagged(t, sample)
	return desc.Digest.String()
}

// generateKey makes a key pair with `dossier key generate` in dir (under
// the password the test set) and returns the prefix of PREFIX.key and
// PREFIX.pub.
func generateKey(t *testing.T, dir, name string) string {
	t.Helper()
	key := filepath.Join(dir, name)
	if r := dossier(t, "", "key", "generate", "--output-prefix", key); r.code != 0 {
		t.Fatal(r)
	}
	return key
}

// The clouds' keychains answer only for their own registries: with all of
// them on, a pull from any other registry is as before; an unknown cloud
// is refused by name, from the flag and from the environment.
func TestCloudCredentialsFlag(t *testing.T) {
	host := testutil.Registry(t)
	index := testutil.PushSample(t, "go-app", host+"/team/go-app:v1")
	r := dossier(t, "", "resolve", "--cloud-credentials", "ecr,google,azure", host+"/team/go-app:v1")
	if r.code != 0 || strings.TrimSpace(r.stdout) != host+"/team/go-app@"+index {
		t.Fatalf("resolve with every cloud's credentials: %+v", r)
	}
	r = dossier(t, "", "resolve", "--cloud-credentials", "aws", host+"/team/go-app:v1")
	if r.code == 0 || !strings.Contains(r.stderr, `cloud registry credentials "aws"`) {
		t.Fatalf("an unknown cloud: %+v", r)
	}
	t.Setenv("DOSSIER_CLOUD_CREDENTIALS", "gcp")
	r = dossier(t, "", "resolve", host+"/team/go-app:v1")
	if r.code == 0 || !strings.Contains(r.stderr, `"gcp"`) {
		t.Fatalf("an unknown cloud from the environment: %+v", r)
	}
}
