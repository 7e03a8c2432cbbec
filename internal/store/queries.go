package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// currentTags finds the tags that point to digests now (those whose
// latest move went to them), in one statement per thousand digests.
func (s *Store) currentTags(ctx context.Context, subjects []evidence.Subject) (map[evidence.Subject][]string, error) {
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

// place sets where each of n hits is now: its current tags, when it was
// last seen deployed and where it runs (within running, when set).
func (s *Store) place(ctx context.Context, n int, running *RunningFilter, hit func(i int) (evidence.Subject, *Placement)) error {
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
	places, err := s.runningPlaces(ctx, slices.Compact(digests), running)
	if err != nil {
		return err
	}
	for i := range n {
		subject, p := hit(i)
		if at, ok := deployed[subject]; ok {
			p.Deployed = &at
		}
		p.Running = places[subject.Digest]
	}
	return nil
}

// inScope is the condition keeping a query to the subjects of the
// repositories a page's scope sees, and its arguments; none says the
// scope sees no stored repository at all.
func (s *Store) inScope(ctx context.Context, p Page, subjectID string) (cond string, args []any, none bool, err error) {
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

// placedOnly narrows a condition to the digests seen deployed, or
// running now where the filter says, when a page asks for them.
func placedOnly(p Page, subjectID string) (string, []any) {
	cond, args := "", []any{}
	if p.Deployed {
		cond += ` AND ` + subjectID + ` IN (SELECT subject_id FROM deployments)`
	}
	if p.Running != nil {
		running, runningArgs := p.Running.condition()
		cond += ` AND ` + subjectID + ` IN (SELECT id FROM subjects WHERE digest IN (SELECT r.digest FROM running_containers r WHERE ` + running + `))`
		args = append(args, runningArgs...)
	}
	return cond, args
}

// pageLimit is a page's LIMIT (every row when the page sets none).
func pageLimit(p Page) int {
	if p.Limit <= 0 {
		return 1<<31 - 1
	}
	return p.Limit
}

// Components finds the digests holding the components a query selects.
func (s *Store) Components(ctx context.Context, q ComponentQuery) (ComponentPage, error) {
	defer s.timed("components")()
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
	placed, placedArgs := placedOnly(q.Page, "c.subject_id")
	hits := `SELECT DISTINCT c.subject_id, c.purl_base, c.version FROM components c WHERE (` + where + `)` + placed + scope
	hitArgs := append(append(slices.Clip(args), placedArgs...), scopeArgs...)
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
	return page, s.place(ctx, len(page.Hits), q.Page.Running, func(i int) (evidence.Subject, *Placement) { return page.Hits[i].Subject, &page.Hits[i].Placement })
}

// componentCondition turns a component query into a WHERE condition on
// packages (purls without version) and, with Accept, their accepted
// versions; "" when nothing can match.
func (s *Store) componentCondition(ctx context.Context, q ComponentQuery) (string, []any, error) {
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
func (s *Store) texts(ctx context.Context, query string, args ...any) ([]string, error) {
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

// Affected finds the digests with an unresolved finding for an advisory
// ID or any of its aliases.
func (s *Store) Affected(ctx context.Context, advisory string, p Page) (FindingPage, error) {
	defer s.timed("affected")()
	page := FindingPage{Offset: p.Offset, Hits: []FindingHit{}}
	scope, scopeArgs, none, err := s.inScope(ctx, p, "f.subject_id")
	if err != nil || none {
		return page, err
	}
	placed, placedArgs := placedOnly(p, "f.subject_id")
	open := openFindings + placed + scope
	openArgs := append(append([]any{advisory}, placedArgs...), scopeArgs...)
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
	return page, s.place(ctx, len(page.Hits), p.Running, func(i int) (evidence.Subject, *Placement) { return page.Hits[i].Subject, &page.Hits[i].Placement })
}

// TagHistory lists every digest a repository's tag pointed to, oldest
// first.
func (s *Store) TagHistory(ctx context.Context, repository, tag string) ([]TagMove, error) {
	defer s.timed("tag_history")()
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

// Signed lists verified signatures and attestations made in [from, to)
// by signers the filter matches.
func (s *Store) Signed(ctx context.Context, f SignerFilter, from, to time.Time) ([]SignedHit, error) {
	defer s.timed("signed")()
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
		if f.Match == nil || f.Match(signerIdentity(v.Signer)) {
			h.Verification = v.Verification
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, s.place(ctx, len(out), nil, func(i int) (evidence.Subject, *Placement) { return out[i].Subject, &out[i].Placement })
}
