package cli

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/serving"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/tokens"
)

func (a *app) serveCommand() *cobra.Command {
	var cfg serving.Config
	var defaults serving.Config
	var configPath string
	var printConfig bool
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR] [--data-dir DIR] [--immutable-tags REPO_GLOB:TAG_GLOB]... [--quarantine REPO_GLOB=POLICY]... [--policy FILE|DIR --tls-cert F --tls-key F]",
		Short: "Serve the registry at /v2/ (and, given policies, the admission webhook on a listener of its own)",
		Long: `An OCI distribution registry (the CNCF distribution library, blobs under DATA_DIR/registry) behind
dossier's gates: every request authenticated by a dossier token (dossier token create; the first start
prints an admin token), the OCI referrers API, immutable tags, every tag move and refusal recorded in the
evidence store. With --policy (and --tls-cert/--tls-key, which the API server requires) it also serves the
admission webhook at /admission/validate and /admission/mutate, and Gatekeeper's external data at
/gatekeeper/verify and /gatekeeper/mutate, on --webhook-listen, as dossier webhook does (--client-ca or
--client-token-file: for the API server only; --gatekeeper-client-ca: external data for Gatekeeper only). SIGINT or SIGTERM
stops it gracefully: requests in flight, uploads included, finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.InsecureRegistries = a.registry.InsecureRegistries // flags of every command
			cfg.CloudCredentials = a.clouds
			if configPath != "" {
				if err := cfg.Merge(configPath, defaults, cmd.Flags().Changed); err != nil {
					return usageError("%v", err)
				}
				a.registry.InsecureRegistries = cfg.InsecureRegistries
				if err := a.useClouds(cfg.CloudCredentials); err != nil {
					return err
				}
			}
			if err := cfg.ApplyPendingPullable(); err != nil {
				return err
			}
			if printConfig {
				out, err := cfg.YAML()
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(out)
				return err
			}
			a.serving = true
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			deps := serving.Deps{Log: a.log, Reach: a.registry}
			if cfg.SummaryKey != "" {
				pw, err := a.password(false)
				if err != nil {
					return err
				}
				if deps.SummaryKey, err = sign.LoadPrivateKey(cfg.SummaryKey, pw); err != nil {
					return err
				}
			}
			if secret, ok := os.LookupEnv("DOSSIER_ADMIN_TOKEN"); ok {
				deps.AdminToken = &tokens.Configured{Secret: secret, Source: "DOSSIER_ADMIN_TOKEN"}
			}
			return serving.Serve(ctx, cfg, deps)
		},
	}
	addDataDirFlag(cmd, &cfg.DataDir)
	addStoreFlag(cmd, &cfg.Store)
	registerWebhookFlags(cmd, &cfg.Webhook)
	registerMetricsListen(cmd, &cfg.MetricsListen)
	cmd.Flags().StringVar(&cfg.Listen, "listen", "127.0.0.1:5000", "address to listen on")
	cmd.Flags().StringVar(&cfg.Webhook.Listen, "webhook-listen", "127.0.0.1:8443", "address the admission webhook listens on (with --policy), apart from the registry's")
	cmd.Flags().StringVar(&cfg.ExternalName, "external-name", "", "the host[:port] clients reach the registry by (default: the --listen address): repositories are recorded, judged and kept under this one name, whatever name a request arrives by")
	cmd.Flags().StringVar(&configPath, "config", "", "YAML configuration file with any of these settings (flags and DOSSIER_* variables win; see docs/registry.md)")
	cmd.Flags().BoolVar(&printConfig, "print-config", false, "print the effective configuration (defaults, the file, the environment and flags together) as YAML, and exit")
	cmd.Flags().StringVar(&cfg.TLS.Cert, "tls-cert", "", "serving certificate (PEM), re-read when renewed; without it, plain HTTP")
	cmd.Flags().StringVar(&cfg.TLS.Key, "tls-key", "", "serving certificate's private key (PEM)")
	cmd.Flags().StringArrayVar(&cfg.ImmutableTags, "immutable-tags", nil, "REPOSITORY_GLOB:TAG_GLOB whose tags, once pushed, never move and are never deleted (repeatable)")
	cmd.Flags().BoolVar(&cfg.AnonymousPull, "anonymous-pull", false, "let requests without a token pull (never push)")
	cmd.Flags().StringArrayVar(&cfg.HookHosts, "hook-host", nil, "host[:port] of a registry whose push notifications /api/v1/hooks/ accepts, from notify or admin tokens whose globs reach the repositories (repeatable; none: notifications are refused)")
	cmd.Flags().IntVar(&cfg.ScanWorkers, "scan-workers", 2, "images catalogued, scanned and recorded at once after pushes (0: queue only)")
	addLayerCacheFlag(cmd, &cfg.LayerCacheMiB)
	cmd.Flags().DurationVar(&cfg.JobLease.Duration, "job-lease", time.Minute, "how long a claimed scan job stays its worker's without a renewal: the job of a worker that died is taken over after it")
	cmd.Flags().Var(&cfg.Quarantine, "quarantine", "REPOSITORY_GLOB=POLICY_FILE|DIR: its images are pulled (by all but admins) only once they pass the policy (repeatable)")
	cmd.Flags().StringArrayVar(&cfg.PendingPullable, "pending-pullable", nil, "REPOSITORY_GLOB of a --quarantine rule whose images may be pulled while their scan runs (default: they wait)")
	cmd.Flags().StringVar(&cfg.Storage.S3.Bucket, "s3-bucket", "", "keep blobs and manifests in this S3 bucket (keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else the AWS chain) instead of DATA_DIR/registry")
	cmd.Flags().StringVar(&cfg.Storage.S3.Region, "s3-region", "us-east-1", "the bucket's region")
	cmd.Flags().StringVar(&cfg.Storage.S3.Endpoint, "s3-endpoint", "", "an S3-compatible server, https://host[:port] (http:// on loopback only)")
	cmd.Flags().StringVar(&cfg.Storage.S3.Prefix, "s3-prefix", "", "a directory within the bucket")
	cmd.Flags().StringArrayVar(&cfg.Retention, "retention", nil, "REPOSITORY_GLOB=AGE: untagged digests older than AGE (720h) that are unsigned or fail their quarantine policy are deleted, hourly, unless an exception names them (repeatable)")
	cmd.Flags().StringVar(&cfg.Cluster, "cluster", "", "name of the cluster dossier serves: the webhook's decisions are recorded under it, and its Pods are inventoried (what runs now, judged against those decisions)")
	cmd.Flags().DurationVar(&cfg.JudgeEvery.Duration, "judge-every", 5*time.Minute, "with --cluster and --policy: how often what runs is judged again with the webhook's policies on recorded evidence (also at once when they change, and soon after new images start)")
	cmd.Flags().StringVar(&cfg.Notify, "notify", "", "with --cluster and --policy: notification endpoints (YAML; see docs/inventory.md)")
	cmd.Flags().BoolVar(&cfg.PolicyReports, "policy-reports", false, "with --cluster and --policy: publish those decisions as wgpolicyk8s.io/v1alpha2 PolicyReports, one per namespace (the CRD must be installed)")
	cmd.Flags().StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig of that cluster (default: the webhook's --kubernetes-* settings, KUBECONFIG, ~/.kube/config, or the Pod's service account)")
	cmd.Flags().StringSliceVar(&cfg.Keys, "key", nil, "public key whose signatures are recorded as verified (repeatable; the policies' signers are too)")
	cmd.Flags().StringVar(&cfg.SummaryKey, "summary-key", "", "private key (its password from DOSSIER_PASSWORD or COSIGN_PASSWORD) signing a SLSA verification summary of each digest the quarantine allows, attached to it, so clusters can accept the registry's judgement (verificationSummaries)")
	cmd.Flags().StringVar(&cfg.SummaryVerifier, "summary-verifier", "", "with --summary-key: the verifier URI the summaries name, which policies accept them from (https://registry.example/quarantine)")
	defaults = cfg // the flags' defaults: what the configuration file's settings replace
	return cmd
}
