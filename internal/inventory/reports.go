package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
)

// PolicyReports is the resource of the reports Kyverno and Policy
// Reporter read (wgpolicyk8s.io/v1alpha2).
var PolicyReports = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}

// reportName is the one PolicyReport dossier keeps per namespace, labelled
// as its own.
const (
	reportName    = "dossier"
	managedBy     = "app.kubernetes.io/managed-by"
	reportManager = "dossier"
)

// ReportStore is what the reports are made from.
type ReportStore interface {
	RunningContainers(ctx context.Context, filter store.RunningFilter) ([]store.RunningContainer, error)
	Judgements(ctx context.Context, cluster, namespace string) ([]store.Judgement, error)
}

// Reports builds, per namespace, the PolicyReport of what runs there: one
// result per workload container, digest and rule of its latest background
// decision (a rule that failed under audit is a warning; one an exception
// waived is skipped, naming it; rules that did not apply are left out).
func Reports(ctx context.Context, cluster string, st ReportStore) (map[string]*unstructured.Unstructured, error) {
	containers, err := st.RunningContainers(ctx, store.RunningFilter{Cluster: cluster})
	if err != nil {
		return nil, err
	}
	judgements, err := st.Judgements(ctx, cluster, "")
	if err != nil {
		return nil, err
	}
	decided := map[[3]string]*store.Judgement{}
	for i, j := range judgements {
		decided[[3]string{j.Namespace, j.Image, j.Subject.Digest}] = &judgements[i]
	}
	type key struct{ namespace, workload, container, digest string }
	seen := map[key]bool{}
	results := map[string][]map[string]any{}
	for _, c := range containers {
		k := key{c.Namespace, c.Workload, c.Container, c.Subject.Digest}
		j := decided[[3]string{c.Namespace, c.Image, c.Subject.Digest}]
		if j == nil || seen[k] {
			continue
		}
		seen[k] = true
		for _, r := range j.Decision.Rules {
			result, ok := reportResult(r)
			if !ok {
				continue
			}
			policyName := r.Policy
			if policyName == "" {
				policyName = "dossier"
			}
			message := r.Reason
			if r.Fix != "" {
				message += "; fix: " + r.Fix
			}
			results[c.Namespace] = append(results[c.Namespace], map[string]any{
				"source": "dossier", "policy": policyName, "rule": r.Rule, "result": result, "message": message, "scored": true,
				"timestamp":  map[string]any{"seconds": j.Decision.EvaluatedAt.Unix(), "nanos": 0},
				"resources":  []any{workloadRef(c.Namespace, c.Workload)},
				"properties": map[string]any{"container": c.Container, "image": c.Image, "digest": c.Subject.String(), "policyVersion": j.PolicyVersion},
			})
		}
	}
	out := map[string]*unstructured.Unstructured{}
	for namespace, rs := range results {
		slices.SortFunc(rs, func(a, b map[string]any) int { return strings.Compare(resultKey(a), resultKey(b)) })
		summary := map[string]any{"pass": int64(0), "fail": int64(0), "warn": int64(0), "error": int64(0), "skip": int64(0)}
		for _, r := range rs {
			summary[r["result"].(string)] = summary[r["result"].(string)].(int64) + 1
		}
		items := make([]any, len(rs))
		for i, r := range rs {
			items[i] = r
		}
		out[namespace] = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
			"metadata": map[string]any{"name": reportName, "namespace": namespace, "labels": map[string]any{managedBy: reportManager}},
			"scope":    map[string]any{"kind": "Namespace", "name": namespace},
			"summary":  summary, "results": items,
		}}
	}
	return out, nil
}

// reportResult is a rule's outcome in the report's words.
func reportResult(r evidence.RuleResult) (string, bool) {
	switch r.Outcome {
	case evidence.OutcomePass:
		return "pass", true
	case evidence.OutcomeWaived:
		return "skip", true
	case evidence.OutcomeFail:
		if r.Mode == evidence.ModeAudit {
			return "warn", true
		}
		return "fail", true
	}
	return "", false
}

func resultKey(r map[string]any) string {
	p := r["properties"].(map[string]any)
	ref := r["resources"].([]any)[0].(map[string]any)
	return fmt.Sprint(ref["kind"], "/", ref["name"], "\x00", p["container"], "\x00", p["digest"], "\x00", r["policy"], "\x00", r["rule"])
}

// workloadRef names a workload ("Deployment/web", "Rollout.argoproj.io/web")
// as a report's resource; the version of another group's kind is not
// known, so its reference carries no apiVersion.
func workloadRef(namespace, workload string) map[string]any {
	kind, name, _ := strings.Cut(workload, "/")
	ref := map[string]any{"kind": kind, "name": name, "namespace": namespace}
	if group, builtin := builtinGroups[kind]; builtin && group != "" {
		ref["apiVersion"] = group + "/v1"
	} else if builtin || kind == "Pod" {
		ref["apiVersion"] = "v1"
	} else if k, group, ok := strings.Cut(kind, "."); ok {
		ref["kind"], ref["apiVersion"] = k, group
	}
	return ref
}

// Publisher keeps a cluster's PolicyReports as Reports builds them:
// created, updated when their content changes, deleted when nothing of
// dossier's runs in their namespace any more.
type Publisher struct {
	client dynamic.Interface
	// applied is the hash of each namespace's report as last applied, so
	// that an unchanged report is not written again
	applied map[string]string
}

// NewPublisher publishes through client.
func NewPublisher(client dynamic.Interface) *Publisher {
	return &Publisher{client: client, applied: map[string]string{}}
}

// Publish applies the reports (server-side apply, field manager dossier)
// and deletes dossier's reports in namespaces that have none now.
func (p *Publisher) Publish(ctx context.Context, reports map[string]*unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for namespace, r := range reports {
		data, err := json.Marshal(r.Object)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if p.applied[namespace] == hash {
			continue
		}
		if _, err := p.client.Resource(PolicyReports).Namespace(namespace).Apply(ctx, reportName, r, metav1.ApplyOptions{FieldManager: reportManager, Force: true}); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("PolicyReports cannot be written: the wgpolicyk8s.io/v1alpha2 PolicyReport resource is not installed (dossier webhook install --policy-reports, or Kyverno's or Policy Reporter's CRDs): %w", err)
			}
			return fmt.Errorf("PolicyReport of namespace %s: %w", namespace, err)
		}
		p.applied[namespace] = hash
	}
	existing, err := p.client.Resource(PolicyReports).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: managedBy + "=" + reportManager})
	if err != nil {
		return fmt.Errorf("listing dossier's PolicyReports: %w", err)
	}
	for _, r := range existing.Items {
		if _, current := reports[r.GetNamespace()]; current || r.GetName() != reportName {
			continue
		}
		if err := p.client.Resource(PolicyReports).Namespace(r.GetNamespace()).Delete(ctx, reportName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the PolicyReport of namespace %s: %w", r.GetNamespace(), err)
		}
		delete(p.applied, r.GetNamespace())
	}
	return nil
}
