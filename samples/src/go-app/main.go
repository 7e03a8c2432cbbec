// Command go-app is dossier's sample Go program: it links golang.org/x/text
// and golang.org/x/net at versions with published advisories so that SBOMs
// and scans of the sample image have real findings to show.
package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse("en-US")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	doc, err := html.Parse(strings.NewReader("<p>hello</p>"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(tag, doc.FirstChild.Data)
}
