package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// signingFlags say how to sign: with a key file, or keyless.
type signingFlags struct {
	key     string
	keyless bool
	kl      sign.KeylessOptions
}

func (f *signingFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&f.key, "key", "", "private key file (dossier or cosign) to sign "+what+" with")
	cmd.Flags().BoolVar(&f.keyless, "keyless", false, "sign with a Fulcio certificate for your OIDC identity instead of a key")
	cmd.Flags().StringVar(&f.kl.IDToken, "identity-token", "", "keyless: OIDC identity token (default SIGSTORE_ID_TOKEN or the GitHub Actions token)")
	cmd.Flags().StringVar(&f.kl.FulcioURL, "fulcio-url", sign.DefaultFulcioURL, "keyless: Fulcio instance")
	cmd.Flags().StringVar(&f.kl.RekorURL, "rekor-url", "", "Rekor instance: keyless default "+sign.DefaultRekorURL+"; with --key, also log the signature there")
}

func (f *signingFlags) given() bool { return f.key != "" || f.keyless }

func (f *signingFlags) check() error {
	if (f.key == "") == !f.keyless {
		return usageError("give --key FILE or --keyless")
	}
	return nil
}

// signer loads the key, or prepares keyless signing.
func (a *app) signer(ctx context.Context, f signingFlags) (*sign.Signer, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.keyless {
		kl := f.kl
		if kl.IDToken == "" {
			kl.IDToken = os.Getenv("SIGSTORE_ID_TOKEN")
		}
		if kl.IDToken == "" {
			tok, err := sign.AmbientToken(ctx, environment(), nil)
			if err != nil {
				return nil, err
			}
			kl.IDToken = tok
		}
		s, err := sign.KeylessSigner(kl)
		if errors.Is(err, sign.ErrNoIdentityToken) {
			return nil, fmt.Errorf("%w: give --identity-token, set SIGSTORE_ID_TOKEN, or run in GitHub Actions with `permissions: id-token: write`", err)
		}
		return s, err
	}
	pw, err := a.password(false)
	if err != nil {
		return nil, err
	}
	kp, err := sign.LoadPrivateKey(f.key, pw)
	if err != nil {
		return nil, err
	}
	return sign.NewKeySigner(kp, f.kl.RekorURL), nil
}

// evidenceTarget is where evidence about a digest of art is stored: its
// repository and the manifest descriptor of digest (art's own digest, or
// one of its platform manifests).
func evidenceTarget(ctx context.Context, art *oci.Artifact, digest string) (oci.Repository, v1.Descriptor, error) {
	repo, err := art.Repository()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	if digest == art.Subject.Digest {
		desc, err := art.SubjectDescriptor()
		return repo, desc, err
	}
	desc, err := repo.Resolve(ctx, digest)
	return repo, desc, err
}

// attach signs predicate about digest (of art, or one of its platform
// manifests) and stores it next to the digest.
func (a *app) attach(ctx context.Context, art *oci.Artifact, digest, predicateType string, predicate json.RawMessage, f signingFlags) (*attest.Attached, error) {
	signer, err := a.signer(ctx, f)
	if err != nil {
		return nil, err
	}
	repo, desc, err := evidenceTarget(ctx, art, digest)
	if err != nil {
		return nil, err
	}
	return attest.Attach(ctx, repo, desc, predicateType, predicate, nil, signer, time.Now())
}

// environment is the process environment as a map.
func environment() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}
