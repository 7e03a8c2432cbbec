package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// CreateToken stores a token by the SHA-256 of its secret.
func (s *Store) CreateToken(ctx context.Context, hash string, t Token) (int64, error) {
	defer s.timed("create_token")()
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
func (s *Store) CreateSession(ctx context.Context, parentHash, hash string, now time.Time, ttl time.Duration) (Token, error) {
	defer s.timed("create_session")()
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
func (s *Store) RevokeToken(ctx context.Context, id int64) (bool, error) {
	defer s.timed("revoke_token")()
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

// TokenByHash finds a token by the SHA-256 of its secret (nil when
// there is none); Tokens lists them all.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	defer s.timed("token_by_hash")()
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenColumns+` FROM registry_tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	defer s.timed("tokens")()
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
