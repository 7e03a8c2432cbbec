package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dossier-dev/dossier/internal/sign"
)

// password reads DOSSIER_PASSWORD, else COSIGN_PASSWORD, else prompts on
// the terminal (twice when confirm is set).
func (a *app) password(confirm bool) ([]byte, error) {
	for _, env := range []string{"DOSSIER_PASSWORD", "COSIGN_PASSWORD"} {
		if v, ok := os.LookupEnv(env); ok {
			return []byte(v), nil
		}
	}
	in, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, errors.New("no password: set DOSSIER_PASSWORD (or COSIGN_PASSWORD), or run on a terminal")
	}
	fmt.Fprint(a.stderr, "Enter password for private key: ")
	p, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil || !confirm {
		return p, err
	}
	fmt.Fprint(a.stderr, "Enter password for private key again: ")
	again, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return nil, err
	}
	if string(again) != string(p) {
		return nil, errors.New("passwords do not match")
	}
	return p, nil
}

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage signing keys (cosign-compatible)"}
	var prefix string
	var force bool
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Generate an ECDSA P-256 key pair: PREFIX.key (encrypted, 0600) and PREFIX.pub",
		Long: `Generate a key pair in the encrypted format cosign uses, so cosign signs with dossier keys and
dossier with cosign keys. The password comes from DOSSIER_PASSWORD, else COSIGN_PASSWORD, else a
terminal prompt. Existing files are not overwritten without --force.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			pw, err := a.password(true)
			if err != nil {
				return err
			}
			kp, err := sign.GenerateKeyPair()
			if err != nil {
				return err
			}
			priv, pub, err := kp.WriteKeyFiles(prefix, pw, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "private key written to %s (mode 0600)\npublic key written to %s\n", priv, pub)
			return nil
		},
	}
	gen.Flags().StringVar(&prefix, "output-prefix", "dossier", "write PREFIX.key and PREFIX.pub")
	gen.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	cmd.AddCommand(gen)
	return cmd
}

func (a *app) signCommand() *cobra.Command {
	var keyPath, output string
	var legacy, keyless bool
	var kl sign.KeylessOptions
	var annotations []string
	cmd := &cobra.Command{
		Use:   "sign REF (--key FILE | --keyless)",
		Short: "Sign an image digest and store the signature in the registry (cosign-compatible)",
		Long: `Resolve REF to its digest, sign the digest, and store the signature next to it: a Sigstore bundle
(DSSE envelope over an in-toto statement) attached through the OCI 1.1 referrers API, with the
referrers tag schema (sha256-<hex>) for registries without it — the layout cosign writes by default.
Key-based signatures record no transparency-log entry unless --rekor-url is given (air-gapped by
default). --keyless signs with an ephemeral key and a short-lived certificate from Fulcio for the OIDC
identity (--identity-token, SIGSTORE_ID_TOKEN, or the GitHub Actions token when the job may request
one), and records the signature in Rekor.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (keyPath == "") == !keyless {
				return usageError("give --key FILE or --keyless")
			}
			if keyless && legacy {
				return usageError("--legacy-tags is for key-based signatures")
			}
			annots := map[string]any{}
			for _, kv := range annotations {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError("--annotation %q: want key=value", kv)
				}
				annots[k] = v
			}
			signer, bundleOpts, kp, err := a.signer(cmd, keyPath, keyless, kl)
			if err != nil {
				return err
			}
			digest, err := a.registryDigest(cmd, args[0])
			if err != nil {
				return err
			}
			var signed *sign.Signed
			if legacy {
				var tag string
				if tag, err = sign.SignLegacy(cmd.Context(), digest, kp, annots, a.registry); err == nil {
					signed = &sign.Signed{Subject: digest.String(), Referrer: tag}
				}
			} else {
				signed, err = sign.SignDigest(cmd.Context(), digest, signer, bundleOpts, annots, a.registry)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, signed)
			}
			fmt.Fprintf(a.stdout, "signed %s\n", signed.Subject)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "private key file (dossier or cosign)")
	cmd.Flags().StringArrayVarP(&annotations, "annotation", "a", nil, "signed annotation key=value (repeatable)")
	cmd.Flags().BoolVar(&legacy, "legacy-tags", false, "write cosign's legacy sha256-<hex>.sig layout instead of a referrer bundle")
	cmd.Flags().BoolVar(&keyless, "keyless", false, "sign with a Fulcio certificate for your OIDC identity instead of a key")
	cmd.Flags().StringVar(&kl.IDToken, "identity-token", "", "keyless: OIDC identity token (default SIGSTORE_ID_TOKEN or the GitHub Actions token)")
	cmd.Flags().StringVar(&kl.FulcioURL, "fulcio-url", sign.DefaultFulcioURL, "keyless: Fulcio instance")
	cmd.Flags().StringVar(&kl.RekorURL, "rekor-url", "", "Rekor instance: keyless default "+sign.DefaultRekorURL+"; with --key, also log the signature there")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (a *app) verifyCommand() *cobra.Command {
	var output, expected string
	var signer signerFlags
	cmd := &cobra.Command{
		Use:   "verify REF... --key FILE",
		Short: "Verify images' signatures for an expected signer",
		Long: `Resolve each REF to its digest and verify the signatures stored for it. Exit 0 when every REF has
at least one signature that verifies for the expected signer, 1 when one has none (the reason is
printed), 2 on errors. Several REFs are verified over the same connections.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if expected != "" && len(args) > 1 {
				return usageError("--expected-digest takes one REF")
			}
			kv, err := signer.verifier()
			if err != nil {
				return err
			}
			a.registry.ShareClients()
			// several REFs are verified concurrently over shared clients;
			// results are reported in the order given
			type outcome struct {
				verified []sign.Verified
				err      error
			}
			outcomes := make([]outcome, len(args))
			sem := make(chan struct{}, 4)
			var wg sync.WaitGroup
			for i, ref := range args {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					v, err := a.verifyOne(cmd, ref, expected, kv)
					outcomes[i] = outcome{v, err}
				}()
			}
			wg.Wait()
			var all []sign.Verified
			var failed []string
			for i, o := range outcomes {
				if o.err != nil {
					if !isVerificationFailure(o.err) {
						return o.err
					}
					failed = append(failed, o.err.Error())
					fmt.Fprintln(a.stderr, "not verified:", o.err)
					continue
				}
				all = append(all, o.verified...)
				if output == "text" {
					for _, v := range o.verified {
						fmt.Fprintf(a.stdout, "verified %s@%s\n  signer %s\n", strings.SplitN(args[i], "@", 2)[0], v.Digest, v.Identity)
						if v.Issuer != "" {
							fmt.Fprintf(a.stdout, "  issuer %s\n", v.Issuer)
						}
						if v.SigningTime != nil {
							fmt.Fprintf(a.stdout, "  signed %s\n", v.SigningTime.UTC().Format(time.RFC3339))
						}
						if v.LogIndex != nil {
							fmt.Fprintf(a.stdout, "  log index %d\n", *v.LogIndex)
						}
						fmt.Fprintf(a.stdout, "  stored %s\n", v.Referrer)
					}
				}
			}
			if output == "json" {
				if err := writeJSON(a.stdout, all); err != nil {
					return err
				}
			}
			if len(failed) > 0 {
				return gateError{msg: fmt.Sprintf("%d of %d not verified", len(failed), len(args))}
			}
			return nil
		},
	}
	signer.register(cmd)
	cmd.Flags().StringVar(&expected, "expected-digest", "", "the digest that was signed: fail when the tag now points elsewhere")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// registryDigest resolves ref, which must name a registry artifact, to
// the digest reference signatures and attestations attach to.
func (a *app) registryDigest(cmd *cobra.Command, ref string) (name.Digest, error) {
	art, err := a.resolveSource(cmd.Context(), ref)
	if err != nil {
		return name.Digest{}, err
	}
	return sign.RegistryDigest(art, a.registry)
}

func (a *app) verifyOne(cmd *cobra.Command, ref, expected string, kv sign.Verifier) ([]sign.Verified, error) {
	digest, err := a.registryDigest(cmd, ref)
	if err != nil {
		return nil, err
	}
	if expected != "" && expected != digest.DigestStr() {
		return nil, fmt.Errorf("%s: %w: it points to %s, the signed digest is %s", ref, sign.ErrTagMoved, digest.DigestStr(), expected)
	}
	return sign.Verify(cmd.Context(), digest, sign.SignPredicateType, kv, a.registry)
}

// signer loads the key pair, or prepares keyless signing, and the bundle
// options that go with it.
func (a *app) signer(cmd *cobra.Command, keyPath string, keyless bool, kl sign.KeylessOptions) (sgsign.Keypair, sgsign.BundleOptions, *sign.KeyPair, error) {
	ctx := cmd.Context()
	if keyless {
		if kl.IDToken == "" {
			kl.IDToken = os.Getenv("SIGSTORE_ID_TOKEN")
		}
		if kl.IDToken == "" {
			tok, err := sign.AmbientToken(ctx, environment(), nil)
			if err != nil {
				return nil, sgsign.BundleOptions{}, nil, err
			}
			kl.IDToken = tok
		}
		kp, opts, err := sign.KeylessSigner(ctx, kl)
		return kp, opts, nil, err
	}
	pw, err := a.password(false)
	if err != nil {
		return nil, sgsign.BundleOptions{}, nil, err
	}
	kp, err := sign.LoadPrivateKey(keyPath, pw)
	if err != nil {
		return nil, sgsign.BundleOptions{}, nil, err
	}
	opts := sgsign.BundleOptions{Context: ctx}
	if kl.RekorURL != "" {
		opts.TransparencyLogs = []sgsign.Transparency{sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: kl.RekorURL, Timeout: 30 * time.Second, Retries: 2})}
	}
	return kp, opts, kp, nil
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

func isVerificationFailure(err error) bool {
	for _, e := range []error{sign.ErrNoSignature, sign.ErrInvalid, sign.ErrWrongIdentity, sign.ErrDigestMismatch, sign.ErrTagMoved, sign.ErrExpiredNoProof} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
