package tokens

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
)

// Keeper is what Bootstrap needs of the store.
type Keeper interface {
	Lookup
	CreateToken(ctx context.Context, hash string, t store.Token) (int64, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	RevokeToken(ctx context.Context, id int64) (bool, error)
}

// Configured is the admin token a deployment gives (a Secret in its
// environment) and where it comes from, for errors and the token's
// description.
type Configured struct {
	Secret string
	Source string
}

// Bootstrapped is what Bootstrap did, for the log: never a secret.
type Bootstrapped struct {
	// Stored is the configured token's ID when this start stored it.
	Stored int64
	// Revoked are earlier configured tokens a new value replaced.
	Revoked []int64
	// Made is the ID of a token made on the first start, its secret
	// written to File.
	Made int64
	File string
}

// Bootstrap gives a store its admin token for every repository. A
// configured one, as strong as the ones dossier makes, is stored (by
// whichever replica starts first) and replaces every earlier configured
// one: changing the Secret rotates it. Without one, a store with no
// tokens at all gets a new one, written to file readable by this user
// only.
func Bootstrap(ctx context.Context, st Keeper, configured *Configured, file string, now time.Time) (*Bootstrapped, error) {
	if configured != nil {
		return storeConfigured(ctx, st, *configured, now)
	}
	done := &Bootstrapped{}
	known, err := st.Tokens(ctx)
	if err != nil || len(known) > 0 {
		return done, err
	}
	secret, hash, err := New()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	os.Remove(file) // a file left by an earlier store: WriteFile would keep its mode
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("the first admin token cannot be written: %w", err)
	}
	if done.Made, err = st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, Description: "made on the first start", CreatedAt: now}); err != nil {
		os.Remove(file)
		return nil, err
	}
	done.File = file
	return done, nil
}

func storeConfigured(ctx context.Context, st Keeper, configured Configured, now time.Time) (*Bootstrapped, error) {
	if err := CheckStrength(configured.Secret); err != nil {
		return nil, fmt.Errorf("the admin token from %s: %w", configured.Source, err)
	}
	done := &Bootstrapped{}
	hash := Hash(configured.Secret)
	known, err := st.TokenByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	var id int64
	if known != nil {
		id = known.ID
	} else if id, err = st.CreateToken(ctx, hash, store.Token{Repositories: "**", Role: store.RoleAdmin, Description: "from " + configured.Source,
		CreatedAt: now, Origin: store.OriginEnvironment}); err != nil {
		known, _ := st.TokenByHash(ctx, hash)
		if known == nil {
			return nil, err
		}
		id = known.ID // another replica stored it first
	} else {
		done.Stored = id
	}
	all, err := st.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range all {
		if t.Origin == store.OriginEnvironment && t.ID != id {
			if _, err := st.RevokeToken(ctx, t.ID); err != nil {
				return nil, err
			}
			done.Revoked = append(done.Revoked, t.ID)
		}
	}
	return done, nil
}
