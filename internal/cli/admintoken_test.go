package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// The admin token from the environment must be as strong as the ones
// dossier makes, and a new value replaces the old one (rotation), on
// every replica that starts with it; tokens made otherwise stay.
func TestAdminTokenFromTheEnvironment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &app{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	other, otherHash, _ := tokens.New()
	if _, err := st.CreateToken(ctx, otherHash, store.Token{Repositories: "team/**", Role: store.RolePush, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, weak := range []string{"dsr_admin", "admin", "dsr_" + strings.Repeat("a", 20)} {
		t.Setenv("DOSSIER_ADMIN_TOKEN", weak)
		if err := a.firstAdminToken(ctx, st, dir); err == nil || !strings.Contains(err.Error(), "DOSSIER_ADMIN_TOKEN") {
			t.Errorf("a weak DOSSIER_ADMIN_TOKEN %q: %v", weak, err)
		}
	}
	first, _, _ := tokens.New()
	second, _, _ := tokens.New()
	for _, secret := range []string{first, first, second} {
		t.Setenv("DOSSIER_ADMIN_TOKEN", secret)
		if err := a.firstAdminToken(ctx, st, dir); err != nil {
			t.Fatal(err)
		}
	}
	auth := tokens.NewAuthenticator(st, func() time.Time { return time.Now() })
	if actor, err := auth.Secret(ctx, second); err != nil || !actor.Has(store.RoleAdmin) || !actor.Reaches("any/repo") {
		t.Errorf("the rotated admin token: %+v %v", actor, err)
	}
	if _, err := auth.Secret(ctx, first); err == nil {
		t.Errorf("the admin token before rotation still works")
	}
	if _, err := auth.Secret(ctx, other); err != nil {
		t.Errorf("a token made otherwise was revoked by the rotation: %v", err)
	}
	all, err := st.Tokens(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("tokens after rotation: %+v %v", all, err)
	}
}
