package serving

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
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
	go func() {
		for ctx.Err() == nil {
			err := inventory.Watch(ctx, inventory.Options{Cluster: cfg.Cluster, Config: rc, Store: st, Log: log})
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
