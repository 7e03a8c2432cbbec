// Package tokens is who a request to dossier's servers comes from: the
// tokens the store keeps (only their SHA-256), and the actor a presented
// token stands for — a role over a glob of repositories. The registry, its
// notification hooks and the web UI authenticate with it alike.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// prefix marks dossier's tokens, so that a leaked one is recognisable
// (secret scanners key on such prefixes).
const prefix = "dsr_"

// New makes a token's secret and the hash the store keeps of it.
func New() (secret, hash string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret), nil
}

// secretBytes is a token's strength: New draws this many random bytes.
const secretBytes = 32

// CheckStrength refuses a secret made elsewhere (DOSSIER_ADMIN_TOKEN)
// that is not made as New makes them: the prefix, then exactly 32 bytes
// in unpadded URL-safe base64 and nothing else, and bytes that look drawn
// at random — not text, not a short pattern repeated.
func CheckStrength(secret string) error {
	want := fmt.Errorf("not a token as dossier token create makes them: want %q then %d random bytes in unpadded URL-safe base64 (%d characters)",
		prefix, secretBytes, base64.RawURLEncoding.EncodedLen(secretBytes))
	body, ok := strings.CutPrefix(secret, prefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return want
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) != secretBytes {
		return want
	}
	if !looksRandom(raw) {
		return fmt.Errorf("too weak: its %d bytes are text, a repeated pattern or a sequence, not random (make one with dossier token create, or: echo dsr_$(head -c %d /dev/urandom | basenc --base64url | tr -d =))",
			secretBytes, secretBytes)
	}
	return nil
}

// looksRandom tells drawn bytes from chosen ones. Each test fails 32
// bytes from a good random source with probability below 10^-8: all
// printable ASCII (about 10^-14), fewer than 20 distinct values, all
// within half the byte range (a window of 128), and a regular sequence —
// eight or more equal steps in the first, second or third differences
// taken 1 to 4 bytes apart (about 10^-12), which counting, interleaved
// counters, squares and cubes all have. A hash of a password passes: no
// test of 32 bytes can tell it from random, so the secret must be drawn.
func looksRandom(raw []byte) bool {
	distinct := map[byte]bool{}
	printable := true
	low, high := raw[0], raw[0]
	for _, b := range raw {
		distinct[b] = true
		printable = printable && b >= 0x20 && b < 0x7f
		low, high = min(low, b), max(high, b)
	}
	// text in any script is valid UTF-8; 32 random bytes are with
	// probability about 10^-9
	return !printable && !utf8.Valid(raw) && len(distinct) >= 20 && high-low >= 128 && !regular(raw)
}

// regular says a sequence's differences repeat: x[i]-x[i-k], and the
// differences of those, equal to the one k before at eight or more places.
func regular(raw []byte) bool {
	for k := 1; k <= 4; k++ {
		d := slices.Clone(raw)
		for range 3 {
			next := make([]byte, 0, len(d))
			for i := k; i < len(d); i++ {
				next = append(next, d[i]-d[i-k])
			}
			d = next
			repeats := 0
			for i := k; i < len(d); i++ {
				if d[i] == d[i-k] {
					repeats++
				}
			}
			if repeats >= 8 {
				return true
			}
		}
	}
	// each byte the sum of the two before (Fibonacci's recurrence)
	sums := 0
	for i := 2; i < len(raw); i++ {
		if raw[i] == raw[i-1]+raw[i-2] {
			sums++
		}
	}
	return sums >= 8
}

// Hash is what the store keeps of a token's secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// LooksLike reports whether s has the form of a dossier token (what log
// scrubbing and tests look for).
func LooksLike(s string) bool { return strings.HasPrefix(s, prefix) }

// Actor is who a request comes from: a token's grant.
type Actor struct {
	Name         string
	Role         string
	Repositories policy.Glob
}

// All is every repository.
var All = mustGlob("**")

func mustGlob(s string) policy.Glob {
	g, err := policy.CompileGlob(s)
	if err != nil {
		panic(err) // a constant
	}
	return g
}

var roleRank = map[string]int{store.RolePull: 1, store.RolePush: 2, store.RoleAdmin: 3}

// Has reports whether the actor's role is role or above.
func (a *Actor) Has(role string) bool { return roleRank[a.Role] >= roleRank[role] }

// Reaches reports whether the actor may act on the repository at all.
func (a *Actor) Reaches(repository string) bool { return a.Repositories.Match(repository) }

// Authenticator finds the token a request presents. Tokens found are
// remembered for a few seconds (a revoked or expired one stops working
// within that time), so that the many requests of one push cost one
// lookup.
type Authenticator struct {
	lookup Lookup
	now    func() time.Time
	mu     sync.Mutex
	known  map[string]knownToken
}

// Lookup finds a token by the hash of its secret (nil when none).
type Lookup interface {
	TokenByHash(ctx context.Context, hash string) (*store.Token, error)
}

type knownToken struct {
	token *store.Token
	until time.Time
}

const cacheTTL = 5 * time.Second

// NewAuthenticator authenticates against the tokens lookup finds, judging
// expiry by now.
func NewAuthenticator(lookup Lookup, now func() time.Time) *Authenticator {
	return &Authenticator{lookup: lookup, now: now, known: map[string]knownToken{}}
}

// ErrBadCredentials is a presented secret that is no valid token.
var ErrBadCredentials = errors.New("the credentials are not a valid dossier token")

// UnavailableError says tokens could not be looked up (the store is down).
// Its message is safe for any client; the cause, for the server's log,
// is reached through errors.Unwrap.
type UnavailableError struct{ Cause error }

func (e *UnavailableError) Error() string { return "tokens cannot be checked now: try again" }
func (e *UnavailableError) Unwrap() error { return e.Cause }

// Request returns the actor of the token in the request's Authorization
// header (a Basic password with any user name, or Bearer), nil when it
// presents none, or an error when it is wrong.
func (a *Authenticator) Request(req *http.Request) (*Actor, error) {
	header := req.Header.Get("Authorization")
	if header == "" {
		return nil, nil
	}
	var secret string
	if _, password, ok := req.BasicAuth(); ok {
		secret = password // any user name: docker login, crane and cosign send one
	} else if bearer, ok := strings.CutPrefix(header, "Bearer "); ok {
		secret = strings.TrimSpace(bearer)
	}
	return a.Secret(req.Context(), secret)
}

// Secret returns the actor of a token's secret, or an error when it is
// not a valid one. A UI session's secret is not a token here: it is good
// in the UI's cookie only (Session).
func (a *Authenticator) Secret(ctx context.Context, secret string) (*Actor, error) {
	t, err := a.token(ctx, secret)
	if err != nil {
		return nil, err
	}
	if t.Origin == store.OriginSession {
		return nil, ErrBadCredentials
	}
	return actorOf(t)
}

// Session returns the actor of a UI session's secret.
func (a *Authenticator) Session(ctx context.Context, secret string) (*Actor, error) {
	t, err := a.token(ctx, secret)
	if err != nil {
		return nil, err
	}
	if t.Origin != store.OriginSession {
		return nil, ErrBadCredentials
	}
	return actorOf(t)
}

// Sessions keeps UI sessions: tokens of their own, each bound to the
// token that logged in, so that revoking that token ends them.
type Sessions interface {
	CreateSession(ctx context.Context, parentHash, hash string, now time.Time, ttl time.Duration) (store.Token, error)
	RevokeToken(ctx context.Context, id int64) (bool, error)
}

// StartSession logs a browser in with a token's secret: it returns a new
// secret for the browser to keep (never the token itself) and when it
// expires — after ttl, or when the token does if sooner. The token is
// looked up again in the store as the session is made, so a token revoked
// a moment ago (and still remembered here) starts none.
func (a *Authenticator) StartSession(ctx context.Context, sessions Sessions, secret string, ttl time.Duration) (string, time.Time, error) {
	t, err := a.token(ctx, secret)
	if err != nil {
		return "", time.Time{}, err
	}
	if t.Origin == store.OriginSession {
		return "", time.Time{}, ErrBadCredentials // a session does not start another
	}
	if _, err := actorOf(t); err != nil {
		return "", time.Time{}, err
	}
	session, hash, err := New()
	if err != nil {
		return "", time.Time{}, err
	}
	stored, err := sessions.CreateSession(ctx, Hash(secret), hash, a.now(), ttl)
	if errors.Is(err, store.ErrNoParentToken) {
		a.forget(secret)
		return "", time.Time{}, ErrBadCredentials
	}
	if err != nil {
		return "", time.Time{}, &UnavailableError{Cause: err}
	}
	return session, *stored.ExpiresAt, nil
}

// EndSession revokes a UI session (logging out); a secret that is no
// session is left alone.
func (a *Authenticator) EndSession(ctx context.Context, sessions Sessions, secret string) error {
	t, err := a.token(ctx, secret)
	if err != nil || t.Origin != store.OriginSession {
		return nil // nothing to end: an expired or unknown session is over already
	}
	a.forget(secret)
	if _, err := sessions.RevokeToken(ctx, t.ID); err != nil {
		return &UnavailableError{Cause: err}
	}
	return nil
}

// forget drops what this replica remembers of a secret.
func (a *Authenticator) forget(secret string) {
	a.mu.Lock()
	delete(a.known, Hash(secret))
	a.mu.Unlock()
}

// token finds the stored token of a secret that has not expired.
func (a *Authenticator) token(ctx context.Context, secret string) (*store.Token, error) {
	if !LooksLike(secret) {
		return nil, ErrBadCredentials
	}
	hash := Hash(secret)
	now := a.now()
	a.mu.Lock()
	k, ok := a.known[hash]
	a.mu.Unlock()
	if !ok || !now.Before(k.until) {
		t, err := a.lookup.TokenByHash(ctx, hash)
		if err != nil {
			return nil, &UnavailableError{Cause: err}
		}
		if t == nil {
			return nil, ErrBadCredentials
		}
		k = knownToken{token: t, until: now.Add(cacheTTL)}
		a.mu.Lock()
		if len(a.known) > 10000 {
			clear(a.known)
		}
		a.known[hash] = k
		a.mu.Unlock()
	}
	t := k.token
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return nil, fmt.Errorf("token %d expired %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func actorOf(t *store.Token) (*Actor, error) {
	repos, err := policy.CompileGlob(t.Repositories)
	if err != nil {
		return nil, fmt.Errorf("token %d: repositories %q: %w", t.ID, t.Repositories, err)
	}
	return &Actor{Name: fmt.Sprintf("token %d", t.ID), Role: t.Role, Repositories: repos}, nil
}
