package notation

import (
	"context"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// BenchmarkVerify verifies one JWS signature (strict level, CRL checked
// on 127.0.0.1, referrers API) with dossier and with notation-go's own
// Verify (oras-go client, trust store read from disk as the notation CLI
// reads it), on the same image in the same run. bench/notation.sh prints
// the ratio.
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b, true, "strict")
	k, chain := w.ca.Issue(b, testutil.NotationRelease, time.Now().Add(time.Hour))
	key, err := NewKey(k, chain)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Sign(context.Background(), w.repo, w.subject, key, SignOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("dossier", func(b *testing.B) {
		// one authenticated client per registry, as dossier's servers and
		// its CLI keep them
		reg := oci.RegistryOptions{}
		reg.ShareClients()
		repo, err := oci.OpenRegistry(w.repoName, reg)
		if err != nil {
			b.Fatal(err)
		}
		v, err := NewVerifier(w.trust(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := v.Verify(context.Background(), repo, w.subject, time.Now())
			if err != nil || len(res.Signatures) != 1 {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.Run("notation-go", func(b *testing.B) {
		v := w.notationVerifier(b)
		repo := w.orasRepository(b)
		for b.Loop() {
			_, outcomes, err := notationVerifyWith(v, repo, w)
			if err != nil || len(outcomes) != 1 {
				b.Fatalf("%v", err)
			}
		}
	})
}
