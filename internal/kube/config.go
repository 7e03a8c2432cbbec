// Package kube reaches a Kubernetes API server as kubectl does: from a
// kubeconfig (KUBECONFIG, or ~/.kube/config) and its current context, or
// from the service account of the Pod dossier runs in.
package kube

import (
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultTimeout bounds each request to the API server.
const DefaultTimeout = 30 * time.Second

// Config is the client configuration for a cluster: the kubeconfig at path
// (empty: KUBECONFIG or ~/.kube/config, then the Pod's service account),
// with context (empty: its current context).
func Config(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		where := path
		if where == "" {
			where = "KUBECONFIG, ~/.kube/config or the Pod's service account"
		}
		return nil, fmt.Errorf("no cluster to reach from %s: %w", where, err)
	}
	cfg.Timeout = DefaultTimeout
	cfg.UserAgent = "dossier"
	return cfg, nil
}
