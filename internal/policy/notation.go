package policy

import (
	"fmt"
	"path/filepath"

	"github.com/dossier-dev/dossier/internal/notation/trust"
)

// decodeNotationSigner reads a Notation signer: notation's trust policy
// and trust store, loaded now so that a mistake in them is the policy's
// load error, naming the file and field, and verification reads nothing
// from disk later.
func decodeNotationSigner(src, path, name string, spec *notationSpec, opts LoadOptions) (decodedSigner, error) {
	out := decodedSigner{Signer: Signer{Name: name}}
	if spec.TrustPolicy == "" {
		return out, fieldError(src, path+".trustPolicy", "missing: the trust policy file (notation's trustpolicy.json or trustpolicy.oci.json)")
	}
	if spec.TrustStore == "" {
		return out, fieldError(src, path+".trustStore", "missing: the trust store directory (holding x509/ca, x509/signingAuthority, x509/tsa)")
	}
	if opts.ReadFile == nil {
		return out, fieldError(src, path, "Notation trust material is read from files, which are not read here")
	}
	rel := func(p string) string {
		if !filepath.IsAbs(p) && opts.BaseDir != "" {
			return filepath.Join(opts.BaseDir, p)
		}
		return p
	}
	cfg, field, err := loadNotationTrust(rel(spec.TrustPolicy), rel(spec.TrustStore))
	if err != nil {
		return out, fieldError(src, path+"."+field, "%v", err)
	}
	out.Notation = cfg
	for _, w := range trust.Warnings(cfg.Policy()) {
		out.warnings = append(out.warnings, fmt.Sprintf("%s: %s.trustPolicy: signer %s: %s", src, path, name, w))
	}
	return out, nil
}

// loadNotationTrust reads a trust policy file and the trust stores it
// names; field says which of the two (trustPolicy, trustStore) an error
// is about.
func loadNotationTrust(policyFile, storeDir string) (cfg *trust.Config, field string, err error) {
	doc, err := trust.LoadPolicy(policyFile)
	if err != nil {
		return nil, "trustPolicy", err
	}
	stores, err := trust.LoadStores(doc, storeDir)
	if err != nil {
		return nil, "trustStore", err
	}
	if cfg, err = trust.New(doc, stores); err != nil {
		return nil, "trustStore", err
	}
	return cfg, "", nil
}

// NotationSigner is a Notation signer named name from a trust policy file
// and a trust store directory given outside a policy (dossier verify's
// flags), with the trust policy's warnings.
func NotationSigner(name, policyFile, storeDir string) (Signer, []string, error) {
	cfg, _, err := loadNotationTrust(policyFile, storeDir)
	if err != nil {
		return Signer{}, nil, err
	}
	return Signer{Name: name, Notation: cfg}, trust.Warnings(cfg.Policy()), nil
}

// signaturesOnly refuses Notation signers where attestations are verified:
// a Notation signature signs an image, not an in-toto statement.
func signaturesOnly(src, path string, signers []Signer) error {
	for _, s := range signers {
		if s.Notation != nil {
			return fieldError(src, path, "signer %q verifies Notation signatures of images, not attestations: name the signers of this rule", s.Name)
		}
	}
	return nil
}
