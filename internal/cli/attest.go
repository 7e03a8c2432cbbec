package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// maxPredicateSize bounds a predicate file (SBOMs can be large).
const maxPredicateSize = 128 << 20

func (a *app) attestCommand() *cobra.Command {
	var keyPath, predicatePath, predicateType, output string
	var keyless bool
	var kl sign.KeylessOptions
	cmd := &cobra.Command{
		Use:   "attest REF --predicate FILE --type TYPE --key FILE",
		Short: "Attach a signed in-toto attestation (SBOM, SLSA provenance, VEX, scan, custom) to an image digest",
		Long: `Resolve REF to its digest and attach an in-toto Statement v1 whose subject is that digest and whose
predicate is FILE (JSON), signed in a DSSE envelope inside a Sigstore bundle, stored as cosign stores
attestations (an OCI referrer of the digest). TYPE: cyclonedx, spdxjson, slsaprovenance (v1),
openvex, vuln, custom, or an absolute predicate type URI.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if predicatePath == "" || (keyPath == "") == !keyless {
				return usageError("give --predicate FILE and --key FILE or --keyless")
			}
			uri, err := sign.PredicateType(predicateType)
			if err != nil {
				return usageError("%v", err)
			}
			predicate, err := readPredicate(predicatePath)
			if err != nil {
				return err
			}
			art, err := a.resolveSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			digest, ref, err := a.attachWith(cmd, art, art.Subject.Digest, predicate, uri, keyPath, keyless, kl)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, sign.Signed{Subject: digest.String(), Referrer: ref})
			}
			fmt.Fprintf(a.stdout, "attested %s (%s)\n", digest, uri)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "private key file (dossier or cosign)")
	cmd.Flags().BoolVar(&keyless, "keyless", false, "sign with a Fulcio certificate for your OIDC identity instead of a key")
	cmd.Flags().StringVar(&kl.IDToken, "identity-token", "", "keyless: OIDC identity token (default SIGSTORE_ID_TOKEN or the GitHub Actions token)")
	cmd.Flags().StringVar(&kl.FulcioURL, "fulcio-url", sign.DefaultFulcioURL, "keyless: Fulcio instance")
	cmd.Flags().StringVar(&kl.RekorURL, "rekor-url", "", "Rekor instance: keyless default "+sign.DefaultRekorURL+"; with --key, also log there")
	cmd.Flags().StringVar(&predicatePath, "predicate", "", "predicate JSON file")
	cmd.Flags().StringVar(&predicateType, "type", "custom", "predicate type: short name or URI")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// attach signs predicate about digest (of the registry artifact art) with
// the key at keyPath and stores it next to the digest.
func (a *app) attach(cmd *cobra.Command, art *oci.Artifact, digestStr string, predicate map[string]any, predicateType, keyPath string) (name.Digest, string, error) {
	return a.attachWith(cmd, art, digestStr, predicate, predicateType, keyPath, false, sign.KeylessOptions{})
}

// attachWith is attach with a key or keyless signer.
func (a *app) attachWith(cmd *cobra.Command, art *oci.Artifact, digestStr string, predicate map[string]any, predicateType, keyPath string, keyless bool, kl sign.KeylessOptions) (name.Digest, string, error) {
	base, err := sign.RegistryDigest(art, a.registry)
	if err != nil {
		return name.Digest{}, "", err
	}
	digest := base.Context().Digest(digestStr)
	signer, opts, _, err := a.signer(cmd, keyPath, keyless, kl)
	if err != nil {
		return name.Digest{}, "", err
	}
	st, err := sign.Statement(digest.DigestStr(), predicateType, predicate, nil)
	if err != nil {
		return name.Digest{}, "", err
	}
	bundle, err := sign.BundleStatement(st, signer, opts)
	if err != nil {
		return name.Digest{}, "", err
	}
	ref, err := sign.Store(cmd.Context(), digest, bundle, predicateType, a.registry)
	return digest, ref, err
}

// readPredicate reads a JSON object, bounded in size.
func readPredicate(path string) (map[string]any, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > maxPredicateSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxPredicateSize>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: the predicate must be a JSON object: %w", path, err)
	}
	return p, nil
}

func (a *app) verifyAttestationCommand() *cobra.Command {
	var predicateType string
	var signer signerFlags
	cmd := &cobra.Command{
		Use:   "verify-attestation REF --type TYPE --key FILE",
		Short: "Verify an image's attestations of one type for an expected signer and print their predicates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			uri, err := sign.PredicateType(predicateType)
			if err != nil {
				return usageError("%v", err)
			}
			who, err := signer.verifier()
			if err != nil {
				return err
			}
			digest, err := a.registryDigest(cmd, args[0])
			if err != nil {
				return err
			}
			verified, err := sign.Verify(cmd.Context(), digest, uri, who, a.registry)
			if err != nil {
				if isVerificationFailure(err) {
					return gateError{msg: "not verified: no " + uri + " attestation verifies: " + err.Error()}
				}
				return err
			}
			statements := make([]json.RawMessage, 0, len(verified))
			for _, v := range verified {
				statements = append(statements, v.Statement)
			}
			return writeJSON(a.stdout, statements)
		},
	}
	signer.register(cmd)
	cmd.Flags().StringVar(&predicateType, "type", "custom", "predicate type: short name or URI")
	return cmd
}
