package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/policy"
)

// verifierFlags say who a signature must come from: a key, or a
// certificate identity and issuer under a trusted root.
type verifierFlags struct {
	key         string
	identity    policy.IdentitySpec
	trustedRoot string
	ignoreSCT   bool
	// notationPolicy and notationStore name a Notation signer (verify's
	// --notation-trust-policy and --notation-trust-store).
	notationPolicy, notationStore string
}

func (f *verifierFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.key, "key", "", "public key the signature must verify with")
	cmd.Flags().StringVar(&f.identity.Subject, "certificate-identity", "", "keyless: the signer's identity (certificate SAN), exactly")
	cmd.Flags().StringVar(&f.identity.SubjectRegExp, "certificate-identity-regexp", "", "keyless: the signer's identity as a regular expression (matches anywhere unless anchored: write ^…$)")
	cmd.Flags().StringVar(&f.identity.Issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer, exactly")
	cmd.Flags().StringVar(&f.identity.IssuerRegExp, "certificate-oidc-issuer-regexp", "", "keyless: the OIDC issuer as a regular expression")
	cmd.Flags().BoolVar(&f.ignoreSCT, "insecure-ignore-sct", false, "keyless: accept certificates that carry no SCT from a trusted certificate-transparency log")
	cmd.Flags().StringVar(&f.trustedRoot, "trusted-root", "", "keyless: Sigstore trusted root JSON for fully offline verification (default: the public-good root, fetched)")
}

func (f *verifierFlags) keyless() bool {
	id := f.identity
	return id.Subject != "" || id.SubjectRegExp != "" || id.Issuer != "" || id.IssuerRegExp != ""
}

// signers is the trusted signer the flags name. An identity is mandatory:
// "any valid signature" is not a mode. Warnings (an unanchored regular
// expression) go to warn.
func (f *verifierFlags) signers(warn io.Writer) ([]policy.Signer, error) {
	notation := f.notationPolicy != "" || f.notationStore != ""
	switch {
	case notation && (f.key != "" || f.keyless()):
		return nil, usageError("give --key, a certificate identity, or --notation-trust-policy with --notation-trust-store: one of them")
	case notation && (f.notationPolicy == "" || f.notationStore == ""):
		return nil, usageError("give --notation-trust-policy FILE with --notation-trust-store DIR")
	case notation:
		s, warnings, err := policy.NotationSigner("notation", f.notationPolicy, f.notationStore)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			fmt.Fprintln(warn, "warning:", w)
		}
		return []policy.Signer{s}, nil
	case f.key != "" && f.keyless():
		return nil, usageError("give --key or a certificate identity, not both")
	case f.key != "" && f.ignoreSCT:
		return nil, usageError("--insecure-ignore-sct is for keyless signatures")
	case f.key != "":
		data, err := os.ReadFile(f.key)
		if err != nil {
			return nil, err
		}
		s, err := policy.KeySigner(f.key, data)
		if err != nil {
			return nil, err
		}
		return []policy.Signer{s}, nil
	case f.keyless():
		s, warnings, err := policy.KeylessSigner(f.identity, f.ignoreSCT)
		if err != nil {
			return nil, usageError("%v (--certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp])", err)
		}
		for _, w := range warnings {
			fmt.Fprintln(warn, "warning:", w)
		}
		return []policy.Signer{s}, nil
	}
	return nil, usageError("give --key FILE, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp] (an identity is mandatory: \"any valid signature\" is not a mode)")
}
