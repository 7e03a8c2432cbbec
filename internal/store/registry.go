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

// Roles a registry token grants, each including the ones before it;
// RoleNotify stands apart: it may only send push notifications of the
// registries dossier guards, for the repositories of its glob.
const (
	RolePull   = "pull"
	RolePush   = "push"
	RoleAdmin  = "admin"
	RoleNotify = "notify"
)

// Token is a registry access token as stored: never the secret, only
// its SHA-256.
type Token struct {
	ID int64 `json:"id"`
	// Repositories is the glob of repositories it reaches.
	Repositories string     `json:"repositories"`
	Role         string     `json:"role"`
	Description  string     `json:"description,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
	// Origin is where it came from: "" (token create, the first start),
	// OriginEnvironment or OriginSession.
	Origin string `json:"origin,omitempty"`
	// Parent is the token a UI session was started with.
	Parent int64 `json:"parent,omitempty"`
}

// Token origins.
const (
	// OriginEnvironment is the admin token DOSSIER_ADMIN_TOKEN holds: a
	// new value there replaces it.
	OriginEnvironment = "environment"
	// OriginSession is a UI session: good only in the UI's cookie, and
	// ended by logging out or by revoking its parent.
	OriginSession = "session"
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

// RegistryState is what the registry keeps in the store, so that replicas
// sharing a store share it.
type RegistryState interface {
	// CreateToken stores a token by the SHA-256 of its secret.
	CreateToken(ctx context.Context, hash string, t Token) (int64, error)
	// CreateSession stores a UI session of the token whose secret hashes
	// to parentHash, if that token still exists (ErrNoParentToken if not).
	CreateSession(ctx context.Context, parentHash, hash string, now time.Time, ttl time.Duration) (Token, error)
	// TokenByHash finds a token by the SHA-256 of its secret (nil when
	// there is none); Tokens lists them all.
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken deletes a token and the UI sessions started with it.
	RevokeToken(ctx context.Context, id int64) (bool, error)
	// AddReferrer and RemoveReferrer keep the referrers index of a
	// repository; Referrers lists a subject's, of one artifact type when
	// given.
	AddReferrer(ctx context.Context, repository string, r Referrer) error
	RemoveReferrer(ctx context.Context, repository, digest string) error
	Referrers(ctx context.Context, repository, subject, artifactType string) ([]Referrer, error)
	// ClaimTag binds a repository's tag to a digest for good unless it is
	// bound already; it returns the digest the tag is bound to.
	// ReleaseTag undoes a claim of digest (a push that then failed).
	ClaimTag(ctx context.Context, repository, tag, digest string, at time.Time) (string, error)
	ReleaseTag(ctx context.Context, repository, tag, digest string) error
	// IndexBlobs records the blobs (config and layers) a manifest of a
	// repository names, and whether the manifest is evidence (a
	// signature, an attestation); UnindexBlobs forgets a manifest's.
	// ManifestsOfBlob lists, newest first, at most limit manifests of
	// the repository that name a blob, evidence or not.
	IndexBlobs(ctx context.Context, repository, manifest string, evidence bool, blobs []string) error
	UnindexBlobs(ctx context.Context, repository, manifest string) error
	ManifestsOfBlob(ctx context.Context, repository, blob string, evidence bool, limit int) ([]string, error)
	// RegistryEvents are the registry's audit trail.
	AddRegistryEvent(ctx context.Context, e RegistryEvent) error
	RegistryEvents(ctx context.Context, since time.Time, limit int) ([]RegistryEvent, error)
	// Setting returns a named shared setting, storing make's value the
	// first time (replicas race: one value wins for all).
	Setting(ctx context.Context, name string, make func() (string, error)) (string, error)
	JobQueue
}

func (s *sqlStore) CreateToken(ctx context.Context, hash string, t Token) (int64, error) {
	switch t.Role {
	case RolePull, RolePush, RoleAdmin, RoleNotify:
	default:
		return 0, fmt.Errorf("token role %q: want pull, push, admin or notify", t.Role)
	}
	if t.Repositories == "" || hash == "" || t.CreatedAt.IsZero() {
		return 0, errors.New("a token needs a repository glob, a secret's hash and a creation time")
	}
	switch {
	case t.Origin == OriginSession || t.Parent != 0:
		return 0, errors.New("a UI session is started with CreateSession, from the token that logs in")
	case t.Origin != "" && t.Origin != OriginEnvironment:
		return 0, fmt.Errorf("token origin %q: want %q or none", t.Origin, OriginEnvironment)
	}
	var expires *int64
	if t.ExpiresAt != nil {
		e := micros(*t.ExpiresAt)
		expires = &e
	}
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO registry_tokens (hash, repositories, role, description, created_at, expires_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		hash, t.Repositories, t.Role, t.Description, micros(t.CreatedAt), expires, t.Origin).Scan(&id)
	return id, err
}

// ErrNoParentToken is a UI session asked of a token that is gone (revoked
// a moment ago), expired, or itself a session.
var ErrNoParentToken = errors.New("no such token to start a UI session with")

// CreateSession stores a UI session started at now with the token whose
// secret hashes to parentHash, and returns it as stored. It copies the
// grant from the token's row in the same statement, so a token revoked a
// moment before cannot start one (whatever a replica still remembers of
// it), and the session ends after ttl or with the token, if sooner.
func (s *sqlStore) CreateSession(ctx context.Context, parentHash, hash string, now time.Time, ttl time.Duration) (Token, error) {
	if parentHash == "" || hash == "" || ttl <= 0 {
		return Token{}, errors.New("a UI session needs its token's hash, a secret's hash and a lifetime")
	}
	at, until := micros(now), micros(now.Add(ttl))
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`INSERT INTO registry_tokens (hash, repositories, role, description, created_at, expires_at, origin, parent_id)
		SELECT CAST(? AS TEXT), repositories, role, 'UI session of token ' || CAST(id AS TEXT), CAST(? AS BIGINT),
			CASE WHEN expires_at IS NOT NULL AND expires_at < CAST(? AS BIGINT) THEN expires_at ELSE CAST(? AS BIGINT) END, CAST(? AS TEXT), id
		FROM registry_tokens WHERE hash = ? AND origin <> ? AND (expires_at IS NULL OR expires_at > ?)
		RETURNING `+tokenColumns), hash, at, until, until, OriginSession, parentHash, OriginSession, at))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNoParentToken
	}
	return t, err
}

// RevokeToken deletes a token and the UI sessions started with it; it
// reports whether there was such a token.
func (s *sqlStore) RevokeToken(ctx context.Context, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM registry_tokens WHERE id = ? OR parent_id = ?`), id, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

const tokenColumns = `id, repositories, role, description, created_at, expires_at, origin, parent_id`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created int64
	var expires, parent sql.NullInt64
	if err := row.Scan(&t.ID, &t.Repositories, &t.Role, &t.Description, &created, &expires, &t.Origin, &parent); err != nil {
		return t, err
	}
	t.CreatedAt = fromMicros(created)
	if expires.Valid {
		e := fromMicros(expires.Int64)
		t.ExpiresAt = &e
	}
	t.Parent = parent.Int64
	return t, nil
}

func (s *sqlStore) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenColumns+` FROM registry_tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (s *sqlStore) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM registry_tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	out := []Token{}
	err = each(rows, func() error {
		t, err := scanToken(rows)
		out = append(out, t)
		return err
	})
	return out, err
}

func (s *sqlStore) AddReferrer(ctx context.Context, repository string, r Referrer) error {
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

func (s *sqlStore) RemoveReferrer(ctx context.Context, repository, digest string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM referrers WHERE repository = ? AND digest = ?`), repository, digest)
	return err
}

func (s *sqlStore) Referrers(ctx context.Context, repository, subject, artifactType string) ([]Referrer, error) {
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

func (s *sqlStore) ClaimTag(ctx context.Context, repository, tag, digest string, at time.Time) (string, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tag_claims (repository, tag, digest, claimed_at) VALUES (?, ?, ?, ?) ON CONFLICT (repository, tag) DO NOTHING`),
		repository, tag, digest, micros(at)); err != nil {
		return "", err
	}
	var bound string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT digest FROM tag_claims WHERE repository = ? AND tag = ?`), repository, tag).Scan(&bound)
	return bound, err
}

func (s *sqlStore) ReleaseTag(ctx context.Context, repository, tag, digest string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM tag_claims WHERE repository = ? AND tag = ? AND digest = ?`), repository, tag, digest)
	return err
}

func (s *sqlStore) AddRegistryEvent(ctx context.Context, e RegistryEvent) error {
	if e.At.IsZero() || e.Action == "" || e.Outcome == "" {
		return errors.New("a registry event needs a time, an action and an outcome")
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO registry_events (at, action, repository, reference, digest, actor, outcome, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		micros(e.At), e.Action, e.Repository, e.Reference, e.Digest, e.Actor, e.Outcome, e.Reason)
	return err
}

func (s *sqlStore) RegistryEvents(ctx context.Context, since time.Time, limit int) ([]RegistryEvent, error) {
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

func (s *sqlStore) IndexBlobs(ctx context.Context, repository, manifest string, evidence bool, blobs []string) error {
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

func (s *sqlStore) UnindexBlobs(ctx context.Context, repository, manifest string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM manifest_blobs WHERE repository = ? AND manifest = ?`), repository, manifest)
	return err
}

func (s *sqlStore) ManifestsOfBlob(ctx context.Context, repository, blob string, evidence bool, limit int) ([]string, error) {
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

func (s *sqlStore) Setting(ctx context.Context, name string, make func() (string, error)) (string, error) {
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

// The kinds of work the registry queues about a digest.
const (
	// JobScan catalogues, scans and records an image or index pushed.
	JobScan = "scan"
	// JobScanRemote catalogues, scans and records a digest pushed to a
	// registry dossier does not host, read over the network.
	JobScanRemote = "scan-remote"
	// JobVerify verifies and records what was attached to a digest
	// (signatures, attestations pushed as referrers or cosign's tags).
	JobVerify = "verify"
)

// JobKinds are all the kinds of job.
var JobKinds = []string{JobScan, JobScanRemote, JobVerify}

// The states of a registry job.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// Job is work the registry queued about a digest: scanning and recording
// what was pushed ("scan"), or verifying and recording what was attached
// to it ("verify").
type Job struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`
	Repository string     `json:"repository"`
	Digest     string     `json:"digest"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	QueuedAt   time.Time  `json:"queuedAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// JobQueue is the registry's durable work queue: jobs survive restarts,
// and replicas sharing the store share the queue. A job claimed is leased
// until a time; a worker that dies leaves it to be claimed again when the
// lease ends.
type JobQueue interface {
	// Enqueue adds a job unless the same kind of job for the digest is
	// already queued or running.
	Enqueue(ctx context.Context, kind, repository, digest string, at time.Time) error
	// ClaimJob leases the oldest claimable job until leaseUntil (nil when
	// there is none).
	ClaimJob(ctx context.Context, now, leaseUntil time.Time) (*Job, error)
	// RenewJob extends a running job's lease (its worker is alive).
	RenewJob(ctx context.Context, id int64, leaseUntil time.Time) error
	// FinishJob records a job's end: done, or failed with why (failed jobs
	// with attempts left are queued again).
	FinishJob(ctx context.Context, id int64, at time.Time, jobErr error, maxAttempts int) error
	// Jobs lists a digest's jobs, newest first (every digest's when
	// digest is empty), at most limit (all when 0).
	Jobs(ctx context.Context, repository, digest string, limit int) ([]Job, error)
	// QueuedJobs counts the jobs waiting or running.
	QueuedJobs(ctx context.Context) (int, error)
}

func (s *sqlStore) Enqueue(ctx context.Context, kind, repository, digest string, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var pending int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM registry_jobs WHERE kind = ? AND repository = ? AND digest = ? AND state IN ('queued', 'running')`),
		kind, repository, digest).Scan(&pending); err != nil {
		return err
	}
	if pending == 0 {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO registry_jobs (kind, repository, digest, state, attempts, queued_at) VALUES (?, ?, ?, 'queued', 0, ?)`),
			kind, repository, digest, micros(at)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const jobColumns = `id, kind, repository, digest, state, attempts, queued_at, started_at, finished_at, error`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var queued int64
	var started, finished sql.NullInt64
	if err := row.Scan(&j.ID, &j.Kind, &j.Repository, &j.Digest, &j.State, &j.Attempts, &queued, &started, &finished, &j.Error); err != nil {
		return j, err
	}
	j.QueuedAt = fromMicros(queued)
	if started.Valid {
		t := fromMicros(started.Int64)
		j.StartedAt = &t
	}
	if finished.Valid {
		t := fromMicros(finished.Int64)
		j.FinishedAt = &t
	}
	return j, nil
}

func (s *sqlStore) ClaimJob(ctx context.Context, now, leaseUntil time.Time) (*Job, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// PostgreSQL: replicas skip the rows another is claiming
	lock := ""
	if s.d.name == "postgres" {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	var id int64
	err = tx.QueryRowContext(ctx, s.q(`SELECT id FROM registry_jobs WHERE state = 'queued' OR (state = 'running' AND lease_until < ?) ORDER BY id LIMIT 1`+lock), micros(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j, err := scanJob(tx.QueryRowContext(ctx, s.q(`UPDATE registry_jobs SET state = 'running', attempts = attempts + 1, started_at = ?, lease_until = ?
		WHERE id = ? RETURNING `+jobColumns), micros(now), micros(leaseUntil), id))
	if err != nil {
		return nil, err
	}
	return &j, tx.Commit()
}

func (s *sqlStore) RenewJob(ctx context.Context, id int64, leaseUntil time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE registry_jobs SET lease_until = ? WHERE id = ? AND state = 'running'`), micros(leaseUntil), id)
	return err
}

func (s *sqlStore) FinishJob(ctx context.Context, id int64, at time.Time, jobErr error, maxAttempts int) error {
	if jobErr == nil {
		_, err := s.db.ExecContext(ctx, s.q(`UPDATE registry_jobs SET state = 'done', finished_at = ?, error = '' WHERE id = ?`), micros(at), id)
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE registry_jobs SET state = CASE WHEN attempts < ? THEN 'queued' ELSE 'failed' END, finished_at = ?, error = ? WHERE id = ?`),
		maxAttempts, micros(at), jobErr.Error(), id)
	return err
}

func (s *sqlStore) Jobs(ctx context.Context, repository, digest string, limit int) ([]Job, error) {
	if limit <= 0 {
		limit = 1<<31 - 1
	}
	query, args := `SELECT `+jobColumns+` FROM registry_jobs`, []any{}
	if digest != "" {
		query += ` WHERE repository = ? AND digest = ?`
		args = append(args, repository, digest)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	out := []Job{}
	err = each(rows, func() error {
		j, err := scanJob(rows)
		out = append(out, j)
		return err
	})
	return out, err
}

func (s *sqlStore) QueuedJobs(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM registry_jobs WHERE state IN ('queued', 'running')`).Scan(&n)
	return n, err
}
