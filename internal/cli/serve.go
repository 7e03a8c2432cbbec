package cli

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"

	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/metrics"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/registry"
	"github.com/dossier-dev/dossier/internal/server"
	"github.com/dossier-dev/dossier/internal/serving"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
	"github.com/dossier-dev/dossier/internal/ui"
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
admission webhook at /admission/validate and /admission/mutate on --webhook-listen, as dossier webhook does
(--client-ca or --client-token-file: for the API server only). SIGINT or SIGTERM
stops it gracefully: requests in flight, uploads included, finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.InsecureRegistries = a.registry.InsecureRegistries // a flag of every command
			if configPath != "" {
				if err := cfg.Merge(configPath, defaults, cmd.Flags().Changed); err != nil {
					return usageError("%v", err)
				}
				a.registry.InsecureRegistries = cfg.InsecureRegistries
			}
			for _, p := range cfg.PendingPullable {
				i := slices.IndexFunc(cfg.Quarantine, func(q serving.Quarantine) bool { return q.Repositories == p })
				if i < 0 {
					return usageError("--pending-pullable %q names no --quarantine rule's repositories", p)
				}
				cfg.Quarantine[i].PendingPullable = true
			}
			if printConfig {
				out, err := cfg.YAML()
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(out)
				return err
			}
			wf := &cfg.Webhook
			sf := storeFlags{dataDir: cfg.DataDir, url: cfg.Store}
			a.serving = true
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			var rules []registry.TagRule
			for _, text := range cfg.ImmutableTags {
				rule, err := registry.ParseTagRule(text)
				if err != nil {
					return usageError("--immutable-tags: %v", err)
				}
				rules = append(rules, rule)
			}
			var quarantine []registry.QuarantineRule
			var quarantinePolicies []string
			for _, q := range cfg.Quarantine {
				text := q.Repositories + "=" + q.Policy
				glob, err := policy.CompileGlob(q.Repositories)
				if err != nil {
					return usageError("--quarantine %q: %v", text, err)
				}
				rules, err := admission.LoadFileRules([]string{q.Policy}, wf.TrustedRoot, collect.Options{})
				if err != nil {
					return err
				}
				if len(rules.Rules().Set.Policies) == 0 {
					return usageError("--quarantine %q: %s holds no policies", text, q.Policy)
				}
				go rules.Watch(ctx, wf.ReloadInterval.Duration, func(changed bool, err error) {
					if err != nil {
						a.logf("quarantine policies %s not reloaded, the previous ones stay in force: %v", q.Policy, err)
					}
				})
				quarantine = append(quarantine, registry.QuarantineRule{Text: text, Repositories: glob, PendingPullable: q.PendingPullable, Rules: func() (*policy.Set, string) {
					r := rules.Rules()
					return r.Set, r.Version
				}})
				quarantinePolicies = append(quarantinePolicies, q.Policy)
			}
			var retentionRules []registry.RetentionRule
			for _, text := range cfg.Retention {
				rule, err := registry.ParseRetentionRule(text)
				if err != nil {
					return usageError("--retention: %v", err)
				}
				retentionRules = append(retentionRules, rule)
			}
			if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
				return usageError("give both --tls-cert and --tls-key, or neither")
			}
			if len(wf.Policies) > 0 && cfg.TLS.Cert == "" {
				return usageError("the admission webhook needs --tls-cert and --tls-key: the API server calls it over HTTPS only")
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := a.firstAdminToken(ctx, st, sf.dataDir); err != nil {
				return err
			}
			m := a.serverMetrics(st, sf.dataDir, wf.Exceptions)
			st = metrics.Store(st, m)
			storage := registry.Options{RootDirectory: filepath.Join(sf.dataDir, "registry")}
			if b := cfg.Storage.S3; b.Bucket != "" {
				// keys from the environment, never from the configuration
				storage = registry.Options{S3: &registry.S3{Bucket: b.Bucket, Region: b.Region, Endpoint: b.Endpoint, Prefix: b.Prefix,
					AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}}
			}
			name, err := registryName(cfg.ExternalName, cfg.Listen)
			if err != nil {
				return err
			}
			reg, err := registry.New(ctx, registry.Options{Name: name, RootDirectory: storage.RootDirectory, S3: storage.S3, Store: st, ImmutableTags: rules,
				AnonymousPull: cfg.AnonymousPull, HookHosts: cfg.HookHosts, Quarantine: quarantine, Retention: retentionRules, JobLease: cfg.JobLease.Duration, Metrics: m, OnError: func(err error) { a.logf("registry: %v", err) }})
			if err != nil {
				return err
			}
			process, closeProcess, err := a.registryJobs(st, sf.dataDir, append(append([]string{}, wf.Policies...), quarantinePolicies...), wf.Exceptions, wf.TrustedRoot, cfg.Keys)
			if err != nil {
				return err
			}
			defer closeProcess()
			if cfg.ScanWorkers > 0 {
				// queued work left at the end is done by the next start
				defer reg.RunWorkers(ctx, cfg.ScanWorkers, 30*time.Second, process)()
			}
			if len(retentionRules) > 0 {
				go a.sweepEvery(ctx, time.Hour, reg, wf.Exceptions)
			}
			mux := http.NewServeMux()
			mux.Handle("/v2/", reg)
			mux.Handle("/api/v1/hooks/", reg.Hooks())
			pages, err := ui.New(ui.Options{Store: st, Auth: tokens.NewAuthenticator(st, time.Now), Exceptions: a.fileExceptions(wf.Exceptions), Registry: reg.Name(),
				SecureCookies: cfg.TLS.Cert != "" || !oci.IsLoopbackHost(cfg.Listen)})
			if err != nil {
				return err
			}
			mux.Handle("/ui/", pages)
			mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
			mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusSeeOther))
			main := server.Options{Listen: cfg.Listen, Handler: mux, Log: a.log}
			var certs *admission.CertificateFiles
			if cfg.TLS.Cert != "" {
				if certs, err = admission.LoadCertificateFiles(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
					return err
				}
				main.Certificate = certs.GetCertificate
			}
			servers := append(a.metricsServer(cfg.MetricsListen, m), main)
			if len(wf.Policies) > 0 {
				handler, closeWebhook, err := a.startWebhook(ctx, wf, sf.dataDir, st, m)
				if err != nil {
					return err
				}
				defer closeWebhook()
				hooks := http.NewServeMux()
				hooks.Handle("/admission/", handler)
				hook, err := a.webhookServer(wf, wf.Listen, hooks, certs)
				if err != nil {
					return err
				}
				servers = append(servers, hook)
			}
			return a.runServers(ctx, m, servers...)
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
	cmd.Flags().DurationVar(&cfg.JobLease.Duration, "job-lease", time.Minute, "how long a claimed scan job stays its worker's without a renewal: the job of a worker that died is taken over after it")
	cmd.Flags().Var(&cfg.Quarantine, "quarantine", "REPOSITORY_GLOB=POLICY_FILE|DIR: its images are pulled (by all but admins) only once they pass the policy (repeatable)")
	cmd.Flags().StringArrayVar(&cfg.PendingPullable, "pending-pullable", nil, "REPOSITORY_GLOB of a --quarantine rule whose images may be pulled while their scan runs (default: they wait)")
	cmd.Flags().StringVar(&cfg.Storage.S3.Bucket, "s3-bucket", "", "keep blobs and manifests in this S3 bucket (keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else the AWS chain) instead of DATA_DIR/registry")
	cmd.Flags().StringVar(&cfg.Storage.S3.Region, "s3-region", "us-east-1", "the bucket's region")
	cmd.Flags().StringVar(&cfg.Storage.S3.Endpoint, "s3-endpoint", "", "an S3-compatible server, https://host[:port] (http:// on loopback only)")
	cmd.Flags().StringVar(&cfg.Storage.S3.Prefix, "s3-prefix", "", "a directory within the bucket")
	cmd.Flags().StringArrayVar(&cfg.Retention, "retention", nil, "REPOSITORY_GLOB=AGE: untagged digests older than AGE (720h) that are unsigned or fail their quarantine policy are deleted, hourly, unless an exception names them (repeatable)")
	cmd.Flags().StringSliceVar(&cfg.Keys, "key", nil, "public key whose signatures are recorded as verified (repeatable; the policies' signers are too)")
	defaults = cfg // the flags' defaults: what the configuration file's settings replace
	return cmd
}

// registryName is the registry's one name: the external name given, else
// the address it listens on, which must then name a host.
func registryName(external, listen string) (string, error) {
	if external != "" {
		if !evidence.ValidHost(external) {
			return "", usageError("--external-name %q: want the host[:port] clients reach the registry by", external)
		}
		return external, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", usageError("--listen %q: %v", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", usageError("listening on every address (%s), the registry needs --external-name: the host[:port] clients reach it by", listen)
	}
	return listen, nil
}

// registryJobs processes the registry's jobs. Signatures verify against
// --key, the signers of the webhook's and the quarantines' policies, and
// the trusted root.
func (a *app) registryJobs(st store.Store, dataDir string, policies, exceptions []string, trustedRoot string, keys []string) (registry.Processor, func(), error) {
	set, trust, err := a.recording(policies, exceptions, keys, trustedRoot)
	if err != nil {
		return nil, nil, err
	}
	db, err := recordDatabase(dataDir, a.logf)
	if err != nil {
		return nil, nil, err
	}
	jobs := &pipeline.Jobs{Store: st, Registry: a.registry, Trust: trust, DB: db, Set: set, Now: time.Now}
	return jobs.Process, func() {
		if db != nil {
			db.Close()
		}
	}, nil
}

// sweepEvery applies the retention rules now and then every interval
// until ctx ends, with the exceptions the files hold at each sweep.
func (a *app) sweepEvery(ctx context.Context, interval time.Duration, reg *registry.Registry, exceptionFiles []string) {
	for {
		a.sweep(ctx, reg, exceptionFiles)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (a *app) sweep(ctx context.Context, reg *registry.Registry, exceptionFiles []string) {
	var exceptions []evidence.Exception
	if len(exceptionFiles) > 0 {
		docs, err := policy.Load(exceptionFiles...)
		if err != nil {
			a.logf("retention skipped: the exceptions cannot be read: %v", err)
			return
		}
		exceptions = docs.Exceptions
	}
	swept, err := reg.Sweep(ctx, exceptions)
	switch {
	case err != nil:
		a.logf("retention: %v", err)
	case len(swept.Deleted) > 0:
		a.logf("retention deleted %d digests, kept %d", len(swept.Deleted), swept.Kept)
	}
}

// fileExceptions reads the exception files as they are now, for the UI:
// a file that cannot be read is logged and shows nothing.
func (a *app) fileExceptions(files []string) func() []evidence.Exception {
	if len(files) == 0 {
		return nil
	}
	return func() []evidence.Exception {
		docs, err := policy.Load(files...)
		if err != nil {
			a.logf("exceptions not shown: %v", err)
			return nil
		}
		return docs.Exceptions
	}
}

// firstAdminToken gives a store its admin token: the one
// DOSSIER_ADMIN_TOKEN holds (a deployment's Secret), else, for a store
// without tokens, a new one in DATA_DIR/admin-token. The secret never goes
// to the log.
func (a *app) firstAdminToken(ctx context.Context, st store.Store, dataDir string) error {
	var configured *tokens.Configured
	if secret, ok := os.LookupEnv("DOSSIER_ADMIN_TOKEN"); ok {
		configured = &tokens.Configured{Secret: secret, Source: "DOSSIER_ADMIN_TOKEN"}
	}
	done, err := tokens.Bootstrap(ctx, st, configured, filepath.Join(dataDir, "admin-token"), time.Now())
	if err != nil {
		return err
	}
	if done.Stored != 0 {
		a.log.Info("admin token stored from DOSSIER_ADMIN_TOKEN", "token", done.Stored)
	}
	for _, id := range done.Revoked {
		a.log.Info("admin token from an earlier DOSSIER_ADMIN_TOKEN revoked", "token", id)
	}
	if done.Made != 0 {
		a.log.Info("first start: admin token for every repository written to a file readable by this user only; use it as the password of any user name", "token", done.Made, "file", done.File)
	}
	return nil
}
