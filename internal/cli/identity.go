package cli

import (
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/sign"
)

// signerFlags say who a signature must come from: a key, or a certificate
// identity and issuer under a trusted root.
type signerFlags struct {
	key         string
	identity    sign.Identity
	trustedRoot string
}

func (f *signerFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.key, "key", "", "public key the signature must verify with")
	cmd.Flags().StringVar(&f.identity.SubjectAlternativeName, "certificate-identity", "", "keyless: the signer's identity (certificate SAN), exactly")
	cmd.Flags().StringVar(&f.identity.SubjectAlternativeNameRegexp, "certificate-identity-regexp", "", "keyless: the signer's identity as a regular expression (anchor it: ^…$)")
	cmd.Flags().StringVar(&f.identity.Issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer, exactly")
	cmd.Flags().StringVar(&f.identity.IssuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: the OIDC issuer as a regular expression")
	cmd.Flags().StringVar(&f.trustedRoot, "trusted-root", "", "keyless: Sigstore trusted root JSON for fully offline verification (default: the public-good root, fetched)")
}

func (f *signerFlags) keyless() bool {
	id := f.identity
	return id.SubjectAlternativeName != "" || id.SubjectAlternativeNameRegexp != "" || id.Issuer != "" || id.IssuerRegexp != ""
}

// verifier builds the verifier the flags ask for. An identity is
// mandatory: "any valid signature" is not a mode.
func (f *signerFlags) verifier() (sign.Verifier, error) {
	switch {
	case f.key != "" && f.keyless():
		return nil, usageError("give --key or a certificate identity, not both")
	case f.key != "":
		pub, err := sign.LoadPublicKey(f.key)
		if err != nil {
			return nil, err
		}
		return sign.NewKeyVerifier(pub), nil
	case f.keyless():
		if err := f.identity.Validate(); err != nil {
			return nil, usageError("%v", err)
		}
		var trusted root.TrustedMaterial
		if f.trustedRoot != "" {
			tr, err := sign.LoadTrustedRoot(f.trustedRoot)
			if err != nil {
				return nil, err
			}
			trusted = tr
		} else {
			tr, err := root.FetchTrustedRoot()
			if err != nil {
				return nil, fmt.Errorf("%w: fetching the public-good trusted root failed (%v); offline, give --trusted-root FILE", sign.ErrTrustedRoot, err)
			}
			trusted = tr
		}
		return sign.NewKeylessVerifier(trusted, f.identity)
	}
	return nil, usageError("give --key FILE, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp] (an identity is mandatory: \"any valid signature\" is not a mode)")
}
