package serving

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	// the registry's S3 storage driver, linked here where the registry is
	// composed rather than in internal/registry (see its imports)
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/buildinfo"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	maintenance "github.com/dossier-dev/dossier/internal/jobs"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/registry"
	"github.com/dossier-dev/dossier/internal/server"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
	"github.com/dossier-dev/dossier/internal/ui"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// Deps are what the servers are given besides their configuration.
type Deps struct {
	Log *slog.Logger
	// Reach reaches other registries: the webhook's images, the digests
	// other registries notify about.
	Reach oci.RegistryOptions
	// AdminToken is the admin token the deployment configures, nil for
	// none (the first start then makes one).
	AdminToken *tokens.Configured
	// SummaryKey is the key SummaryKey names, loaded (nil without one).
	SummaryKey *sign.KeyPair
}

// ApplyPendingPullable marks the quarantine rules PendingPullable names.
func (c *Config) ApplyPendingPullable() error {
	for _, p := range c.PendingPullable {
		i := slices.IndexFunc(c.Quarantine, func(q Quarantine) bool { return q.Repositories == p })
		if i < 0 {
			return configError("pendingPullable", "pending-pullable", "%q names no quarantine rule's repositories", p)
		}
		c.Quarantine[i].PendingPullable = true
	}
	return nil
}

// Serve runs dossier serve until ctx ends: the registry with its gates,
// job workers and retention sweeps, the UI, the metrics listener and,
// given policies, the admission webhook on its own listener.
func Serve(ctx context.Context, cfg Config, deps Deps) error {
	log := deps.Log
	if err := cfg.ApplyPendingPullable(); err != nil {
		return err
	}
	var tagRules []registry.TagRule
	for _, text := range cfg.ImmutableTags {
		rule, err := registry.ParseTagRule(text)
		if err != nil {
			return configError("immutableTags", "immutable-tags", "%v", err)
		}
		tagRules = append(tagRules, rule)
	}
	var retention []registry.RetentionRule
	for _, text := range cfg.Retention {
		rule, err := registry.ParseRetentionRule(text)
		if err != nil {
			return configError("retention", "retention", "%v", err)
		}
		retention = append(retention, rule)
	}
	if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
		return configError("tls", "tls-cert", "give a certificate and its key, or neither")
	}
	wf := &cfg.Webhook
	if len(wf.Policies) > 0 && cfg.TLS.Cert == "" {
		return configError("tls", "tls-cert", "the admission webhook needs a certificate and its key: the API server calls it over HTTPS only")
	}
	name, err := registryName(cfg.ExternalName, cfg.Listen)
	if err != nil {
		return err
	}
	quarantine, quarantinePolicies, err := quarantineRules(ctx, cfg.Quarantine, wf, log)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DataDir, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	st.SetLayerCacheBound(cfg.LayerCacheMiB << 20)
	if err := firstAdminToken(ctx, st, cfg.DataDir, deps.AdminToken, log); err != nil {
		return err
	}
	m := Metrics(st, cfg.DataDir, wf.Exceptions, log)
	st.Observe(m.StoreQuery)
	storage := registry.Options{RootDirectory: filepath.Join(cfg.DataDir, "registry")}
	if b := cfg.Storage.S3; b.Bucket != "" {
		// keys from the environment, never from the configuration
		storage = registry.Options{S3: &registry.S3{Bucket: b.Bucket, Region: b.Region, Endpoint: b.Endpoint, Prefix: b.Prefix,
			AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}}
	}
	summaries, err := quarantineSummaries(cfg, deps.SummaryKey, len(quarantine) > 0)
	if err != nil {
		return err
	}
	reg, err := registry.New(ctx, registry.Options{Summaries: summaries, Name: name, RootDirectory: storage.RootDirectory, S3: storage.S3, Store: st, ImmutableTags: tagRules,
		AnonymousPull: cfg.AnonymousPull, HookHosts: cfg.HookHosts, Quarantine: quarantine, Retention: retention, JobLease: cfg.JobLease.Duration, Metrics: m,
		OnError: func(err error) { log.Warn(fmt.Sprintf("registry: %v", err)) }})
	if err != nil {
		return err
	}
	jobs, closeJobs, err := registryJobs(st, cfg, quarantinePolicies, deps)
	if err != nil {
		return err
	}
	defer closeJobs()
	if cfg.ScanWorkers > 0 {
		// queued work left at the end is done by the next start
		defer reg.RunWorkers(ctx, cfg.ScanWorkers, 30*time.Second, jobs.Process)()
	}
	if len(retention) > 0 {
		go sweepEvery(ctx, time.Hour, reg, wf.Exceptions, log)
	}
	// rescan-all and catalogue-all, started by an admin, run in the
	// background with the registry's advisory database and reach, one
	// digest at a time: pushes and pulls keep their latency
	upkeep := &maintenance.Runner{Store: st, DB: jobs.DB, Exceptions: jobs.Set.Exceptions, Now: time.Now, Throttle: maintenance.Throttle{Concurrency: 1},
		Reach: maintenance.ReachOwn(reg.Name(), reg.Reader, deps.Reach)}
	jobService := upkeep.Serve(ctx, func(err error) { log.Warn(fmt.Sprintf("maintenance job: %v", err)) })
	defer jobService.Wait()
	jobsAPI := jobService.Handler(tokens.NewAuthenticator(st, time.Now))
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg)
	mux.Handle("/api/v1/hooks/", reg.Hooks())
	mux.Handle("/api/jobs", jobsAPI)
	mux.Handle("/api/jobs/", jobsAPI)
	pages, err := ui.New(ui.Options{Store: st, Auth: tokens.NewAuthenticator(st, time.Now), Exceptions: FileExceptions(wf.Exceptions, log), Registry: reg.Name(),
		Jobs: jobService, SecureCookies: cfg.TLS.Cert != "" || !oci.IsLoopbackHost(cfg.Listen)})
	if err != nil {
		return err
	}
	mux.Handle("/ui/", pages)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusSeeOther))
	main := server.Options{Listen: cfg.Listen, Handler: mux, Log: log}
	var certs *admission.CertificateFiles
	if cfg.TLS.Cert != "" {
		if certs, err = admission.LoadCertificateFiles(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
			return err
		}
		main.Certificate = certs.GetCertificate
	}
	servers := append(MetricsListener(cfg.MetricsListen, m, log), main)
	if cfg.Cluster != "" {
		if err := StartInventory(ctx, &cfg, st, log); err != nil {
			return err
		}
	}
	if len(wf.Policies) > 0 {
		handler, closeWebhook, err := StartWebhook(ctx, wf, cfg.Cluster, cfg.DataDir, deps.Reach, st, m, log)
		if err != nil {
			return err
		}
		defer closeWebhook()
		hook, err := WebhookListener(wf, wf.Listen, handler, certs, log)
		if err != nil {
			return err
		}
		servers = append(servers, hook)
	}
	return Run(ctx, m, servers...)
}

// registryName is the registry's one name: the external name given, else
// the address it listens on, which must then name a host.
func registryName(external, listen string) (string, error) {
	if external != "" {
		if !evidence.ValidHost(external) {
			return "", configError("externalName", "external-name", "%q: want the host[:port] clients reach the registry by", external)
		}
		return external, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", configError("listen", "listen", "%q: want host:port", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", configError("externalName", "external-name", "listening on every address (%s), the registry needs the host[:port] clients reach it by", listen)
	}
	return listen, nil
}

// quarantineRules loads each rule's policies, re-read until ctx ends.
func quarantineRules(ctx context.Context, rules []Quarantine, wf *Webhook, log *slog.Logger) ([]registry.QuarantineRule, []string, error) {
	var out []registry.QuarantineRule
	var files []string
	for _, q := range rules {
		text := q.Repositories + "=" + q.Policy
		glob, err := policy.CompileGlob(q.Repositories)
		if err != nil {
			return nil, nil, configError("quarantine", "quarantine", "%q: %v", text, err)
		}
		// no API server: keys in Kubernetes Secrets are the webhook's
		loaded, err := admission.LoadFileRules([]string{q.Policy}, wf.TrustedRoot, collect.Options{}, nil)
		if err != nil {
			return nil, nil, err
		}
		if len(loaded.Rules().Set.Policies) == 0 {
			return nil, nil, configError("quarantine", "quarantine", "%q: %s holds no policies", text, q.Policy)
		}
		go loaded.Watch(ctx, wf.ReloadInterval.Duration, func(changed bool, err error) {
			if err != nil {
				log.Warn(fmt.Sprintf("quarantine policies %s not reloaded, the previous ones stay in force: %v", q.Policy, err))
			}
		})
		out = append(out, registry.QuarantineRule{Text: text, Repositories: glob, PendingPullable: q.PendingPullable, Rules: func() (*policy.Set, string) {
			r := loaded.Rules()
			return r.Set, r.Version
		}})
		files = append(files, q.Policy)
	}
	return out, files, nil
}

// quarantineSummaries is how the registry signs what its quarantine
// allows, or nil when no key is configured.
func quarantineSummaries(cfg Config, key *sign.KeyPair, quarantined bool) (*registry.Summaries, error) {
	switch {
	case cfg.SummaryKey == "" && cfg.SummaryVerifier == "":
		return nil, nil
	case cfg.SummaryKey == "" || key == nil:
		return nil, configError("summaryKey", "summary-key", "missing: a verifier URI is named, but no key to sign its summaries with")
	case !quarantined:
		return nil, configError("summaryKey", "summary-key", "the registry publishes the decisions of its quarantine, and no quarantine rule is configured")
	}
	if u, err := url.Parse(cfg.SummaryVerifier); cfg.SummaryVerifier == "" || err != nil || u.Scheme == "" || u.Host == "" {
		return nil, configError("summaryVerifier", "summary-verifier", "%q: the verifier URI policies accept summaries from (https://registry.example/quarantine), required with a summary key", cfg.SummaryVerifier)
	}
	return &registry.Summaries{Key: key, VerifierID: cfg.SummaryVerifier, Version: buildinfo.Read().Version}, nil
}

// registryJobs processes the registry's jobs: signatures verify against
// the keys configured, the signers of the webhook's and the quarantines'
// policies, and the trusted root.
func registryJobs(st *store.Store, cfg Config, quarantinePolicies []string, deps Deps) (*pipeline.Jobs, func(), error) {
	paths := append(append(append([]string{}, cfg.Webhook.Policies...), quarantinePolicies...), cfg.Webhook.Exceptions...)
	set, trust, warnings, err := collect.Recording(paths, cfg.Keys, cfg.Webhook.TrustedRoot, time.Now())
	if err != nil {
		return nil, nil, err
	}
	for _, w := range warnings {
		deps.Log.Warn(w)
	}
	db, missing, err := vulndb.OpenIfPresent(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if db == nil {
		deps.Log.Warn(missing + ": findings are not recorded")
	} else {
		db.KeepWarm(vulndb.DefaultWarmBudget)
	}
	jobs := &pipeline.Jobs{Store: st, Registry: deps.Reach, Trust: trust, DB: db, Set: set, Now: time.Now}
	return jobs, func() {
		if db != nil {
			db.Close()
		}
	}, nil
}

// sweepEvery applies the retention rules now and then every interval
// until ctx ends, with the exceptions the files hold at each sweep.
func sweepEvery(ctx context.Context, interval time.Duration, reg *registry.Registry, exceptionFiles []string, log *slog.Logger) {
	for {
		sweep(ctx, reg, exceptionFiles, log)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func sweep(ctx context.Context, reg *registry.Registry, exceptionFiles []string, log *slog.Logger) {
	var exceptions []evidence.Exception
	if len(exceptionFiles) > 0 {
		docs, err := policy.Load(exceptionFiles...)
		if err != nil {
			log.Warn(fmt.Sprintf("retention skipped: the exceptions cannot be read: %v", err))
			return
		}
		exceptions = docs.Exceptions
	}
	swept, err := reg.Sweep(ctx, exceptions)
	switch {
	case err != nil:
		log.Warn(fmt.Sprintf("retention: %v", err))
	case len(swept.Deleted) > 0:
		log.Info(fmt.Sprintf("retention deleted %d digests, kept %d", len(swept.Deleted), swept.Kept))
	}
}

// firstAdminToken gives the store its admin token (tokens.Bootstrap) and
// logs what it did, never the secret.
func firstAdminToken(ctx context.Context, st *store.Store, dataDir string, configured *tokens.Configured, log *slog.Logger) error {
	done, err := tokens.Bootstrap(ctx, st, configured, filepath.Join(dataDir, "admin-token"), time.Now())
	if err != nil {
		return err
	}
	source := ""
	if configured != nil {
		source = configured.Source
	}
	if done.Stored != 0 {
		log.Info("admin token stored from "+source, "token", done.Stored)
	}
	for _, id := range done.Revoked {
		log.Info("admin token from an earlier "+source+" revoked", "token", id)
	}
	if done.Made != 0 {
		log.Info("first start: admin token for every repository written to a file readable by this user only; use it as the password of any user name", "token", done.Made, "file", done.File)
	}
	return nil
}
