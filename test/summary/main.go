// Command summary reads `go test -json` events on standard input and prints
// what a person needs from a whole run: each package's result, the output
// of every failed test, every skipped test with its reason (a skip for a
// missing peer or data set must not read as a pass), and a closing line
// "N passed, N failed, N skipped". It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	output := map[string][]string{} // package/test → lines
	var passed, failed, skipped int
	var failures, skips, packages []string
	failedPkg := map[string]bool{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		line := in.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Println(string(line)) // the go command's own messages
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				packages = append(packages, fmt.Sprintf("ok   %s %.1fs", e.Package, e.Elapsed))
			}
		case "skip":
			if e.Test == "" {
				continue // a package without tests
			}
			skipped++
			skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(output[key])))
		case "fail", "build-fail":
			if e.Test != "" {
				failed++
				failures = append(failures, strings.Join(output[key], ""))
				continue
			}
			if !failedPkg[e.Package] {
				failedPkg[e.Package] = true
				packages = append(packages, "FAIL "+e.Package)
				if len(output[key]) > 0 {
					failures = append(failures, strings.Join(output[key], ""))
				}
			}
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(2)
	}
	for _, p := range packages {
		fmt.Println(p)
	}
	for _, f := range failures {
		fmt.Print("\n" + f)
	}
	if len(skips) > 0 {
		sort.Strings(skips)
		fmt.Printf("\nskipped (%d): these checks did not run\n", len(skips))
		for _, s := range skips {
			fmt.Println("  " + s)
		}
	}
	if len(failedPkg) > 0 && failed == 0 {
		failed = len(failedPkg) // a package that failed to build runs no test
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		os.Exit(1)
	}
}

// skipReason is what the skipped test logged (the reason t.Skip gave).
func skipReason(lines []string) string {
	var reason []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- SKIP") {
			reason = append(reason, t)
		}
	}
	return strings.Join(reason, " ")
}
