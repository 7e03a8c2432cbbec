package kube

import (
	"context"
	"encoding/json"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// ApplyWebhookConfigurations applies webhook configurations to a cluster
// by server-side apply, as field manager "dossier": what dossier set
// before is replaced, fields others own are left alone. It says what it
// applied, one line each.
func ApplyWebhookConfigurations(ctx context.Context, cluster *rest.Config, mutating *admissionregistrationv1.MutatingWebhookConfiguration,
	validating *admissionregistrationv1.ValidatingWebhookConfiguration) ([]string, error) {
	// the dynamic client, not client-go's typed one: linking a typed
	// client registers every API group's types at every dossier start
	api, err := dynamic.NewForConfig(cluster)
	if err != nil {
		return nil, fmt.Errorf("a client for %s: %w", cluster.Host, err)
	}
	force := true
	options := metav1.PatchOptions{FieldManager: "dossier", Force: &force}
	var applied []string
	for _, c := range []struct {
		kind, name string
		obj        any
		patch      func(name string, data []byte) error
	}{
		{"mutatingwebhookconfiguration", mutating.Name, mutating, func(name string, data []byte) error {
			_, err := api.Resource(admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations")).Patch(ctx, name, types.ApplyPatchType, data, options)
			return err
		}},
		{"validatingwebhookconfiguration", validating.Name, validating, func(name string, data []byte) error {
			_, err := api.Resource(admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations")).Patch(ctx, name, types.ApplyPatchType, data, options)
			return err
		}},
	} {
		data, err := json.Marshal(c.obj)
		if err != nil {
			return applied, err
		}
		if err := c.patch(c.name, data); err != nil {
			return applied, fmt.Errorf("applying %s %s to %s: %w", c.kind, c.name, cluster.Host, err)
		}
		applied = append(applied, c.kind+"/"+c.name+" applied")
	}
	return applied, nil
}
