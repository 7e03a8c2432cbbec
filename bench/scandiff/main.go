// Command scandiff compares `dossier scan -o json` with `osv-scanner --format
// json` on the same SBOM and classifies every difference: either as one of
// osv-scanner's known matching errors, each checked against the advisory
// record, or as unexplained. It exits 1 when anything is unexplained.
//
//	go run ./bench/scandiff dossier.json osv-scanner.json ZIP...
package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

type key struct{ Name, Version, ID string }

type record struct {
	ID       string
	Affected []struct {
		Package  struct{ Ecosystem, Name string }
		Ranges   []struct{ Type string }
		Versions []string
	}
}

var pypiRun = regexp.MustCompile(`[-_.]+`)

func pypiNorm(s string) string { return strings.ToLower(pypiRun.ReplaceAllString(s, "-")) }

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: scandiff dossier.json osv-scanner.json ZIP...")
		os.Exit(2)
	}
	ours, ecosystems := readDossier(os.Args[1])
	theirs := readOSVScanner(os.Args[2])
	records := map[string]*record{}
	for _, z := range os.Args[3:] {
		readZip(z, records)
	}
	counts := map[string]int{}
	var unexplained []string
	for k := range ours {
		if theirs[k] {
			counts["agree"]++
			continue
		}
		why := classify(k, ecosystems[k], records[k.ID])
		if why == "" {
			unexplained = append(unexplained, "only dossier: "+k.Name+"@"+k.Version+" "+k.ID)
			continue
		}
		counts[why]++
	}
	for k := range theirs {
		if !ours[k] {
			unexplained = append(unexplained, "only osv-scanner: "+k.Name+"@"+k.Version+" "+k.ID)
		}
	}
	labels := make([]string, 0, len(counts))
	for l := range counts {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		fmt.Printf("%-70s %d\n", l, counts[l])
	}
	sort.Strings(unexplained)
	for _, u := range unexplained {
		fmt.Println("UNEXPLAINED", u)
	}
	if len(unexplained) > 0 {
		os.Exit(1)
	}
}

// classify names the osv-scanner error that explains a finding only dossier
// reports, after checking the record shows it.
func classify(k key, ecosystem string, r *record) string {
	if r == nil {
		return ""
	}
	for _, a := range r.Affected {
		name := a.Package.Name
		switch {
		case ecosystem == "PyPI" && pypiNorm(name) == pypiNorm(k.Name) && name != pypiNorm(name):
			return "osv-scanner: PyPI advisory name not normalised (" + "jw.util ≠ jw-util)"
		case ecosystem == "PyPI" && pypiNorm(name) == pypiNorm(k.Name) && len(a.Ranges) > 0 && a.Ranges[0].Type == "GIT" && !slices.Contains(a.Versions, k.Version):
			return "osv-scanner: stops at a leading GIT range, ECOSYSTEM range unchecked"
		case ecosystem == "Go" && name == k.Name && name != strings.ToLower(name):
			return "osv-scanner: misses Go module paths with capitals"
		}
	}
	return ""
}

func readDossier(path string) (map[key]bool, map[key]string) {
	var rep struct {
		Findings []struct {
			Ecosystem  string
			Advisories []string
			Component  struct{ Name, Version string }
		}
	}
	decode(path, &rep)
	set, eco := map[key]bool{}, map[key]string{}
	for _, f := range rep.Findings {
		for _, a := range f.Advisories {
			k := key{f.Component.Name, f.Component.Version, a}
			set[k], eco[k] = true, strings.SplitN(f.Ecosystem, ":", 2)[0]
		}
	}
	return set, eco
}

func readOSVScanner(path string) map[key]bool {
	var rep struct {
		Results []struct {
			Packages []struct {
				Package         struct{ Name, Version string }
				Vulnerabilities []struct{ ID string }
			}
		}
	}
	decode(path, &rep)
	set := map[key]bool{}
	for _, r := range rep.Results {
		for _, p := range r.Packages {
			for _, v := range p.Vulnerabilities {
				set[key{p.Package.Name, p.Package.Version, v.ID}] = true
			}
		}
	}
	return set
}

func decode(path string, v any) {
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scandiff:", path, err)
		os.Exit(2)
	}
}

func readZip(path string, into map[string]*record) {
	z, err := zip.OpenReader(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scandiff:", err)
		os.Exit(2)
	}
	defer z.Close()
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		var r record
		if json.Unmarshal(data, &r) == nil {
			into[r.ID] = &r
		}
	}
}
