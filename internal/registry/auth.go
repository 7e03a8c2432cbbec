package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// tokenPrefix marks dossier's registry tokens, so that a leaked one is
// recognisable (secret scanners key on such prefixes).
const tokenPrefix = "dsr_"

// NewToken makes a token's secret and the hash the store keeps of it.
func NewToken() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, TokenHash(secret), nil
}

// TokenHash is what the store keeps of a token's secret.
func TokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Actor is who a request comes from: a token's grant.
type Actor struct {
	Name         string
	Role         string
	Repositories policy.Glob
}

var allRepositories = mustGlob("**")

func mustGlob(s string) policy.Glob {
	g, err := policy.CompileGlob(s)
	if err != nil {
		panic(err) // a constant
	}
	return g
}

var roleRank = map[string]int{store.RolePull: 1, store.RolePush: 2, store.RoleAdmin: 3}

// lacks names what the actor may not do for this request, or "".
func (a *Actor) lacks(rt route, req *http.Request) string {
	if rt.catalog {
		if roleRank[a.Role] < roleRank[store.RoleAdmin] {
			return "list the catalog (admin)"
		}
		return ""
	}
	if rt.name == "" { // the base route: any authenticated caller
		return ""
	}
	need := store.RolePull
	switch req.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		need = store.RoleAdmin
	default:
		need = store.RolePush
	}
	if !a.Repositories.Match(rt.name) || roleRank[a.Role] < roleRank[need] {
		return fmt.Sprintf("%s repository %s", map[string]string{store.RolePull: "pull from", store.RolePush: "push to", store.RoleAdmin: "delete in"}[need], rt.name)
	}
	// mounting a blob from another repository reads that one
	if from := req.URL.Query().Get("from"); from != "" && rt.kind == "uploads" && !a.Repositories.Match(from) {
		return "pull from repository " + from
	}
	return ""
}

type actorKey struct{}

func withActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// authenticator finds the token a request presents. Tokens found are
// remembered for a few seconds (a revoked or expired one stops working
// within that time), so that the many requests of one push cost one
// lookup.
type authenticator struct {
	store store.Store
	now   func() time.Time
	mu    sync.Mutex
	known map[string]knownToken
}

type knownToken struct {
	token *store.Token
	until time.Time
}

const tokenCacheTTL = 5 * time.Second

func newAuthenticator(st store.Store, now func() time.Time) *authenticator {
	return &authenticator{store: st, now: now, known: map[string]knownToken{}}
}

var errBadCredentials = errors.New("the credentials are not a valid dossier token")

// authenticate returns the request's actor, nil when it presents no
// credentials, or an error when they are wrong.
func (a *authenticator) authenticate(req *http.Request) (*Actor, error) {
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
	if !strings.HasPrefix(secret, tokenPrefix) {
		return nil, errBadCredentials
	}
	hash := TokenHash(secret)
	now := a.now()
	a.mu.Lock()
	k, ok := a.known[hash]
	a.mu.Unlock()
	if !ok || !now.Before(k.until) {
		t, err := a.store.TokenByHash(req.Context(), hash)
		if err != nil {
			return nil, fmt.Errorf("tokens cannot be checked now: %w", err)
		}
		if t == nil {
			return nil, errBadCredentials
		}
		k = knownToken{token: t, until: now.Add(tokenCacheTTL)}
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
	repos, err := policy.CompileGlob(t.Repositories)
	if err != nil {
		return nil, fmt.Errorf("token %d: repositories %q: %w", t.ID, t.Repositories, err)
	}
	return &Actor{Name: fmt.Sprintf("token %d", t.ID), Role: t.Role, Repositories: repos}, nil
}
