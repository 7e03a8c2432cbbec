package admission

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// kyvernoPolicy is Kyverno's check-image policy for the fixture's images,
// enforced in prod.
const kyvernoPolicy = `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: check-image}
spec:
  validationFailureAction: Enforce
  rules:
    - name: check-image
      match: {any: [{resources: {kinds: [Pod], namespaces: [prod]}}]}
      verifyImages:
        - imageReferences: ["HOST/team/*"]
          attestors: [{entries: [{keys: {publicKeys: "RELEASE_PEM", rekor: {url: https://rekor.sigstore.dev, ignoreTlog: true}}}]}]
`

// The webhook loads a Kyverno ClusterPolicy as it loads dossier's own and
// decides with it: the signed image admitted and pinned, the unsigned one
// denied with the Kyverno rule named.
func TestKyvernoPolicyAtAdmission(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, kyvernoPolicy)
	w := New(func() *Rules { return f.rules }, Options{})
	review := podReview(t, "prod", containers(f.host+"/team/signed:v1"))
	if out, _ := w.Validate(ctx, review); !out.Response.Allowed {
		t.Fatalf("signed image: %+v", out.Response)
	}
	out, _ := w.Mutate(ctx, review)
	var patch []map[string]string
	if json.Unmarshal(out.Response.Patch, &patch) != nil || len(patch) != 1 || patch[0]["value"] != f.host+"/team/signed@"+f.signed {
		t.Fatalf("mutation: %s", out.Response.Patch)
	}
	out, _ = w.Validate(ctx, podReview(t, "prod", containers(f.host+"/team/unsigned:v1")))
	if out.Response.Allowed || out.Response.Result == nil || !strings.Contains(out.Response.Result.Message, "policy check-image rule check-image") {
		t.Fatalf("unsigned image: %+v", out.Response)
	}
	if out, _ := w.Validate(ctx, podReview(t, "dev", containers(f.host+"/team/unsigned:v1"))); !out.Response.Allowed {
		t.Fatalf("a namespace the policy does not match: %+v", out.Response)
	}
}
