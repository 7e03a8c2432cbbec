package collect

import (
	"crypto"
	"fmt"
	"slices"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
)

// NeedsTrustedRoot reports whether any policy trusts keyless signers.
func NeedsTrustedRoot(set *policy.Set) bool {
	for _, s := range set.Signers() {
		if s.Keyless() {
			return true
		}
	}
	return false
}

// NamedTrustRoots lists the TrustRoots ClusterImagePolicies name for their
// keyless signers ("policy: TrustRoot"): dossier has no TrustRoot resources,
// so such policies need the trusted root given explicitly.
func NamedTrustRoots(set *policy.Set) []string {
	var out []string
	for _, s := range set.Signers() {
		if s.TrustRootRef != "" && !slices.Contains(out, s.TrustRootRef) {
			out = append(out, s.TrustRootRef)
		}
	}
	return out
}

// TrustFor builds the material to verify with: the policies' keys and, for
// keyless signers, trusted (nil when it could not be had: rootErr says why,
// and keyless signatures are then rejected with that reason).
func TrustFor(set *policy.Set, trusted root.TrustedMaterial, rootErr error, now time.Time) (*sign.Trust, error) {
	seen := map[string]bool{}
	var keys []crypto.PublicKey
	for _, s := range set.Signers() {
		if s.KeyFingerprint == "" || seen[s.KeyFingerprint] {
			continue
		}
		seen[s.KeyFingerprint] = true
		pub, err := sign.ParsePublicKey([]byte(s.Key))
		if err != nil {
			return nil, fmt.Errorf("signer %s: %w", s.Name, err)
		}
		keys = append(keys, pub)
	}
	t, err := sign.NewTrust(keys, trusted, now)
	if err != nil {
		return nil, err
	}
	if trusted == nil && rootErr != nil {
		t = t.WithoutTrustedRoot(rootErr)
	}
	return t, nil
}
