package cli

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/serving"
)

func (a *app) clusterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "What runs in Kubernetes clusters",
	}
	var sf storeFlags
	var name, kubeconfig, kubeContext string
	var reconcile, judgeEvery time.Duration
	var policies, exceptions []string
	var trustedRoot, notifyFile, unclaimed string
	var reports bool
	watch := &cobra.Command{
		Use:   "watch --cluster NAME [--kubeconfig F] [--context C]",
		Short: "Inventory what runs in a cluster, and keep the inventory current until stopped",
		Long: `List every Pod of the cluster, then follow its watch, recording per container (init and ephemeral
containers included) the namespace, Pod, owning workload (Deployment, CronJob, StatefulSet, …), node,
the image as written and the digest that actually runs: the container status's imageID, else the digest
the image pins. Pods deleted and containers finished are closed; a restart lists again and closes what
went meanwhile. Several clusters share one store, each under its name; two watchers of one cluster do
not count anything twice. dossier query running and query component|advisory --running answer from it;
dossier serve --cluster NAME runs the same watch. SIGINT or SIGTERM stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError("give the cluster's name: --cluster NAME (what runs is recorded under it)")
			}
			config, err := kube.Config(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			a.serving = true
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			answer, err := policy.ParseUnclaimed(unclaimed)
			if err != nil {
				return usageError("%v", err)
			}
			var rules inventory.Rules
			if len(policies) > 0 {
				secretKeys, err := kube.SecretKeys(config)
				if err != nil {
					return err
				}
				if rules, err = serving.WatchedRules(ctx, policies, exceptions, trustedRoot, secretKeys, 2*time.Second, "background decisions", a.log); err != nil {
					return err
				}
			} else if reports || len(exceptions) > 0 || notifyFile != "" {
				return usageError("--policy-reports, --exceptions and --notify need the policies to judge with: --policy FILE|DIR")
			}
			var notifications *notify.Config
			if notifyFile != "" {
				if notifications, err = notify.Load(notifyFile); err != nil {
					return err
				}
			}
			return inventory.Watch(ctx, inventory.Options{Cluster: name, Config: config, Store: st, Log: a.log, Reconcile: reconcile,
				Rules: rules, Unclaimed: answer, JudgeEvery: judgeEvery, Reports: reports, Notify: notifications,
				Listed: func(pods int) {
					fmt.Fprintf(a.stderr, "cluster %s inventoried: %d Pods; following its changes\n", name, pods)
				}})
		},
	}
	sf.register(watch)
	watch.Flags().StringVar(&name, "cluster", "", "the cluster's name, as the inventory and its webhook's decisions call it")
	watch.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: KUBECONFIG, ~/.kube/config, or the Pod's service account)")
	watch.Flags().StringVar(&kubeContext, "context", "", "context of the kubeconfig (default: its current context)")
	watch.Flags().DurationVar(&reconcile, "reconcile", time.Minute, "how often the whole inventory is compared with the store and marked current")
	watch.Flags().StringSliceVar(&policies, "policy", nil, "policy file or directory (repeatable; the webhook's): what runs is judged again with them on recorded evidence, in the background")
	watch.Flags().StringSliceVar(&exceptions, "exceptions", nil, "exception file or directory (repeatable)")
	watch.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root (JSON) of the policies' keyless signers")
	watch.Flags().StringVar(&unclaimed, "unclaimed", "deny", "what running images no policy claims get, as the webhook's setting: deny (a failed decision), warn (a warning) or allow (no decision)")
	watch.Flags().DurationVar(&judgeEvery, "judge-every", 5*time.Minute, "how often what runs is judged again (also at once when the policies change, and soon after new images start)")
	watch.Flags().StringVar(&notifyFile, "notify", "", "notification endpoints (YAML; see docs/inventory.md): findings of running digests, unjudged and drifted workloads, expiring exceptions and denials under enforce, as CloudEvents or Slack text, signed, through a durable outbox")
	watch.Flags().BoolVar(&reports, "policy-reports", false, "publish the background decisions as wgpolicyk8s.io/v1alpha2 PolicyReports, one per namespace (the CRD must be installed)")
	cmd.AddCommand(watch)
	return cmd
}
