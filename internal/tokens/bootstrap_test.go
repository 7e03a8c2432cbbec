package tokens

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
)

// The configured admin token must be as strong as the ones dossier makes,
// and a new value replaces the old one (rotation), on every replica that
// starts with it; tokens made otherwise stay.
func TestBootstrapConfiguredAdminToken(t *testing.T) {
	ctx, dir, st, now := bootstrapFixture(t)
	file := filepath.Join(dir, "admin-token")
	other, otherHash, _ := New()
	if _, err := st.CreateToken(ctx, otherHash, store.Token{Repositories: "team/**", Role: store.RolePush, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, weak := range []string{"", "dsr_admin", "admin", "dsr_" + strings.Repeat("a", 20)} {
		if _, err := Bootstrap(ctx, st, &Configured{Secret: weak, Source: "THE_SECRET"}, file, now); err == nil || !strings.Contains(err.Error(), "THE_SECRET") {
			t.Errorf("a weak configured admin token %q: %v", weak, err)
		}
	}
	first, _, _ := New()
	second, _, _ := New()
	var stored []int64
	for _, secret := range []string{first, first, second} {
		done, err := Bootstrap(ctx, st, &Configured{Secret: secret, Source: "THE_SECRET"}, file, now)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, done.Stored)
		if secret == second && (len(done.Revoked) != 1 || done.Revoked[0] != stored[0]) {
			t.Errorf("the rotation revoked %v, not the first configured token %d", done.Revoked, stored[0])
		}
	}
	if stored[0] == 0 || stored[1] != 0 || stored[2] == 0 {
		t.Errorf("tokens stored by three starts (first, first again, second): %v", stored)
	}
	auth := NewAuthenticator(st, func() time.Time { return now })
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
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a configured admin token wrote a file: %v", err)
	}
}

// A store without tokens and nothing configured gets one admin token,
// written to a file only this user reads (even when an earlier file was
// readable by all); a store with tokens gets none.
func TestBootstrapFirstStart(t *testing.T) {
	ctx, dir, st, now := bootstrapFixture(t)
	file := filepath.Join(dir, "data", "admin-token")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("left by an earlier store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	done, err := Bootstrap(ctx, st, nil, file, now)
	if err != nil || done.Made == 0 || done.File != file {
		t.Fatalf("first start: %+v %v", done, err)
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the admin token file: %v %v", info, err)
	}
	secret, _ := os.ReadFile(file)
	actor, err := NewAuthenticator(st, func() time.Time { return now }).Secret(ctx, strings.TrimSpace(string(secret)))
	if err != nil || !actor.Has(store.RoleAdmin) || !actor.Reaches("any/repo") {
		t.Errorf("the first admin token: %+v %v", actor, err)
	}
	again, err := Bootstrap(ctx, st, nil, file, now)
	if err != nil || again.Made != 0 {
		t.Errorf("second start with a token in the store: %+v %v", again, err)
	}
	if after, _ := os.ReadFile(file); string(after) != string(secret) {
		t.Errorf("the second start rewrote the admin token file")
	}
}

// bootstrapFixture is a store in a new data directory and a fixed time.
func bootstrapFixture(t *testing.T) (context.Context, string, *store.Store, time.Time) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return context.Background(), dir, st, time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
}
