package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the Helm chart's copy of the PolicyReport CRDs instead of comparing it")

// chartCRDs is the Helm chart's copy of PolicyReportCRDs (Helm reads only
// files inside the chart), relative to the repository root.
const chartCRDs = "deploy/helm/dossier/crds-optional/policyreports.yaml"

const chartCRDsHeader = `# The PolicyReport and ClusterPolicyReport resources (wgpolicyk8s.io/v1alpha2)
# dossier publishes its background decisions as, one PolicyReport per
# namespace: the format Kyverno and Policy Reporter read. Install them only
# where neither has installed them already (kubectl get crd
# policyreports.wgpolicyk8s.io); their definitions serve dossier's reports
# as well. Generated from internal/inventory, which dossier webhook install
# applies: go test ./internal/inventory -run TestChartPolicyReportCRDsAreCurrent -update
`

// The chart installs the same definitions as dossier webhook install.
func TestChartPolicyReportCRDsAreCurrent(t *testing.T) {
	crds, err := PolicyReportCRDsYAML()
	if err != nil {
		t.Fatal(err)
	}
	got := append([]byte(chartCRDsHeader), crds...)
	path := filepath.Join(testutil.RepoRoot(), chartCRDs)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is not internal/inventory's PolicyReport CRDs (%v); regenerate it: go test ./internal/inventory -run TestChartPolicyReportCRDsAreCurrent -update", chartCRDs, err)
	}
}

// The API server prunes, without a word, every field a structural schema
// does not name: each field of a report dossier writes is in the schema,
// of its type and within its enum.
func TestReportsFitTheCRDSchema(t *testing.T) {
	crds, err := PolicyReportCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, crd := range crds {
		names = append(names, crd.GetName())
	}
	if !slices.Equal(names, []string{"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"}) {
		t.Fatalf("the CRDs: %v", names)
	}
	ctx := context.Background()
	st := openStore(t)
	repo := "registry.example/team/app"
	running := container("prod", "shop", "p", "app", "Deployment/web", repo+":v1", repo+"@"+digestB)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: "uid-shop-p", Containers: []store.RunningContainer{running}}}, now); err != nil {
		t.Fatal(err)
	}
	// every result a report holds: pass, fail, warn (audit), skip (waived)
	rules := []evidence.RuleResult{
		{Policy: "release", Rule: "signed", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomeFail, Reason: "no signature", Fix: "dossier sign"},
		{Policy: "release", Rule: "no-high", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomePass, Reason: "no findings"},
		{Policy: "audit", Rule: "sbom", Mode: evidence.ModeAudit, Outcome: evidence.OutcomeFail, Reason: "no SBOM"},
		{Policy: "audit", Rule: "provenance", Mode: evidence.ModeAudit, Outcome: evidence.OutcomeWaived, Reason: "waived by shop-exception"},
	}
	if err := st.Judged(ctx, "prod", []store.Judgement{{RunningImage: store.RunningImage{Namespace: "shop", Image: running.Image, Subject: running.Subject},
		PolicyVersion: "v1", Decision: evidence.Decision{Mode: evidence.ModeEnforce, EvaluatedAt: now, Rules: rules}}}); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil || reports["shop"] == nil {
		t.Fatalf("no report of shop: %v", err)
	}
	if results, _, _ := unstructured.NestedSlice(reports["shop"].Object, "results"); len(results) != len(rules) {
		t.Fatalf("%d results of %d rules", len(results), len(rules))
	}
	// the report as the API server receives it
	data, err := json.Marshal(reports["shop"].Object)
	if err != nil {
		t.Fatal(err)
	}
	var report any
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crds[0].Object, "spec", "versions")
	schema, _, _ := unstructured.NestedMap(versions[0].(map[string]any), "schema", "openAPIV3Schema")
	for _, problem := range fits(schema, report, "") {
		t.Error(problem)
	}
}

// fits lists where value leaves schema: fields it does not name (pruned),
// values of another type or outside its enum.
func fits(schema map[string]any, value any, path string) []string {
	var problems []string
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, value) {
		problems = append(problems, fmt.Sprintf("%s: %v is not one of %v", path, value, enum))
	}
	switch v := value.(type) {
	case map[string]any:
		if schema["type"] != "object" {
			return append(problems, fmt.Sprintf("%s: an object where the schema has %v", path, schema["type"]))
		}
		if schema["x-kubernetes-preserve-unknown-fields"] == true {
			return problems
		}
		properties, _ := schema["properties"].(map[string]any)
		for key, field := range v {
			if path == "" && key == "metadata" {
				continue // the API server's own ObjectMeta
			}
			s, ok := properties[key].(map[string]any)
			if !ok {
				s, ok = schema["additionalProperties"].(map[string]any)
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s is not in the schema: the API server drops it", path, key))
				continue
			}
			problems = append(problems, fits(s, field, path+"."+key)...)
		}
	case []any:
		if schema["type"] != "array" {
			return append(problems, fmt.Sprintf("%s: an array where the schema has %v", path, schema["type"]))
		}
		for i, item := range v {
			problems = append(problems, fits(schema["items"].(map[string]any), item, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case string:
		if schema["type"] != "string" {
			problems = append(problems, fmt.Sprintf("%s: a string where the schema has %v", path, schema["type"]))
		}
	case bool:
		if schema["type"] != "boolean" {
			problems = append(problems, fmt.Sprintf("%s: a boolean where the schema has %v", path, schema["type"]))
		}
	case float64:
		if schema["type"] != "integer" || v != float64(int64(v)) {
			problems = append(problems, fmt.Sprintf("%s: %v where the schema has %v", path, v, schema["type"]))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: %T", path, v))
	}
	return problems
}

// A definition dossier leaves to another tool must serve the version
// dossier writes its reports in; the error names who keeps it (the API
// server's status updates aside).
func TestDefinitionsLeftAloneMustServeV1alpha2(t *testing.T) {
	crds, err := PolicyReportCRDs()
	if err != nil {
		t.Fatal(err)
	}
	crd := crds[0]
	crd.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kyverno", Operation: metav1.ManagedFieldsOperationApply},
		{Manager: "kube-apiserver", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"}})
	if err := servesReports(crd); err != nil || managers(crd) != "kyverno" || appliedBy(crd, reportManager) {
		t.Errorf("Kyverno's v1alpha2 definition: %v; managed by %s; applied by dossier %v", err, managers(crd), appliedBy(crd, reportManager))
	}
	for _, version := range [][2]any{{"v1beta1", true}, {"v1alpha2", false}} {
		if err := unstructured.SetNestedSlice(crd.Object, []any{map[string]any{"name": version[0], "served": version[1], "storage": true}}, "spec", "versions"); err != nil {
			t.Fatal(err)
		}
		if err := servesReports(crd); err == nil || err.Error() != "customresourcedefinition policyreports.wgpolicyk8s.io (managed by kyverno) does not serve v1alpha2: dossier's PolicyReports cannot be written to it" {
			t.Errorf("%s served %v: %v", version[0], version[1], err)
		}
	}
}
