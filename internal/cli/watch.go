package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/store"
)

func (a *app) watchCommand() *cobra.Command {
	var sf storeFlags
	var policies, exceptions, keys []string
	var trustedRoot string
	var interval time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "watch REGISTRY/REPO... [--interval 5m] [--once]",
		Short: "Poll repositories of a registry without push notifications: every new or moved tag is recorded as dossier record does",
		Long: `List each repository's tags every --interval and record, as dossier record does (tag move, SBOM from
the image, findings, signatures and attestations verified, the decision with --policy), each tag that is
new or points to another digest than the store last saw. --once makes one pass. SIGINT or SIGTERM stops.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval < time.Second {
				return usageError("--interval %s: at least 1s", interval)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			set, trust, err := a.recording(policies, exceptions, keys, trustedRoot)
			if err != nil {
				return err
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			opts := pipeline.RecordOptions{Trust: trust, Set: set}
			db, err := recordDatabase(sf.dataDir, a.warnf)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
				opts.DB = db
			}
			for {
				for _, repo := range args {
					if err := a.watchOnce(ctx, st, repo, opts); err != nil {
						if once {
							return err
						}
						a.logf("watch %s: %v", repo, err)
					}
				}
				if once {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	sf.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Minute, "how often the tags are listed")
	cmd.Flags().BoolVar(&once, "once", false, "one pass, then exit")
	cmd.Flags().StringSliceVar(&policies, "policy", nil, "policy file or directory deciding each recorded digest (repeatable)")
	cmd.Flags().StringSliceVar(&exceptions, "exceptions", nil, "exception file or directory (repeatable)")
	cmd.Flags().StringSliceVar(&keys, "key", nil, "public key whose signatures verify (repeatable)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root (JSON) for keyless signers")
	return cmd
}

// watchOnce records every tag of repo that is new or moved since the
// store last saw it, and prints each.
func (a *app) watchOnce(ctx context.Context, st *store.Store, repo string, opts pipeline.RecordOptions) error {
	return pipeline.WatchOnce(ctx, st, repo, a.registry, opts, time.Now, func(w pipeline.Watched) {
		moved := "new tag"
		if w.Previous != "" {
			moved = "moved from " + w.Previous
		}
		fmt.Fprintf(a.stdout, "recorded %s:%s = %s (%s): %d components, %d findings, %d signatures\n", w.Subject.Repository, w.Tag, w.Subject.Digest, moved,
			w.Components, w.Findings, w.Signatures)
	})
}
