package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// row writes one table row, each value (fmt's %v) with what could
// break or forge the table — tabs, newlines, terminal escapes and other
// control characters, invalid UTF-8 — escaped as Go escapes them: names,
// images and reasons come from Pods, SBOMs and requests.
func row(t io.Writer, values ...any) {
	cells := make([]string, len(values))
	for i, v := range values {
		cells[i] = printable(fmt.Sprint(v))
	}
	fmt.Fprintln(t, strings.Join(cells, "\t"))
}

// printable escapes the characters of s that are not graphic.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsGraphic(r) {
			quoted := strconv.QuoteToGraphic(s)
			return quoted[1 : len(quoted)-1]
		}
	}
	return s
}

func checkOutput(format string, allowed ...string) error {
	if !slices.Contains(allowed, format) {
		return usageError("unknown output %q (want %s)", format, strings.Join(allowed, ", "))
	}
	return nil
}

// writeFileAtomic writes through a temporary file in the same directory
// and renames it into place, so a failure never leaves a partial file.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
