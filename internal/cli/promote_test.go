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

// promote prints what pipeline.Promote did, exits 1 with the refusals
// when the destination's policy refuses, and refuses a digest as the
// destination.
func TestPromote(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	key := generateKey(t, dir, "release")
	src, dst := testutil.Registry(t), testutil.Registry(t)
	testutil.PushSample(t, "npm-app", src+"/team/app:v1")
	unsigned := testutil.PushSample(t, "go-app", src+"/team/tool:v1")
	if r := dossier(t, "", "sign", src+"/team/app:v1", "--key", key+".key"); r.code != 0 {
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
	r := dossier(t, "", "promote", src+"/team/app:v1", dst+"/prod/app:v1", "--policy", policyFile, "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "to "+dst+"/prod/app:v1 with 1 signatures and attestations attached") {
		t.Fatalf("promote: %+v", r)
	}
	r = dossier(t, "", "promote", src+"/team/tool:v1", dst+"/prod/tool:v1", "--policy", policyFile, "--data-dir", data)
	if r.code != ExitGateFailed || !strings.Contains(r.stderr, "is not promoted to "+dst+"/prod/tool:v1") || !strings.Contains(r.stderr, "policy prod-signed rule signed: no signature by") {
		t.Errorf("promote an unsigned image: %+v", r)
	}
	st, err := store.Open(context.Background(), data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.RegistryEvents(context.Background(), time.Time{}, 0)
	if err != nil || len(events) != 2 || events[0].Digest != unsigned || events[0].Actor == "" {
		t.Errorf("promotion events, with who asked: %+v %v", events, err)
	}
	if r := dossier(t, "", "promote", src+"/team/app:v1", dst+"/prod/app@"+unsigned, "--policy", policyFile); r.code != ExitError {
		t.Errorf("a digest as the destination: %+v", r)
	}
}
