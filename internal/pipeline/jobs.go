package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Jobs is what the registry's workers do with a pushed digest: a scan
// job catalogues, scans and records it with its signatures, decided by
// Set; a verify job records what was attached to it.
type Jobs struct {
	Store *store.Store
	// Registry reaches other registries, for jobs of digests elsewhere.
	Registry oci.RegistryOptions
	Trust    *sign.Trust
	// DB scans; nil records no findings.
	DB  *vulndb.DB
	Set *policy.Set
	Now func() time.Time
}

// Process runs one job. The registry's own digests are read through
// transport, in process: no credentials to send, no host to reach.
func (j *Jobs) Process(ctx context.Context, job store.Job, transport http.RoundTripper) error {
	ref := job.Repository + "@" + job.Digest
	opts := j.Registry
	if job.Kind != store.JobScanRemote {
		opts.Transport, opts.Keychain = transport, authn.NewMultiKeychain()
	}
	switch job.Kind {
	case store.JobScan, store.JobScanRemote, store.JobVerify:
	default:
		return fmt.Errorf("job %d for %s: unknown job kind %q", job.ID, ref, job.Kind)
	}
	art, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: ref, Reference: ref}, opts)
	if err != nil {
		return err
	}
	if job.Kind == store.JobVerify {
		_, err = RecordSignatures(ctx, j.Store, art, j.Trust, j.Set, j.Now())
		return err
	}
	_, err = Record(ctx, j.Store, art, RecordOptions{Trust: j.Trust, DB: j.DB, Set: j.Set, Now: j.Now()})
	return err
}
