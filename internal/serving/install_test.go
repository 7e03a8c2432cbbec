package serving

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/dossier-dev/dossier/internal/admission"
)

// The printed installation is one YAML stream kubectl applies: the webhook
// configurations, then the PolicyReport CRDs when asked for.
func TestWebhookInstallationManifests(t *testing.T) {
	o := admission.InstallOptions{Namespace: "dossier", Service: "dossier", CABundle: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}
	for crds, want := range map[bool][]string{
		false: {"MutatingWebhookConfiguration/dossier", "ValidatingWebhookConfiguration/dossier"},
		true: {"MutatingWebhookConfiguration/dossier", "ValidatingWebhookConfiguration/dossier",
			"CustomResourceDefinition/policyreports.wgpolicyk8s.io", "CustomResourceDefinition/clusterpolicyreports.wgpolicyk8s.io"},
	} {
		install, err := NewWebhookInstallation(o, crds)
		if err != nil {
			t.Fatal(err)
		}
		data, err := install.Manifests()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj unstructured.Unstructured
			if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("policy report CRDs %v: %v\n%s", crds, err, data)
			}
			got = append(got, obj.GetKind()+"/"+obj.GetName())
		}
		if !slices.Equal(got, want) {
			t.Errorf("policy report CRDs %v: %v, want %v", crds, got, want)
		}
	}
	if _, err := NewWebhookInstallation(admission.InstallOptions{Namespace: "dossier", Service: "dossier"}, true); err == nil {
		t.Error("an installation without a CA bundle")
	}
}
