package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// storeFlags find the evidence store: PostgreSQL by URL, else the SQLite
// store in the data directory.
type storeFlags struct {
	dataDir, url string
	// layerCacheMiB bounds the store's layer cache
	layerCacheMiB int64
}

func (f *storeFlags) register(cmd *cobra.Command) {
	addDataDirFlag(cmd, &f.dataDir)
	addStoreFlag(cmd, &f.url)
	addLayerCacheFlag(cmd, &f.layerCacheMiB)
}

func addLayerCacheFlag(cmd *cobra.Command, dst *int64) {
	cmd.Flags().Int64Var(dst, "layer-cache-mib", 0, fmt.Sprintf("catalogue images layer by layer, keeping this many MiB of layer analyses in the evidence store, least recently used evicted first (0: off; %d is a start)", store.DefaultLayerCacheBytes>>20))
}

func addStoreFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "store", "", "PostgreSQL evidence store, postgres://… (default: the SQLite store in the data directory)")
}

func (f *storeFlags) open(ctx context.Context) (*store.Store, error) {
	st, err := store.Open(ctx, f.dataDir, f.url)
	if err != nil {
		return nil, err
	}
	if f.layerCacheMiB < 0 {
		st.Close()
		return nil, usageError("--layer-cache-mib %d: want a size in MiB, 0 or more", f.layerCacheMiB)
	}
	st.SetLayerCacheBound(f.layerCacheMiB << 20)
	return st, nil
}

// openWithDatabase opens the advisory database and the evidence store;
// close releases both.
func (f *storeFlags) openWithDatabase(ctx context.Context) (db *vulndb.DB, st *store.Store, close func(), err error) {
	if db, err = vulndb.Open(f.dataDir); err != nil {
		return nil, nil, nil, err
	}
	if st, err = f.open(ctx); err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return db, st, func() { st.Close(); db.Close() }, nil
}

func (a *app) recordCommand() *cobra.Command {
	var sf storeFlags
	var policies, exceptions, keys []string
	var trustedRoot, platform, output string
	cmd := &cobra.Command{
		Use:   "record REF... [--policy FILE|DIR] [--key PUB]... [--trusted-root FILE]",
		Short: "Store everything about an image digest in the evidence store: signatures, attestations, SBOM, findings, decision",
		Long: `Resolve each REF and write to the evidence store, in one transaction per digest: the tag observation,
every signature and attestation attached (verified with the policies' signers, --key and the trusted
root: only the verified identity is stored; what does not verify is stored as unverified, never as
verified), the SBOM catalogued from the artifact, its findings against the local advisory database,
and, with --policy, the decision. Recording the same digest again is idempotent.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := parsePlatformFlag(platform)
			if err != nil {
				return usageError("%v", err)
			}
			set, trust, err := a.recording(policies, exceptions, keys, trustedRoot)
			if err != nil {
				return err
			}
			// every reference is resolved before anything is written
			arts := make([]*oci.Artifact, len(args))
			for i, ref := range args {
				if arts[i], err = a.resolveSource(ctx, ref); err != nil {
					return err
				}
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			opts := pipeline.RecordOptions{Trust: trust, Set: set, Platform: p}
			db, err := recordDatabase(sf.dataDir, a.warnf)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
				opts.DB = db
			}
			var all []*pipeline.Recorded
			for _, art := range arts {
				opts.Reference, opts.Now = "", time.Now()
				if art.Tag != "" {
					opts.Reference = art.Subject.Repository + ":" + art.Tag
				}
				r, err := pipeline.Record(ctx, st, art, opts)
				if err != nil {
					return err
				}
				all = append(all, r)
				if output == "text" {
					line := fmt.Sprintf("recorded %s: %d components, %d findings, %d signatures, %d attestations, %d unverified",
						r.Subject, r.Components, r.Findings, r.Signatures, r.Attestations, r.Unverified)
					if r.Decision != nil {
						verdict := "allowed"
						if !r.Decision.Allowed {
							verdict = "denied"
						}
						line += "; decision: " + verdict
					}
					fmt.Fprintln(a.stdout, line)
				}
			}
			if output == "json" {
				return writeJSON(a.stdout, all)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringSliceVar(&policies, "policy", nil, "policy file or directory: record the decision too")
	cmd.Flags().StringSliceVar(&exceptions, "exceptions", nil, "exception file or directory")
	cmd.Flags().StringSliceVar(&keys, "key", nil, "public key whose signatures count as verified (repeatable; the policies' keys always do)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root JSON for keyless signatures (default: the public-good root, fetched)")
	cmd.Flags().StringVar(&platform, "platform", "", "platform to catalogue in a multi-platform index: os/arch[/variant]")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// recording loads the policy and exception files and the trust that
// verifies what is recorded: their signers, the keys and the trusted root.
func (a *app) recording(policies, exceptions, keys []string, trustedRoot string) (*policy.Set, *sign.Trust, error) {
	set, trust, warnings, err := collect.Recording(append(append([]string{}, policies...), exceptions...), keys, trustedRoot, time.Now())
	for _, w := range warnings {
		a.warnf("warning: %s", w)
	}
	return set, trust, err
}

// recordDatabase opens the local advisory database records are scanned
// with; without one, report hears that findings are not recorded and the
// database is nil.
func recordDatabase(dataDir string, report func(format string, args ...any)) (*vulndb.DB, error) {
	db, missing, err := vulndb.OpenIfPresent(dataDir)
	if db == nil && err == nil {
		report("warning: %s: findings are not recorded", missing)
	}
	return db, err
}
