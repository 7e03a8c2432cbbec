package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Promotion copies a signed image by digest with its signatures (bundle
// referrers and cosign's legacy tags) when the destination's policy allows
// it, refuses an unsigned one, and records both.
func TestPromote(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	key := generateKey(t, dir, "release")
	src, dst := testutil.Registry(t), testutil.Registry(t)
	testutil.PushSample(t, "npm-app", src+"/team/app:v1")
	testutil.PushSample(t, "debian", src+"/team/legacy:v1")
	unsigned := testutil.PushSample(t, "go-app", src+"/team/tool:v1")
	if r := dossier(t, "", "sign", src+"/team/app:v1", "--key", key+".key"); r.code != 0 {
		t.Fatal(r)
	}
	if r := dossier(t, "", "sign", src+"/team/legacy:v1", "--key", key+".key", "--legacy-tags"); r.code != 0 {
		t.Fatal(r)
	}
	policyFile := writeFile(t, filepath.Join(dir, "prod.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: prod-signed}
spec:
  images: ["%s/prod/**"]
  signers: [{name: release, key: {file: release.pub}}]
  rules: [{name: signed, signature: {}}]
`, dst))
	data := filepath.Join(dir, "data")
	for _, name := range []string{"app", "legacy"} {
		r := dossier(t, "", "promote", src+"/team/"+name+":v1", dst+"/prod/"+name+":v1", "--policy", policyFile, "--data-dir", data)
		if r.code != 0 || !strings.Contains(r.stdout, "with 1 signatures and attestations attached") {
			t.Fatalf("promote %s: %+v", name, r)
		}
		// the signature came along: it verifies at the destination
		if r := dossier(t, "", "verify", dst+"/prod/"+name+":v1", "--key", key+".pub"); r.code != 0 {
			t.Errorf("verify the promoted %s: %+v", name, r)
		}
	}
	r := dossier(t, "", "query", "tag", dst+"/prod/app:v1", "--data-dir", data, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "promote from "+src+"/team/app@sha256:") {
		t.Errorf("the promoted tag's history: %+v", r)
	}
	r = dossier(t, "", "promote", src+"/team/tool:v1", dst+"/prod/tool:v1", "--policy", policyFile, "--data-dir", data)
	if r.code != ExitGateFailed || !strings.Contains(r.stderr, "is not promoted to "+dst+"/prod/tool:v1") || !strings.Contains(r.stderr, "policy prod-signed rule signed: no signature by") {
		t.Errorf("promote an unsigned image: %+v", r)
	}
	if r := dossier(t, "", "resolve", dst+"/prod/tool:v1"); r.code == 0 {
		t.Errorf("the refused image was copied: %+v", r)
	}
	st, err := store.Open(context.Background(), data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.RegistryEvents(context.Background(), time.Time{}, 0)
	if err != nil || len(events) != 3 || events[0].Outcome != "refused" || events[0].Digest != unsigned || events[1].Outcome != "promoted" || events[0].Actor == "" {
		t.Errorf("promotion events: %+v %v", events, err)
	}
	if r := dossier(t, "", "promote", src+"/team/app:v1", dst+"/prod/app@"+unsigned, "--policy", policyFile); r.code != ExitError {
		t.Errorf("a digest as the destination: %+v", r)
	}
}
