package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Referrer is a manifest whose subject is another manifest of the same
// repository: what the OCI referrers API lists.
type Referrer struct {
	Subject      string            `json:"subject"`
	Digest       string            `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// AttachedBytes is what its layers declare in all, what a verifier
	// reads beside the manifest; -1 when it was indexed before the
	// store counted them.
	AttachedBytes int64 `json:"-"`
}

// RegistryEvent is something the registry refused or did that must be
// answerable later: who, what, when and why.
type RegistryEvent struct {
	At         time.Time `json:"at"`
	Action     string    `json:"action"`
	Repository string    `json:"repository"`
	Reference  string    `json:"reference"`
	Digest     string    `json:"digest,omitempty"`
	// Actor names the token ("token 3") or "anonymous".
	Actor   string `json:"actor"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// AddReferrer and RemoveReferrer keep the referrers index of a
// repository; Referrers lists a subject's, of one artifact type when
// given.
func (s *Store) AddReferrer(ctx context.Context, repository string, r Referrer) error {
	defer s.timed("add_referrer")()
	var annotations *string
	if len(r.Annotations) > 0 {
		a := mustJSON(r.Annotations)
		annotations = &a
	}
	var attached *int64
	if r.AttachedBytes >= 0 {
		attached = &r.AttachedBytes
	}
	// indexing a referrer again fills in the bytes an older index lacks
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO referrers (repository, subject, digest, media_type, artifact_type, size, annotations, attached_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository, subject, digest) DO UPDATE SET attached_bytes = excluded.attached_bytes WHERE referrers.attached_bytes IS NULL`),
		repository, r.Subject, r.Digest, r.MediaType, r.ArtifactType, r.Size, annotations, attached)
	return err
}

func (s *Store) RemoveReferrer(ctx context.Context, repository, digest string) error {
	defer s.timed("remove_referrer")()
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM referrers WHERE repository = ? AND digest = ?`), repository, digest)
	return err
}

func (s *Store) Referrers(ctx context.Context, repository, subject, artifactType string) ([]Referrer, error) {
	defer s.timed("referrers")()
	query, args := `SELECT digest, media_type, artifact_type, size, annotations, COALESCE(attached_bytes, -1) FROM referrers WHERE repository = ? AND subject = ?`, []any{repository, subject}
	if artifactType != "" {
		query += ` AND artifact_type = ?`
		args = append(args, artifactType)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY digest`), args...)
	if err != nil {
		return nil, err
	}
	out := []Referrer{}
	err = each(rows, func() error {
		r := Referrer{Subject: subject}
		var annotations sql.NullString
		if err := rows.Scan(&r.Digest, &r.MediaType, &r.ArtifactType, &r.Size, &annotations, &r.AttachedBytes); err != nil {
			return err
		}
		if annotations.Valid {
			if err := json.Unmarshal([]byte(annotations.String), &r.Annotations); err != nil {
				return fmt.Errorf("referrer %s: annotations: %w", r.Digest, err)
			}
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// ClaimTag binds a repository's tag to a digest for good unless it is
// bound already; it returns the digest the tag is bound to.
// ReleaseTag undoes a claim of digest (a push that then failed).
func (s *Store) ClaimTag(ctx context.Context, repository, tag, digest string, at time.Time) (string, error) {
	defer s.timed("claim_tag")()
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tag_claims (repository, tag, digest, claimed_at) VALUES (?, ?, ?, ?) ON CONFLICT (repository, tag) DO NOTHING`),
		repository, tag, digest, micros(at)); err != nil {
		return "", err
	}
	var bound string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT digest FROM tag_claims WHERE repository = ? AND tag = ?`), repository, tag).Scan(&bound)
	return bound, err
}

func (s *Store) ReleaseTag(ctx context.Context, repository, tag, digest string) error {
	defer s.timed("release_tag")()
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM tag_claims WHERE repository = ? AND tag = ? AND digest = ?`), repository, tag, digest)
	return err
}

// RegistryEvents are the registry's audit trail.
func (s *Store) AddRegistryEvent(ctx context.Context, e RegistryEvent) error {
	defer s.timed("add_registry_event")()
	if e.At.IsZero() || e.Action == "" || e.Outcome == "" {
		return errors.New("a registry event needs a time, an action and an outcome")
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO registry_events (at, action, repository, reference, digest, actor, outcome, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		micros(e.At), e.Action, e.Repository, e.Reference, e.Digest, e.Actor, e.Outcome, e.Reason)
	return err
}

func (s *Store) RegistryEvents(ctx context.Context, since time.Time, limit int) ([]RegistryEvent, error) {
	defer s.timed("registry_events")()
	if limit <= 0 {
		limit = 1<<31 - 1
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, action, repository, reference, digest, actor, outcome, reason FROM registry_events
		WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?`), micros(since), limit)
	if err != nil {
		return nil, err
	}
	out := []RegistryEvent{}
	err = each(rows, func() error {
		var e RegistryEvent
		var at int64
		if err := rows.Scan(&at, &e.Action, &e.Repository, &e.Reference, &e.Digest, &e.Actor, &e.Outcome, &e.Reason); err != nil {
			return err
		}
		e.At = fromMicros(at)
		out = append(out, e)
		return nil
	})
	return out, err
}

// IndexBlobs records the blobs (config and layers) a manifest of a
// repository names, and whether the manifest is evidence (a
// signature, an attestation); UnindexBlobs forgets a manifest's.
// ManifestsOfBlob lists, newest first, at most limit manifests of
// the repository that name a blob, evidence or not.
func (s *Store) IndexBlobs(ctx context.Context, repository, manifest string, evidence bool, blobs []string) error {
	defer s.timed("index_blobs")()
	isEvidence := 0
	if evidence {
		isEvidence = 1
	}
	// in statements of at most 500 rows, within every dialect's bound on
	// parameters; a statement a crash cuts short is repeated by the push
	// the client retries
	for batch := range slices.Chunk(blobs, 500) {
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(batch)), ", ")
		args := make([]any, 0, 4*len(batch))
		for _, blob := range batch {
			args = append(args, repository, blob, manifest, isEvidence)
		}
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO manifest_blobs (repository, blob, manifest, evidence) VALUES `+values+` ON CONFLICT (repository, blob, manifest) DO NOTHING`), args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) UnindexBlobs(ctx context.Context, repository, manifest string) error {
	defer s.timed("unindex_blobs")()
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM manifest_blobs WHERE repository = ? AND manifest = ?`), repository, manifest)
	return err
}

func (s *Store) ManifestsOfBlob(ctx context.Context, repository, blob string, evidence bool, limit int) ([]string, error) {
	defer s.timed("manifests_of_blob")()
	isEvidence := 0
	if evidence {
		isEvidence = 1
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT manifest FROM manifest_blobs WHERE repository = ? AND blob = ? AND evidence = ? ORDER BY id DESC LIMIT ?`), repository, blob, isEvidence, limit)
	if err != nil {
		return nil, err
	}
	var manifests []string
	err = each(rows, func() error {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		manifests = append(manifests, m)
		return nil
	})
	return manifests, err
}

// Setting returns a named shared setting, storing make's value the
// first time (replicas race: one value wins for all).
func (s *Store) Setting(ctx context.Context, name string, make func() (string, error)) (string, error) {
	defer s.timed("setting")()
	var value string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&value)
	if !errors.Is(err, sql.ErrNoRows) {
		return value, err
	}
	if value, err = make(); err != nil {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, value); err != nil {
		return "", err
	}
	// another replica may have stored its value first: that one wins
	err = s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&value)
	return value, err
}
