package admission

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// InstallOptions say how the API server reaches the webhook and how it
// behaves when the webhook cannot answer.
type InstallOptions struct {
	// Namespace and Service name the in-cluster Service (port Port,
	// default 443); or URL is where the webhook listens.
	Namespace, Service string
	Port               int32
	URL                string
	// CABundle is the PEM of the CA that signed the serving certificate.
	CABundle []byte
	// FailOpen makes the API server admit when dossier cannot be reached
	// (failurePolicy Ignore); by default it refuses (Fail).
	FailOpen bool
	// TimeoutSeconds bounds each call (1–30, default 10).
	TimeoutSeconds int32
	// ExcludeNamespaces are never sent to the webhook (dossier's own
	// namespace and kube-system always are excluded).
	ExcludeNamespaces []string
}

// judgedResources are the workload resources whose images are judged.
var judgedResources = []admissionregistrationv1.RuleWithOperations{
	rule("", "pods", "pods/ephemeralcontainers", "replicationcontrollers"),
	rule("apps", "deployments", "statefulsets", "daemonsets", "replicasets"),
	rule("batch", "jobs", "cronjobs"),
}

func rule(group string, resources ...string) admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.NamespacedScope
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources, Scope: &scope},
	}
}

// Configurations renders the ValidatingWebhookConfiguration and the
// MutatingWebhookConfiguration that send every workload kind to dossier.
func Configurations(o InstallOptions) ([]byte, error) {
	mutating, validating, err := WebhookConfigurations(o)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for i, obj := range []any{mutating, validating} {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(data)
	}
	return out.Bytes(), nil
}

// WebhookConfigurations are the MutatingWebhookConfiguration and the
// ValidatingWebhookConfiguration that send every workload kind to dossier.
func WebhookConfigurations(o InstallOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if len(o.CABundle) == 0 {
		return nil, nil, fmt.Errorf("webhook configuration: no CA bundle (the PEM of the CA that signed the serving certificate)")
	}
	if (o.URL == "") == (o.Service == "") {
		return nil, nil, fmt.Errorf("webhook configuration: give a service (with its namespace) or a URL, not both")
	}
	if o.Service != "" && o.Namespace == "" {
		return nil, nil, fmt.Errorf("webhook configuration: service %s has no namespace", o.Service)
	}
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, nil, fmt.Errorf("webhook configuration: URL %q: want https://host[:port]", o.URL)
		}
	}
	if o.Port == 0 {
		o.Port = 443
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 10
	}
	if o.TimeoutSeconds < 1 || o.TimeoutSeconds > 30 {
		return nil, nil, fmt.Errorf("webhook configuration: timeout %ds: the API server allows 1 to 30", o.TimeoutSeconds)
	}
	failure := admissionregistrationv1.Fail
	if o.FailOpen {
		failure = admissionregistrationv1.Ignore
	}
	excluded := []string{"kube-system"}
	if o.Namespace != "" {
		excluded = append(excluded, o.Namespace)
	}
	for _, ns := range o.ExcludeNamespaces {
		if !slices.Contains(excluded, ns) {
			excluded = append(excluded, ns)
		}
	}
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		c := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
		if o.URL != "" {
			u := strings.TrimSuffix(o.URL, "/") + path
			c.URL = &u
		} else {
			c.Service = &admissionregistrationv1.ServiceReference{Namespace: o.Namespace, Name: o.Service, Path: &path, Port: &o.Port}
		}
		return c
	}
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excluded}}}
	// decisions are recorded, except for dry runs
	sideEffects := admissionregistrationv1.SideEffectClassNoneOnDryRun
	none := admissionregistrationv1.SideEffectClassNone
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	validating := admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: "dossier"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.dossier.dev", ClientConfig: client("/admission/validate"), Rules: judgedResources,
			FailurePolicy: &failure, MatchPolicy: &equivalent, NamespaceSelector: selector, SideEffects: &sideEffects,
			TimeoutSeconds: &o.TimeoutSeconds, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	mutating := admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: "dossier"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.dossier.dev", ClientConfig: client("/admission/mutate"), Rules: judgedResources,
			FailurePolicy: &failure, MatchPolicy: &equivalent, NamespaceSelector: selector, SideEffects: &none,
			TimeoutSeconds: &o.TimeoutSeconds, AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: &reinvoke,
		}},
	}
	return &mutating, &validating, nil
}
