package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// RunningImage is a digest running in a cluster's namespace under an
// image as written: what a background decision is about.
type RunningImage struct {
	Namespace string           `json:"namespace"`
	Image     string           `json:"image"`
	Subject   evidence.Subject `json:"subject"`
}

// RunningImages lists the distinct running images of the digests running
// now in a cluster (containers whose digest is not known are left out:
// there is nothing to judge).
func (s *Store) RunningImages(ctx context.Context, cluster string) ([]RunningImage, error) {
	defer s.timed("running_images")()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT namespace, image, repository, digest FROM running_containers
		WHERE cluster = ? AND stopped IS NULL AND digest <> '' ORDER BY 1, 2, 4`), cluster)
	if err != nil {
		return nil, err
	}
	out := []RunningImage{}
	err = each(rows, func() error {
		var p RunningImage
		err := rows.Scan(&p.Namespace, &p.Image, &p.Subject.Repository, &p.Subject.Digest)
		out = append(out, p)
		return err
	})
	return out, err
}

// Judgement is a background decision about a running image: the policies
// of a version evaluated on recorded evidence.
type Judgement struct {
	RunningImage
	PolicyVersion string            `json:"policyVersion"`
	Decision      evidence.Decision `json:"decision"`
}

// Judged replaces a cluster's background decisions with those of a full
// pass: each running image's decision is kept (stored once however many
// share it), and decisions about images that no longer run are dropped.
func (s *Store) Judged(ctx context.Context, cluster string, judgements []Judgement) error {
	defer s.timed("judged")()
	if cluster == "" {
		return fmt.Errorf("background decisions: the cluster has no name")
	}
	var docRows, rows [][]any
	hashes := make([]string, len(judgements))
	seen := map[string]bool{}
	for i, j := range judgements {
		if !evidence.ValidDigest(j.Subject.Digest) || j.Namespace == "" || j.Image == "" || j.Decision.EvaluatedAt.IsZero() {
			return fmt.Errorf("background decision about %q in %s/%s: a decision needs a digest, a namespace, an image and a time", j.Subject, cluster, j.Namespace)
		}
		doc, hash := decisionDocument(j.Decision)
		if !seen[hash] {
			seen[hash] = true
			docRows = append(docRows, []any{hash, doc})
		}
		hashes[i] = hash
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ids, _, err := s.intern(ctx, tx, "decision_documents", []string{"hash", "decision"}, docRows)
	if err != nil {
		return fmt.Errorf("background decisions: %w", err)
	}
	for i, j := range judgements {
		allowed := 0
		if j.Decision.Allowed {
			allowed = 1
		}
		image := storable(j.Image)
		rows = append(rows, []any{cluster, storable(j.Namespace), image, imageKey(image), storable(j.Subject.Repository), j.Subject.Digest, j.PolicyVersion,
			micros(j.Decision.EvaluatedAt), allowed, ids[hashes[i]]})
	}
	slices.SortFunc(rows, func(a, b []any) int {
		return strings.Compare(a[1].(string)+"\x00"+a[3].(string)+"\x00"+a[5].(string), b[1].(string)+"\x00"+b[3].(string)+"\x00"+b[5].(string))
	})
	if err := s.insertRows(ctx, tx, `INSERT INTO running_judgements (cluster, namespace, image, image_key, repository, digest, policy_version, evaluated_at, allowed, decision_id) VALUES `, 10, `
		ON CONFLICT (cluster, namespace, image_key, digest) DO UPDATE SET image = excluded.image, repository = excluded.repository, policy_version = excluded.policy_version,
			evaluated_at = excluded.evaluated_at, allowed = excluded.allowed, decision_id = excluded.decision_id`, rows); err != nil {
		return fmt.Errorf("background decisions in %s: %w", cluster, err)
	}
	// what the pass did not judge no longer runs there
	keep := map[[3]string]bool{}
	for _, j := range judgements {
		keep[[3]string{storable(j.Namespace), imageKey(storable(j.Image)), j.Subject.Digest}] = true
	}
	stale, err := tx.QueryContext(ctx, s.q(`SELECT id, namespace, image_key, digest FROM running_judgements WHERE cluster = ?`), cluster)
	if err != nil {
		return err
	}
	var drop []any
	if err := each(stale, func() error {
		var id int64
		var k [3]string
		err := stale.Scan(&id, &k[0], &k[1], &k[2])
		if !keep[k] {
			drop = append(drop, id)
		}
		return err
	}); err != nil {
		return err
	}
	for len(drop) > 0 {
		chunk := drop[:min(len(drop), 500)]
		drop = drop[len(chunk):]
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM running_judgements WHERE id IN (`+placeholders(len(chunk))+`)`), chunk...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Judgements reads a cluster's background decisions (of one namespace,
// when given).
func (s *Store) Judgements(ctx context.Context, cluster, namespace string) ([]Judgement, error) {
	defer s.timed("judgements")()
	where, args := `j.cluster = ?`, []any{cluster}
	if namespace != "" {
		where, args = where+` AND j.namespace = ?`, append(args, namespace)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT j.namespace, j.image, j.repository, j.digest, j.policy_version, j.evaluated_at, d.decision
		FROM running_judgements j JOIN decision_documents d ON d.id = j.decision_id WHERE `+where+` ORDER BY 1, 2, 4`), args...)
	if err != nil {
		return nil, err
	}
	out := []Judgement{}
	err = each(rows, func() error {
		var j Judgement
		var at int64
		var doc string
		if err := rows.Scan(&j.Namespace, &j.Image, &j.Subject.Repository, &j.Subject.Digest, &j.PolicyVersion, &at, &doc); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(doc), &j.Decision); err != nil {
			return fmt.Errorf("background decision about %s: %w", j.Subject, err)
		}
		j.Decision.EvaluatedAt = fromMicros(at)
		out = append(out, j)
		return nil
	})
	return out, err
}
