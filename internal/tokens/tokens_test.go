package tokens

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
)

func TestAuthenticator(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	expires := now.Add(time.Hour)
	secret, hash, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLike(secret) || hash == secret || len(hash) != 64 {
		t.Fatalf("token %q, hash %q", secret, hash)
	}
	id, err := st.CreateToken(ctx, hash, store.Token{Repositories: "team/**", Role: store.RolePush, CreatedAt: now, ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	auth := NewAuthenticator(st, func() time.Time { return clock })

	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	req.SetBasicAuth("anyone", secret)
	actor, err := auth.Request(req)
	if err != nil || actor == nil {
		t.Fatalf("Basic: %v %v", actor, err)
	}
	if !actor.Has(store.RolePull) || !actor.Has(store.RolePush) || actor.Has(store.RoleAdmin) {
		t.Errorf("push token's role judged wrongly: %+v", actor)
	}
	if !actor.Reaches("team/app") || actor.Reaches("other/app") {
		t.Errorf("team/** token's repositories judged wrongly")
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if a, err := auth.Request(req); err != nil || a.Name != actor.Name {
		t.Errorf("Bearer: %v %v", a, err)
	}
	req.Header.Del("Authorization")
	if a, err := auth.Request(req); a != nil || err != nil {
		t.Errorf("no credentials: %v %v", a, err)
	}
	for _, wrong := range []string{"", "password", secret + "x", "dsr_" + strings.Repeat("A", 43)} {
		if _, err := auth.Secret(ctx, wrong); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("secret %q: %v, want ErrBadCredentials", wrong, err)
		}
	}
	clock = expires
	if _, err := auth.Secret(ctx, secret); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("token %d past its expiry: %v", id, err)
	}
}
