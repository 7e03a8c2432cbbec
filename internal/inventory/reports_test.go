package inventory

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// A policy's key file is a path on dossier's host: the PolicyReport a
// namespace's users read names the key as the policy names its signer,
// with its fingerprint, and never by that path.
func TestReportMessagesNeverNameTheKeyFile(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := testKeyDir(t)
	policyFile := filepath.Join(dir, "release.yaml")
	if err := writeFileT(policyFile, `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: enforce
  images: ["registry.example/team/**"]
  signers: [{name: release-key, key: {file: k.pub}}]
  rules:
    - name: signed
      signature: {}
    - name: sbom
      attestation: {predicateType: cyclonedx}
`); err != nil {
		t.Fatal(err)
	}
	docs, err := policy.Load(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	repo := "registry.example/team/app"
	c := container("prod", "shop", "p", "app", "Deployment/web", repo+":v1", repo+"@"+digestA)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: c.PodUID, Containers: []store.RunningContainer{c}}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, func(string) (map[string]string, bool) { return nil, true }, now); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil {
		t.Fatal(err)
	}
	results, _, _ := unstructured.NestedSlice(reports["shop"].Object, "results")
	if len(results) != 2 {
		t.Fatalf("want the two rules reported: %+v", results)
	}
	keyFile, err := filepath.Abs(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	signer := set.Policies[0].Rules[0].Signature.Signers[0].String()
	for _, r := range results {
		message := r.(map[string]any)["message"].(string)
		if strings.Contains(message, keyFile) || strings.Contains(message, dir) || strings.Contains(message, "k.pub") {
			t.Errorf("a report message names the key's file %s: %s", keyFile, message)
		}
		if !strings.Contains(message, signer) {
			t.Errorf("a report message does not name the key as %q: %s", signer, message)
		}
	}
}
