package cli

import (
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// stderrIsTerminal decides whether progress is drawn: never into pipes,
// files or CI logs.
func (a *app) stderrIsTerminal() bool {
	w := a.stderr
	if l, ok := w.(*lockedWriter); ok {
		w = l.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressCounter returns a callback that draws a running count on a
// terminal, or nil when stderr is not one.
func (a *app) progressCounter(unit string) func(int) {
	if !a.stderrIsTerminal() {
		return nil
	}
	bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(unit),
		progressbar.OptionClearOnFinish(), progressbar.OptionSpinnerType(14))
	return func(n int) { _ = bar.Set(n) }
}

// progressBytes returns a per-download byte progress bar, or nil.
func (a *app) progressBytes() func(label string, read, total int64) {
	if !a.stderrIsTerminal() {
		return nil
	}
	bars := map[string]*progressbar.ProgressBar{}
	return func(label string, read, total int64) {
		bar, ok := bars[label]
		if !ok {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(label),
				progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish())
			bars[label] = bar
		}
		_ = bar.Set64(read)
	}
}
