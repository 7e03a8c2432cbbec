package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
)

// FileRules are rules read from policy and exception files (or
// directories of them) and a trusted root file, re-read so that edits —
// a namespace moved from audit to enforce, a new exception — apply
// without a restart.
type FileRules struct {
	paths       []string
	trustedRoot string
	collect     collect.Options
	secretKeys  policy.SecretKeyReader
	current     atomic.Pointer[Rules]
}

// LoadFileRules reads the rules once; opts are the collection options
// every version of the rules uses (their Trust is set from the files).
// secretKeys reads the keys policies keep in Kubernetes Secrets, at each
// load (nil: such policies are refused).
func LoadFileRules(paths []string, trustedRoot string, opts collect.Options, secretKeys policy.SecretKeyReader) (*FileRules, error) {
	f := &FileRules{paths: paths, trustedRoot: trustedRoot, collect: opts, secretKeys: secretKeys}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Rules are the rules in force.
func (f *FileRules) Rules() *Rules { return f.current.Load() }

// Reload re-reads the files and reports whether the rules changed. On an
// error the rules in force stay.
func (f *FileRules) Reload() (bool, error) {
	docs, err := policy.LoadReadingSecrets(f.secretKeys, f.paths...)
	if err != nil {
		return false, err
	}
	set := &policy.Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
	h := sha256.New()
	for _, p := range set.Policies {
		fmt.Fprintf(h, "policy %s\n", p.Digest)
	}
	// key files are read apart from the policies that name them: a rotated
	// key is a new version
	for _, s := range set.Signers() {
		fmt.Fprintf(h, "key %s\n", s.KeyFingerprint)
	}
	exceptions, err := json.Marshal(set.Exceptions)
	if err != nil {
		return false, err
	}
	h.Write(exceptions)
	var trusted root.TrustedMaterial
	var rootErr error
	switch {
	case f.trustedRoot != "":
		data, err := os.ReadFile(f.trustedRoot)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(h, "\nroot %x\n", sha256.Sum256(data))
		if trusted, err = sign.LoadTrustedRoot(f.trustedRoot); err != nil {
			return false, err
		}
	case collect.NeedsTrustedRoot(set):
		rootErr = fmt.Errorf("a policy trusts keyless signers and the webhook was given no trusted root")
	}
	version := hex.EncodeToString(h.Sum(nil))
	if old := f.current.Load(); old != nil && old.Version == version {
		return false, nil
	}
	trust, err := collect.TrustFor(set, trusted, rootErr, time.Now())
	if err != nil {
		return false, err
	}
	opts := f.collect
	opts.Trust = trust
	f.current.Store(&Rules{Set: set, Collect: opts, Version: version})
	return true, nil
}

// Watch reloads every interval until ctx ends, telling report of each
// change or failure.
func (f *FileRules) Watch(ctx context.Context, interval time.Duration, report func(changed bool, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if changed, err := f.Reload(); (changed || err != nil) && report != nil {
				report(changed, err)
			}
		}
	}
}
