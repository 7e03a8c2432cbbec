package scan

import (
	"context"
	"fmt"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Database is what a scan reads: advisories, and when they were imported.
type Database interface {
	Advisories
	Freshness(ctx context.Context) (vulndb.Freshness, error)
}

// Config is how a scan runs; its report records it as it was used.
type Config struct {
	// Source names what was scanned (an SBOM file, or the source given).
	Source string
	// VEX documents whose not_affected and fixed statements suppress
	// findings.
	VEX []*VEX
	// Exceptions waive findings for the digests they cover until they expire.
	Exceptions []evidence.Exception
	// OnlyFixed hides findings that have no fix (unknown fix state is kept).
	OnlyFixed bool
	// Now judges exception expiry and advisory age (default: time.Now()).
	Now time.Time
}

// EffectiveConfig is the configuration a report was made with.
type EffectiveConfig struct {
	VEX        []string `json:"vex"`
	Exceptions []string `json:"exceptions"`
	OnlyFixed  bool     `json:"onlyFixed"`
}

// Scan matches an SBOM's components against the advisory database, marks
// what VEX statements and exceptions suppress, and reports.
func Scan(ctx context.Context, db Database, doc *evidence.Document, cfg Config) (*Report, error) {
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	st, err := db.Freshness(ctx)
	if err != nil {
		return nil, err
	}
	matches, err := Match(ctx, db, doc.Components)
	if err != nil {
		return nil, err
	}
	effective := EffectiveConfig{VEX: []string{}, Exceptions: []string{}, OnlyFixed: cfg.OnlyFixed}
	for _, v := range cfg.VEX {
		v.Apply(matches.Findings, doc.Subject)
		effective.VEX = append(effective.VEX, v.path)
	}
	warnings := applyExceptions(matches.Findings, doc.Subject, cfg.Exceptions, now)
	for _, e := range cfg.Exceptions {
		effective.Exceptions = append(effective.Exceptions, fmt.Sprintf("%s (owner %s, until %s, %s)", e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339), e.Source))
	}
	info := DatabaseInfo{Path: st.Path, LastImport: st.LastImport, NewestModified: st.NewestModified, AgeHours: now.Sub(st.LastImport).Hours()}
	r := NewReport(cfg.Source, doc.Subject, info, matches, Options{OnlyFixed: cfg.OnlyFixed})
	r.Config, r.Warnings, r.scannedAt = effective, warnings, now
	return r, nil
}

// applyExceptions suppresses the findings exceptions in force waive for
// subject, and warns about exceptions that have expired.
func applyExceptions(findings []evidence.Finding, subject *evidence.Subject, exceptions []evidence.Exception, now time.Time) []string {
	var warnings []string
	for _, e := range exceptions {
		if e.Expired(now) {
			warnings = append(warnings, fmt.Sprintf("%s: exception %s (owner %s) expired %s and no longer applies", e.Source, e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339)))
		}
	}
	var s evidence.Subject
	if subject != nil {
		s = *subject
	}
	for i := range findings {
		f := &findings[i]
		if f.Suppression != nil {
			continue
		}
		for _, e := range exceptions {
			if e.Expired(now) || !e.Covers(s) || !e.WaivesFinding(f) {
				continue
			}
			f.Suppression = &evidence.Suppression{Kind: "exception", Reason: e.Reason, Owner: e.Owner, Expires: e.ExpiresAt.UTC().Format(time.RFC3339), Source: e.Source + " (" + e.Name + ")"}
			break
		}
	}
	return warnings
}
