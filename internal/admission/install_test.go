package admission

import (
	"bytes"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

func TestConfigurations(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	data, err := Configurations(InstallOptions{Namespace: "dossier-system", Service: "dossier", CABundle: ca, ExcludeNamespaces: []string{"monitoring"}})
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(data, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents:\n%s", len(docs), data)
	}
	var mutating admissionregistrationv1.MutatingWebhookConfiguration
	var validating admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(docs[0], &mutating); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(docs[1], &validating); err != nil {
		t.Fatal(err)
	}
	v := validating.Webhooks[0]
	if validating.Kind != "ValidatingWebhookConfiguration" || *v.ClientConfig.Service.Path != "/admission/validate" || *v.ClientConfig.Service.Port != 443 ||
		!bytes.Equal(v.ClientConfig.CABundle, ca) || *v.FailurePolicy != admissionregistrationv1.Fail || *v.TimeoutSeconds != 10 ||
		*v.SideEffects != admissionregistrationv1.SideEffectClassNoneOnDryRun {
		t.Errorf("validating: %+v", v)
	}
	excluded := strings.Join(v.NamespaceSelector.MatchExpressions[0].Values, ",")
	if excluded != "kube-system,dossier-system,monitoring" {
		t.Errorf("excluded namespaces: %s", excluded)
	}
	var resources []string
	for _, r := range v.Rules {
		resources = append(resources, r.Resources...)
	}
	for kind := range specPaths {
		found := false
		for _, r := range resources {
			found = found || strings.EqualFold(strings.TrimSuffix(r, "s"), kind)
		}
		if !found {
			t.Errorf("%s is not sent to the webhook: %v", kind, resources)
		}
	}
	if !strings.Contains(strings.Join(resources, ","), "pods/ephemeralcontainers") {
		t.Errorf("ephemeral containers are not sent: %v", resources)
	}
	m := mutating.Webhooks[0]
	if *m.ClientConfig.Service.Path != "/admission/mutate" || *m.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("mutating: %+v", m)
	}

	open, err := Configurations(InstallOptions{URL: "https://127.0.0.1:8443", CABundle: ca, FailOpen: true, TimeoutSeconds: 5})
	if err != nil || !strings.Contains(string(open), "url: https://127.0.0.1:8443/admission/validate") || !strings.Contains(string(open), "failurePolicy: Ignore") {
		t.Errorf("by URL, fail open: %s %v", open, err)
	}
	for name, bad := range map[string]InstallOptions{
		"no CA":        {Namespace: "n", Service: "s"},
		"both":         {Namespace: "n", Service: "s", URL: "https://x", CABundle: ca},
		"neither":      {CABundle: ca},
		"no namespace": {Service: "s", CABundle: ca},
		"plain http":   {URL: "http://127.0.0.1:8443", CABundle: ca},
		"timeout":      {URL: "https://x", CABundle: ca, TimeoutSeconds: 31},
	} {
		if _, err := Configurations(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
