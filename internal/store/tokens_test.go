package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// The blobs each manifest names: indexing again adds nothing, a blob of
// many manifests lists the newest first and at most the limit, and a
// repository's index is its own.
func TestManifestBlobs(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, _, _ := open(t)
			layer := "sha256:" + strings.Repeat("1", 64)
			var manifests []string
			for i := range 3 {
				m := fmt.Sprintf("sha256:%064d", i)
				manifests = append(manifests, m)
				if err := s.IndexBlobs(ctx, "team/app", m, false, []string{layer, fmt.Sprintf("sha256:%064d", 100+i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.IndexBlobs(ctx, "team/app", manifests[0], false, []string{layer}); err != nil {
				t.Fatal(err)
			}
			got, err := s.ManifestsOfBlob(ctx, "team/app", layer, false, 2)
			if err != nil || !slices.Equal(got, []string{manifests[2], manifests[1]}) {
				t.Errorf("the newest two manifests of the layer: %v %v", got, err)
			}
			if got, err := s.ManifestsOfBlob(ctx, "team/other", layer, false, 10); err != nil || len(got) != 0 {
				t.Errorf("another repository's: %v %v", got, err)
			}
			signature := "sha256:" + strings.Repeat("5", 64)
			if err := s.IndexBlobs(ctx, "team/app", signature, true, []string{layer}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.ManifestsOfBlob(ctx, "team/app", layer, true, 10); err != nil || !slices.Equal(got, []string{signature}) {
				t.Errorf("the evidence naming the layer: %v %v", got, err)
			}
			if err := s.UnindexBlobs(ctx, "team/app", manifests[2]); err != nil {
				t.Fatal(err)
			}
			if got, err := s.ManifestsOfBlob(ctx, "team/app", layer, false, 10); err != nil || !slices.Equal(got, []string{manifests[1], manifests[0]}) {
				t.Errorf("the images naming the layer once the newest is forgotten: %v %v", got, err)
			}
			many := make([]string, 1200) // past one statement's rows
			for i := range many {
				many[i] = fmt.Sprintf("sha256:%064d", 1000+i)
			}
			if err := s.IndexBlobs(ctx, "team/big", manifests[0], false, many); err != nil {
				t.Fatal(err)
			}
			if got, err := s.ManifestsOfBlob(ctx, "team/big", many[1199], false, 10); err != nil || len(got) != 1 {
				t.Errorf("the last blob of a manifest of 1,200: %v %v", got, err)
			}
		})
	}
}
