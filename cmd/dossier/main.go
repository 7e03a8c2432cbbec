// Command dossier makes every container artifact carry a verifiable dossier
// of evidence bound to its digest.
package main

import (
	"os"

	"github.com/dossier-dev/dossier/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
