package sign

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

const (
	workflow  = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	lookalike = "https://github.com/acme-evil/app/.github/workflows/release.yml@refs/heads/main"
	ghIssuer  = "https://token.actions.githubusercontent.com"
)

// keylessBundle signs a statement about digest as identity/issuer with
// sigstore-go's offline CA and log.
func keylessBundle(t *testing.T, vs *ca.VirtualSigstore, digest, identity, issuer string, withProof bool) []byte {
	t.Helper()
	st, err := Statement(digest, SignPredicateType, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.KeylessBundle(t, vs, st, identity, issuer, withProof)
}

func TestKeylessIdentityChecks(t *testing.T) {
	ctx := context.Background()
	reg := oci.RegistryOptions{}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := pushed(t, "npm-app", "acme/app")
	if _, err := Store(ctx, good, keylessBundle(t, vs, good.DigestStr(), workflow, ghIssuer, true), SignPredicateType, reg); err != nil {
		t.Fatal(err)
	}
	evil, _ := pushed(t, "go-app", "acme/evil")
	if _, err := Store(ctx, evil, keylessBundle(t, vs, evil.DigestStr(), lookalike, ghIssuer, true), SignPredicateType, reg); err != nil {
		t.Fatal(err)
	}
	noProof, _ := pushed(t, "debian", "acme/noproof")
	if _, err := Store(ctx, noProof, keylessBundle(t, vs, noProof.DigestStr(), workflow, ghIssuer, false), SignPredicateType, reg); err != nil {
		t.Fatal(err)
	}

	verifier := func(id Identity) *KeylessVerifier {
		kv, err := NewKeylessVerifier(vs, id)
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
	exact := Identity{SubjectAlternativeName: workflow, Issuer: ghIssuer}
	got, err := Verify(ctx, good, SignPredicateType, verifier(exact), reg)
	if err != nil || len(got) != 1 || got[0].Identity != workflow || got[0].Issuer != ghIssuer || got[0].SigningTime == nil || got[0].LogIndex == nil {
		t.Fatalf("keyless, exact identity: %+v %v", got, err)
	}
	org := Identity{SubjectAlternativeNameRegexp: `^https://github\.com/acme/`, Issuer: ghIssuer}
	if _, err := Verify(ctx, good, SignPredicateType, verifier(org), reg); err != nil {
		t.Fatalf("keyless, regexp identity: %v", err)
	}
	for name, tc := range map[string]struct {
		subject name.Digest
		id      Identity
		want    error
	}{
		"look-alike, exact":         {evil, exact, ErrWrongIdentity},
		"look-alike, regexp":        {evil, org, ErrWrongIdentity},
		"wrong issuer":              {good, Identity{SubjectAlternativeName: workflow, Issuer: "https://accounts.google.com"}, ErrWrongIdentity},
		"wrong issuer regexp":       {good, Identity{SubjectAlternativeName: workflow, IssuerRegexp: `^https://gitlab\.com$`}, ErrWrongIdentity},
		"no log or timestamp proof": {noProof, exact, ErrExpiredNoProof},
	} {
		if _, err := Verify(ctx, tc.subject, SignPredicateType, verifier(tc.id), reg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	for _, id := range []Identity{{Issuer: ghIssuer}, {SubjectAlternativeName: workflow}, {SubjectAlternativeName: workflow, SubjectAlternativeNameRegexp: ".*", Issuer: ghIssuer}} {
		if _, err := NewKeylessVerifier(vs, id); err == nil {
			t.Errorf("identity %+v must be refused", id)
		}
	}
	if _, err := NewKeylessVerifier(nil, exact); !errors.Is(err, ErrTrustedRoot) {
		t.Errorf("no trusted root: %v", err)
	}
}

// TestKeylessSigning signs with an ephemeral key, a certificate from a
// Fulcio-API CA on 127.0.0.1 (through sigstore-go's Fulcio client) and an
// entry in sigstore-go's offline log, then verifies for the identity.
func TestKeylessSigning(t *testing.T) {
	ctx := context.Background()
	reg := oci.RegistryOptions{}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	fulcio := testutil.StartFulcio(t)
	subject, _ := pushed(t, "npm-app", "acme/keyless")
	if _, _, err := KeylessSigner(ctx, KeylessOptions{FulcioURL: fulcio.URL}); !errors.Is(err, ErrNoIdentityToken) {
		t.Fatalf("no token: %v", err)
	}
	kp, opts, err := KeylessSigner(ctx, KeylessOptions{
		IDToken: testutil.IDToken(workflow, ghIssuer), FulcioURL: fulcio.URL, Transparency: testutil.VirtualLog{VS: vs},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignDigest(ctx, subject, kp, opts, nil, reg); err != nil {
		t.Fatal(err)
	}
	kv, err := NewKeylessVerifier(fulcio.TrustedRoot(t, vs), Identity{SubjectAlternativeName: workflow, Issuer: ghIssuer})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(ctx, subject, SignPredicateType, kv, reg)
	if err != nil || got[0].Identity != workflow || got[0].Issuer != ghIssuer || got[0].LogIndex == nil {
		t.Fatalf("verify keyless signature: %+v %v", got, err)
	}
	other, _ := NewKeylessVerifier(fulcio.TrustedRoot(t, vs), Identity{SubjectAlternativeName: lookalike, Issuer: ghIssuer})
	if _, err := Verify(ctx, subject, SignPredicateType, other, reg); !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("another identity: %v", err)
	}
}

func TestAmbientGitHubToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer request-token" || r.URL.Query().Get("audience") != "sigstore" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(`{"value":"the.oidc.token"}`))
	}))
	defer srv.Close()
	env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": srv.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token"}
	tok, err := AmbientToken(context.Background(), env, srv.Client())
	if err != nil || tok != "the.oidc.token" {
		t.Fatalf("ambient token: %q %v", tok, err)
	}
	if tok, err := AmbientToken(context.Background(), map[string]string{}, nil); tok != "" || err != nil {
		t.Fatalf("outside GitHub Actions: %q %v", tok, err)
	}
	env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "wrong"
	if _, err := AmbientToken(context.Background(), env, srv.Client()); err == nil {
		t.Fatal("a refused token request must be an error")
	}
}

// TestLegacyKeylessSignatures verifies keyless signatures in cosign's
// legacy layout (certificate and Rekor bundle in layer annotations).
func TestLegacyKeylessSignatures(t *testing.T) {
	ctx := context.Background()
	reg := oci.RegistryOptions{}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := pushed(t, "npm-app", "acme/legacy")
	payload, err := SimpleSigningPayload(subject)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppendLegacySignature(ctx, subject, payload, testutil.LegacyKeylessAnnotations(t, vs, payload, workflow, ghIssuer), reg); err != nil {
		t.Fatal(err)
	}
	kv, _ := NewKeylessVerifier(vs, Identity{SubjectAlternativeName: workflow, Issuer: ghIssuer})
	got, err := Verify(ctx, subject, SignPredicateType, kv, reg)
	if err != nil || len(got) != 1 || got[0].Identity != workflow || got[0].LogIndex == nil || !strings.HasSuffix(got[0].Referrer, ".sig") {
		t.Fatalf("legacy keyless: %+v %v", got, err)
	}
	evil, _ := NewKeylessVerifier(vs, Identity{SubjectAlternativeName: lookalike, Issuer: ghIssuer})
	if _, err := Verify(ctx, subject, SignPredicateType, evil, reg); !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("legacy keyless, look-alike: %v", err)
	}
	// the same annotations copied onto another image's .sig tag
	other, _ := pushed(t, "go-app", "acme/legacy-copy")
	if _, err := AppendLegacySignature(ctx, other, payload, testutil.LegacyKeylessAnnotations(t, vs, payload, workflow, ghIssuer), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, other, SignPredicateType, kv, reg); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("legacy keyless copied onto another digest: %v", err)
	}
}

func TestStaleTrustedRoot(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	var cas []root.CertificateAuthority
	for _, c := range vs.FulcioCertificateAuthorities() {
		f := *c.(*root.FulcioCertificateAuthority)
		f.ValidityPeriodEnd = past
		cas = append(cas, &f)
	}
	stale, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, vs.CTLogs(), vs.TimestampingAuthorities(), vs.RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeylessVerifier(stale, Identity{SubjectAlternativeName: workflow, Issuer: ghIssuer}); !errors.Is(err, ErrTrustedRoot) || !strings.Contains(err.Error(), "refresh") {
		t.Fatalf("stale trusted root: %v", err)
	}
	if _, err := NewKeylessVerifier(vs, Identity{SubjectAlternativeName: workflow, Issuer: ghIssuer}); err != nil {
		t.Fatalf("current trusted root: %v", err)
	}
}
