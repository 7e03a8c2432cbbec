package inventory

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// policyReportSchema is the schema both report kinds share, kept once.
//
//go:embed policyreport-schema.yaml
var policyReportSchema []byte

var customResourceDefinitions = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// PolicyReportCRDs are the CustomResourceDefinitions of the
// wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport, under the
// names, scopes and version Kyverno and Policy Reporter install them with.
// dossier writes PolicyReports only; the cluster-wide kind comes with them
// because their readers (Policy Reporter) list both.
func PolicyReportCRDs() ([]*unstructured.Unstructured, error) {
	var crds []*unstructured.Unstructured
	for _, k := range []struct{ kind, short, scope string }{
		{"PolicyReport", "polr", "Namespaced"},
		{"ClusterPolicyReport", "cpolr", "Cluster"},
	} {
		var openAPI map[string]any
		if err := yaml.Unmarshal(policyReportSchema, &openAPI); err != nil {
			return nil, fmt.Errorf("the PolicyReport schema: %w", err)
		}
		plural := strings.ToLower(k.kind) + "s"
		column := func(name, kind, path string) any {
			return map[string]any{"name": name, "type": kind, "jsonPath": path}
		}
		crds = append(crds, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": plural + "." + PolicyReports.Group},
			"spec": map[string]any{
				"group": PolicyReports.Group,
				"names": map[string]any{"kind": k.kind, "listKind": k.kind + "List", "plural": plural, "singular": strings.ToLower(k.kind),
					"shortNames": []any{k.short}},
				"scope": k.scope,
				"versions": []any{map[string]any{
					"name": PolicyReports.Version, "served": true, "storage": true,
					"additionalPrinterColumns": []any{column("Pass", "integer", ".summary.pass"), column("Fail", "integer", ".summary.fail"),
						column("Warn", "integer", ".summary.warn"), column("Error", "integer", ".summary.error"), column("Skip", "integer", ".summary.skip"),
						column("Age", "date", ".metadata.creationTimestamp")},
					"schema": map[string]any{"openAPIV3Schema": openAPI},
				}},
			},
		}})
	}
	return crds, nil
}

// PolicyReportCRDsYAML is PolicyReportCRDs as YAML documents.
func PolicyReportCRDsYAML() ([]byte, error) {
	crds, err := PolicyReportCRDs()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for i, crd := range crds {
		data, err := yaml.Marshal(crd.Object)
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

// ApplyPolicyReportCRDs installs PolicyReportCRDs in a cluster by
// server-side apply as field manager dossier, never forced: a definition
// another tool installed (Kyverno, Policy Reporter, a Helm chart), or has
// changed since dossier applied it, is left as it is — it serves dossier's
// reports as well, and taking it over would have the next dossier install
// undo that tool's definition. Such a definition must serve v1alpha2, or
// the reports cannot be written: that is an error. It says what it did,
// one line each.
func ApplyPolicyReportCRDs(ctx context.Context, cluster *rest.Config) ([]string, error) {
	client, err := dynamic.NewForConfig(cluster)
	if err != nil {
		return nil, fmt.Errorf("a client for %s: %w", cluster.Host, err)
	}
	crds, err := PolicyReportCRDs()
	if err != nil {
		return nil, err
	}
	api := client.Resource(customResourceDefinitions)
	var said []string
	for _, crd := range crds {
		name := crd.GetName()
		existing, err := api.Get(ctx, name, metav1.GetOptions{})
		created := apierrors.IsNotFound(err)
		switch {
		case created:
		case err != nil:
			return said, fmt.Errorf("reading customresourcedefinition %s from %s: %w", name, cluster.Host, err)
		case existing.GetDeletionTimestamp() != nil:
			return said, fmt.Errorf("customresourcedefinition %s (managed by %s) is being deleted since %s: dossier's PolicyReports cannot be written to it; install again once it is gone",
				name, managers(existing), existing.GetDeletionTimestamp().UTC().Format(time.RFC3339))
		case !appliedBy(existing, reportManager):
			if err := servesReports(existing); err != nil {
				return said, err
			}
			said = append(said, fmt.Sprintf("customresourcedefinition/%s left as it is: installed by %s", name, managers(existing)))
			continue
		}
		// the generation dossier's apply makes is recorded with it: a
		// definition whose generation moved on since was changed by
		// another manager, even one that only removed fields (which no
		// apply conflict shows)
		dry, applyErr := api.Apply(ctx, name, crd, metav1.ApplyOptions{FieldManager: reportManager, DryRun: []string{metav1.DryRunAll}})
		if applyErr == nil && !created && existing.GetAnnotations()[appliedGeneration] != strconv.FormatInt(existing.GetGeneration(), 10) {
			if err := servesReports(existing); err != nil {
				return said, err
			}
			said = append(said, fmt.Sprintf("customresourcedefinition/%s left as it is: another tool changed what dossier applied (generation %d; dossier applied %q)",
				name, existing.GetGeneration(), existing.GetAnnotations()[appliedGeneration]))
			continue
		}
		var applied *unstructured.Unstructured
		if applyErr == nil {
			crd.SetAnnotations(map[string]string{appliedGeneration: strconv.FormatInt(dry.GetGeneration(), 10)})
			applied, applyErr = api.Apply(ctx, name, crd, metav1.ApplyOptions{FieldManager: reportManager})
		}
		if apierrors.IsConflict(applyErr) {
			// another manager has set a field dossier sets to another value
			current, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return said, fmt.Errorf("reading customresourcedefinition %s from %s: %w", name, cluster.Host, err)
			}
			if err := servesReports(current); err != nil {
				return said, err
			}
			said = append(said, fmt.Sprintf("customresourcedefinition/%s left as it is: another tool changed what dossier applied (%v)", name, applyErr))
			continue
		}
		if applyErr != nil {
			return said, fmt.Errorf("applying customresourcedefinition %s to %s: %w", name, cluster.Host, applyErr)
		}
		if others := otherManagers(applied); created && others != "" {
			// another tool created it between dossier's read and its apply:
			// dossier gives up the fields it now shares, and leaves it
			release := &unstructured.Unstructured{Object: map[string]any{"apiVersion": crd.GetAPIVersion(), "kind": crd.GetKind(), "metadata": map[string]any{"name": name}}}
			if _, err := api.Apply(ctx, name, release, metav1.ApplyOptions{FieldManager: reportManager}); err != nil {
				return said, fmt.Errorf("customresourcedefinition %s was installed by %s while dossier applied it, and dossier could not leave it: %w", name, others, err)
			}
			said = append(said, fmt.Sprintf("customresourcedefinition/%s left as it is: installed by %s while dossier applied it", name, others))
			continue
		}
		said = append(said, "customresourcedefinition/"+name+" applied")
	}
	return said, nil
}

// appliedGeneration records the generation of a definition as dossier's
// apply left it.
const appliedGeneration = "dossier.dev/applied-generation"

// otherManagers names the managers of obj's fields other than dossier
// (status updates left out), "" when there is none.
func otherManagers(obj *unstructured.Unstructured) string {
	var names []string
	for _, f := range obj.GetManagedFields() {
		if f.Subresource == "" && f.Manager != reportManager && f.Manager != "" && !slices.Contains(names, f.Manager) {
			names = append(names, f.Manager)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// appliedBy says whether manager has applied fields of obj.
func appliedBy(obj *unstructured.Unstructured, manager string) bool {
	for _, f := range obj.GetManagedFields() {
		if f.Manager == manager && f.Operation == metav1.ManagedFieldsOperationApply && f.Subresource == "" {
			return true
		}
	}
	return false
}

// managers names who manages obj's fields (the API server's own status
// updates left out).
func managers(obj *unstructured.Unstructured) string {
	var names []string
	for _, f := range obj.GetManagedFields() {
		if f.Subresource == "" && f.Manager != "" && !slices.Contains(names, f.Manager) {
			names = append(names, f.Manager)
		}
	}
	if len(names) == 0 {
		return "another tool"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// servesReports checks that a definition dossier leaves alone serves the
// version its reports are written in.
func servesReports(crd *unstructured.Unstructured) error {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		if v, ok := v.(map[string]any); ok && v["name"] == PolicyReports.Version && v["served"] == true {
			return nil
		}
	}
	return fmt.Errorf("customresourcedefinition %s (managed by %s) does not serve %s: dossier's PolicyReports cannot be written to it", crd.GetName(), managers(crd), PolicyReports.Version)
}
