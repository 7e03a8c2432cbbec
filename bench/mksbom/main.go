// Command mksbom writes a CycloneDX SBOM for the scan benchmark from real
// OSV data: for each package an advisory names, one real version (a fixed
// or introduced version, or one from an explicit versions list), across
// the ecosystems both dossier and osv-scanner read from SBOMs.
//
//	go run ./bench/mksbom -n 1500 ../shared/vulndata/osv/{Go,PyPI,crates.io}/all.zip > bench.cdx.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/dossier-dev/dossier/bench/osvzip"

	"github.com/package-url/packageurl-go"
)

type record struct {
	Affected []struct {
		Package struct{ Ecosystem, Name string }
		Ranges  []struct {
			Type   string
			Events []map[string]string
		}
		Versions []string
	}
}

var purlTypes = map[string]string{"Go": "golang", "PyPI": "pypi", "crates.io": "cargo", "npm": "npm"}

func main() {
	n := flag.Int("n", 1500, "number of components")
	flag.Parse()
	perZip := *n / max(1, flag.NArg())
	var comps []map[string]string
	for _, path := range flag.Args() {
		c, err := fromZip(path, perZip)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mksbom:", err)
			os.Exit(1)
		}
		comps = append(comps, c...)
	}
	doc := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": comps}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(doc); err != nil {
		fmt.Fprintln(os.Stderr, "mksbom:", err)
		os.Exit(1)
	}
}

func fromZip(path string, limit int) ([]map[string]string, error) {
	seen := map[string]bool{}
	var out []map[string]string
	err := osvzip.Each(path, func(_ string, data []byte) (bool, error) {
		var r record
		if json.Unmarshal(data, &r) != nil {
			return true, nil
		}
		for _, a := range r.Affected {
			typ, ok := purlTypes[a.Package.Ecosystem]
			if !ok || seen[a.Package.Name] || a.Package.Name == "stdlib" || a.Package.Name == "toolchain" {
				continue
			}
			v := pickVersion(a.Versions, a.Ranges)
			if v == "" {
				continue
			}
			seen[a.Package.Name] = true
			ns, name := "", a.Package.Name
			if i := strings.LastIndex(name, "/"); i > 0 && typ == "golang" {
				ns, name = name[:i], name[i+1:]
			}
			if typ == "golang" {
				v = "v" + v
			}
			purl := packageurl.NewPackageURL(typ, ns, name, v, nil, "").ToString()
			out = append(out, map[string]string{"type": "library", "bom-ref": purl, "name": a.Package.Name, "version": v, "purl": purl})
		}
		return len(out) < limit, nil
	})
	return out, err
}

// pickVersion prefers a listed version, else the last introduced version
// that is not 0, else the first fixed version.
func pickVersion(versions []string, ranges []struct {
	Type   string
	Events []map[string]string
}) string {
	if len(versions) > 0 {
		return versions[len(versions)/2]
	}
	var fixed string
	for _, r := range ranges {
		if r.Type == "GIT" {
			continue
		}
		for _, e := range r.Events {
			if v := e["introduced"]; v != "" && v != "0" {
				return v
			}
			if v := e["fixed"]; v != "" && fixed == "" {
				fixed = v
			}
		}
	}
	return fixed
}
