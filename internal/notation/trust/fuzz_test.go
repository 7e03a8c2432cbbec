package trust

import (
	"testing"
)

// FuzzParsePolicy: any input is a validated trust policy or an error,
// never a panic; a parsed policy names only stores of the three types.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:acme"],"trustedIdentities":["*"]}]}`))
	f.Add([]byte(`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["r.example/a"],"signatureVerification":{"level":"skip"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParsePolicy(data)
		if err != nil {
			return
		}
		for _, s := range Named(doc) {
			switch s.Type {
			case "ca", "signingAuthority", "tsa":
			default:
				t.Fatalf("accepted a trust store of type %q", s.Type)
			}
		}
		for _, st := range doc.TrustPolicies {
			if _, err := st.SignatureVerification.GetVerificationLevel(); err != nil {
				t.Fatalf("accepted statement %q with an invalid level: %v", st.Name, err)
			}
		}
	})
}
