package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// backends opens a fresh store of each kind: SQLite in a temporary data
// directory, and a new database on the PostgreSQL server of the run.
func backends(t *testing.T) map[string]func(t *testing.T) (*Store, string, string) {
	return map[string]func(t *testing.T) (*Store, string, string){
		"sqlite": func(t *testing.T) (*Store, string, string) {
			dir := t.TempDir()
			s, err := Open(context.Background(), dir, "")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, dir, ""
		},
		"postgres": func(t *testing.T) (*Store, string, string) {
			url := testutil.PostgresDatabase(t)
			s, err := Open(context.Background(), "", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, "", url
		},
	}
}

var (
	t0       = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	app1     = evidence.Subject{Repository: "registry.example/team/app", Digest: "sha256:" + strings.Repeat("a", 64)}
	app2     = evidence.Subject{Repository: "registry.example/team/app", Digest: "sha256:" + strings.Repeat("b", 64)}
	other    = evidence.Subject{Repository: "registry.example/team/other", Digest: "sha256:" + strings.Repeat("c", 64)}
	lodash   = evidence.Component{Name: "lodash", Version: "4.17.20", Type: "library", PURL: "pkg:npm/lodash@4.17.20", Locations: []string{"/app/package-lock.json"}}
	minimist = evidence.Component{Name: "minimist", Version: "1.2.5", Type: "library", PURL: "pkg:npm/minimist@1.2.5"}
	release  = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	ghIssuer = "https://token.actions.githubusercontent.com"
)

func lodashFinding() evidence.Finding {
	return evidence.Finding{ID: "GHSA-35jh-r3h4-6jhm", Aliases: []string{"CVE-2021-23337"}, Advisories: []string{"GHSA-35jh-r3h4-6jhm"},
		Component: lodash, Ecosystem: "npm", Severity: evidence.Severity{Rating: "high"}, FixState: evidence.FixFixed}
}

func fullRecord(subject evidence.Subject, at time.Time) Record {
	signed := at.Add(-time.Minute)
	return Record{
		Subject: subject, MediaType: "application/vnd.oci.image.manifest.v1+json", Platform: "linux/amd64", At: at,
		Tag: "v1", TagSource: "record",
		Components: []evidence.Component{lodash, minimist},
		Findings:   &Scan{Findings: []evidence.Finding{lodashFinding()}, DatabaseVersion: at.Add(-time.Hour)},
		Signatures: []evidence.VerifiedSignature{{Subject: subject, Verification: evidence.Verification{
			Signer: evidence.Signer{KeyFingerprint: "sha256:" + strings.Repeat("f", 64)}, StoredAt: "sha256:sig", Layout: evidence.LayoutReferrer, TransparencyLogSkipped: true}}},
		Attestations: []evidence.Attestation{{Subject: subject, PredicateType: evidence.PredicateSLSA1, Predicate: []byte(`{"buildDefinition":{}}`),
			Verification: evidence.Verification{Signer: evidence.Signer{Identity: release, Issuer: ghIssuer}, SigningTime: &signed, StoredAt: "sha256:prov", Layout: evidence.LayoutReferrer},
			Provenance:   &evidence.Provenance{BuilderID: release, SourceRepository: "https://github.com/acme/app", Commit: "0123", Trigger: "push"}}},
		Rejected: []evidence.RejectedSignature{{PredicateType: evidence.PredicateSignatures, StoredAt: "sha256:bad", Kind: evidence.FailureUntrustedKey, Reason: "signed by a key that is not trusted"}},
		Decision: &evidence.Decision{Subject: subject, Allowed: false, Mode: evidence.ModeEnforce, EvaluatedAt: at,
			Rules: []evidence.RuleResult{{Policy: "p", Rule: "no-high", Outcome: evidence.OutcomeFail, Reason: "1 finding"}}},
		Exceptions: []evidence.Exception{{Name: "lodash-waiver", Owner: "web", Subject: subject, Reason: "r", ExpiresAt: at.Add(24 * time.Hour), Vulnerabilities: []string{"CVE-2021-23337"}}},
	}
}

// components asks for every hit of a component.
func components(t *testing.T, s *Store, what string) []ComponentHit {
	t.Helper()
	page, err := s.Components(context.Background(), ComponentQuery{What: what})
	if err != nil || page.Total != len(page.Hits) {
		t.Fatalf("components %s: %d of %d hits: %v", what, len(page.Hits), page.Total, err)
	}
	return page.Hits
}

// affected asks for every digest an advisory affects.
func affected(t *testing.T, s *Store, advisory string) []FindingHit {
	t.Helper()
	page, err := s.Affected(context.Background(), advisory, Page{})
	if err != nil || page.Total != len(page.Hits) {
		t.Fatalf("affected by %s: %d of %d hits: %v", advisory, len(page.Hits), page.Total, err)
	}
	return page.Hits
}

func TestRecordAndQuestions(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			if err := s.Record(ctx, fullRecord(app1, t0)); err != nil {
				t.Fatal(err)
			}
			if err := s.Record(ctx, Record{Subject: other, At: t0, Tag: "stable", Components: []evidence.Component{{Name: "lodash", Version: "4.17.21", PURL: "pkg:npm/lodash@4.17.21"}}}); err != nil {
				t.Fatal(err)
			}
			// 1. which digests contain lodash: by purl (any version) and by
			// name, newest digests first
			hits, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash"})
			if err != nil || hits.Total != 2 || len(hits.Hits) != 2 || hits.Hits[0].Subject != other || hits.Hits[0].Tags[0] != "stable" ||
				hits.Hits[1].Subject != app1 || hits.Hits[1].Component.Locations[0] != "/app/package-lock.json" {
				t.Fatalf("components by purl: %+v %v", hits, err)
			}
			if hits := components(t, s, "lodash"); len(hits) != 2 {
				t.Errorf("components by name: %+v", hits)
			}
			if hits := components(t, s, "pkg:npm/left-pad"); len(hits) != 0 {
				t.Errorf("absent component: %+v", hits)
			}
			// the versions a range accepts, decided by the caller
			older := func(base, version string) (bool, error) { return base == "pkg:npm/lodash" && version == "4.17.20", nil }
			if hits, err := s.Components(ctx, ComponentQuery{What: "lodash", Accept: older}); err != nil || hits.Total != 1 || hits.Hits[0].Subject != app1 {
				t.Errorf("components in a range: %+v %v", hits, err)
			}
			refuse := errors.New("no order for these versions")
			if _, err := s.Components(ctx, ComponentQuery{What: "lodash", Accept: func(string, string) (bool, error) { return false, refuse }}); !errors.Is(err, refuse) {
				t.Errorf("a range that cannot be decided: %v", err)
			}
			// pages: the total stays, the hits are the page's
			second, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash", Page: Page{Offset: 1, Limit: 1}})
			if err != nil || second.Total != 2 || len(second.Hits) != 1 || second.Hits[0].Subject != app1 {
				t.Errorf("second page: %+v %v", second, err)
			}
			if past, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash", Page: Page{Offset: 5, Limit: 1}}); err != nil || past.Total != 2 || len(past.Hits) != 0 {
				t.Errorf("a page past the end: %+v %v", past, err)
			}
			// 2. which digests an advisory affects, by ID or alias
			for _, id := range []string{"GHSA-35jh-r3h4-6jhm", "CVE-2021-23337"} {
				f, err := s.Affected(ctx, id, Page{})
				if err != nil || f.Total != 1 || len(f.Hits) != 1 || f.Hits[0].Subject != app1 || f.Hits[0].Finding.FirstSeen != t0 || f.Hits[0].Tags[0] != "v1" {
					t.Errorf("affected by %s: %+v %v", id, f, err)
				}
			}
			// 4. what the key signed, what the workflow identity attested
			key := SignerFilter{KeyFingerprint: "sha256:" + strings.Repeat("f", 64)}
			if sigs, err := s.Signed(ctx, key, t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil || len(sigs) != 1 || sigs[0].Subject != app1 {
				t.Errorf("signed by key: %+v %v", sigs, err)
			}
			if sigs, _ := s.Signed(ctx, key, t0.Add(time.Hour), t0.Add(2*time.Hour)); len(sigs) != 0 {
				t.Errorf("outside the window: %+v", sigs)
			}
			re := regexp.MustCompile(`^https://github\.com/acme/`)
			if sigs, _ := s.Signed(ctx, SignerFilter{Match: re.MatchString, Issuer: ghIssuer}, t0.Add(-time.Hour), t0.Add(time.Hour)); len(sigs) != 1 || sigs[0].PredicateType != evidence.PredicateSLSA1 {
				t.Errorf("signed by identity expression: %+v", sigs)
			}
			if _, err := s.Signed(ctx, SignerFilter{}, t0, t0); err == nil {
				t.Error("a signer query without a signer must be refused")
			}
			// 5. the dossier of the digest
			d, err := s.Dossier(ctx, app1)
			if err != nil || d == nil {
				t.Fatal(d, err)
			}
			if len(d.Components) != 2 || len(d.Findings) != 1 || len(d.Signatures) != 1 || len(d.Attestations) != 1 || d.Attestations[0].Provenance.SourceRepository != "https://github.com/acme/app" ||
				len(d.Unverified) != 1 || d.Unverified[0].Kind != evidence.FailureUntrustedKey || len(d.Exceptions) != 1 || len(d.Decisions) != 1 || len(d.Tags) != 1 || d.Platform != "linux/amd64" {
				t.Errorf("dossier: %+v", d)
			}
			if d, err := s.Dossier(ctx, evidence.Subject{Repository: "x", Digest: app2.Digest}); d != nil || err != nil {
				t.Errorf("unknown digest: %+v %v", d, err)
			}

			// recording the same evidence again changes nothing but times
			if err := s.Record(ctx, fullRecord(app1, t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			d, _ = s.Dossier(ctx, app1)
			if len(d.Components) != 2 || len(d.Findings) != 1 || len(d.Signatures) != 1 || len(d.Decisions) != 1 || len(d.Tags) != 1 ||
				d.Findings[0].FirstSeen != t0 || d.Findings[0].LastSeen != t0.Add(time.Hour) || d.FirstSeen != t0 {
				t.Errorf("re-record: %+v", d)
			}

			// 3. the tag moves to another digest: both are in its history
			moved := fullRecord(app2, t0.Add(2*time.Hour))
			if err := s.Record(ctx, moved); err != nil {
				t.Fatal(err)
			}
			history, err := s.TagHistory(ctx, app1.Repository, "v1")
			if err != nil || len(history) != 2 || history[0].Digest != app1.Digest || history[1].Digest != app2.Digest || history[1].ObservedAt != t0.Add(2*time.Hour) {
				t.Fatalf("tag history: %+v %v", history, err)
			}
			if hits := components(t, s, "pkg:npm/minimist"); len(hits) != 2 || hits[0].Tags[0] != "v1" || len(hits[1].Tags) != 0 {
				t.Errorf("current tags after the move: %+v", hits)
			}

			// a rescan without the finding resolves it
			fixed := Record{Subject: app1, At: t0.Add(3 * time.Hour), Findings: &Scan{DatabaseVersion: t0.Add(3 * time.Hour)}}
			if err := s.Record(ctx, fixed); err != nil {
				t.Fatal(err)
			}
			if f := affected(t, s, "CVE-2021-23337"); len(f) != 1 || f[0].Subject != app2 {
				t.Errorf("resolved finding still affected: %+v", f)
			}
			// both digests share one finding document
			var documents int
			if err := s.db.QueryRow(`SELECT count(*) FROM finding_documents`).Scan(&documents); err != nil || documents != 1 {
				t.Errorf("%d finding documents for one finding in two digests: %v", documents, err)
			}
			d, _ = s.Dossier(ctx, app1)
			if len(d.Findings) != 1 || d.Findings[0].ResolvedAt == nil || *d.Findings[0].ResolvedAt != t0.Add(3*time.Hour) {
				t.Errorf("finding history: %+v", d.Findings)
			}
		})
	}
}

func TestRecordRefusesIncompleteRecords(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			for _, r := range []Record{{Subject: evidence.Subject{Repository: "r", Digest: "latest"}, At: t0}, {Subject: app1}} {
				if err := s.Record(context.Background(), r); err == nil {
					t.Errorf("accepted %+v", r)
				}
			}
			// several records are written all or none: the second fails
			// inside the transaction, the first is not kept
			bad := Record{Subject: app2, At: t0, Components: []evidence.Component{lodash}, PackageKeys: []string{"npm/lodash", "npm/extra"}}
			if err := s.Record(context.Background(), fullRecord(app1, t0), bad); err == nil || !strings.Contains(err.Error(), app2.String()) {
				t.Errorf("a batch with a bad record: %v", err)
			}
			if d, err := s.Dossier(context.Background(), app1); d != nil || err != nil {
				t.Errorf("a record of a failed batch was kept: %+v %v", d, err)
			}
		})
	}
}

// insertSubject writes a subject row as an older schema would.
func insertSubject(t *testing.T, db *sql.DB, d dialect, subject evidence.Subject) int64 {
	t.Helper()
	var id int64
	if err := db.QueryRow(d.placeholders(`INSERT INTO subjects (repository, digest, first_seen, last_recorded) VALUES (?, ?, ?, ?) RETURNING id`),
		subject.Repository, subject.Digest, micros(t0), micros(t0)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// reopen closes a store written by an older schema and opens it, migrated.
func reopen(t *testing.T, db *sql.DB, dir, url string) *Store {
	t.Helper()
	db.Close()
	s, err := Open(context.Background(), dir, url)
	if err != nil {
		t.Fatalf("migrating: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A store written by a newer dossier is refused; one written by the first
// schema version, with data in it, is migrated and keeps its data.
func TestSchemaVersions(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, dir, url := open(t)
			db := s.db
			if _, err := db.Exec(`UPDATE dossier_schema SET version = 99`); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(ctx, dir, url); !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "upgrade dossier") {
				t.Fatalf("newer schema: %v", err)
			}
		})
	}
	old := map[string]func(t *testing.T) (*sql.DB, dialect, string, string){
		"sqlite": func(t *testing.T) (*sql.DB, dialect, string, string) {
			dir := t.TempDir()
			db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}
			return db, sqlite, dir, ""
		},
		"postgres": func(t *testing.T) (*sql.DB, dialect, string, string) {
			url := testutil.PostgresDatabase(t)
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			return db, postgres, "", url
		},
	}
	for name, make := range old {
		t.Run(name+" version 2 components", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:2]); err != nil {
				t.Fatal(err)
			}
			id := insertSubject(t, db, d, app1)
			// a version 2 row: the whole component in its document
			if _, err := db.Exec(d.placeholders(`INSERT INTO components (subject_id, purl_base, name, version, type, component, package_key) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				id, "pkg:npm/lodash", lodash.Name, lodash.Version, lodash.Type, mustJSON(lodash), "npm/lodash"); err != nil {
				t.Fatal(err)
			}
			s := reopen(t, db, dir, url)
			dos, err := s.Dossier(ctx, app1)
			if err != nil || len(dos.Components) != 1 || dos.Components[0].PURL != lodash.PURL || dos.Components[0].Locations[0] != lodash.Locations[0] {
				t.Fatalf("a version 2 component after migration: %+v %v", dos, err)
			}
			if hits := components(t, s, "pkg:npm/lodash"); len(hits) != 1 || hits[0].Component.PURL != lodash.PURL {
				t.Errorf("lookup of a version 2 component: %+v", hits)
			}
		})
		t.Run(name+" version 3 findings", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:3]); err != nil {
				t.Fatal(err)
			}
			id := insertSubject(t, db, d, app1)
			// version 3 rows: a whole document per digest and finding, its
			// IDs beside it; one open, one resolved
			open, gone := lodashFinding(), lodashFinding()
			gone.ID, gone.Aliases, gone.Advisories = "GHSA-old", []string{"CVE-2020-0001"}, []string{"GHSA-old"}
			for i, f := range []evidence.Finding{open, gone} {
				var resolved any
				if i == 1 {
					resolved = micros(t0.Add(2 * time.Hour))
				}
				var fid int64
				if err := db.QueryRow(d.placeholders(`INSERT INTO findings (subject_id, advisory, component_key, finding, first_seen, last_seen, resolved_at, database_version)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), id, f.ID, f.Component.PURL, mustJSON(f), micros(t0), micros(t0.Add(time.Hour)), resolved, micros(t0)).Scan(&fid); err != nil {
					t.Fatal(err)
				}
				for _, adv := range f.IDs() {
					if _, err := db.Exec(d.placeholders(`INSERT INTO finding_ids (finding_id, advisory_id) VALUES (?, ?)`), fid, adv); err != nil {
						t.Fatal(err)
					}
				}
			}
			s := reopen(t, db, dir, url)
			if f := affected(t, s, "CVE-2021-23337"); len(f) != 1 || f[0].Finding.FirstSeen != t0 || f[0].Finding.LastSeen != t0.Add(time.Hour) || f[0].Finding.Component.PURL != lodash.PURL {
				t.Errorf("a version 3 finding after migration: %+v", f)
			}
			if f := affected(t, s, "CVE-2020-0001"); len(f) != 0 {
				t.Errorf("a resolved version 3 finding is open after migration: %+v", f)
			}
			dos, err := s.Dossier(ctx, app1)
			if err != nil || len(dos.Findings) != 2 || dos.Findings[0].ID != "GHSA-35jh-r3h4-6jhm" || dos.Findings[0].ResolvedAt != nil ||
				dos.Findings[1].ResolvedAt == nil || !dos.Findings[1].ResolvedAt.Equal(t0.Add(2*time.Hour)) {
				t.Errorf("version 3 finding history after migration: %+v %v", dos, err)
			}
		})
		t.Run(name+" version 9 admissions", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:9]); err != nil {
				t.Fatal(err)
			}
			id := insertSubject(t, db, d, app1)
			// version 9 rows: each admission with its whole decision; two
			// reviews decided alike, a third differently, one without
			decision := evidence.Decision{Subject: app1, Allowed: true, Mode: evidence.ModeEnforce, Policies: []string{"release"}}
			denied := decision
			denied.Allowed = false
			for i, dec := range []*evidence.Decision{&decision, &decision, &denied, nil} {
				var doc any
				if dec != nil {
					dec.EvaluatedAt = t0.Add(time.Duration(i) * time.Minute)
					doc = mustJSON(dec)
				}
				if _, err := db.Exec(d.placeholders(`INSERT INTO admissions (at, subject_id, image, namespace, workload, username, outcome, reason, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
					micros(t0.Add(time.Duration(i)*time.Minute)), id, app1.String(), "prod", fmt.Sprintf("Pod/web-%d", i), "dev", AdmissionAllowed, "", doc); err != nil {
					t.Fatal(err)
				}
			}
			s := reopen(t, db, dir, url)
			list, err := s.Admissions(ctx, time.Time{}, "", 0, nil)
			if err != nil || len(list) != 4 {
				t.Fatalf("version 9 admissions after migration: %+v %v", list, err)
			}
			// newest first
			if list[0].Decision != nil || list[1].Decision == nil || list[1].Decision.Allowed || list[2].Decision == nil || !list[2].Decision.Allowed ||
				!list[2].Decision.EvaluatedAt.Equal(t0.Add(time.Minute)) || list[3].Decision.Policies[0] != "release" {
				t.Errorf("decisions after migration: %+v", list)
			}
			var documents int
			if err := s.db.QueryRow(`SELECT count(*) FROM decision_documents`).Scan(&documents); err != nil || documents != 2 {
				t.Errorf("%d decision documents for two distinct decisions: %v", documents, err)
			}
		})
		t.Run(name+" version 13 admissions counted per day", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:13]); err != nil {
				t.Fatal(err)
			}
			v13 := &Store{db: db, d: d}
			signed := fullRecord(app1, t0)
			signed.Findings, signed.Components = nil, nil // today's scan and cataloguer columns came after version 13
			if err := v13.Record(ctx, signed); err != nil {
				t.Fatal(err)
			}
			id := insertSubject(t, db, d, app2)
			for i, a := range []struct{ image, outcome string }{{app1.String(), AdmissionAllowed}, {app1.Repository + ":v1", AdmissionAllowed}, {app2.String(), AdmissionDenied}} {
				var subject any = id
				if i < 2 {
					if err := db.QueryRow(d.placeholders(`SELECT id FROM subjects WHERE digest = ?`), app1.Digest).Scan(&subject); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := db.Exec(d.placeholders(`INSERT INTO admissions (at, subject_id, image, namespace, workload, username, outcome, reason) VALUES (?, ?, ?, 'prod', 'Pod/p', 'u', ?, '')`),
					micros(t0.Add(time.Duration(i)*time.Hour)), subject, a.image, a.outcome); err != nil {
					t.Fatal(err)
				}
			}
			s := reopen(t, db, dir, url)
			days, err := s.Trend(ctx, t0, 1, nil)
			if err != nil || len(days) != 1 || days[0].Admitted != 2 || days[0].Pinned != 1 || days[0].Signed != 2 || days[0].Admissions[AdmissionDenied] != 1 {
				t.Errorf("version 13 admissions after migration: %+v %v", days, err)
			}
		})
		t.Run(name+" version 15 admin tokens from the environment", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:15]); err != nil {
				t.Fatal(err)
			}
			for _, token := range []struct{ hash, role, repositories, description string }{
				{"env", RoleAdmin, "**", "from DOSSIER_ADMIN_TOKEN"}, {"made", RoleAdmin, "**", "ops"}, {"named-alike", RolePull, "team/**", "from DOSSIER_ADMIN_TOKEN"},
			} {
				if _, err := db.Exec(d.placeholders(`INSERT INTO registry_tokens (hash, repositories, role, description, created_at) VALUES (?, ?, ?, ?, ?)`),
					token.hash, token.repositories, token.role, token.description, micros(t0)); err != nil {
					t.Fatal(err)
				}
			}
			s := reopen(t, db, dir, url)
			for hash, origin := range map[string]string{"env": OriginEnvironment, "made": "", "named-alike": ""} {
				if tok, err := s.TokenByHash(ctx, hash); err != nil || tok == nil || tok.Origin != origin {
					t.Errorf("token %s after migration: %+v %v (want origin %q)", hash, tok, err, origin)
				}
			}
		})
		t.Run(name+" version 16 admissions by repository", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:16]); err != nil {
				t.Fatal(err)
			}
			id := insertSubject(t, db, d, app1)
			for i, a := range []struct {
				subject any
				image   string
			}{{id, app1.String()}, {nil, "Registry.Example:443/team/other:v1"}, {nil, "registry.example/team/other@sha256:" + strings.Repeat("e", 64)}} {
				if _, err := db.Exec(d.placeholders(`INSERT INTO admissions (at, subject_id, image, namespace, workload, username, outcome, reason) VALUES (?, ?, ?, 'prod', 'Pod/p', 'u', ?, '')`),
					micros(t0.Add(time.Duration(i)*time.Minute)), a.subject, a.image, AdmissionDenied); err != nil {
					t.Fatal(err)
				}
			}
			s := reopen(t, db, dir, url)
			onlyOther := Scope(func(r string) bool { return r == other.Repository })
			if list, err := s.Admissions(ctx, t0, AdmissionDenied, 0, onlyOther); err != nil || len(list) != 2 {
				t.Errorf("team/other's denials after migration: %+v %v", list, err)
			}
			if days, err := s.Trend(ctx, t0, 1, onlyOther); err != nil || days[0].Admissions[AdmissionDenied] != 2 {
				t.Errorf("team/other's trend after migration: %+v %v", days, err)
			}
			if days, err := s.Trend(ctx, t0, 1, nil); err != nil || days[0].Admissions[AdmissionDenied] != 3 {
				t.Errorf("the trend after migration: %+v %v", days, err)
			}
		})
		t.Run(name+" version 1", func(t *testing.T) {
			db, d, dir, url := make(t)
			if err := migrateWith(ctx, db, d, migrations[:1]); err != nil {
				t.Fatal(err)
			}
			v1 := &Store{db: db, d: d}
			r := fullRecord(app1, t0)
			if err := v1.Record(ctx, Record{Subject: r.Subject, At: r.At, Components: r.Components}); err == nil {
				t.Fatal("a version 1 store has no package keys: recording into it should fail")
			}
			if _, err := db.Exec(d.placeholders(`INSERT INTO subjects (repository, digest, first_seen, last_recorded) VALUES (?, ?, ?, ?)`), app1.Repository, app1.Digest, micros(t0), micros(t0)); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := Open(ctx, dir, url)
			if err != nil {
				t.Fatalf("migrating a version 1 store: %v", err)
			}
			defer s.Close()
			if d, err := s.Dossier(ctx, app1); err != nil || d == nil || d.FirstSeen != t0 {
				t.Errorf("data kept across the migration: %+v %v", d, err)
			}
			if err := s.Record(ctx, fullRecord(app1, t0.Add(time.Hour))); err != nil {
				t.Errorf("recording after the migration: %v", err)
			}
		})
	}
}

// Replicas that start together on an empty database create the schema
// once, without failing each other.
func TestConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	targets := map[string]func(t *testing.T) (string, string){
		"sqlite":   func(t *testing.T) (string, string) { return t.TempDir(), "" },
		"postgres": func(t *testing.T) (string, string) { return "", testutil.PostgresDatabase(t) },
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			dir, url := target(t)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := Open(ctx, dir, url)
					if err != nil {
						errs <- err
						return
					}
					errs <- s.Close()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// Eight writers, each with its own connection pool as separate processes
// would have, record the same and different digests: nothing is lost and
// no "database is locked" reaches them.
func TestConcurrentRecords(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			_, dir, url := open(t)
			var wg sync.WaitGroup
			errs := make(chan error, 8*10)
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := Open(ctx, dir, url)
					if err != nil {
						errs <- err
						return
					}
					defer s.Close()
					for i := range 10 {
						subject := evidence.Subject{Repository: "registry.example/team/app", Digest: fmt.Sprintf("sha256:%064d", i)}
						if w%2 == 1 {
							subject.Digest = fmt.Sprintf("sha256:%064d", 1000+w*10+i)
						}
						r := fullRecord(subject, t0.Add(time.Duration(w*10+i)*time.Second))
						r.Tag = fmt.Sprintf("w%d", w)
						if err := s.Record(ctx, r); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			s, err := Open(ctx, dir, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if hits := components(t, s, "pkg:npm/lodash"); len(hits) != 10+4*10 {
				t.Errorf("%d digests with lodash, want 50", len(hits))
			}
			if f := affected(t, s, "CVE-2021-23337"); len(f) != 10+4*10 {
				t.Errorf("%d digests affected, want 50", len(f))
			}
			for w := range 8 {
				if h, _ := s.TagHistory(ctx, "registry.example/team/app", fmt.Sprintf("w%d", w)); len(h) != 10 {
					t.Errorf("tag w%d: %d moves, want 10", w, len(h))
				}
			}
		})
	}
}

// A rescan of changed advisory records resolves the findings of those
// records it did not see again, and leaves alone findings that merely
// name a changed record as an alias.
func TestRescannedResolvesChangedRecords(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			withdrawn := lodashFinding() // its record GHSA-35jh-r3h4-6jhm is withdrawn
			aliased := lodashFinding()   // another record naming it as an alias
			aliased.ID, aliased.Aliases, aliased.Advisories = "DEBIAN-CVE-2021-23337", []string{"GHSA-35jh-r3h4-6jhm"}, []string{"DEBIAN-CVE-2021-23337"}
			r := Record{Subject: app1, At: t0, Components: []evidence.Component{lodash}, Findings: &Scan{Findings: []evidence.Finding{withdrawn, aliased}, DatabaseVersion: t0}}
			if err := s.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
			added := lodashFinding()
			added.ID, added.Aliases, added.Advisories = "GHSA-new", nil, []string{"GHSA-new"}
			later := t0.Add(time.Hour)
			fresh, err := s.Rescanned(ctx, later, later, []string{"GHSA-35jh-r3h4-6jhm", "GHSA-new"},
				[]RescanResult{{Subject: app1, Findings: []evidence.Finding{added}}}, map[string]AdvisoryFingerprint{"GHSA-new": {Hash: "h", Packages: []string{"npm/lodash"}}})
			if err != nil || len(fresh) != 1 || fresh[0].Finding.ID != "GHSA-new" || fresh[0].Subject != app1 || fresh[0].Tags == nil {
				t.Fatalf("fresh findings: %+v %v", fresh, err)
			}
			d, err := s.Dossier(ctx, app1)
			if err != nil {
				t.Fatal(err)
			}
			open := map[string]bool{}
			for _, f := range d.Findings {
				open[f.ID] = f.ResolvedAt == nil
			}
			if len(open) != 3 || open["GHSA-35jh-r3h4-6jhm"] || !open["DEBIAN-CVE-2021-23337"] || !open["GHSA-new"] {
				t.Errorf("after the rescan, open: %v", open)
			}
			if _, err := s.Rescanned(ctx, later, later, nil, []RescanResult{{Subject: other}}, nil); err == nil || !strings.Contains(err.Error(), "not in the store") {
				t.Errorf("a rescan result for an unknown digest: %v", err)
			}
		})
	}
}

// Wide answers say when each digest was last seen deployed, and can be
// narrowed to the digests seen deployed.
func TestDeployedDigests(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			for i, subject := range []evidence.Subject{app1, app2, other} {
				if err := s.Record(ctx, fullRecord(subject, t0.Add(time.Duration(i)*time.Minute))); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SeenDeployed(ctx, app1, "prod", "Deployment/web", t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.SeenDeployed(ctx, app1, "prod", "Deployment/web", t0.Add(30*time.Minute)); err != nil {
				t.Fatal(err)
			}
			order := func(subjects []evidence.Subject) string {
				var out []string
				for _, s := range subjects {
					out = append(out, s.Digest[7:8])
				}
				return strings.Join(out, "")
			}
			var got []evidence.Subject
			hits := components(t, s, "pkg:npm/lodash")
			for _, h := range hits {
				got = append(got, h.Subject)
			}
			if order(got) != "cba" || hits[2].Deployed == nil || !hits[2].Deployed.Equal(t0.Add(time.Hour)) || hits[0].Deployed != nil {
				t.Errorf("components newest first, with when deployed: %s %+v", order(got), hits)
			}
			running, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash", Page: Page{Deployed: true}})
			if err != nil || running.Total != 1 || running.Hits[0].Subject != app1 {
				t.Errorf("running digests with lodash: %+v %v", running, err)
			}
			got = nil
			for _, h := range affected(t, s, "CVE-2021-23337") {
				got = append(got, h.Subject)
			}
			if order(got) != "cba" {
				t.Errorf("affected, newest first: %s", order(got))
			}
			if f, err := s.Affected(ctx, "CVE-2021-23337", Page{Deployed: true}); err != nil || f.Total != 1 || f.Hits[0].Subject != app1 {
				t.Errorf("running digests affected: %+v %v", f, err)
			}
			d, err := s.Dossier(ctx, app1)
			if err != nil || len(d.Deployments) != 1 || d.Deployments[0].Namespace != "prod" || !d.Deployments[0].FirstSeen.Equal(t0.Add(30*time.Minute)) || !d.Deployments[0].LastSeen.Equal(t0.Add(time.Hour)) {
				t.Errorf("deployments in the dossier: %+v %v", d.Deployments, err)
			}
			// a digest admitted before it was ever recorded
			unseen := evidence.Subject{Repository: "registry.example/team/new", Digest: "sha256:" + strings.Repeat("d", 64)}
			if err := s.SeenDeployed(ctx, unseen, "dev", "Pod/x", t0); err != nil {
				t.Fatal(err)
			}
			if d, err := s.Dossier(ctx, unseen); err != nil || d == nil || len(d.Deployments) != 1 {
				t.Errorf("an unrecorded digest seen deployed: %+v %v", d, err)
			}
			if err := s.SeenDeployed(ctx, evidence.Subject{Repository: "r", Digest: "latest"}, "dev", "Pod/x", t0); err == nil {
				t.Error("a deployment without a digest was accepted")
			}
		})
	}
}

// Admission decisions are kept per image; admitted Pods mark their digest
// deployed, denied ones do not.
func TestAdmitted(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			decision := &evidence.Decision{Subject: app1, Allowed: true, Mode: evidence.ModeEnforce, EvaluatedAt: t0}
			err := s.Admitted(ctx, []Admission{
				{At: t0, Image: "registry.example/team/app:v1", Subject: app1, Namespace: "prod", Workload: "Pod/web-1", User: "system:serviceaccount:kube-system:replicaset-controller",
					Outcome: AdmissionAllowed, Decision: decision, Deployed: true},
				{At: t0.Add(time.Minute), Image: "registry.example/team/app:v2", Subject: app2, Namespace: "prod", Workload: "Pod/web-2", User: "dev",
					Outcome: AdmissionDenied, Reason: "policy p rule signed: not signed", Deployed: true},
				{At: t0.Add(time.Minute), Image: "registry.example/team/app:v3", Namespace: "prod", Workload: "Deployment/web", User: "dev",
					Outcome: AdmissionDenied, Reason: "cannot be verified: resolving: connection refused"},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := s.Dossier(ctx, app1)
			if err != nil || d == nil || len(d.Admissions) != 1 || d.Admissions[0].Outcome != AdmissionAllowed || d.Admissions[0].Decision == nil ||
				len(d.Deployments) != 1 || d.Deployments[0].Workload != "Pod/web-1" {
				t.Fatalf("admitted digest: %+v %v", d, err)
			}
			d, err = s.Dossier(ctx, app2)
			if err != nil || d == nil || len(d.Admissions) != 1 || d.Admissions[0].Reason == "" || len(d.Deployments) != 0 {
				t.Errorf("denied digest: %+v %v", d, err)
			}
			denied, err := s.Admissions(ctx, t0.Add(time.Second), AdmissionDenied, 0, nil)
			if err != nil || len(denied) != 2 || denied[1].Subject.Digest != "" && denied[0].Subject.Digest != "" {
				t.Errorf("denials since: %+v %v", denied, err)
			}
			if all, err := s.Admissions(ctx, time.Time{}, "", 1, nil); err != nil || len(all) != 1 {
				t.Errorf("the latest admission: %+v %v", all, err)
			}
			for _, bad := range []Admission{{Image: "x", Outcome: AdmissionAllowed}, {At: t0, Image: "x", Outcome: AdmissionAllowed, Subject: evidence.Subject{Repository: "r", Digest: "latest"}}} {
				if err := s.Admitted(ctx, []Admission{bad}); err == nil {
					t.Errorf("accepted %+v", bad)
				}
			}
		})
	}
}

// One package version at two places in an image is one hit with both
// locations.
func TestComponentCopiesMerge(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			copyOf := lodash
			copyOf.Locations = []string{"/srv/other/package-lock.json"}
			if err := s.Record(ctx, Record{Subject: app1, At: t0, Components: []evidence.Component{lodash, copyOf, minimist}}); err != nil {
				t.Fatal(err)
			}
			hits := components(t, s, "pkg:npm/lodash")
			if len(hits) != 1 || strings.Join(hits[0].Component.Locations, ",") != "/app/package-lock.json,/srv/other/package-lock.json" && strings.Join(hits[0].Component.Locations, ",") != "/srv/other/package-lock.json,/app/package-lock.json" {
				t.Errorf("copies: %+v", hits)
			}
		})
	}
}

// A scan is remembered even when it found nothing, so that a clean scan
// is told from none.
func TestScanMarker(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			if err := s.Record(ctx, Record{Subject: app1, At: t0}); err != nil {
				t.Fatal(err)
			}
			if d, err := s.Dossier(ctx, app1); err != nil || d.Scanned != nil {
				t.Fatalf("never scanned: %+v %v", d.Scanned, err)
			}
			dbv := t0.Add(-time.Hour)
			if err := s.Record(ctx, Record{Subject: app1, At: t0.Add(time.Minute), Findings: &Scan{Findings: []evidence.Finding{}, DatabaseVersion: dbv}}); err != nil {
				t.Fatal(err)
			}
			d, err := s.Dossier(ctx, app1)
			if err != nil || d.Scanned == nil || !d.Scanned.At.Equal(t0.Add(time.Minute)) || !d.Scanned.DatabaseVersion.Equal(dbv) || len(d.Findings) != 0 {
				t.Errorf("a clean scan: %+v %v", d, err)
			}
		})
	}
}

// Questions asked with a scope are answered from its repositories only:
// the trend's counts and findings, and the latest decisions — those about
// unresolved images included, by the repository they name.
func TestScopedQuestions(t *testing.T) {
	ctx := context.Background()
	day0 := t0.Truncate(24 * time.Hour)
	onlyOther := Scope(func(repository string) bool { return repository == other.Repository })
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			critical := lodashFinding()
			critical.Severity.Rating = evidence.SeverityCritical
			if err := s.Record(ctx, fullRecord(app1, t0), Record{Subject: other, At: t0, Findings: &Scan{Findings: []evidence.Finding{critical}, DatabaseVersion: t0}}); err != nil {
				t.Fatal(err)
			}
			err := s.Admitted(ctx, []Admission{
				{At: t0, Image: app1.String(), Subject: app1, Namespace: "prod", Workload: "Pod/a", Outcome: AdmissionAllowed, Deployed: true},
				{At: t0.Add(time.Minute), Image: app1.String(), Subject: app1, Namespace: "prod", Workload: "Pod/b", Outcome: AdmissionDenied},
				{At: t0.Add(2 * time.Minute), Image: other.String(), Subject: other, Namespace: "prod", Workload: "Pod/c", Outcome: AdmissionAllowed, Deployed: true},
				{At: t0.Add(3 * time.Minute), Image: "REGISTRY.EXAMPLE/team/other:v1", Namespace: "prod", Workload: "Pod/d", Outcome: AdmissionDenied, Reason: "unresolved"},
				{At: t0.Add(4 * time.Minute), Image: app1.Repository + ":v1", Namespace: "prod", Workload: "Pod/e", Outcome: AdmissionDenied, Reason: "unresolved"},
			})
			if err != nil {
				t.Fatal(err)
			}
			days, err := s.Trend(ctx, day0, 1, onlyOther)
			want := []Day{{Start: day0, Admissions: map[string]int{AdmissionAllowed: 1, AdmissionDenied: 1}, Admitted: 1, Pinned: 1, OpenFindings: map[string]int{"critical": 1}}}
			if err != nil || !reflect.DeepEqual(days, want) {
				t.Errorf("scoped trend:\n got %+v\nwant %+v (%v)", days, want, err)
			}
			all, err := s.Trend(ctx, day0, 1, nil)
			if err != nil || all[0].Admissions[AdmissionDenied] != 3 || all[0].Admitted != 2 || all[0].OpenFindings["high"] != 1 {
				t.Errorf("unscoped trend: %+v %v", all, err)
			}
			denials, err := s.Admissions(ctx, t0, AdmissionDenied, 10, onlyOther)
			if err != nil || len(denials) != 1 || denials[0].Workload != "Pod/d" {
				t.Errorf("scoped denials: %+v %v", denials, err)
			}
			latest, err := s.Admissions(ctx, t0, "", 1, onlyOther)
			if err != nil || len(latest) != 1 || latest[0].Workload != "Pod/d" {
				t.Errorf("the latest scoped decision: %+v %v", latest, err)
			}
			// searches count and page within the scope
			if all, err := s.Affected(ctx, critical.ID, Page{}); err != nil || all.Total != 2 {
				t.Errorf("affected: %+v %v", all, err)
			}
			if scoped, err := s.Affected(ctx, critical.ID, Page{Scope: onlyOther}); err != nil || scoped.Total != 1 || len(scoped.Hits) != 1 || scoped.Hits[0].Subject != other {
				t.Errorf("scoped affected: %+v %v", scoped, err)
			}
			if all, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash"}); err != nil || all.Total != 1 {
				t.Errorf("components: %+v %v", all, err)
			}
			if scoped, err := s.Components(ctx, ComponentQuery{What: "pkg:npm/lodash", Page: Page{Scope: onlyOther}}); err != nil || scoped.Total != 0 || len(scoped.Hits) != 0 {
				t.Errorf("scoped components: %+v %v", scoped, err)
			}
			nothing := Scope(func(string) bool { return false })
			if none, err := s.Affected(ctx, critical.ID, Page{Scope: nothing}); err != nil || none.Total != 0 || len(none.Hits) != 0 {
				t.Errorf("affected within a scope of nothing: %+v %v", none, err)
			}
		})
	}
}

// The overview's figures per day: admission outcomes with the pinned and
// signed shares of what was admitted, and findings open at each day's
// end by severity — opened, resolved and suppressed on different days.
func TestTrend(t *testing.T) {
	ctx := context.Background()
	day0 := t0.Truncate(24 * time.Hour)
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			critical := lodashFinding()
			critical.Severity.Rating = evidence.SeverityCritical
			suppressed := lodashFinding()
			suppressed.ID, suppressed.Suppression = "GHSA-suppressed", &evidence.Suppression{Kind: "vex", Status: "not_affected"}
			err := s.Record(ctx, fullRecord(app1, t0),
				Record{Subject: app2, At: t0.Add(24 * time.Hour), Findings: &Scan{Findings: []evidence.Finding{critical, suppressed}, DatabaseVersion: t0}})
			if err != nil {
				t.Fatal(err)
			}
			// app1's finding is fixed on day 2
			if err := s.Record(ctx, Record{Subject: app1, At: t0.Add(48 * time.Hour), Findings: &Scan{Findings: []evidence.Finding{}, DatabaseVersion: t0}}); err != nil {
				t.Fatal(err)
			}
			err = s.Admitted(ctx, []Admission{
				{At: t0, Image: app1.String(), Subject: app1, Namespace: "prod", Workload: "Pod/a", Outcome: AdmissionAllowed, Deployed: true},
				{At: t0.Add(24 * time.Hour), Image: app2.Repository + ":v2", Subject: app2, Namespace: "prod", Workload: "Pod/b", Outcome: AdmissionWaived, Deployed: true},
				{At: t0.Add(25 * time.Hour), Image: app2.Repository + ":v2", Subject: app2, Namespace: "prod", Workload: "Pod/c", Outcome: AdmissionDenied, Reason: "unsigned"},
				{At: t0.Add(72 * time.Hour), Image: app2.Repository + ":v2", Subject: app2, Namespace: "prod", Workload: "Pod/d", Outcome: AdmissionDenied, Reason: "after the span"},
			})
			if err != nil {
				t.Fatal(err)
			}
			days, err := s.Trend(ctx, day0, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := []Day{
				{Start: day0, Admissions: map[string]int{AdmissionAllowed: 1}, Admitted: 1, Pinned: 1, Signed: 1, OpenFindings: map[string]int{"high": 1}},
				{Start: day0.Add(24 * time.Hour), Admissions: map[string]int{AdmissionWaived: 1, AdmissionDenied: 1}, Admitted: 1, OpenFindings: map[string]int{"high": 1, "critical": 1}},
				{Start: day0.Add(48 * time.Hour), Admissions: map[string]int{}, OpenFindings: map[string]int{"critical": 1}},
			}
			if !reflect.DeepEqual(days, want) {
				t.Errorf("trend:\n got %+v\nwant %+v", days, want)
			}
			if _, err := s.Trend(ctx, day0, 0, nil); err == nil {
				t.Error("a trend of no days was measured")
			}
			exceptions, err := s.Exceptions(ctx)
			if err != nil || len(exceptions) != 1 || exceptions[0].Name != "lodash-waiver" || exceptions[0].Owner != "web" {
				t.Errorf("stored exceptions: %+v %v", exceptions, err)
			}
		})
	}
}

// A scan's coverage is stored with it and read back with the digest's
// dossier; a scan that does not say stores none.
func TestScanCoverageStored(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			ubuntu := evidence.Component{Name: "libssl3", Version: "3.0.2-0ubuntu1.10", PURL: "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?distro=ubuntu-22.04"}
			coverage := &evidence.Coverage{Checked: 7, NotChecked: []evidence.NotChecked{{Component: ubuntu, Reason: "no advisory data for Ubuntu:22.04:LTS in the database: import the Ubuntu records"}}}
			rec := Record{Subject: app1, At: t0, Components: []evidence.Component{ubuntu}, Findings: &Scan{Findings: []evidence.Finding{}, DatabaseVersion: t0, Coverage: coverage}}
			if err := s.Record(ctx, rec); err != nil {
				t.Fatal(err)
			}
			d, err := s.Dossier(ctx, app1)
			if err != nil || d.Scanned == nil || !reflect.DeepEqual(d.Scanned.Coverage, coverage) {
				t.Fatalf("the dossier's scan: %+v %v", d.Scanned, err)
			}
			rec.At, rec.Findings.Coverage = t0.Add(time.Hour), nil
			if err := s.Record(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if d, err := s.Dossier(ctx, app1); err != nil || d.Scanned.Coverage != nil {
				t.Errorf("a later scan that does not say: %+v %v", d.Scanned, err)
			}
		})
	}
}
