package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A UI session copies its grant from its token's row as it is stored, and
// is refused for a token that is gone, expired or a session itself; it
// ends with the token (and with its own lifetime, whichever is first).
func TestCreateSession(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			tokenExpires := t0.Add(2 * time.Hour)
			id, err := s.CreateToken(ctx, "parent", Token{Repositories: "team/**", Role: RolePush, CreatedAt: t0, ExpiresAt: &tokenExpires})
			if err != nil {
				t.Fatal(err)
			}
			short, err := s.CreateSession(ctx, "parent", "short", t0, time.Hour)
			if err != nil || short.Parent != id || short.Origin != OriginSession || short.Role != RolePush || short.Repositories != "team/**" ||
				!short.ExpiresAt.Equal(t0.Add(time.Hour)) || !short.CreatedAt.Equal(t0) {
				t.Errorf("a session within its token's life: %+v %v", short, err)
			}
			long, err := s.CreateSession(ctx, "parent", "long", t0, 12*time.Hour)
			if err != nil || !long.ExpiresAt.Equal(tokenExpires) {
				t.Errorf("a session outliving its token ends with it: %+v %v", long, err)
			}
			if _, err := s.CreateSession(ctx, "short", "nested", t0, time.Hour); !errors.Is(err, ErrNoParentToken) {
				t.Errorf("a session started by a session: %v", err)
			}
			if _, err := s.CreateSession(ctx, "parent", "late", tokenExpires, time.Hour); !errors.Is(err, ErrNoParentToken) {
				t.Errorf("a session of an expired token: %v", err)
			}
			if _, err := s.CreateToken(ctx, "forged", Token{Repositories: "**", Role: RoleAdmin, CreatedAt: t0, Origin: OriginSession, Parent: id}); err == nil {
				t.Errorf("a session made as a token, with a grant of its own")
			}
			if found, err := s.RevokeToken(ctx, id); !found || err != nil {
				t.Fatalf("revoke: %v %v", found, err)
			}
			if _, err := s.CreateSession(ctx, "parent", "after", t0, time.Hour); !errors.Is(err, ErrNoParentToken) {
				t.Errorf("a session of a revoked token: %v", err)
			}
			if all, err := s.Tokens(ctx); err != nil || len(all) != 0 {
				t.Errorf("tokens left after revoking the token of two sessions: %+v %v", all, err)
			}
		})
	}
}
