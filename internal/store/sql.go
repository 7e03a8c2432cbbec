package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
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

func (s *sqlStore) Record(ctx context.Context, r Record) error {
	if !evidence.ValidDigest(r.Subject.Digest) || r.Subject.Repository == "" {
		return fmt.Errorf("recording %q: a record needs a repository and a digest", r.Subject)
	}
	if r.At.IsZero() {
		return fmt.Errorf("recording %s: the record has no time", r.Subject)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording %s: %w", r.Subject, err)
	}
	defer tx.Rollback()
	if err := s.record(ctx, tx, r); err != nil {
		return fmt.Errorf("recording %s: %w", r.Subject, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording %s: %w", r.Subject, err)
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

// componentBatch rows go into one INSERT: far fewer statements for images
// of hundreds of packages.
const componentBatch = 100

// insertComponents writes a digest's components, lean: the columns, and a
// document with only what they do not hold.
func (s *sqlStore) insertComponents(ctx context.Context, tx *sql.Tx, id int64, comps []evidence.Component, keys []string) error {
	const cols = 8
	for start := 0; start < len(comps); start += componentBatch {
		batch := comps[start:min(start+componentBatch, len(comps))]
		var q strings.Builder
		q.WriteString(`INSERT INTO components (subject_id, purl_base, purl, name, version, type, component, package_key) VALUES `)
		args := make([]any, 0, len(batch)*cols)
		for i, c := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + placeholders(cols) + ")")
			key := ""
			if keys != nil {
				key = keys[start+i]
			}
			args = append(args, id, purlBase(c.PURL), c.PURL, c.Name, c.Version, c.Type, leanDocument(c), key)
		}
		if _, err := tx.ExecContext(ctx, s.q(q.String()), args...); err != nil {
			return err
		}
	}
	return nil
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

// recordFindings upserts the scan's findings (first seen kept, last seen
// moved) and marks resolved the digest's findings the scan no longer has.
func (s *sqlStore) recordFindings(ctx context.Context, tx *sql.Tx, id, at int64, scan *Scan) error {
	if err := s.upsertFindings(ctx, tx, id, at, scan.Findings, micros(scan.DatabaseVersion)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET resolved_at = ? WHERE subject_id = ? AND resolved_at IS NULL AND last_seen < ?`), at, id, at)
	return err
}

// upsertFindings writes findings of one digest seen at at.
func (s *sqlStore) upsertFindings(ctx context.Context, tx *sql.Tx, id, at int64, findings []evidence.Finding, databaseVersion int64) error {
	upsert, err := tx.PrepareContext(ctx, s.q(`INSERT INTO findings (subject_id, advisory, component_key, finding, first_seen, last_seen, database_version)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subject_id, advisory, component_key) DO UPDATE SET last_seen = excluded.last_seen, resolved_at = NULL,
			finding = excluded.finding, database_version = excluded.database_version
		RETURNING id`))
	if err != nil {
		return err
	}
	defer upsert.Close()
	ids, err := tx.PrepareContext(ctx, s.q(`INSERT INTO finding_ids (finding_id, advisory_id) VALUES (?, ?) ON CONFLICT (finding_id, advisory_id) DO NOTHING`))
	if err != nil {
		return err
	}
	defer ids.Close()
	for _, f := range findings {
		key := f.Component.PURL
		if key == "" {
			key = f.Component.Name + "@" + f.Component.Version
		}
		var fid int64
		if err := upsert.QueryRowContext(ctx, id, f.ID, key, mustJSON(f), at, at, databaseVersion).Scan(&fid); err != nil {
			return err
		}
		for _, adv := range append(f.IDs(), f.Advisories...) {
			if _, err := ids.ExecContext(ctx, fid, adv); err != nil {
				return err
			}
		}
	}
	return nil
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

// currentTags maps the digests of a repository to the tags that point to
// them now (each tag's latest move).
func (s *sqlStore) currentTags(ctx context.Context, repository string) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT tag, digest FROM tag_moves WHERE repository = ? ORDER BY observed_at, id`), repository)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	latest := map[string]string{}
	for rows.Next() {
		var tag, digest string
		if err := rows.Scan(&tag, &digest); err != nil {
			return nil, err
		}
		latest[tag] = digest
	}
	out := map[string][]string{}
	for tag, digest := range latest {
		out[digest] = append(out[digest], tag)
	}
	for _, tags := range out {
		sort.Strings(tags)
	}
	return out, rows.Err()
}

// fillTags sets the current tags of n hits.
func (s *sqlStore) fillTags(ctx context.Context, n int, hit func(i int) (evidence.Subject, *[]string)) error {
	t := &tagger{s: s}
	for i := range n {
		subject, tags := hit(i)
		var err error
		if *tags, err = t.tags(ctx, subject); err != nil {
			return err
		}
	}
	return nil
}

// tagger caches current tags per repository for one query.
type tagger struct {
	s     *sqlStore
	repos map[string]map[string][]string
}

func (t *tagger) tags(ctx context.Context, subject evidence.Subject) ([]string, error) {
	if t.repos == nil {
		t.repos = map[string]map[string][]string{}
	}
	m, ok := t.repos[subject.Repository]
	if !ok {
		var err error
		if m, err = t.s.currentTags(ctx, subject.Repository); err != nil {
			return nil, err
		}
		t.repos[subject.Repository] = m
	}
	if tags := m[subject.Digest]; tags != nil {
		return tags, nil
	}
	return []string{}, nil
}

func (s *sqlStore) Components(ctx context.Context, what string) ([]ComponentHit, error) {
	query, arg := `SELECT s.repository, s.digest, `+componentColumns+` FROM components c JOIN subjects s ON s.id = c.subject_id WHERE c.name = ? ORDER BY s.repository, s.digest`, what
	if strings.HasPrefix(what, "pkg:") {
		query, arg = strings.Replace(query, "c.name = ?", "c.purl_base = ?", 1), purlBase(what)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), arg)
	if err != nil {
		return nil, err
	}
	var out []ComponentHit
	err = each(rows, func() error {
		var h ComponentHit
		var name, version, typ, purl string
		var doc []byte
		if err := rows.Scan(&h.Subject.Repository, &h.Subject.Digest, &name, &version, &typ, &purl, &doc); err != nil {
			return err
		}
		var err error
		h.Component, err = decodeComponent(name, version, typ, purl, doc)
		out = append(out, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, s.fillTags(ctx, len(out), func(i int) (evidence.Subject, *[]string) { return out[i].Subject, &out[i].Tags })
}

func (s *sqlStore) Affected(ctx context.Context, advisory string) ([]FindingHit, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT s.repository, s.digest, f.finding, f.first_seen, f.last_seen, f.database_version
		FROM finding_ids i JOIN findings f ON f.id = i.finding_id JOIN subjects s ON s.id = f.subject_id
		WHERE i.advisory_id = ? AND f.resolved_at IS NULL ORDER BY s.repository, s.digest`), advisory)
	if err != nil {
		return nil, err
	}
	var out []FindingHit
	err = each(rows, func() error {
		var h FindingHit
		var doc string
		var first, last, dbv int64
		if err := rows.Scan(&h.Subject.Repository, &h.Subject.Digest, &doc, &first, &last, &dbv); err != nil {
			return err
		}
		h.Finding.FirstSeen, h.Finding.LastSeen, h.Finding.DatabaseVersion = fromMicros(first), fromMicros(last), fromMicros(dbv)
		out = append(out, h)
		return json.Unmarshal([]byte(doc), &out[len(out)-1].Finding.Finding)
	})
	if err != nil {
		return nil, err
	}
	return out, s.fillTags(ctx, len(out), func(i int) (evidence.Subject, *[]string) { return out[i].Subject, &out[i].Tags })
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
	return out, s.fillTags(ctx, len(out), func(i int) (evidence.Subject, *[]string) { return out[i].Subject, &out[i].Tags })
}
