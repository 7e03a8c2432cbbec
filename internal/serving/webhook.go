package serving

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/kube"
	"github.com/dossier-dev/dossier/internal/metrics"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/registry"
	"github.com/dossier-dev/dossier/internal/server"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// StartWebhook loads the webhook's policies and makes the webhook,
// recording into st when given; the policies are re-read until ctx ends.
// close flushes the decisions still on their way to the store.
func StartWebhook(ctx context.Context, f *Webhook, cluster, dataDir string, reach oci.RegistryOptions, st *store.Store, m *metrics.Metrics, log *slog.Logger) (handler http.Handler, close func(), err error) {
	opts := collect.Options{Timeout: 8 * time.Second}
	closeDB, err := pipeline.LocalScanning(dataDir, &opts, vulndb.DefaultWarmBudget)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (http.Handler, func(), error) {
		closeDB()
		return nil, nil, err
	}
	api := admission.APIServer{URL: f.Kubernetes.API, CAFile: f.Kubernetes.CA, TokenFile: f.Kubernetes.TokenFile, CertFile: f.Kubernetes.ClientCert, KeyFile: f.Kubernetes.ClientKey}
	if api.URL == "" {
		api, _ = admission.InCluster()
	}
	var secretKeys policy.SecretKeyReader
	if api.URL != "" {
		// the same API server, for the keys policies keep in Secrets
		rc := &rest.Config{Host: api.URL, BearerTokenFile: api.TokenFile, UserAgent: "dossier", Timeout: kube.DefaultTimeout,
			TLSClientConfig: rest.TLSClientConfig{CAFile: api.CAFile, CertFile: api.CertFile, KeyFile: api.KeyFile}}
		if secretKeys, err = kube.SecretKeys(rc); err != nil {
			return fail(err)
		}
	}
	rules, err := admission.LoadFileRules(append(append([]string{}, f.Policies...), f.Exceptions...), f.TrustedRoot, opts, secretKeys)
	if err != nil {
		return fail(err)
	}
	if len(rules.Rules().Set.Policies) == 0 {
		return fail(configError("webhook.policies", "policy", "%v holds no policies", f.Policies))
	}
	unclaimed, err := policy.ParseUnclaimed(f.Unclaimed)
	if err != nil {
		return fail(configError("webhook.unclaimed", "unclaimed", "%v", err))
	}
	wopts := admission.Options{Registry: reach, EvidenceTTL: f.EvidenceTTL.Duration, FailOpen: f.FailOpen, Unclaimed: unclaimed, Cluster: cluster, Metrics: m,
		NamespacedKeys: f.GatekeeperNamespacedKeys}
	if api.URL != "" {
		if wopts.NamespaceLabels, err = admission.NamespaceLabelsFrom(api, 30*time.Second); err != nil {
			return fail(err)
		}
		if f.PullSecrets {
			if wopts.PullSecrets, err = admission.PullSecretsFrom(api, 30*time.Second); err != nil {
				return fail(err)
			}
		}
	} else if f.PullSecrets {
		return fail(configError("webhook.pullSecrets", "pull-secrets", "pull secrets are read from the API server: give --kubernetes-api (or run in the cluster)"))
	}
	if st != nil {
		wopts.Store = st
		wopts.OnStoreError = func(err error) { log.Warn(fmt.Sprintf("decisions not recorded: %v", err)) }
	}
	w := admission.New(rules.Rules, wopts)
	go rules.Watch(ctx, f.ReloadInterval.Duration, func(changed bool, err error) {
		if err != nil {
			log.Warn(fmt.Sprintf("policies not reloaded, the previous ones stay in force: %v", err))
		} else if changed {
			log.Info(fmt.Sprintf("policies reloaded (version %.12s)", rules.Rules().Version))
		}
	})
	log.Info(fmt.Sprintf("admission webhook at /admission/validate and /admission/mutate, Gatekeeper external data at /gatekeeper/verify and /gatekeeper/mutate (policies version %.12s)", rules.Rules().Version))
	mux := http.NewServeMux()
	mux.Handle("/admission/", w.Handler())
	mux.Handle("/gatekeeper/", w.GatekeeperHandler())
	return mux, func() { w.Close(); closeDB() }, nil
}

// WebhookListener is the listener of the admission webhook and of
// Gatekeeper's external data: HTTPS, and, when callers' credentials are
// configured, for those callers only — reviews for the API server, external
// data for Gatekeeper's client certificate (of its own CA when one is
// given, else the API server's credentials). Without them it says so:
// anyone who reaches the listener can have decisions recorded and made.
func WebhookListener(f *Webhook, listen string, handler http.Handler, certs *admission.CertificateFiles, log *slog.Logger) (server.Options, error) {
	o := server.Options{Listen: listen, Log: log, Certificate: certs.GetCertificate}
	reviews, external := handler, handler
	var apiServer, gatekeeper *admission.Callers
	var err error
	if f.ClientCA != "" || f.ClientTokenFile != "" {
		if apiServer, err = admission.LoadCallers(f.ClientCA, f.ClientTokenFile); err != nil {
			return o, err
		}
		reviews, external = apiServer.Require(handler), apiServer.Require(handler)
	} else {
		log.Warn("the admission webhook does not authenticate its callers: reach "+listen+" from the API server only (a NetworkPolicy), or configure the API server's client CA or bearer tokens",
			"address", listen)
	}
	if f.GatekeeperClientCA != "" {
		if gatekeeper, err = admission.LoadGatekeeperCallers(f.GatekeeperClientCA); err != nil {
			return o, err
		}
		external = gatekeeper.Require(handler)
	} else if apiServer == nil {
		log.Warn("Gatekeeper's external data is served to anyone who reaches "+listen+": configure the CA of Gatekeeper's client certificate", "address", listen)
	}
	mux := http.NewServeMux()
	mux.Handle("/admission/", reviews)
	mux.Handle("/gatekeeper/", external)
	o.Handler, o.ClientCAs = mux, admission.ClientCAs(apiServer, gatekeeper)
	return o, nil
}

// MetricsListener serves /metrics on its own plain listener, apart from
// the registry's and the webhook's, when one is given.
func MetricsListener(listen string, m *metrics.Metrics, log *slog.Logger) []server.Options {
	if listen == "" {
		return nil
	}
	return []server.Options{{Listen: listen, Log: log, Handler: http.NotFoundHandler(), Metrics: m.Handler()}}
}

// Run serves each server until ctx ends or one fails, then stops them
// all gracefully; registry requests are observed for the metrics.
func Run(ctx context.Context, m *metrics.Metrics, servers ...server.Options) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, o := range servers {
		o.Observe = func(req *http.Request, status int, took time.Duration) {
			if strings.HasPrefix(req.URL.Path, "/v2/") || req.URL.Path == "/v2" {
				m.RegistryRequest(req.Method, registry.RouteOf(req.URL.Path), status, took)
			}
		}
		g.Go(func() error { return server.Run(ctx, o) })
	}
	return g.Wait()
}

// Metrics makes the metrics of a server: the gauges read the scan queue
// and the exceptions from st (when there is one), the exception files,
// and the advisory database under dataDir.
func Metrics(st *store.Store, dataDir string, exceptionFiles []string, log *slog.Logger) *metrics.Metrics {
	m := metrics.New()
	fromFiles := FileExceptions(exceptionFiles, log)
	g := metrics.Gauges{
		Running: func(ctx context.Context) ([]store.RunningCount, error) {
			if st == nil {
				return nil, nil
			}
			return st.RunningCounts(ctx)
		},
		Clusters: func(ctx context.Context) ([]store.ClusterState, error) {
			if st == nil {
				return nil, nil
			}
			return st.Clusters(ctx, "")
		},
		Outbox: func(ctx context.Context) (int, time.Time, error) {
			if st == nil {
				return 0, time.Time{}, nil
			}
			return st.OutboxState(ctx)
		},
		AdvisoryDatabase: func(ctx context.Context) (time.Time, bool, error) {
			db, _, err := vulndb.OpenIfPresent(dataDir)
			if db == nil || err != nil {
				return time.Time{}, false, err
			}
			defer db.Close()
			f, err := db.Freshness(ctx)
			return f.LastImport, err == nil, err
		},
		Exceptions: func(ctx context.Context) (active, expiring int, err error) {
			var files, stored []evidence.Exception
			if fromFiles != nil {
				files = fromFiles()
			}
			if st != nil {
				if stored, err = st.Exceptions(ctx); err != nil {
					return 0, 0, err
				}
			}
			now := time.Now()
			for _, e := range evidence.MergeExceptions(files, stored) {
				if e.Expired(now) {
					continue
				}
				active++
				if e.Expiring(now) {
					expiring++
				}
			}
			return active, expiring, nil
		},
	}
	if st != nil {
		g.QueuedJobs = st.QueuedJobs
	}
	m.Watch(g)
	return m
}

// FileExceptions reads the exception files as they are now: a file that
// cannot be read is logged and shows nothing.
func FileExceptions(files []string, log *slog.Logger) func() []evidence.Exception {
	if len(files) == 0 {
		return nil
	}
	return func() []evidence.Exception {
		docs, err := policy.Load(files...)
		if err != nil {
			log.Warn(fmt.Sprintf("exceptions not shown: %v", err))
			return nil
		}
		return docs.Exceptions
	}
}
