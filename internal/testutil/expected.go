package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/package-url/packageurl-go"
	"golang.org/x/mod/modfile"
)

// PackageKey reduces a purl to "type/namespace/name@version", the part an
// SBOM must get right whatever qualifiers it adds; "" if it does not parse.
func PackageKey(purl string) string {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return ""
	}
	ns := p.Namespace
	if ns != "" {
		ns += "/"
	}
	return p.Type + "/" + ns + p.Name + "@" + p.Version
}

// ExpectedPackages lists the packages (as PackageKey) every SBOM of a sample image must contain,
// read from the inputs the sample was built from (go.mod, package-lock.json,
// the Debian package versions), not from any SBOM.
func ExpectedPackages(t testing.TB, sample string) []string {
	t.Helper()
	src := filepath.Join(RepoRoot(), "samples", "src", sample)
	var out []string
	switch sample {
	case "go-app":
		data := readFile(t, filepath.Join(src, "go.mod"))
		f, err := modfile.Parse("go.mod", data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Require {
			out = append(out, "golang/"+r.Mod.Path+"@"+r.Mod.Version)
		}
	case "npm-app":
		var lock struct {
			Packages map[string]struct {
				Version string `json:"version"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(readFile(t, filepath.Join(src, "package-lock.json")), &lock); err != nil {
			t.Fatal(err)
		}
		for path, p := range lock.Packages {
			if name, ok := strings.CutPrefix(path, "node_modules/"); ok {
				out = append(out, "npm/"+name+"@"+p.Version)
			}
		}
	case "debian":
		for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(src, "versions.txt")))), "\n") {
			name, version, _ := strings.Cut(line, " ")
			out = append(out, "deb/debian/"+name+"@"+version)
		}
	default:
		t.Fatalf("unknown sample %s", sample)
	}
	if len(out) == 0 {
		t.Fatalf("sample %s: no expected packages", sample)
	}
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
