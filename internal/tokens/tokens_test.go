package tokens

import (
	"bytes"
	"context"
	"encoding/base64"
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

// A UI session is a secret of its own: good as a session only, never as
// a token (a stolen cookie cannot push), bounded by its token's expiry,
// ended by logging out and by revoking the token it started from.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	expires := now.Add(time.Hour)
	secret, hash, err := New()
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateToken(ctx, hash, store.Token{Repositories: "team/**", Role: store.RolePull, CreatedAt: now, ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	auth := NewAuthenticator(st, func() time.Time { return clock })
	session, until, err := auth.StartSession(ctx, st, secret, 12*time.Hour)
	if err != nil || session == secret || !until.Equal(expires) {
		t.Fatalf("session: %q until %s (token until %s): %v", session, until, expires, err)
	}
	if a, err := auth.Session(ctx, session); err != nil || !a.Reaches("team/app") || a.Has(store.RolePush) {
		t.Errorf("the session's actor: %+v %v", a, err)
	}
	if _, err := auth.Secret(ctx, session); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a session presented as a token: %v", err)
	}
	if _, err := auth.Session(ctx, secret); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a token presented as a session: %v", err)
	}
	if _, _, err := auth.StartSession(ctx, st, session, time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a session starting another: %v", err)
	}
	if err := auth.EndSession(ctx, st, session); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Session(ctx, session); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a session after logout: %v", err)
	}
	if _, err := auth.Secret(ctx, secret); err != nil {
		t.Errorf("the token after its session's logout: %v", err)
	}
	// revoking the token ends every session it started
	other, _, err := auth.StartSession(ctx, st, secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if found, err := st.RevokeToken(ctx, id); !found || err != nil {
		t.Fatalf("revoke: %v %v", found, err)
	}
	clock = clock.Add(cacheTTL) // past what this replica remembers
	if _, err := auth.Session(ctx, other); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a session of a revoked token: %v", err)
	}
	if _, err := auth.Secret(ctx, secret); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a revoked token: %v", err)
	}
	if found, err := st.RevokeToken(ctx, id); found || err != nil {
		t.Errorf("revoking again: %v %v", found, err)
	}
}

// A token revoked a moment ago, still remembered by this replica, starts
// no session — not even when a new token took its row's place.
func TestNoSessionFromARevokedToken(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	auth := NewAuthenticator(st, func() time.Time { return now })
	secret, hash, _ := New()
	id, err := st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Secret(ctx, secret); err != nil { // remembered from here on
		t.Fatal(err)
	}
	if found, err := st.RevokeToken(ctx, id); !found || err != nil {
		t.Fatalf("revoke: %v %v", found, err)
	}
	_, newHash, _ := New()
	newID, err := st.CreateToken(ctx, newHash, store.Token{Repositories: "**", Role: store.RoleAdmin, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("revoked token %d, new token %d", id, newID)
	if s, _, err := auth.StartSession(ctx, st, secret, 12*time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a session from a revoked token: %q %v", s, err)
	}
	all, err := st.Tokens(ctx)
	if err != nil || len(all) != 1 || all[0].ID != newID {
		t.Errorf("tokens after the refused session: %+v %v", all, err)
	}
	if _, err := auth.Secret(ctx, secret); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the revoked token, once a session was refused: %v", err)
	}
}

func TestCheckStrength(t *testing.T) {
	var strong string
	for range 20000 {
		var err error
		if strong, _, err = New(); err != nil {
			t.Fatal(err)
		}
		if err := CheckStrength(strong); err != nil {
			t.Fatalf("a token New made: %s: %v", strong, err)
		}
	}
	pattern := func(f func(int) byte) string {
		raw := make([]byte, 32)
		for i := range raw {
			raw[i] = f(i)
		}
		return "dsr_" + base64.RawURLEncoding.EncodeToString(raw)
	}
	sequence := func(start, step byte) string {
		return pattern(func(i int) byte { return start + byte(i)*step })
	}
	narrow := make([]byte, 32) // distinct but all within 0x80..0xbf
	for i := range narrow {
		narrow[i] = 0x80 + byte(i*37%64)
	}
	text := base64.RawURLEncoding.EncodeToString([]byte("correct horse battery staple 123"))
	repeated := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x9f, 0x01, 0xc3, 0x77}, 8))
	body := strings.TrimPrefix(strong, "dsr_")
	for _, weak := range []string{"", "secret", "dsr_", "dsr_admin", "dsr_" + strings.Repeat("A", 42), "dsr_" + strings.Repeat("A", 42) + "=",
		"dsr_" + strings.Repeat("A", 43), body, "dsr_" + text, "dsr_" + repeated,
		"dsr_" + body[:20] + "\n" + body[20:], // base64 decoders skip newlines
		strong + "A", strong[:len(strong)-1], strong + "=", " " + strong, strong + "\n",
		"dsr_" + body[:42] + "B",                                                // trailing bits set: another spelling of some other secret
		sequence(0, 1), sequence(0x80, 1), sequence(7, 9), sequence(0xff, 0xfb), // counting and arithmetic sequences
		"dsr_" + base64.RawURLEncoding.EncodeToString(narrow),
		pattern(func(i int) byte { return byte(i/2) + byte(128*(i%2)) }), // an interleaved counter
		pattern(func(i int) byte { return byte(i * i) }), pattern(func(i int) byte { return byte(i*i*i + 7) }),
		"dsr_AQIDBQgNFSI3WZDpeWLbPRhVbcIv8SARMUJztSjdBeI", // Fibonacci mod 256
		"dsr_w5xuw69jw7Zkw6ktUMOkc3N3w7ZyZC0yMDI0IcORw58", // "Ünïcödé-Pässwörd-2024!Ñß", UTF-8 text
	} {
		if err := CheckStrength(weak); err == nil {
			t.Errorf("%q accepted", weak)
		}
	}
}
