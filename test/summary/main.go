// Command summary reads `go test -json` events and prints what a person
// needs from a whole run: each package's result, the output of every failed
// test, every skipped test with its reason (a skip for a missing peer or data
// set must not read as a pass), where the time went, and a closing line
// "N passed, N failed, N skipped". It exits 1 when anything failed, or
// when no test ran.
//
//	summary [-timings FILE] [LABEL=]EVENTS.json ...   (standard input without files)
//
// The timings file holds lines "KIND NAME SECONDS [CPU-SECONDS]" (stages and
// peers, as .ci/test and .ci/install-peers write them, CPU being user +
// system time of everything the stage ran); a LABEL marks a run's packages
// in the time table (race=race.json).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// timing is one line of the time table; cpu is negative when not measured.
type timing struct {
	kind, name   string
	seconds, cpu float64
}

// run is what the event streams added up to.
type run struct {
	output                  map[string][]string // package/test → lines
	passed, failed, skipped int
	failures, skips, lines  []string
	failedPkg               map[string]bool
	times                   []timing
}

func main() {
	timingsFile := flag.String("timings", "", "file of \"KIND NAME SECONDS [CPU-SECONDS]\" lines to include in the time table")
	flag.Parse()
	r := &run{output: map[string][]string{}, failedPkg: map[string]bool{}}
	if flag.NArg() == 0 {
		r.read(os.Stdin, "")
	}
	for _, arg := range flag.Args() {
		label, path, ok := strings.Cut(arg, "=")
		if !ok {
			label, path = "", arg
		}
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "summary:", err)
			os.Exit(2)
		}
		r.read(f, label)
		f.Close()
	}
	if *timingsFile != "" {
		if err := r.readTimings(*timingsFile); err != nil {
			fmt.Fprintln(os.Stderr, "summary:", err)
			os.Exit(2)
		}
	}
	r.print()
	if r.failed > 0 {
		os.Exit(1)
	}
	if r.passed == 0 {
		// a run in which nothing ran proves nothing
		fmt.Println("no test ran")
		os.Exit(1)
	}
}

// read adds one run's events; label names the run in the time table.
func (r *run) read(events io.Reader, label string) {
	kind := "package"
	if label != "" {
		kind = "package(" + label + ")"
	}
	in := bufio.NewScanner(events)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		line := in.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Println(string(line)) // the go command's own messages
			continue
		}
		key := label + " " + e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			r.output[key] = append(r.output[key], e.Output)
		case "pass":
			if e.Test != "" {
				r.passed++
			} else {
				r.lines = append(r.lines, fmt.Sprintf("ok   %s %.1fs%s", e.Package, e.Elapsed, suffix(label)))
				r.times = append(r.times, timing{kind: kind, name: e.Package, seconds: e.Elapsed, cpu: -1})
			}
		case "skip":
			if e.Test == "" {
				continue // a package without tests
			}
			r.skipped++
			r.skips = append(r.skips, fmt.Sprintf("%s %s%s: %s", e.Package, e.Test, suffix(label), skipReason(r.output[key])))
		case "fail", "build-fail":
			if e.Test != "" {
				r.failed++
				r.failures = append(r.failures, strings.Join(r.output[key], ""))
				continue
			}
			if !r.failedPkg[label+" "+e.Package] {
				r.failedPkg[label+" "+e.Package] = true
				r.lines = append(r.lines, "FAIL "+e.Package+suffix(label))
				r.times = append(r.times, timing{kind: kind, name: e.Package + " (failed)", seconds: e.Elapsed, cpu: -1})
				if len(r.output[key]) > 0 {
					r.failures = append(r.failures, strings.Join(r.output[key], ""))
				}
			}
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(2)
	}
}

// readTimings adds the stages' and peers' times.
func (r *run) readTimings(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		bad := fmt.Errorf("%s:%d: want \"KIND NAME SECONDS [CPU-SECONDS]\", have %q", path, i+1, line)
		if len(fields) != 3 && len(fields) != 4 {
			return bad
		}
		t := timing{kind: fields[0], name: fields[1], cpu: -1}
		if t.seconds, err = strconv.ParseFloat(fields[2], 64); err != nil {
			return bad
		}
		if len(fields) == 4 {
			if t.cpu, err = strconv.ParseFloat(fields[3], 64); err != nil {
				return bad
			}
		}
		r.times = append(r.times, t)
	}
	return nil
}

func (r *run) print() {
	for _, p := range r.lines {
		fmt.Println(p)
	}
	for _, f := range r.failures {
		fmt.Print("\n" + f)
	}
	if len(r.skips) > 0 {
		sort.Strings(r.skips)
		fmt.Printf("\nskipped (%d): these checks did not run\n", len(r.skips))
		for _, s := range r.skips {
			fmt.Println("  " + s)
		}
	}
	r.printTimes()
	if len(r.failedPkg) > 0 && r.failed == 0 {
		r.failed = len(r.failedPkg) // a package that failed to build runs no test
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
}

// printTimes prints where the time went: stages in the order they ran,
// then peers and packages, slowest first. A package's time is its test
// binary's run, not its compilation (which the stage's time includes).
func (r *run) printTimes() {
	if len(r.times) == 0 {
		return
	}
	sort.SliceStable(r.times, func(i, j int) bool {
		a, b := r.times[i], r.times[j]
		if a.kind == "stage" || b.kind == "stage" {
			return a.kind == "stage" && b.kind != "stage"
		}
		return a.seconds > b.seconds
	})
	fmt.Printf("\ntime (seconds)%73s %7s\n", "wall", "CPU")
	for _, t := range r.times {
		cpu := ""
		if t.cpu >= 0 {
			cpu = strconv.FormatFloat(t.cpu, 'f', 0, 64)
		}
		fmt.Printf("  %-16s %-60s %7.1f %7s\n", t.kind, t.name, t.seconds, cpu)
	}
}

func suffix(label string) string {
	if label == "" {
		return ""
	}
	return " (" + label + ")"
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
