package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// browser starts Debian's headless Chromium for the test. Without it the
// test skips, naming what is missing; under CI it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testutil.Missing(t, "chromium is not installed (apt-get install -y chromium): %v", err)
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	// the first run starts the browser, which lives as long as its
	// context: the time limit is on what follows
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium did not start: %v", err)
	}
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTime)
	return ctx
}

// artefacts is where screenshots go: DOSSIER_ARTEFACTS (the CI run's
// artefact directory) or test/artefacts, under ui/.
func artefacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DOSSIER_ARTEFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test", "artefacts")
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// inReadme are the screenshots the documentation shows (docs/registry.md,
// the web UI; once the README's).
var inReadme = map[string]bool{"overview.png": true, "artifact.png": true, "search.png": true, "exceptions.png": true}

// screenshot keeps a page as a test artefact; with
// DOSSIER_UPDATE_SCREENSHOTS=1 the documentation's pictures (docs/screenshots)
// are replaced too.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artefacts(t), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("DOSSIER_UPDATE_SCREENSHOTS") == "1" && inReadme[name] {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The pages in a real browser: logging in with the keyboard, the
// overview's charts, a search and the artifact it leads to, an
// exception's expiry, a narrow window and keyboard-only use.
func TestInChromium(t *testing.T) {
	srv, s := startUI(t)
	ctx := browser(t)
	text := func(sel string) string {
		t.Helper()
		out, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return out
	}
	active := func() string {
		t.Helper()
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName + ":" + document.activeElement.textContent.trim()`))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// the login form has the focus: type the token and press Enter
	err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("#token")))
	if err != nil {
		t.Fatalf("login page: %v", err)
	}
	if a := active(); a != "token" {
		t.Errorf("the login page's focus is on %q, not the token", a)
	}
	screenshot(t, ctx, "login.png")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(s.adminToken+kb.Enter), chromedp.WaitVisible(chromedp.CSS(`svg[aria-label="Admission decisions per day"]`))); err != nil {
		t.Fatalf("logging in with the keyboard: %v", err)
	}
	if got := text(".cards li:first-child"); !strings.Contains(got, fmt.Sprint(s.admitted)) {
		t.Errorf("overview card: %q, want %d admitted", got, s.admitted)
	}
	if bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart rect").length`)); err != nil || bars < 30 {
		t.Errorf("the charts drew %d bars: %v", bars, err)
	}
	screenshot(t, ctx, "overview.png")

	// search from the header, open the deployed digest
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#quick-q"), "pkg:npm/lodash"+kb.Enter), chromedp.WaitVisible(chromedp.ID("#result-count")))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if got := text("#h-deployed + div table tbody"); !strings.Contains(got, "team/web@sha256:a1a1") {
		t.Errorf("deployed hits: %q", got)
	}
	screenshot(t, ctx, "search.png")
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#h-deployed + div table tbody a")), chromedp.WaitVisible(chromedp.ID("#h-findings")))
	if err != nil {
		t.Fatalf("opening the artifact: %v", err)
	}
	if got := text("#findings table"); !strings.Contains(got, "GHSA-xvch-5gv4-984h") || !strings.Contains(got, "critical") {
		t.Errorf("findings table: %q", got)
	}
	if got := text("#exceptions"); !strings.Contains(got, "minimist-waiver") || !strings.Contains(got, "in 3 days") {
		t.Errorf("the artifact's exceptions: %q", got)
	}
	screenshot(t, ctx, "artifact.png")

	// the exceptions page: the soonest expiry first, highlighted
	err = chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/exceptions"), chromedp.WaitVisible(chromedp.CSS(`tr[data-exception="minimist-waiver"]`)))
	if err != nil {
		t.Fatalf("exceptions: %v", err)
	}
	if got := text(`tr[data-exception="minimist-waiver"]`); !strings.Contains(got, "expires in 3 days") || !strings.Contains(got, "2026-11-29 12:00 UTC") {
		t.Errorf("the expiring exception: %q", got)
	}
	background, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('tr[data-exception="minimist-waiver"]')).backgroundColor`))
	if err != nil || background == "rgba(0, 0, 0, 0)" {
		t.Errorf("the expiring exception is not highlighted: %q %v", background, err)
	}
	screenshot(t, ctx, "exceptions.png")

	// a phone-sized window: nothing wider than the screen but the tables,
	// which scroll in their own box
	err = chromedp.Do(ctx, chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)), chromedp.Navigate(srv.URL+"/ui/artifact?ref="+web.String()), chromedp.WaitVisible(chromedp.ID("#h-sbom")))
	if err != nil {
		t.Fatal(err)
	}
	if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || overflow {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => { const out = []; const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); let n; while ((n = w.nextNode())) { if (n.parentElement.closest(".scroll")) continue; const r = document.createRange(); r.selectNodeContents(n); const b = r.getBoundingClientRect(); if (b.right > window.innerWidth) out.push(n.parentElement.tagName + ": " + n.textContent.slice(0, 60) + " " + Math.round(b.right)); } return out.slice(0, 5); })()`))
		t.Errorf("the artifact page is wider than a 375 px window: %v %v", wide, err)
	}
	screenshot(t, ctx, "artifact-narrow.png")
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		t.Fatal(err)
	}

	// keyboard only: the first Tab reaches the skip link, Enter moves to
	// the content; Tab from the top reaches the search; typing searches
	err = chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("#main")), chromedp.KeyEvent(kb.Tab))
	if err != nil {
		t.Fatal(err)
	}
	if a := active(); a != "A:Skip to content" {
		t.Errorf("the first Tab reached %q, not the skip link", a)
	}
	if visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.activeElement.getBoundingClientRect().left >= 0`)); err != nil || !visible {
		t.Errorf("the focused skip link is off screen: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	if hash, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`)); err != nil || hash != "#main" {
		t.Errorf("the skip link went to %q", hash)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("#main"))); err != nil {
		t.Fatal(err)
	}
	reached := false
	for range 12 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if active() == "quick-q" {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatal("Tab never reached the search field")
	}
	err = chromedp.Do(ctx, chromedp.KeyEvent("CVE-2025-31115"+kb.Enter), chromedp.WaitVisible(chromedp.ID("#result-count")))
	if err != nil {
		t.Fatalf("searching with the keyboard: %v", err)
	}
	if got := text("#h-deployed + div table tbody"); !strings.Contains(got, "payments/api") {
		t.Errorf("keyboard search: %q", got)
	}
}
