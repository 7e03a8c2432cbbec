package admission

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/notation"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// The webhook judges a Notation signature's validity on the clock its
// decisions use, not the machine's: a signing certificate valid now by the
// machine's clock but expired at the webhook's is refused under a strict
// trust policy, and admitted when the webhook's clock is inside its
// validity.
func TestWebhookJudgesNotationOnItsClock(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t)
	ca := testutil.NewNotationCA(t, "Acme Root")
	dir := t.TempDir()
	testutil.WriteNotationTrust(t, dir, host+"/team/app", "strict", testutil.NotationReleaseIdentity, ca.Cert)
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: notation-signed}
spec:
  mode: enforce
  images: [%q]
  signers:
    - name: release
      notation: {trustPolicy: trustpolicy.json, trustStore: truststore}
  rules:
    - name: signed
      signature: {signers: [release]}
`, host+"/team/**")), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := host + "/team/app:v1"
	tagged, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tagged, img); err != nil {
		t.Fatal(err)
	}
	src, err := oci.ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	art, err := oci.Resolve(ctx, src, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := art.Repository()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := art.SubjectDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(time.Hour)
	k, chain := ca.Issue(t, testutil.NotationRelease, notAfter)
	key, err := notation.NewKey(k, chain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notation.Sign(ctx, repo, desc, key, notation.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadFileRules([]string{policyFile}, "", collect.Options{Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at      time.Time
		allowed bool
	}{
		{notAfter.Add(-30 * time.Minute), true},
		{notAfter.Add(time.Hour), false},
	} {
		w := New(rules.Rules, Options{Now: func() time.Time { return c.at }})
		out, _ := w.Validate(ctx, podReview(t, "prod", containers(ref)))
		message := ""
		if out.Response.Result != nil {
			message = out.Response.Result.Message
		}
		if out.Response.Allowed != c.allowed || (!c.allowed && !strings.Contains(message, "expired")) {
			t.Errorf("at %s (certificate valid until %s): allowed %v, %q", c.at.Format(time.RFC3339), notAfter.Format(time.RFC3339), out.Response.Allowed, message)
		}
	}
}
