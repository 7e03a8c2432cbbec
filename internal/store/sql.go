package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// sqlStore is the Store over database/sql, for either dialect.
type sqlStore struct {
	db *sql.DB
	d  dialect
}

func (s *sqlStore) Close() error { return s.db.Close() }

func (s *sqlStore) q(query string) string { return s.d.placeholders(query) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // evidence types always marshal
	}
	return string(data)
}

// purlBase is a purl without version, qualifiers and subpath.
func purlBase(p string) string {
	base, _ := evidence.SplitPURL(p)
	return base
}

func (s *sqlStore) Record(ctx context.Context, records ...Record) error {
	for _, r := range records {
		if !evidence.ValidDigest(r.Subject.Digest) || r.Subject.Repository == "" {
			return fmt.Errorf("recording %q: a record needs a repository and a digest", r.Subject)
		}
		if r.At.IsZero() {
			return fmt.Errorf("recording %s: the record has no time", r.Subject)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	defer tx.Rollback()
	for _, r := range records {
		if err := s.record(ctx, tx, r); err != nil {
			return fmt.Errorf("recording %s: %w", r.Subject, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

func (s *sqlStore) record(ctx context.Context, tx *sql.Tx, r Record) error {
	at := micros(r.At)
	var id int64
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO subjects (repository, digest, media_type, platform, first_seen, last_recorded)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET last_recorded = excluded.last_recorded,
			media_type = CASE WHEN excluded.media_type <> '' THEN excluded.media_type ELSE subjects.media_type END,
			platform = CASE WHEN excluded.platform <> '' THEN excluded.platform ELSE subjects.platform END
		RETURNING id`), r.Subject.Repository, r.Subject.Digest, r.MediaType, r.Platform, at, at).Scan(&id)
	if err != nil {
		return err
	}
	if r.Tag != "" {
		var latest string
		err := tx.QueryRowContext(ctx, s.q(`SELECT digest FROM tag_moves WHERE repository = ? AND tag = ? ORDER BY observed_at DESC, id DESC LIMIT 1`),
			r.Subject.Repository, r.Tag).Scan(&latest)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if latest != r.Subject.Digest {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO tag_moves (repository, tag, digest, observed_at, source) VALUES (?, ?, ?, ?, ?)`),
				r.Subject.Repository, r.Tag, r.Subject.Digest, at, r.TagSource); err != nil {
				return err
			}
		}
	}
	if r.Components != nil {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM components WHERE subject_id = ?`), id); err != nil {
			return err
		}
		if r.PackageKeys != nil && len(r.PackageKeys) != len(r.Components) {
			return fmt.Errorf("%d package keys for %d components", len(r.PackageKeys), len(r.Components))
		}
		if err := s.insertComponents(ctx, tx, id, r.Components, r.PackageKeys); err != nil {
			return err
		}
	}
	if r.Findings != nil {
		if err := s.recordFindings(ctx, tx, id, at, r.Findings); err != nil {
			return err
		}
	}
	for _, v := range r.Signatures {
		if err := s.recordSignature(ctx, tx, id, at, evidence.PredicateSignatures, true, v.Verification, mustJSON(v)); err != nil {
			return err
		}
	}
	for _, a := range r.Attestations {
		if err := s.recordSignature(ctx, tx, id, at, a.PredicateType, true, a.Verification, mustJSON(a)); err != nil {
			return err
		}
	}
	for _, rej := range r.Rejected {
		v := evidence.Verification{StoredAt: rej.StoredAt}
		if err := s.recordSignature(ctx, tx, id, at, rej.PredicateType, false, v, mustJSON(rej)); err != nil {
			return err
		}
	}
	for _, e := range r.Exceptions {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO exceptions (namespace, name, digest, expires_at, exception) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (namespace, name) DO UPDATE SET digest = excluded.digest, expires_at = excluded.expires_at, exception = excluded.exception`),
			e.Namespace, e.Name, e.Subject.Digest, micros(e.ExpiresAt), mustJSON(e)); err != nil {
			return err
		}
	}
	if r.Decision != nil {
		return s.recordDecision(ctx, tx, id, r.Decision)
	}
	return nil
}

// insertComponents writes a digest's components, lean: the columns, and a
// document with only what they do not hold.
func (s *sqlStore) insertComponents(ctx context.Context, tx *sql.Tx, id int64, comps []evidence.Component, keys []string) error {
	rows := make([][]any, len(comps))
	for i, c := range comps {
		key := ""
		if keys != nil {
			key = keys[i]
		}
		rows[i] = []any{id, purlBase(c.PURL), c.PURL, c.Name, c.Version, c.Type, leanDocument(c), key}
	}
	return s.insertRows(ctx, tx, `INSERT INTO components (subject_id, purl_base, purl, name, version, type, component, package_key) VALUES `, 8, "", rows)
}

// leanDocument keeps what the component columns do not.
func leanDocument(c evidence.Component) string {
	if len(c.Locations) == 0 && len(c.Licenses) == 0 {
		return "{}"
	}
	return mustJSON(evidence.Component{Locations: c.Locations, Licenses: c.Licenses})
}

// componentColumns selects what decodeComponent reads.
const componentColumns = `c.name, c.version, c.type, c.purl, c.component`

// decodeComponent rebuilds a component from its columns and document
// (older rows hold the whole component in the document).
func decodeComponent(name, version, typ, purl string, doc []byte) (evidence.Component, error) {
	var c evidence.Component
	if err := json.Unmarshal(doc, &c); err != nil {
		return c, err
	}
	c.Name, c.Version, c.Type = name, version, typ
	if purl != "" {
		c.PURL = purl
	}
	return c, nil
}

// recordFindings upserts the scan's findings and marks resolved the
// digest's findings the scan no longer has.
func (s *sqlStore) recordFindings(ctx context.Context, tx *sql.Tx, id, at int64, scan *Scan) error {
	if _, err := s.upsertFindings(ctx, tx, at, micros(scan.DatabaseVersion), []subjectFindings{{id, scan.Findings}}); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE subject_findings SET resolved_at = ? WHERE subject_id = ? AND resolved_at IS NULL AND last_seen < ?`), at, id, at); err != nil {
		return err
	}
	var coverage *string
	if scan.Coverage != nil {
		c := mustJSON(scan.Coverage)
		coverage = &c
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE subjects SET scanned_at = ?, scan_database_version = ?, scan_coverage = ? WHERE id = ?`), at, micros(scan.DatabaseVersion), coverage, id)
	return err
}

func (s *sqlStore) recordSignature(ctx context.Context, tx *sql.Tx, id, at int64, predicateType string, verified bool, v evidence.Verification, doc string) error {
	signedAt := at
	var signingTime *int64
	if v.SigningTime != nil {
		t := micros(*v.SigningTime)
		signingTime, signedAt = &t, t
	}
	flag := 0
	if verified {
		flag = 1
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO signatures (subject_id, predicate_type, stored_at, verified, key_fingerprint, identity, issuer, signing_time, signed_at, evidence)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subject_id, predicate_type, stored_at, key_fingerprint, identity, issuer) DO UPDATE SET verified = excluded.verified, evidence = excluded.evidence`),
		id, predicateType, v.StoredAt, flag, v.Signer.KeyFingerprint, v.Signer.Identity, v.Signer.Issuer, signingTime, signedAt, doc)
	return err
}

// recordDecision appends a decision unless it repeats the latest one.
func (s *sqlStore) recordDecision(ctx context.Context, tx *sql.Tx, id int64, d *evidence.Decision) error {
	var latest string
	err := tx.QueryRowContext(ctx, s.q(`SELECT decision FROM decisions WHERE subject_id = ? ORDER BY evaluated_at DESC LIMIT 1`), id).Scan(&latest)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if latest != "" {
		var prev evidence.Decision
		if json.Unmarshal([]byte(latest), &prev) == nil && prev.Allowed == d.Allowed && mustJSON(prev.Rules) == mustJSON(d.Rules) {
			return nil
		}
	}
	allowed := 0
	if d.Allowed {
		allowed = 1
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO decisions (subject_id, evaluated_at, allowed, decision) VALUES (?, ?, ?, ?)`), id, micros(d.EvaluatedAt), allowed, mustJSON(d))
	return err
}

// currentTags finds the tags that point to digests now (those whose
// latest move went to them), in one statement per thousand digests.
func (s *sqlStore) currentTags(ctx context.Context, subjects []evidence.Subject) (map[evidence.Subject][]string, error) {
	out := make(map[evidence.Subject][]string, len(subjects))
	for start := 0; start < len(subjects); start += 1000 {
		chunk := subjects[start:min(start+1000, len(subjects))]
		args := make([]any, 0, 2*len(chunk))
		for _, sub := range chunk {
			out[sub] = []string{}
			args = append(args, sub.Repository, sub.Digest)
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(chunk)), ", ")
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT m.repository, m.digest, m.tag FROM tag_moves m WHERE (m.repository, m.digest) IN (VALUES `+values+`)
			AND NOT EXISTS (SELECT 1 FROM tag_moves n WHERE n.repository = m.repository AND n.tag = m.tag
				AND (n.observed_at > m.observed_at OR (n.observed_at = m.observed_at AND n.id > m.id)))
			ORDER BY m.tag`), args...)
		if err != nil {
			return nil, err
		}
		if err := each(rows, func() error {
			var sub evidence.Subject
			var tag string
			if err := rows.Scan(&sub.Repository, &sub.Digest, &tag); err != nil {
				return err
			}
			if !slices.Contains(out[sub], tag) {
				out[sub] = append(out[sub], tag)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// place sets where each of n hits is now: its current tags and when it
// was last seen deployed.
func (s *sqlStore) place(ctx context.Context, n int, hit func(i int) (evidence.Subject, *Placement)) error {
	var digests []string
	subjects := make([]evidence.Subject, 0, n)
	for i := range n {
		subject, _ := hit(i)
		subjects = append(subjects, subject)
		digests = append(digests, subject.Digest)
	}
	tags, err := s.currentTags(ctx, subjects)
	if err != nil {
		return err
	}
	for i := range n {
		subject, p := hit(i)
		p.Tags = tags[subject]
	}
	slices.Sort(digests)
	deployed := map[evidence.Subject]time.Time{}
	for _, chunk := range chunks(slices.Compact(digests), 1000) {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT s.repository, s.digest, max(d.last_seen) FROM deployments d JOIN subjects s ON s.id = d.subject_id
			WHERE s.digest IN (`+placeholders(len(chunk))+`) GROUP BY s.repository, s.digest`), anys(chunk)...)
		if err != nil {
			return err
		}
		if err := each(rows, func() error {
			var subject evidence.Subject
			var at int64
			err := rows.Scan(&subject.Repository, &subject.Digest, &at)
			deployed[subject] = fromMicros(at)
			return err
		}); err != nil {
			return err
		}
	}
	for i := range n {
		subject, p := hit(i)
		if at, ok := deployed[subject]; ok {
			p.Deployed = &at
		}
	}
	return nil
}

// onlyDeployed narrows a condition to digests seen deployed when a page
// asks for them.
// inScope is the condition keeping a query to the subjects of the
// repositories a page's scope sees, and its arguments; none says the
// scope sees no stored repository at all.
func (s *sqlStore) inScope(ctx context.Context, p Page, subjectID string) (cond string, args []any, none bool, err error) {
	if p.Scope == nil {
		return "", nil, false, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT repository FROM subjects`)
	if err != nil {
		return "", nil, false, err
	}
	err = each(rows, func() error {
		var repository string
		if err := rows.Scan(&repository); err != nil {
			return err
		}
		if p.Scope(repository) {
			args = append(args, repository)
		}
		return nil
	})
	if err != nil || len(args) == 0 {
		return "", nil, err == nil, err
	}
	return ` AND ` + subjectID + ` IN (SELECT id FROM subjects WHERE repository IN (?` + strings.Repeat(", ?", len(args)-1) + `))`, args, false, nil
}

func onlyDeployed(p Page, subjectID string) string {
	if !p.Deployed {
		return ""
	}
	return ` AND ` + subjectID + ` IN (SELECT subject_id FROM deployments)`
}

func (s *sqlStore) SeenDeployed(ctx context.Context, subject evidence.Subject, namespace, workload string, at time.Time) error {
	if !evidence.ValidDigest(subject.Digest) || subject.Repository == "" {
		return fmt.Errorf("deployment of %q: a deployment needs a repository and a digest", subject)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := s.subjectID(ctx, tx, subject, at)
	if err == nil {
		err = s.deployed(ctx, tx, [][]any{{id, namespace, workload, micros(at), micros(at)}})
	}
	if err != nil {
		return fmt.Errorf("deployment of %s: %w", subject, err)
	}
	return tx.Commit()
}

// subjectID finds a digest's row, creating it (first seen at) when the
// digest was never recorded.
func (s *sqlStore) subjectID(ctx context.Context, tx *sql.Tx, subject evidence.Subject, at time.Time) (int64, error) {
	var id int64
	// most digests are known: a read, not a write
	err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM subjects WHERE repository = ? AND digest = ?`), subject.Repository, subject.Digest).Scan(&id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO subjects (repository, digest, first_seen, last_recorded) VALUES (?, ?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET repository = excluded.repository RETURNING id`),
		subject.Repository, subject.Digest, micros(at), micros(at)).Scan(&id)
	return id, err
}

// deployed widens digests' deployments in workloads to include first
// and last: rows of subject ID, namespace, workload, first, last (one
// row per deployment).
func (s *sqlStore) deployed(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	return inBatches(rows, 5, func(_ [][]any, values string, args []any) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO deployments (subject_id, namespace, workload, first_seen, last_seen) VALUES `+values+`
		ON CONFLICT (subject_id, namespace, workload) DO UPDATE SET
			first_seen = CASE WHEN excluded.first_seen < deployments.first_seen THEN excluded.first_seen ELSE deployments.first_seen END,
			last_seen = CASE WHEN excluded.last_seen > deployments.last_seen THEN excluded.last_seen ELSE deployments.last_seen END`), args...)
		return err
	})
}

func (s *sqlStore) Admitted(ctx context.Context, admissions []Admission) error {
	for _, a := range admissions {
		if a.At.IsZero() || a.Image == "" || a.Outcome == "" {
			return fmt.Errorf("admission of %q: a decision needs a time, an image and an outcome", a.Image)
		}
		if a.Subject.Digest != "" && (!evidence.ValidDigest(a.Subject.Digest) || a.Subject.Repository == "") {
			return fmt.Errorf("admission of %q: %q is not a digest of a repository", a.Image, a.Subject)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.admitted(ctx, tx, admissions); err != nil {
		return err
	}
	return tx.Commit()
}

// admitted writes a batch of admissions. A webhook's batch repeats a few
// digests, workloads and decisions many times: each subject is looked up
// once, each deployment widened once, each decision document stored
// once, and the rows go in a few statements.
func (s *sqlStore) admitted(ctx context.Context, tx *sql.Tx, admissions []Admission) error {
	ids := map[evidence.Subject]int64{}
	type placement struct {
		id                  int64
		namespace, workload string
	}
	spans := map[placement][2]time.Time{}
	var placements []placement
	hashes := make([]string, len(admissions))
	var docRows [][]any
	seenDoc := map[string]bool{}
	for i, a := range admissions {
		if a.Decision != nil {
			doc, hash := decisionDocument(*a.Decision)
			if !seenDoc[hash] {
				seenDoc[hash] = true
				docRows = append(docRows, []any{hash, doc})
			}
			hashes[i] = hash
		}
		if a.Subject.Digest == "" {
			continue
		}
		sid, ok := ids[a.Subject]
		if !ok {
			var err error
			if sid, err = s.subjectID(ctx, tx, a.Subject, a.At); err != nil {
				return fmt.Errorf("admission of %s: %w", a.Image, err)
			}
			ids[a.Subject] = sid
		}
		if a.Deployed && a.Outcome != AdmissionDenied {
			p := placement{sid, a.Namespace, a.Workload}
			span, ok := spans[p]
			if !ok {
				placements = append(placements, p)
				span = [2]time.Time{a.At, a.At}
			}
			if a.At.Before(span[0]) {
				span[0] = a.At
			}
			if a.At.After(span[1]) {
				span[1] = a.At
			}
			spans[p] = span
		}
	}
	docIDs, _, err := s.intern(ctx, tx, "decision_documents", []string{"hash", "decision"}, docRows)
	if err != nil {
		return fmt.Errorf("admission decisions: %w", err)
	}
	rows := make([][]any, len(admissions))
	for i, a := range admissions {
		var subject, decision *int64
		if sid, ok := ids[a.Subject]; ok {
			subject = &sid
		}
		if id, ok := docIDs[hashes[i]]; ok {
			decision = &id
		}
		rows[i] = []any{micros(a.At), subject, a.Image, a.Repository(), a.Namespace, a.Workload, a.User, a.Outcome, a.Reason, decision}
	}
	if err := inBatches(rows, 10, func(_ [][]any, values string, args []any) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO admissions (at, subject_id, image, repository, namespace, workload, username, outcome, reason, decision_id) VALUES `+values), args...)
		return err
	}); err != nil {
		return fmt.Errorf("admissions: %w", err)
	}
	if err := s.countDays(ctx, tx, admissions, ids); err != nil {
		return fmt.Errorf("admissions per day: %w", err)
	}
	deployments := make([][]any, len(placements))
	for i, p := range placements {
		deployments[i] = []any{p.id, p.namespace, p.workload, micros(spans[p][0]), micros(spans[p][1])}
	}
	if err := s.deployed(ctx, tx, deployments); err != nil {
		return fmt.Errorf("deployments: %w", err)
	}
	return nil
}

// decisionDocument is an admission decision as stored, without its
// evaluation time (the admission's time stands for it), and its hash.
func decisionDocument(d evidence.Decision) (doc, hash string) {
	d.EvaluatedAt = time.Time{}
	doc = mustJSON(d)
	sum := sha256.Sum256([]byte(doc))
	return doc, hex.EncodeToString(sum[:])
}

// moveAdmissionDecisions moves the decisions version-9 stores kept in
// each admission row into shared documents.
func moveAdmissionDecisions(ctx context.Context, s *sqlStore, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, decision FROM admissions WHERE decision IS NOT NULL`)
	if err != nil {
		return err
	}
	byHash := map[string][]int64{}
	var docRows [][]any
	if err := each(rows, func() error {
		var id int64
		var doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return err
		}
		var d evidence.Decision
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return fmt.Errorf("admission %d: its decision: %w", id, err)
		}
		doc, hash := decisionDocument(d)
		if _, ok := byHash[hash]; !ok {
			docRows = append(docRows, []any{hash, doc})
		}
		byHash[hash] = append(byHash[hash], id)
		return nil
	}); err != nil {
		return err
	}
	docIDs, _, err := s.intern(ctx, tx, "decision_documents", []string{"hash", "decision"}, docRows)
	if err != nil {
		return err
	}
	for hash, admissions := range byHash {
		for len(admissions) > 0 {
			chunk := admissions[:min(1000, len(admissions))]
			admissions = admissions[len(chunk):]
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE admissions SET decision_id = ? WHERE id IN (`+idList(chunk)+`)`), docIDs[hash]); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `ALTER TABLE admissions DROP COLUMN decision`)
	return err
}

// pageLimit is a page's LIMIT (every row when the page sets none).
func pageLimit(p Page) int {
	if p.Limit <= 0 {
		return 1<<31 - 1
	}
	return p.Limit
}

func (s *sqlStore) Components(ctx context.Context, q ComponentQuery) (ComponentPage, error) {
	page := ComponentPage{Offset: q.Page.Offset, Hits: []ComponentHit{}}
	where, args, err := s.componentCondition(ctx, q)
	if err != nil || where == "" {
		return page, err
	}
	scope, scopeArgs, none, err := s.inScope(ctx, q.Page, "c.subject_id")
	if err != nil || none {
		return page, err
	}
	// a hit is a package version in a digest; total and page come from
	// the index alone, then only the page's rows are read
	hits := `SELECT DISTINCT c.subject_id, c.purl_base, c.version FROM components c WHERE (` + where + `)` + onlyDeployed(q.Page, "c.subject_id") + scope
	hitArgs := append(slices.Clip(args), scopeArgs...)
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM (`+hits+`) h`), hitArgs...).Scan(&page.Total); err != nil {
		return page, err
	}
	if page.Total == 0 || q.Page.Offset >= page.Total {
		return page, nil
	}
	// not a subquery: SQLite would sort every hit instead of walking the
	// index backwards and stopping at the page's end
	rows, err := s.db.QueryContext(ctx, s.q(hits+` ORDER BY c.subject_id DESC, c.purl_base DESC, c.version DESC LIMIT ? OFFSET ?`),
		append(hitArgs, pageLimit(q.Page), q.Page.Offset)...)
	if err != nil {
		return page, err
	}
	type key struct {
		subject       int64
		base, version string
	}
	index := map[key]int{}
	var subjects []int64
	err = each(rows, func() error {
		var k key
		if err := rows.Scan(&k.subject, &k.base, &k.version); err != nil {
			return err
		}
		index[k] = len(index)
		subjects = append(subjects, k.subject)
		return nil
	})
	if err != nil {
		return page, err
	}
	page.Hits = make([]ComponentHit, len(index))
	found := make([]bool, len(index))
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT c.subject_id, c.purl_base, s.repository, s.digest, `+componentColumns+` FROM components c JOIN subjects s ON s.id = c.subject_id
		WHERE c.subject_id IN (`+idList(subjects)+`) AND (`+where+`)`), args...)
	if err != nil {
		return page, err
	}
	err = each(rows, func() error {
		var k key
		var subject evidence.Subject
		var name, typ, purl string
		var doc []byte
		if err := rows.Scan(&k.subject, &k.base, &subject.Repository, &subject.Digest, &name, &k.version, &typ, &purl, &doc); err != nil {
			return err
		}
		i, ok := index[k]
		if !ok {
			return nil
		}
		c, err := decodeComponent(name, k.version, typ, purl, doc)
		if err != nil {
			return err
		}
		if !found[i] {
			found[i] = true
			page.Hits[i] = ComponentHit{Subject: subject, Component: c}
			return nil
		}
		// the same package version at another place in the image
		h := &page.Hits[i].Component
		for _, l := range c.Locations {
			if !slices.Contains(h.Locations, l) {
				h.Locations = append(h.Locations, l)
			}
		}
		return nil
	})
	if err != nil {
		return page, err
	}
	return page, s.place(ctx, len(page.Hits), func(i int) (evidence.Subject, *Placement) { return page.Hits[i].Subject, &page.Hits[i].Placement })
}

// componentCondition turns a component query into a WHERE condition on
// packages (purls without version) and, with Accept, their accepted
// versions; "" when nothing can match.
func (s *sqlStore) componentCondition(ctx context.Context, q ComponentQuery) (string, []any, error) {
	bases := []string{purlBase(q.What)}
	if !strings.HasPrefix(q.What, "pkg:") {
		var err error
		if bases, err = s.texts(ctx, `SELECT DISTINCT purl_base FROM components WHERE name = ? ORDER BY purl_base`, q.What); err != nil {
			return "", nil, err
		}
	}
	if q.Accept == nil {
		if len(bases) == 0 {
			return "", nil, nil
		}
		return `c.purl_base IN (` + placeholders(len(bases)) + `)`, anys(bases), nil
	}
	var terms []string
	var args []any
	for _, base := range bases {
		versions, err := s.texts(ctx, `SELECT DISTINCT version FROM components WHERE purl_base = ? ORDER BY version`, base)
		if err != nil {
			return "", nil, err
		}
		var accepted []any
		for _, v := range versions {
			ok, err := q.Accept(base, v)
			if err != nil {
				return "", nil, err
			}
			if ok {
				accepted = append(accepted, v)
			}
		}
		if len(accepted) > 0 {
			terms = append(terms, `(c.purl_base = ? AND c.version IN (`+placeholders(len(accepted))+`))`)
			args = append(append(args, base), accepted...)
		}
	}
	return strings.Join(terms, " OR "), args, nil
}

// texts runs a query of one text column.
func (s *sqlStore) texts(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	var out []string
	return out, each(rows, func() error {
		var v string
		err := rows.Scan(&v)
		out = append(out, v)
		return err
	})
}

func anys(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

// openFindings are the open findings of an advisory ID or alias.
const openFindings = ` FROM finding_document_ids i JOIN subject_findings f ON f.document_id = i.document_id
	WHERE i.advisory_id = ? AND f.resolved_at IS NULL`

func (s *sqlStore) Affected(ctx context.Context, advisory string, p Page) (FindingPage, error) {
	page := FindingPage{Offset: p.Offset, Hits: []FindingHit{}}
	scope, scopeArgs, none, err := s.inScope(ctx, p, "f.subject_id")
	if err != nil || none {
		return page, err
	}
	open := openFindings + onlyDeployed(p, "f.subject_id") + scope
	openArgs := append([]any{advisory}, scopeArgs...)
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*)`+open), openArgs...).Scan(&page.Total); err != nil {
		return page, err
	}
	if page.Total == 0 || p.Offset >= page.Total {
		return page, nil
	}
	// the page is chosen from the index alone, then its rows are read
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT s.repository, s.digest, d.finding, f.first_seen, f.last_seen, f.resolved_at, f.database_version
		FROM (SELECT f.subject_id, f.document_id`+open+` ORDER BY f.subject_id DESC, f.document_id DESC LIMIT ? OFFSET ?) p
		JOIN subject_findings f ON f.subject_id = p.subject_id AND f.document_id = p.document_id
		JOIN finding_documents d ON d.id = f.document_id JOIN subjects s ON s.id = f.subject_id
		ORDER BY f.subject_id DESC, f.document_id DESC`), append(openArgs, pageLimit(p), p.Offset)...)
	if err != nil {
		return page, err
	}
	err = each(rows, func() error {
		h := FindingHit{}
		var doc []byte
		var first, last, dbv int64
		var resolved sql.NullInt64
		if err := rows.Scan(&h.Subject.Repository, &h.Subject.Digest, &doc, &first, &last, &resolved, &dbv); err != nil {
			return err
		}
		var err error
		h.Finding, err = storedFinding(doc, first, last, dbv, resolved)
		page.Hits = append(page.Hits, h)
		return err
	})
	if err != nil {
		return page, err
	}
	return page, s.place(ctx, len(page.Hits), func(i int) (evidence.Subject, *Placement) { return page.Hits[i].Subject, &page.Hits[i].Placement })
}

func (s *sqlStore) TagHistory(ctx context.Context, repository, tag string) ([]TagMove, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT digest, observed_at, source FROM tag_moves WHERE repository = ? AND tag = ? ORDER BY observed_at, id`), repository, tag)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TagMove
	for rows.Next() {
		m := TagMove{Repository: repository, Tag: tag}
		var at int64
		if err := rows.Scan(&m.Digest, &at, &m.Source); err != nil {
			return nil, err
		}
		m.ObservedAt = fromMicros(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *sqlStore) Signed(ctx context.Context, f SignerFilter, from, to time.Time) ([]SignedHit, error) {
	query := `SELECT s.repository, s.digest, g.predicate_type, g.evidence FROM signatures g JOIN subjects s ON s.id = g.subject_id
		WHERE g.verified = 1 AND g.signed_at >= ? AND g.signed_at < ?`
	args := []any{micros(from), micros(to)}
	switch {
	case f.KeyFingerprint != "":
		query += ` AND g.key_fingerprint = ?`
		args = append(args, f.KeyFingerprint)
	case f.Identity != "":
		query += ` AND g.identity = ?`
		args = append(args, f.Identity)
	case f.Match != nil:
		query += ` AND g.identity <> ''`
	default:
		return nil, fmt.Errorf("a signer query needs a key, an identity or an identity expression")
	}
	if f.Issuer != "" {
		query += ` AND g.issuer = ?`
		args = append(args, f.Issuer)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY g.signed_at, s.repository, s.digest`), args...)
	if err != nil {
		return nil, err
	}
	var out []SignedHit
	err = each(rows, func() error {
		var h SignedHit
		var doc string
		if err := rows.Scan(&h.Subject.Repository, &h.Subject.Digest, &h.PredicateType, &doc); err != nil {
			return err
		}
		var v struct {
			evidence.Verification
		}
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			return err
		}
		if f.Match == nil || f.Match(v.Signer.Identity) {
			h.Verification = v.Verification
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, s.place(ctx, len(out), func(i int) (evidence.Subject, *Placement) { return out[i].Subject, &out[i].Placement })
}
