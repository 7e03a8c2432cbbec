// Package layering checks that dossier's packages depend on each other as
// docs/architecture.md says: imports point down to internal/evidence, the
// pure policy core and the store lean on evidence alone, the webhook and
// the registry link neither syft nor client-go, and only the CLI and the
// servers' wiring sit on top.
package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dossier-dev/dossier/"

// deps lists every package pkg depends on, transitively, itself left out.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var all []string
	for _, p := range strings.Fields(string(out)) {
		if p != module+pkg {
			all = append(all, p)
		}
	}
	return all
}

// internal keeps dossier's internal packages of all, named below internal/.
func internal(all []string) []string {
	var out []string
	for _, p := range all {
		if rest, ok := strings.CutPrefix(p, module+"internal/"); ok {
			out = append(out, rest)
		}
	}
	return out
}

func TestLayering(t *testing.T) {
	for pkg, allowed := range map[string][]string{
		// the vocabulary and the pure core
		"internal/evidence":       {},
		"internal/notation/trust": {"evidence"},
		// a Notation signer is trust material, as a key is: the policy
		// holds it, notation-go's verifier stays out of the core
		"internal/policy": {"evidence", "notation/trust"},
		"internal/store":  {"evidence"},
		"internal/oci":    {"evidence"},
	} {
		for _, d := range internal(deps(t, pkg)) {
			if !slices.Contains(allowed, d) {
				t.Errorf("%s depends on internal/%s; it may depend on %v only", pkg, d, allowed)
			}
		}
	}
	// nothing below the CLI depends on it or on the servers' wiring
	for _, pkg := range []string{"internal/pipeline", "internal/registry", "internal/admission", "internal/ui", "internal/query", "internal/collect", "internal/tokens"} {
		for _, d := range internal(deps(t, pkg)) {
			if d == "cli" || d == "serving" {
				t.Errorf("%s depends on internal/%s, which sits above it", pkg, d)
			}
		}
	}
	// the webhook and the registry stay small: no cataloguer, no client-go
	for _, pkg := range []string{"internal/admission", "internal/registry", "internal/policy", "internal/store"} {
		for _, d := range deps(t, pkg) {
			if strings.Contains(d, "github.com/anchore/syft") || strings.Contains(d, "k8s.io/client-go") || strings.HasSuffix(d, "internal/sbom/generate") {
				t.Errorf("%s links %s", pkg, d)
			}
		}
	}
	// only the command links the CLI
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[0] != module+"cmd/dossier" && slices.Contains(fields[1:], module+"internal/cli") {
			t.Errorf("%s imports internal/cli; only cmd/dossier does", fields[0])
		}
	}
}
