package sign

import (
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// CheckFresh refuses a trusted root in which every certificate authority
// or every transparency log ended before now: it predates the keys in use
// and must be refreshed. (An authority that has ended still verifies
// signatures made while it was valid, so one current entry suffices.)
func CheckFresh(tm root.TrustedMaterial, now time.Time) error {
	current := func(end time.Time) bool { return end.IsZero() || end.After(now) }
	cas := tm.FulcioCertificateAuthorities()
	fresh := len(cas) == 0
	for _, c := range cas {
		if f, ok := c.(*root.FulcioCertificateAuthority); !ok || current(f.ValidityPeriodEnd) {
			fresh = true
		}
	}
	if !fresh {
		return fmt.Errorf("%w: every certificate authority in it has ended; refresh the trusted root", ErrTrustedRoot)
	}
	logs := tm.RekorLogs()
	fresh = len(logs) == 0
	for _, l := range logs {
		if current(l.ValidityPeriodEnd) {
			fresh = true
		}
	}
	if !fresh {
		return fmt.Errorf("%w: every transparency log in it has ended; refresh the trusted root", ErrTrustedRoot)
	}
	return nil
}

// LoadTrustedRoot reads a Sigstore trusted root JSON file (as
// `cosign trusted-root create` or the public-good TUF repository give).
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTrustedRoot, path, err)
	}
	return tr, nil
}
