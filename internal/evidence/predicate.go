package evidence

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Predicate type URIs dossier writes and reads (the URIs cosign writes).
const (
	PredicateCycloneDX  = "https://cyclonedx.org/bom"
	PredicateSPDX       = "https://spdx.dev/Document"
	PredicateSLSA1      = "https://slsa.dev/provenance/v1"
	PredicateOpenVEX    = "https://openvex.dev/ns"
	PredicateVuln       = "https://cosign.sigstore.dev/attestation/vuln/v1"
	PredicateCustom     = "https://cosign.sigstore.dev/attestation/v1"
	PredicateSLSA02     = "https://slsa.dev/provenance/v0.2"
	PredicateSignatures = "https://sigstore.dev/cosign/sign/v1"
	// PredicateVSA is SLSA's verification summary: a verifier's signed
	// word that a digest met a policy.
	PredicateVSA = "https://slsa.dev/verification_summary/v1"
)

// predicateTypes maps the short names cosign and dossier accept to URIs.
var predicateTypes = map[string]string{
	"cyclonedx":               PredicateCycloneDX,
	"spdxjson":                PredicateSPDX,
	"spdx":                    PredicateSPDX,
	"slsaprovenance":          PredicateSLSA1,
	"slsaprovenance1":         PredicateSLSA1,
	"slsaprovenance02":        PredicateSLSA02,
	"openvex":                 PredicateOpenVEX,
	"vuln":                    PredicateVuln,
	"custom":                  PredicateCustom,
	"workflowaudit":           PredicateWorkflowAudit,
	"slsaverificationsummary": PredicateVSA,
	"vsa":                     PredicateVSA,
}

// PredicateType resolves a short name or returns an absolute URI as is.
func PredicateType(t string) (string, error) {
	if uri, ok := predicateTypes[strings.ToLower(t)]; ok {
		return uri, nil
	}
	if u, err := url.Parse(t); err == nil && u.Scheme != "" && u.Host != "" {
		return t, nil
	}
	names := make([]string, 0, len(predicateTypes))
	for n := range predicateTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("predicate type %q: want one of %s, or an absolute URI", t, strings.Join(names, ", "))
}

// PredicateShortName is the short name of a predicate type URI, or the URI.
func PredicateShortName(uri string) string {
	best := ""
	for n, u := range predicateTypes {
		if u == uri && (best == "" || len(n) < len(best) || (len(n) == len(best) && n < best)) {
			best = n
		}
	}
	if best == "" {
		return uri
	}
	return best
}
