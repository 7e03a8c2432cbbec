package collect

import (
	"crypto"
	"fmt"
	"os"
	"slices"
	"strings"
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

// TrustedRoot is the trusted root keyless signatures verify against: the
// file given, else, when fetch allows, the public-good root (unavailable
// says why it could not be had: keyless signatures are then rejected with
// that reason), else none.
func TrustedRoot(path string, fetch bool) (trusted root.TrustedMaterial, unavailable, err error) {
	switch {
	case path != "":
		tr, err := sign.LoadTrustedRoot(path)
		if err != nil {
			return nil, nil, err
		}
		return tr, nil, nil
	case fetch:
		tr, err := root.FetchTrustedRoot()
		if err != nil {
			return nil, fmt.Errorf("fetching the public-good trusted root failed (%v); offline, give a trusted root file", err), nil
		}
		return tr, nil, nil
	}
	return nil, nil, nil
}

// recordingTrust verifies what a recorder keeps as verified: the set's
// signers, the keys in keyFiles, and keyless signatures against the
// trusted root file, else the public-good root. unavailable says why
// keyless signatures are kept as unverified, when they are.
func recordingTrust(set *policy.Set, keyFiles []string, trustedRootPath string, now time.Time) (trust *sign.Trust, unavailable, err error) {
	withKeys := &policy.Set{Policies: append([]*policy.Policy{}, set.Policies...)}
	var signers []policy.Signer
	for _, f := range keyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		s, err := policy.KeySigner(f, data)
		if err != nil {
			return nil, nil, err
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		withKeys.Policies = append(withKeys.Policies, policy.SignatureGate(signers...))
	}
	trusted, unavailable, err := TrustedRoot(trustedRootPath, true)
	if err != nil {
		return nil, nil, err
	}
	trust, err = TrustFor(withKeys, trusted, unavailable, now)
	return trust, unavailable, err
}

// DecidingTrust verifies what the set's policies judge: their signers'
// keys, and, when a policy trusts keyless signers, the trusted root file,
// else the public-good root — never in place of a TrustRoot a policy
// names. A root that cannot be had makes keyless signatures rejected with
// the reason.
func DecidingTrust(set *policy.Set, trustedRootPath string, now time.Time) (*sign.Trust, error) {
	var trusted root.TrustedMaterial
	var unavailable error
	if NeedsTrustedRoot(set) {
		if named := NamedTrustRoots(set); len(named) > 0 && trustedRootPath == "" {
			unavailable = fmt.Errorf("a policy verifies keyless signers against TrustRoot %s: give that trusted root as a file", strings.Join(named, ", "))
		} else {
			var err error
			if trusted, unavailable, err = TrustedRoot(trustedRootPath, true); err != nil {
				return nil, err
			}
		}
	}
	return TrustFor(set, trusted, unavailable, now)
}

// Recording loads the policy and exception files and the trust a recorder
// verifies with (recordingTrust): the set, the trust, and warnings for the
// operator — the loader's, and why keyless signatures are kept as
// unverified when they are.
func Recording(paths, keyFiles []string, trustedRootPath string, now time.Time) (*policy.Set, *sign.Trust, []string, error) {
	set, warnings, err := policy.LoadSet(paths...)
	if err != nil {
		return nil, nil, nil, err
	}
	trust, unavailable, err := recordingTrust(set, keyFiles, trustedRootPath, now)
	if err != nil {
		return nil, nil, nil, err
	}
	if unavailable != nil {
		warnings = append(warnings, fmt.Sprintf("keyless signatures are recorded as unverified: %v", unavailable))
	}
	return set, trust, warnings, nil
}
