package decide_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/decide"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// gate pushes count copies of a sample, signs the even-numbered ones with
// a key, and returns their tagged references (in push order), the gate
// trusting that key, and a resolver sharing one set of registry clients,
// as the CI gate's commands do.
func gate(t *testing.T, count int) ([]string, *policy.Set, decide.Resolver) {
	t.Helper()
	ctx := context.Background()
	host := strings.TrimPrefix(testutil.RegistryServer(t).URL, "http://")
	key, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := policy.KeySigner("release.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for i := range count {
		ref := fmt.Sprintf("%s/team/app-%d:v1", host, i)
		testutil.PushSample(t, "npm-app", ref)
		refs = append(refs, ref)
		if i%2 != 0 {
			continue
		}
		repo, err := oci.OpenRegistry(fmt.Sprintf("%s/team/app-%d", host, i), oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.SignImage(ctx, repo, d, nil, sign.NewKeySigner(key, ""), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var shared oci.RegistryOptions
	shared.ShareClients()
	resolve := func(ctx context.Context, ref string) (*oci.Artifact, error) {
		src, err := oci.ParseSource(ref)
		if err != nil {
			return nil, err
		}
		return oci.Resolve(ctx, src, shared)
	}
	return refs, &policy.Set{Policies: []*policy.Policy{policy.SignatureGate(signer)}}, resolve
}

func TestAllDecidesEachReferenceInOrder(t *testing.T) {
	refs, set, resolve := gate(t, 9)
	results, err := decide.All(context.Background(), set, refs, decide.Options{Resolve: resolve, Namespace: "team-a", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(refs) {
		t.Fatalf("%d results for %d references", len(results), len(refs))
	}
	for i, r := range results {
		if r.Reference != refs[i] {
			t.Errorf("result %d is of %s, want %s (order kept)", i, r.Reference, refs[i])
		}
		if want := fmt.Sprintf("/team/app-%d", i); !strings.HasSuffix(r.Decision.Subject.Repository, want) || r.Artifact.Subject != r.Decision.Subject {
			t.Errorf("result %d decided %s for artifact %s", i, r.Decision.Subject, r.Artifact.Subject)
		}
		if r.Evidence.Namespace != "team-a" {
			t.Errorf("result %d judged in namespace %q", i, r.Evidence.Namespace)
		}
		if signed := i%2 == 0; r.Decision.Allowed != signed {
			t.Errorf("%s: allowed %v, signed %v: %v", r.Reference, r.Decision.Allowed, signed, r.Decision.Failed())
		}
	}
}

func TestAllStopsAtAReferenceItCannotJudge(t *testing.T) {
	refs, set, resolve := gate(t, 5)
	missing := refs[0][:strings.Index(refs[0], "/")] + "/team/never-pushed:v1"
	_, err := decide.All(context.Background(), set, append(refs, missing), decide.Options{Resolve: resolve, Now: time.Now})
	if err == nil || !strings.Contains(err.Error(), "never-pushed") {
		t.Fatalf("a reference that does not resolve: %v", err)
	}
	moved := errors.New("tag moved")
	results, err := decide.All(context.Background(), set, refs, decide.Options{Resolve: resolve, Now: time.Now,
		Check: func(ref string, art *oci.Artifact) error {
			if ref == refs[3] {
				return moved
			}
			return nil
		}})
	if !errors.Is(err, moved) || results != nil {
		t.Fatalf("a reference its check refuses: %v, %d results", err, len(results))
	}
}
