package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/decide"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
)

// maxPredicateSize bounds a predicate file (SBOMs can be large).
const maxPredicateSize = 128 << 20

func (a *app) attestCommand() *cobra.Command {
	var predicatePath, predicateType, output string
	var f signingFlags
	cmd := &cobra.Command{
		Use:   "attest REF --predicate FILE --type TYPE (--key FILE | --keyless)",
		Short: "Attach a signed in-toto attestation (SBOM, SLSA provenance, VEX, scan, custom) to an image digest",
		Long: `Resolve REF to its digest and attach an in-toto Statement v1 whose subject is that digest and whose
predicate is FILE (JSON), signed in a DSSE envelope inside a Sigstore bundle, stored as cosign stores
attestations (an OCI referrer of the digest). TYPE: cyclonedx, spdxjson, slsaprovenance (v1),
openvex, vuln, custom, or an absolute predicate type URI.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if predicatePath == "" {
				return usageError("give --predicate FILE")
			}
			if err := f.check(); err != nil {
				return err
			}
			uri, err := evidence.PredicateType(predicateType)
			if err != nil {
				return usageError("--type: %v", err)
			}
			predicate, err := readPredicate(predicatePath)
			if err != nil {
				return err
			}
			art, err := a.resolveSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			attached, err := a.attach(cmd.Context(), art, art.Subject.Digest, uri, predicate, f)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, attached)
			}
			fmt.Fprintf(a.stdout, "attested %s (%s)\n", attached.Subject, uri)
			return nil
		},
	}
	f.register(cmd, "the attestation")
	cmd.Flags().StringVar(&predicatePath, "predicate", "", "predicate JSON file")
	cmd.Flags().StringVar(&predicateType, "type", "custom", "predicate type: short name or URI")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// readPredicate reads a JSON object, bounded in size.
func readPredicate(path string) (json.RawMessage, error) {
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
	return data, nil
}

func (a *app) verifyAttestationCommand() *cobra.Command {
	var predicateType, output string
	var who verifierFlags
	cmd := &cobra.Command{
		Use:   "verify-attestation REF --type TYPE (--key FILE | --certificate-identity ID --certificate-oidc-issuer URL)",
		Short: "Verify an image's attestations of one type for an expected signer and print them",
		Long: `Resolve REF to its digest, verify its attestations of TYPE in both layouts (referrer bundles and
legacy .att tags), and print those made by the expected signer as JSON: predicate type, predicate,
signer, signing time and where each was stored. Exit 1 when none verifies for that signer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "json"); err != nil {
				return err
			}
			uri, err := evidence.PredicateType(predicateType)
			if err != nil {
				return usageError("--type: %v", err)
			}
			signers, err := who.signers(a.stderr)
			if err != nil {
				return err
			}
			set := &policy.Set{Policies: []*policy.Policy{policy.AttestationGate(uri, signers...)}}
			results, err := a.decideAll(cmd.Context(), set, args, decide.Options{TrustedRoot: who.trustedRoot})
			if err != nil {
				return err
			}
			r := results[0]
			if !r.Decision.Allowed {
				for _, rule := range r.Decision.Failed() {
					fmt.Fprintf(a.stderr, "not verified: %s: %s\n", r.Decision.Subject, rule.Reason)
				}
				return gateError{msg: fmt.Sprintf("not verified: no %s attestation by the expected signer", evidence.PredicateShortName(uri))}
			}
			matching := []evidence.Attestation{}
			for _, at := range r.Evidence.Attestations {
				for _, s := range signers {
					if at.PredicateType == uri && s.Accepts(at.Verification) {
						matching = append(matching, at)
						break
					}
				}
			}
			return writeJSON(a.stdout, matching)
		},
	}
	who.register(cmd)
	cmd.Flags().StringVar(&predicateType, "type", "custom", "predicate type: short name or URI")
	cmd.Flags().StringVarP(&output, "output", "o", "json", "output format: json")
	return cmd
}
