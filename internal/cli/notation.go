package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation"
)

// notationFlags are sign's flags for Notation signatures.
type notationFlags struct {
	notation bool
	chain    string
	format   string
	expiry   time.Duration
}

func (nf *notationFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&nf.notation, "notation", false, "make a Notation (Notary Project) signature with --key (a PEM private key, mode 0600) and --certificate-chain")
	cmd.Flags().StringVar(&nf.chain, "certificate-chain", "", "notation: PEM certificate chain of the key, leaf first")
	cmd.Flags().StringVar(&nf.format, "signature-format", "jws", "notation: envelope format, jws or cose")
	cmd.Flags().DurationVar(&nf.expiry, "expiry", 0, "notation: the signature expires this long after signing (default never)")
}

func (nf *notationFlags) check(f signingFlags, legacy bool) error {
	if !nf.notation {
		if nf.chain != "" || nf.expiry != 0 || nf.format != "jws" {
			return usageError("--certificate-chain, --signature-format and --expiry are for --notation")
		}
		return nil
	}
	switch {
	case f.keyless || legacy || f.kl.RekorURL != "":
		return usageError("--notation signs with --key and --certificate-chain: not with --keyless, --legacy-tags or --rekor-url")
	case f.key == "" || nf.chain == "":
		return usageError("--notation needs --key FILE (PEM private key) and --certificate-chain FILE")
	case nf.format != "jws" && nf.format != "cose":
		return usageError("--signature-format %q: want jws or cose", nf.format)
	case nf.expiry < 0 || nf.expiry%time.Second != 0:
		return usageError("--expiry %s: want a positive number of seconds", nf.expiry)
	}
	return nil
}

// notationSigned is what sign --notation -o json prints.
type notationSigned struct {
	Subject      string `json:"subject"`
	Signature    string `json:"signature"`
	ArtifactType string `json:"artifactType"`
	EnvelopeType string `json:"envelopeType"`
	Signer       string `json:"signer"`
}

// signNotation signs ref's digest with a Notation signature.
func (a *app) signNotation(ctx context.Context, ref, keyFile string, nf notationFlags, annotations map[string]any, output string) error {
	key, err := notation.LoadKey(keyFile, nf.chain)
	if err != nil {
		return err
	}
	meta := map[string]string{}
	for k, v := range annotations {
		meta[k] = fmt.Sprint(v)
	}
	art, err := a.resolveSource(ctx, ref)
	if err != nil {
		return err
	}
	repo, desc, err := evidenceTarget(ctx, art, art.Subject.Digest)
	if err != nil {
		return err
	}
	envelope := evidence.NotationJWS
	if nf.format == "cose" {
		envelope = evidence.NotationCOSE
	}
	sig, err := notation.Sign(ctx, repo, desc, key, notation.SignOptions{EnvelopeType: envelope, Expiry: nf.expiry, Annotations: meta})
	if err != nil {
		return err
	}
	out := notationSigned{Subject: art.Subject.String(), Signature: sig.Digest.String(), ArtifactType: evidence.NotationSignatureType,
		EnvelopeType: envelope, Signer: key.Chain[0].Subject.String()}
	if output == "json" {
		return writeJSON(a.stdout, out)
	}
	fmt.Fprintf(a.stdout, "signed %s (Notation %s signature %s by %s)\n", out.Subject, nf.format, out.Signature, out.Signer)
	return nil
}

// notationKeyFlags are key generate's flags for a Notation key.
type notationKeyFlags struct {
	notation bool
	subject  string
	validity time.Duration
}

func (kf *notationKeyFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&kf.notation, "notation", false, "generate a Notation key: PREFIX.key (PEM, unencrypted, 0600) and a self-signed code-signing certificate PREFIX.crt")
	cmd.Flags().StringVar(&kf.subject, "subject", "", "notation: the certificate's subject, such as CN=release,O=Acme,C=US")
	cmd.Flags().DurationVar(&kf.validity, "validity", 365*24*time.Hour, "notation: how long the certificate is valid")
}

// generateNotationKey writes a Notation key and certificate.
func (a *app) generateNotationKey(kf notationKeyFlags, prefix string, force bool) error {
	if kf.subject == "" {
		return usageError("--notation needs --subject, such as CN=release,O=Acme,C=US")
	}
	keyPath, certPath, err := notation.WriteKeyFiles(prefix, kf.subject, kf.validity, time.Now(), force)
	if errors.Is(err, notation.ErrKeyExists) {
		return fmt.Errorf("%w (use --force to overwrite)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "private key written to %s (mode 0600)\ncertificate written to %s: put it in a trust store (x509/ca/NAME/ or x509/signingAuthority/NAME/)\n", keyPath, certPath)
	return nil
}
