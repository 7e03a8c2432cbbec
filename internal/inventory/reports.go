package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	// clusterLabel names the cluster a report is about: dossier watchers of
	// two named clusters on one API server leave each other's reports alone
	clusterLabel = "dossier.dev/cluster"
)

// maxReportResults and maxReportBytes bound a report's results (etcd
// takes objects of 1.5 MiB by default, and a result's image may be 500
// characters long, written three times): the worst are kept, and a last
// result says how many were left out.
const (
	maxReportResults = 1000
	maxReportBytes   = 1 << 20
)

// resultOrder ranks results for the bound: failures first.
var resultOrder = map[string]int{"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}

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
	// one result per image as written too: replicas naming one digest by
	// two spellings may be judged apart (one claimed, one not), and the
	// first must not stand for the other
	type key struct{ namespace, workload, container, digest, image string }
	seen := map[key]bool{}
	results := map[string][]map[string]any{}
	for _, c := range containers {
		k := key{c.Namespace, c.Workload, c.Container, c.Subject.Digest, c.Image}
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
				"timestamp":  map[string]any{"seconds": j.Decision.EvaluatedAt.Unix(), "nanos": int64(0)},
				"resources":  []any{workloadRef(c.Namespace, c.Workload)},
				"properties": map[string]any{"container": c.Container, "image": c.Image, "digest": c.Subject.String(), "policyVersion": j.PolicyVersion},
			})
		}
	}
	out := map[string]*unstructured.Unstructured{}
	for namespace, rs := range results {
		summary := map[string]any{"pass": int64(0), "fail": int64(0), "warn": int64(0), "error": int64(0), "skip": int64(0)}
		for _, r := range rs {
			summary[r["result"].(string)] = summary[r["result"].(string)].(int64) + 1
		}
		slices.SortFunc(rs, func(a, b map[string]any) int {
			if d := resultOrder[a["result"].(string)] - resultOrder[b["result"].(string)]; d != 0 {
				return d
			}
			// what a policy says before what no policy claims: images
			// anyone may name cannot crowd a policy's results out
			if d := unclaimedRank(a) - unclaimedRank(b); d != 0 {
				return d
			}
			return strings.Compare(resultKey(a), resultKey(b))
		})
		kept, size := 0, 0
		for kept < len(rs) && kept < maxReportResults {
			data, err := json.Marshal(rs[kept])
			if err != nil {
				return nil, err
			}
			if size+len(data) > maxReportBytes {
				break
			}
			size, kept = size+len(data), kept+1
		}
		if kept < len(rs) {
			left := len(rs) - kept
			rs = append(rs[:kept], map[string]any{"source": "dossier", "policy": "dossier", "rule": "report-bounded", "result": "error", "scored": false,
				"message":    fmt.Sprintf("%d more results are not listed: a report holds the %d worst (at most %d, %d KiB); the summary counts them all (dossier query running --namespace %s lists every container)", left, kept, maxReportResults, maxReportBytes>>10, namespace),
				"timestamp":  map[string]any{"seconds": int64(0), "nanos": int64(0)},
				"resources":  []any{map[string]any{"apiVersion": "v1", "kind": "Namespace", "name": namespace}},
				"properties": map[string]any{}})
		}
		items := make([]any, len(rs))
		for i, r := range rs {
			items[i] = r
		}
		out[namespace] = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
			"metadata": map[string]any{"name": reportName, "namespace": namespace, "labels": map[string]any{managedBy: reportManager, clusterLabel: cluster}},
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

// unclaimedRank puts the results about images no policy claims after the
// policies' own.
func unclaimedRank(r map[string]any) int {
	if r["rule"] == "no-policy" {
		return 1
	}
	return 0
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
	client  dynamic.Interface
	cluster string
	// applied is the hash of each namespace's report as last applied
	// (without the decisions' times), so that an unchanged report is not
	// written again
	applied map[string]string
}

// NewPublisher publishes a named cluster's reports through client.
func NewPublisher(client dynamic.Interface, cluster string) *Publisher {
	return &Publisher{client: client, cluster: cluster, applied: map[string]string{}}
}

// contentHash is a report's hash without the decisions' times: a pass that
// decides the same writes nothing.
func contentHash(r *unstructured.Unstructured) (string, error) {
	data, err := json.Marshal(r.Object)
	if err != nil {
		return "", err
	}
	var c struct {
		Rest    map[string]json.RawMessage
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(data, &c.Rest); err != nil {
		return "", err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return "", err
	}
	for _, res := range c.Results {
		delete(res, "timestamp")
	}
	delete(c.Rest, "results")
	data, err = json.Marshal([]any{c.Rest, c.Results})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// ours says whether a report is this cluster's dossier's to write.
func (p *Publisher) ours(r *unstructured.Unstructured) bool {
	labels := r.GetLabels()
	return labels[managedBy] == reportManager && labels[clusterLabel] == p.cluster
}

// Publish applies the reports (server-side apply, field manager dossier)
// and deletes this cluster's reports in namespaces that have none now. A
// report named dossier that another tool (or another cluster's dossier)
// keeps is left alone. What fails in one namespace is said and holds up
// no other.
func (p *Publisher) Publish(ctx context.Context, reports map[string]*unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var problems []error
	for namespace, r := range reports {
		hash, err := contentHash(r)
		if err != nil {
			return err
		}
		if p.applied[namespace] == hash {
			continue
		}
		reports := p.client.Resource(PolicyReports).Namespace(namespace)
		existing, err := reports.Get(ctx, reportName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			problems = append(problems, fmt.Errorf("PolicyReport of namespace %s: %w", namespace, err))
			continue
		case !p.ours(existing):
			problems = append(problems, fmt.Errorf("PolicyReport %s/%s is not this dossier's (labels %v): left alone", namespace, reportName, existing.GetLabels()))
			continue
		}
		if _, err := reports.Apply(ctx, reportName, r, metav1.ApplyOptions{FieldManager: reportManager, Force: true}); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("PolicyReports cannot be written: the wgpolicyk8s.io/v1alpha2 PolicyReport resource is not installed (deploy/helm/dossier/crds-optional/policyreports.yaml, or Kyverno's or Policy Reporter's CRDs): %w", err)
			}
			problems = append(problems, fmt.Errorf("PolicyReport of namespace %s: %w", namespace, err))
			continue
		}
		p.applied[namespace] = hash
	}
	existing, err := p.client.Resource(PolicyReports).Namespace(metav1.NamespaceAll).List(ctx,
		metav1.ListOptions{LabelSelector: managedBy + "=" + reportManager + "," + clusterLabel + "=" + p.cluster})
	if err != nil {
		return errors.Join(append(problems, fmt.Errorf("listing dossier's PolicyReports: %w", err))...)
	}
	for _, r := range existing.Items {
		if _, current := reports[r.GetNamespace()]; current || r.GetName() != reportName || !p.ours(&r) {
			continue
		}
		if err := p.client.Resource(PolicyReports).Namespace(r.GetNamespace()).Delete(ctx, reportName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			problems = append(problems, fmt.Errorf("deleting the PolicyReport of namespace %s: %w", r.GetNamespace(), err))
			continue
		}
		delete(p.applied, r.GetNamespace())
	}
	return errors.Join(problems...)
}
