package sign

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// predicateTypes maps the short names cosign and dossier accept to
// predicate type URIs (the same URIs cosign writes).
var predicateTypes = map[string]string{
	"cyclonedx":       "https://cyclonedx.org/bom",
	"spdxjson":        "https://spdx.dev/Document",
	"spdx":            "https://spdx.dev/Document",
	"slsaprovenance":  "https://slsa.dev/provenance/v1",
	"slsaprovenance1": "https://slsa.dev/provenance/v1",
	"openvex":         "https://openvex.dev/ns",
	"vuln":            "https://cosign.sigstore.dev/attestation/vuln/v1",
	"custom":          "https://cosign.sigstore.dev/attestation/v1",
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
