package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dossier-dev/dossier/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite generated files (docs/cli.md) instead of comparing them")

// cliReference is docs/cli.md, relative to the repository root.
const cliReference = "docs/cli.md"

// The command reference in docs/cli.md is generated from the command tree:
// a flag, command or help text changed without regenerating it fails here.
func TestCLIReferenceIsCurrent(t *testing.T) {
	got := renderCLIReference(newApp().rootCommand())
	path := filepath.Join(testutil.RepoRoot(), cliReference)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; generate it: go test ./internal/cli -run TestCLIReferenceIsCurrent -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the command tree says (first difference at line %d); regenerate it: go test ./internal/cli -run TestCLIReferenceIsCurrent -update",
			cliReference, firstDifferentLine(got, want))
	}
}

// newApp is an app as Main makes it, writing nowhere: only its command
// tree is used.
func newApp() *app {
	return &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
}

// renderCLIReference writes every visible command, depth first in the
// order help lists them: its name, short and long help, usage line and
// its own flags. Nothing in it depends on the machine: defaults that do
// (the data directory) are written as the rule that makes them.
func renderCLIReference(root *cobra.Command) []byte {
	machine := map[string]string{defaultDataDir(): "$XDG_DATA_HOME/dossier, else ~/.local/share/dossier"}
	var cmds []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Deprecated != "" {
			return
		}
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)

	var b bytes.Buffer
	b.WriteString("# Command reference\n\n")
	b.WriteString("<!-- Generated from the command tree by `go test ./internal/cli -run TestCLIReferenceIsCurrent -update`; do not edit. -->\n\n")
	b.WriteString("Every command, as `dossier COMMAND --help` prints it. Flags of a command apply to its subcommands too\n")
	b.WriteString("(`--insecure-registry` to every command); every flag can also be set in the environment (see `dossier --help` below for the names).\n")
	b.WriteString("What the commands do, with examples: [usage.md](usage.md) and the pages it links.\n\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "- [`%s`](#%s): %s\n", c.CommandPath(), anchor(c.CommandPath()), markdownText(c.Short))
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "\n## %s\n\n", c.CommandPath())
		if c.Short != "" {
			fmt.Fprintf(&b, "%s\n\n", markdownText(c.Short))
		}
		b.WriteString("```text\n")
		if long := strings.TrimSpace(c.Long); long != "" {
			fmt.Fprintf(&b, "%s\n\n", long)
		}
		b.WriteString("Usage:\n")
		if c.Runnable() {
			fmt.Fprintf(&b, "  %s\n", c.UseLine())
		}
		if c.HasAvailableSubCommands() {
			fmt.Fprintf(&b, "  %s [command]\n", c.CommandPath())
		}
		b.WriteString("```\n")
		flags := c.LocalFlags()
		flags.VisitAll(func(f *pflag.Flag) {
			if m, ok := machine[f.DefValue]; ok {
				f.DefValue = m
			}
		})
		if usages := flags.FlagUsages(); strings.TrimSpace(usages) != "" {
			fmt.Fprintf(&b, "\nFlags:\n\n```text\n%s```\n", usages)
		}
	}
	return b.Bytes()
}

// markdownText escapes what Markdown would otherwise read as markup in
// plain help text (<Ecosystem> as an HTML tag, ** as emphasis).
func markdownText(s string) string {
	return strings.NewReplacer(`\`, `\\`, "<", "&lt;", "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`).Replace(s)
}

// anchor is the fragment GitHub gives a heading.
func anchor(heading string) string {
	var a strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			a.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			a.WriteRune(r)
		}
	}
	return a.String()
}

func firstDifferentLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
