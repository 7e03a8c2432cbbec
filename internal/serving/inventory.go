package serving

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/policy"

	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/store"
)

// ClusterConfig is how dossier reaches the API server of the cluster it
// is named for: the webhook's Kubernetes settings when they name one,
// else a kubeconfig (KUBECONFIG, ~/.kube/config) or the Pod's service
// account.
func ClusterConfig(k Kubernetes, kubeconfig string) (*rest.Config, error) {
	if k.API == "" {
		return kube.Config(kubeconfig, "")
	}
	if kubeconfig != "" {
		return nil, configError("kubeconfig", "kubeconfig", "give either a kubeconfig or webhook.kubernetes.api, not both")
	}
	return &rest.Config{Host: k.API, BearerTokenFile: k.TokenFile, UserAgent: "dossier", Timeout: kube.DefaultTimeout,
		TLSClientConfig: rest.TLSClientConfig{CAFile: k.CA, CertFile: k.ClientCert, KeyFile: k.ClientKey}}, nil
}

// StartInventory watches the named cluster's Pods into the store until ctx
// ends; a watch that stops on an error is logged and started again.
func StartInventory(ctx context.Context, cfg *Config, st *store.Store, log *slog.Logger) error {
	if st == nil {
		return configError("cluster", "cluster", "the inventory of cluster %s needs the evidence store", cfg.Cluster)
	}
	rc, err := ClusterConfig(cfg.Webhook.Kubernetes, cfg.Kubeconfig)
	if err != nil {
		return err
	}
	o := inventory.Options{Cluster: cfg.Cluster, Config: rc, Store: st, Log: log, JudgeEvery: cfg.JudgeEvery.Duration, Reports: cfg.PolicyReports}
	if wf := cfg.Webhook; len(wf.Policies) > 0 {
		if o.Unclaimed, err = policy.ParseUnclaimed(wf.Unclaimed); err != nil {
			return configError("webhook.unclaimed", "unclaimed", "%v", err)
		}
		secretKeys, err := kube.SecretKeys(rc)
		if err != nil {
			return err
		}
		if o.Rules, err = WatchedRules(ctx, wf.Policies, wf.Exceptions, wf.TrustedRoot, secretKeys, wf.ReloadInterval.Duration, "background decisions", log); err != nil {
			return err
		}
	} else if cfg.PolicyReports {
		return configError("policyReports", "policy-reports", "PolicyReports need the webhook's policies (--policy)")
	} else if cfg.Notify != "" {
		return configError("notify", "notify", "notifications need the webhook's policies (--policy)")
	}
	if cfg.Notify != "" {
		if o.Notify, err = notify.Load(cfg.Notify); err != nil {
			return err
		}
	}
	go func() {
		for ctx.Err() == nil {
			err := inventory.Watch(ctx, o)
			if err == nil || ctx.Err() != nil {
				return
			}
			log.Error(fmt.Sprintf("the inventory of cluster %s stopped, restarting in 10s: %v", cfg.Cluster, err))
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
		}
	}()
	log.Info(fmt.Sprintf("inventory of cluster %s: watching its Pods", cfg.Cluster))
	return nil
}

// WatchedRules loads policy and exception files (re-read every interval
// until ctx ends, with the keys policies keep in the cluster's Secrets) as
// the policies and their version that what runs is judged with in the
// background.
func WatchedRules(ctx context.Context, policies, exceptions []string, trustedRoot string, secretKeys policy.SecretKeyReader, interval time.Duration, what string, log *slog.Logger) (inventory.Rules, error) {
	loaded, err := admission.LoadFileRules(append(append([]string{}, policies...), exceptions...), trustedRoot, collect.Options{}, secretKeys)
	if err != nil {
		return nil, err
	}
	go loaded.Watch(ctx, interval, func(changed bool, err error) {
		if err != nil {
			log.Warn(fmt.Sprintf("policies of the %s not reloaded, the previous ones stay in force: %v", what, err))
		}
	})
	return func() (*policy.Set, string) {
		r := loaded.Rules()
		return r.Set, r.Version
	}, nil
}
