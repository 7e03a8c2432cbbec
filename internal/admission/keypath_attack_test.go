package admission

// Attacks on adb2aa0 ("reasons name a policy's key by signer name and
// fingerprint, never by its file path"), kept as tests: whatever a Pod's
// author can make the webhook say must name no file of dossier's host. A
// test that fails shows a path that still reaches them.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Regression: a key file that can no longer be read (removed, its
// permissions changed) fails the reload, which names the file to the
// operator's log; the rules in force stay, and what Pod creators read
// still names the key by its signer and fingerprint only.
func TestUnreadableKeyFileStaysInTheLog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "etc", "dossier", "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pub := f.rules.Set.Policies[0].Rules[0].Signature.Signers[0].Key
	keyFile := filepath.Join(keyDir, "release.pub")
	if err := os.WriteFile(keyFile, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(strings.ReplaceAll(strings.ReplaceAll(signedPolicy, "HOST", f.host), "file: release.pub", "file: "+keyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadFileRules([]string{policyFile}, "", collect.Options{Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, []byte(strings.ReplaceAll(strings.ReplaceAll(signedPolicy, "HOST", f.host), "file: release.pub", "file: "+keyFile)+"\n# edited\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Reload(); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("the reload's error for the operator: %v", err)
	}
	w := New(rules.Rules, Options{})
	for _, ns := range []string{"prod", "staging"} {
		out, _ := w.Validate(ctx, podReview(t, ns, containers(f.host+"/team/unsigned:v1")))
		text := strings.Join(out.Response.Warnings, "\n")
		if out.Response.Result != nil {
			text += out.Response.Result.Message
		}
		if text == "" || strings.Contains(text, dir) || strings.Contains(text, "release.pub") || !strings.Contains(text, "key release (sha256:") {
			t.Errorf("%s: what the Pod creator reads: %q", ns, text)
		}
	}
}

// Regression: a ClusterImagePolicy cannot name a key by file (key.data
// only; kms and secretRef are refused at load, naming the field), so its
// reasons name an authority's key by the authority's name and fingerprint.
func TestClusterImagePolicyKeysHaveNoFile(t *testing.T) {
	f := newFixture(t, signedPolicy)
	pub := f.rules.Set.Policies[0].Rules[0].Signature.Signers[0].Key
	indented := "          " + strings.ReplaceAll(strings.TrimSpace(pub), "\n", "\n          ")
	for _, key := range []string{"file: /etc/dossier/keys/release.pub", "kms: file:///etc/dossier/keys/release.pub", "secretRef: {name: release}"} {
		_, err := policy.Parse("cip.yaml", []byte(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: cip}
spec:
  images: [{glob: "registry.example/**"}]
  authorities: [{name: release, key: {`+key+`}}]
`), policy.LoadOptions{BaseDir: t.TempDir(), ReadFile: os.ReadFile})
		if err == nil {
			t.Errorf("a ClusterImagePolicy key given as %s was loaded", key)
		}
	}
	docs, err := policy.Parse("cip.yaml", []byte(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: cip}
spec:
  images: [{glob: "`+f.host+`/team/**"}]
  authorities:
    - name: release
      key:
        data: |
`+indented+`
`), policy.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules := *f.rules
	rules.Set = &policy.Set{Policies: docs.Policies}
	w := New(func() *Rules { return &rules }, Options{})
	out, _ := w.Validate(context.Background(), podReview(t, "prod", containers(f.host+"/team/unsigned:v1")))
	if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "key release (sha256:") {
		t.Errorf("the ClusterImagePolicy's denial: %+v", out.Response.Result)
	}
}

// pushAsIndex pushes a sample's image as the only entry (linux/amd64) of
// an image index.
func pushAsIndex(t *testing.T, sample, ref string) {
	t.Helper()
	idx, desc := testutil.SampleTagged(t, sample)
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	index := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, index); err != nil {
		t.Fatal(err)
	}
}
