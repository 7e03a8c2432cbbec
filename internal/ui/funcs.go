package ui

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// funcs are what the templates call.
var funcs = template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"whenp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": func(digest string) string {
		if len(digest) > 19 {
			return digest[:19] + "…"
		}
		return digest
	},
	"duration":  humanDuration,
	"add":       func(a, b int64) int64 { return a + b },
	"join":      strings.Join,
	"commitURL": commitURL,
	"webURL": func(s string) string {
		if strings.HasPrefix(s, "https://") {
			return s
		}
		return ""
	},
}

// humanDuration says how long, roughly: "3 days", "5 hours", "12 minutes".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	unit := func(n int, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d >= 2*day:
		return unit(int(d/day), "day")
	case d >= 2*time.Hour:
		return unit(int(d/time.Hour), "hour")
	default:
		return unit(max(int(d/time.Minute), 1), "minute")
	}
}

// commitURL links a commit on the forges whose commit pages are at
// REPOSITORY/commit/SHA ("" for others, and for anything not https).
func commitURL(repository, commit string) string {
	repository = strings.TrimSuffix(strings.TrimPrefix(repository, "git+"), ".git")
	if commit == "" || !strings.HasPrefix(repository, "https://") {
		return ""
	}
	for _, forge := range []string{"https://github.com/", "https://gitlab.com/", "https://codeberg.org/"} {
		if strings.HasPrefix(repository, forge) {
			return repository + "/commit/" + commit
		}
	}
	return ""
}
