package serving

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/inventory"
	"github.com/dossier-dev/dossier/internal/kube"
)

// WebhookInstallation is what dossier webhook install puts in a cluster:
// the webhook configurations and, when asked, the PolicyReport CRDs.
type WebhookInstallation struct {
	webhook          admission.InstallOptions
	mutating         *admissionregistrationv1.MutatingWebhookConfiguration
	validating       *admissionregistrationv1.ValidatingWebhookConfiguration
	policyReportCRDs bool
}

// NewWebhookInstallation checks the options before anything is printed or
// applied.
func NewWebhookInstallation(o admission.InstallOptions, policyReportCRDs bool) (*WebhookInstallation, error) {
	mutating, validating, err := admission.WebhookConfigurations(o)
	if err != nil {
		return nil, err
	}
	return &WebhookInstallation{webhook: o, mutating: mutating, validating: validating, policyReportCRDs: policyReportCRDs}, nil
}

// Manifests are its objects as YAML documents.
func (w *WebhookInstallation) Manifests() ([]byte, error) {
	out, err := admission.Configurations(w.webhook)
	if err != nil || !w.policyReportCRDs {
		return out, err
	}
	crds, err := inventory.PolicyReportCRDsYAML()
	if err != nil {
		return nil, err
	}
	return append(append(out, "---\n"...), crds...), nil
}

// Apply applies its objects to a cluster by server-side apply, as field
// manager dossier (PolicyReport CRDs another tool installed are left as
// they are: inventory.ApplyPolicyReportCRDs), and says what it did, one
// line each.
func (w *WebhookInstallation) Apply(ctx context.Context, cluster *rest.Config) ([]string, error) {
	said, err := kube.ApplyWebhookConfigurations(ctx, cluster, w.mutating, w.validating)
	if err != nil || !w.policyReportCRDs {
		return said, err
	}
	crds, err := inventory.ApplyPolicyReportCRDs(ctx, cluster)
	return append(said, crds...), err
}
