package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/decide"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
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
	var kf notationKeyFlags
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Generate an ECDSA P-256 key pair: PREFIX.key (encrypted, 0600) and PREFIX.pub",
		Long: `Generate a key pair in the encrypted format cosign uses, so cosign signs with dossier keys and
dossier with cosign keys. The password comes from DOSSIER_PASSWORD, else COSIGN_PASSWORD, else a
terminal prompt. Existing files are not overwritten without --force.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if kf.notation {
				return a.generateNotationKey(kf, prefix, force)
			}
			if kf.subject != "" {
				return usageError("--subject is for --notation")
			}
			pw, err := a.password(true)
			if err != nil {
				return err
			}
			kp, err := sign.GenerateKeyPair()
			if err != nil {
				return err
			}
			priv, pub, err := kp.WriteKeyFiles(prefix, pw, force)
			if errors.Is(err, sign.ErrKeyExists) {
				return fmt.Errorf("%w (use --force to overwrite)", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "private key written to %s (mode 0600)\npublic key written to %s\n", priv, pub)
			return nil
		},
	}
	gen.Flags().StringVar(&prefix, "output-prefix", "dossier", "write PREFIX.key and PREFIX.pub")
	gen.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	kf.register(gen)
	cmd.AddCommand(gen)
	return cmd
}

func (a *app) signCommand() *cobra.Command {
	var output string
	var legacy bool
	var f signingFlags
	var annotations []string
	var nf notationFlags
	cmd := &cobra.Command{
		Use:   "sign REF (--key FILE | --keyless | --notation --key FILE --certificate-chain FILE)",
		Short: "Sign an image digest and store the signature in the registry (cosign-compatible)",
		Long: `Resolve REF to its digest, sign the digest, and store the signature next to it: a Sigstore bundle
(DSSE envelope over an in-toto statement) attached through the OCI 1.1 referrers API, with the
referrers tag schema (sha256-<hex>) for registries without it — the layout cosign writes by default.
REF may also be an OCI layout (oci-layout:DIR:TAG): the signature is then written into the layout.
Key-based signatures record no transparency-log entry unless --rekor-url is given (air-gapped by
default). --keyless signs with an ephemeral key and a short-lived certificate from Fulcio for the OIDC
identity (--identity-token, SIGSTORE_ID_TOKEN, or the GitHub Actions token when the job may request
one), and records the signature in Rekor. --notation makes a Notation (Notary Project) signature
instead, with a local x509 key and its certificate chain: a JWS or COSE envelope stored as notation
stores it (artifactType application/vnd.cncf.notary.signature), which notation verifies.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if err := f.check(); err != nil {
				return err
			}
			if f.keyless && legacy {
				return usageError("--legacy-tags is for key-based signatures")
			}
			if err := nf.check(f, legacy); err != nil {
				return err
			}
			annots := map[string]any{}
			for _, kv := range annotations {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError("--annotation %q: want key=value", kv)
				}
				annots[k] = v
			}
			ctx := cmd.Context()
			if nf.notation {
				return a.signNotation(ctx, args[0], f.key, nf, annots, output)
			}
			signer, err := a.signer(ctx, f)
			if err != nil {
				return err
			}
			art, err := a.resolveSource(ctx, args[0])
			if err != nil {
				return err
			}
			repo, desc, err := evidenceTarget(ctx, art, art.Subject.Digest)
			if err != nil {
				return err
			}
			var signed *attest.Attached
			if legacy {
				var tag string
				if tag, err = sign.SignLegacy(ctx, repo, desc.Digest, signer.KeyPair(), annots); err == nil {
					signed = &attest.Attached{Subject: art.Subject.String(), PredicateType: evidence.PredicateSignatures, Referrer: tag}
				}
			} else {
				signed, err = attest.SignImage(ctx, repo, desc, annots, signer, time.Now())
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
	f.register(cmd, "the digest")
	cmd.Flags().StringArrayVarP(&annotations, "annotation", "a", nil, "signed annotation key=value (repeatable)")
	cmd.Flags().BoolVar(&legacy, "legacy-tags", false, "write cosign's legacy sha256-<hex>.sig layout instead of a referrer bundle")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	nf.register(cmd)
	return cmd
}

// verifyResult is one REF's outcome in verify's JSON output.
type verifyResult struct {
	Reference  string                       `json:"reference"`
	Subject    evidence.Subject             `json:"subject"`
	Verified   bool                         `json:"verified"`
	Signatures []evidence.VerifiedSignature `json:"signatures"`
	Decision   evidence.Decision            `json:"decision"`
}

func (a *app) verifyCommand() *cobra.Command {
	var output, expected string
	var who verifierFlags
	cmd := &cobra.Command{
		Use:   "verify REF... (--key FILE | --certificate-identity ID --certificate-oidc-issuer URL | --notation-trust-policy FILE --notation-trust-store DIR)",
		Short: "Verify images' signatures for an expected signer",
		Long: `Resolve each REF to its digest and verify the signatures stored for it, in both layouts (referrer
bundles and legacy .sig tags). Exit 0 when every REF has a signature that verifies and was made by
the expected signer, 1 when one has none (the reason says what was found instead), 2 on errors.
The decision is made by the policy engine with a one-rule policy, as "dossier policy check" makes
it. Several REFs are verified concurrently over the same connections. With --notation-trust-policy
and --notation-trust-store, Notation signatures are verified instead, as notation verifies them.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if expected != "" && len(args) > 1 {
				return usageError("--expected-digest takes one REF")
			}
			signers, err := who.signers(a.stderr)
			if err != nil {
				return err
			}
			set := &policy.Set{Policies: []*policy.Policy{policy.SignatureGate(signers...)}}
			results, err := a.decideAll(cmd.Context(), set, args, decide.Options{TrustedRoot: who.trustedRoot, Check: func(ref string, art *oci.Artifact) error {
				if expected != "" && expected != art.Subject.Digest {
					return fmt.Errorf("%s: %w: it points to %s, the signed digest is %s", ref, sign.ErrTagMoved, art.Subject.Digest, expected)
				}
				return nil
			}})
			if errors.Is(err, sign.ErrTagMoved) {
				return gateError{msg: "not verified: " + err.Error()}
			}
			if err != nil {
				return err
			}
			var out []verifyResult
			failed := 0
			for _, r := range results {
				v := verifyResult{Reference: r.Reference, Subject: r.Decision.Subject, Verified: r.Decision.Allowed, Decision: r.Decision, Signatures: []evidence.VerifiedSignature{}}
				for _, s := range r.Evidence.Signatures {
					if slices.ContainsFunc(signers, func(sg policy.Signer) bool { return sg.Accepts(s.Verification) }) {
						v.Signatures = append(v.Signatures, s)
					}
				}
				out = append(out, v)
				if !v.Verified {
					failed++
					for _, rule := range r.Decision.Failed() {
						fmt.Fprintf(a.stderr, "not verified: %s: %s\n", r.Decision.Subject, rule.Reason)
					}
					continue
				}
				if output == "text" {
					a.printSignatures(r.Decision.Subject, v.Signatures)
				}
			}
			if output == "json" {
				if err := writeJSON(a.stdout, out); err != nil {
					return err
				}
			}
			if failed > 0 {
				return gateError{msg: fmt.Sprintf("%d of %d not verified", failed, len(args))}
			}
			return nil
		},
	}
	who.register(cmd)
	cmd.Flags().StringVar(&who.notationPolicy, "notation-trust-policy", "", "Notation signatures: notation's trust policy file (trustpolicy.json), with --notation-trust-store")
	cmd.Flags().StringVar(&who.notationStore, "notation-trust-store", "", "Notation signatures: the trust store directory (x509/ca, x509/signingAuthority, x509/tsa)")
	cmd.Flags().StringVar(&expected, "expected-digest", "", "the digest that was signed: fail when the tag now points elsewhere")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (a *app) printSignatures(subject evidence.Subject, sigs []evidence.VerifiedSignature) {
	for _, v := range sigs {
		fmt.Fprintf(a.stdout, "verified %s\n  signer %s\n", subject, v.Signer)
		if v.SigningTime != nil {
			fmt.Fprintf(a.stdout, "  signed %s\n", v.SigningTime.UTC().Format(time.RFC3339))
		}
		if v.LogIndex != nil {
			fmt.Fprintf(a.stdout, "  log index %d\n", *v.LogIndex)
		}
		if v.TransparencyLogSkipped {
			fmt.Fprintln(a.stdout, "  transparency log: not required for key-based signatures (skipped)")
		}
		if v.NoSCT {
			fmt.Fprintln(a.stdout, "  certificate transparency: no SCT, accepted because of --insecure-ignore-sct")
		}
		if n := v.Notation; n != nil {
			fmt.Fprintf(a.stdout, "  notation: trust policy statement %q, level %s, %s envelope\n", n.Statement, n.Level, n.EnvelopeType)
			for _, l := range n.Logged {
				fmt.Fprintf(a.stdout, "  logged, not enforced: %s\n", l)
			}
		}
		fmt.Fprintf(a.stdout, "  stored %s (%s)\n", v.StoredAt, v.Layout)
	}
}
