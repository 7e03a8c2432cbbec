package sign

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
)

const (
	workflow  = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	lookalike = "https://github.com/acme-evil/app/.github/workflows/release.yml@refs/heads/main"
	ghIssuer  = "https://token.actions.githubusercontent.com"
)

// keylessBundle signs a statement about digest as identity/issuer with
// sigstore-go's offline CA and log.
func keylessBundle(t *testing.T, s *testutil.Sigstore, digest v1.Hash, identity, issuer string, withProof bool) []byte {
	t.Helper()
	return s.KeylessBundle(t, statement(digest, evidence.PredicateSignatures, `{}`), identity, issuer, withProof)
}

func keylessTrust(t *testing.T, tm root.TrustedMaterial) *Trust {
	t.Helper()
	tr, err := NewTrust(nil, tm, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestKeylessSigners: verification establishes which identity and issuer
// the trusted authority certified; a look-alike is reported as itself
// (the policy refuses it), never as the identity it imitates.
func TestKeylessSigners(t *testing.T) {
	ctx := context.Background()
	vs := testutil.NewSigstore(t)
	trust := keylessTrust(t, vs.TrustedRoot(t))
	goodRepo, good := pushed(t, "npm-app", "acme/app")
	if _, err := StoreBundle(ctx, goodRepo, good, keylessBundle(t, vs, good.Digest, workflow, ghIssuer, true), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, err := trust.VerifySignatures(ctx, goodRepo, good)
	if err != nil || len(rejected) != 0 || len(sigs) != 1 || sigs[0].Signer.Identity != workflow || sigs[0].Signer.Issuer != ghIssuer ||
		sigs[0].SigningTime == nil || sigs[0].LogIndex == nil || sigs[0].TransparencyLogSkipped || sigs[0].NoSCT {
		t.Fatalf("keyless: %+v %+v %v", sigs, rejected, err)
	}

	// a certificate no CT log has seen verifies, and says so
	noSCTRepo, noSCT := pushed(t, "npm-app", "acme/nosct")
	if _, err := StoreBundle(ctx, noSCTRepo, noSCT, vs.KeylessBundleWithoutSCT(t, statement(noSCT.Digest, evidence.PredicateSignatures, `{}`), workflow, ghIssuer), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, _ = trust.VerifySignatures(ctx, noSCTRepo, noSCT)
	if len(sigs) != 1 || !sigs[0].NoSCT || len(rejected) != 0 {
		t.Fatalf("no SCT: %+v %+v", sigs, rejected)
	}

	evilRepo, evil := pushed(t, "go-app", "acme/evil")
	if _, err := StoreBundle(ctx, evilRepo, evil, keylessBundle(t, vs, evil.Digest, lookalike, ghIssuer, true), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, _, _ = trust.VerifySignatures(ctx, evilRepo, evil)
	if len(sigs) != 1 || sigs[0].Signer.Identity != lookalike {
		t.Fatalf("look-alike must be reported as itself: %+v", sigs)
	}

	noProofRepo, noProof := pushed(t, "debian", "acme/noproof")
	if _, err := StoreBundle(ctx, noProofRepo, noProof, keylessBundle(t, vs, noProof.Digest, workflow, ghIssuer, false), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, _ = trust.VerifySignatures(ctx, noProofRepo, noProof)
	if len(sigs) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureNoProof {
		t.Fatalf("no log or timestamp proof: %+v %+v", sigs, rejected)
	}

	// a certificate from another authority than the trusted root's
	other := testutil.NewSigstore(t)
	sigs, rejected, _ = keylessTrust(t, other.TrustedRoot(t)).VerifySignatures(ctx, goodRepo, good)
	if len(sigs) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureInvalid {
		t.Fatalf("another authority: %+v %+v", sigs, rejected)
	}
	// no trusted root at all: rejected with the reason given
	noRoot := mustTrust(t).WithoutTrustedRoot(errors.New("the public-good root could not be fetched"))
	sigs, rejected, _ = noRoot.VerifySignatures(ctx, goodRepo, good)
	if len(sigs) != 0 || len(rejected) != 1 || !strings.Contains(rejected[0].Reason, "could not be fetched") {
		t.Fatalf("no trusted root: %+v %+v", sigs, rejected)
	}
}

// TestKeylessSigning signs with an ephemeral key, a certificate from a
// Fulcio-API CA on 127.0.0.1 (through sigstore-go's Fulcio client) and an
// entry in sigstore-go's offline log, then verifies who signed.
func TestKeylessSigning(t *testing.T) {
	ctx := context.Background()
	vs := testutil.NewSigstore(t)
	fulcio := testutil.StartFulcio(t, vs)
	repo, subject := pushed(t, "npm-app", "acme/keyless")
	if _, err := KeylessSigner(KeylessOptions{FulcioURL: fulcio.URL}); !errors.Is(err, ErrNoIdentityToken) {
		t.Fatalf("no token: %v", err)
	}
	signer, err := KeylessSigner(KeylessOptions{IDToken: testutil.IDToken(workflow, ghIssuer), FulcioURL: fulcio.URL, Transparency: testutil.VirtualLog{VS: vs.VS}})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := signer.SignStatement(ctx, statement(subject.Digest, evidence.PredicateSignatures, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StoreBundle(ctx, repo, subject, bundle, evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, err := keylessTrust(t, vs.TrustedRoot(t)).VerifySignatures(ctx, repo, subject)
	if err != nil || len(rejected) != 0 || len(sigs) != 1 || sigs[0].Signer.Identity != workflow || sigs[0].Signer.Issuer != ghIssuer || sigs[0].LogIndex == nil {
		t.Fatalf("verify keyless signature: %+v %+v %v", sigs, rejected, err)
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
	vs := testutil.NewSigstore(t)
	trust := keylessTrust(t, vs.TrustedRoot(t))
	repo, subject := pushed(t, "npm-app", "acme/legacy")
	payload, err := SimpleSigningPayload(repo.Name(), subject.Digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppendLegacySignature(ctx, repo, subject.Digest, payload, vs.LegacyKeylessAnnotations(t, payload, workflow, ghIssuer)); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, err := trust.VerifySignatures(ctx, repo, subject)
	if err != nil || len(rejected) != 0 || len(sigs) != 1 || sigs[0].Signer.Identity != workflow || sigs[0].LogIndex == nil || !strings.HasSuffix(sigs[0].StoredAt, ".sig") {
		t.Fatalf("legacy keyless: %+v %+v %v", sigs, rejected, err)
	}
	// the same annotations copied onto another image's .sig tag
	otherRepo, other := pushed(t, "go-app", "acme/legacy-copy")
	if _, err := AppendLegacySignature(ctx, otherRepo, other.Digest, payload, vs.LegacyKeylessAnnotations(t, payload, workflow, ghIssuer)); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, _ = trust.VerifySignatures(ctx, otherRepo, other)
	if len(sigs) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureDigestMismatch {
		t.Fatalf("legacy keyless copied onto another digest: %+v %+v", sigs, rejected)
	}
}

func TestStaleTrustedRoot(t *testing.T) {
	current := testutil.NewSigstore(t).TrustedRoot(t)
	past := time.Now().Add(-time.Hour)
	var cas []root.CertificateAuthority
	for _, c := range current.FulcioCertificateAuthorities() {
		f := *c.(*root.FulcioCertificateAuthority)
		f.ValidityPeriodEnd = past
		cas = append(cas, &f)
	}
	stale, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, current.CTLogs(), current.TimestampingAuthorities(), current.RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTrust(nil, stale, time.Now()); !errors.Is(err, ErrTrustedRoot) || !strings.Contains(err.Error(), "refresh") {
		t.Fatalf("stale trusted root: %v", err)
	}
	// judged by the injected clock: before the authorities ended it is fresh
	if _, err := NewTrust(nil, stale, past.Add(-time.Minute)); err != nil {
		t.Fatalf("trusted root judged before its end: %v", err)
	}
	if _, err := NewTrust(nil, current, time.Now()); err != nil {
		t.Fatalf("current trusted root: %v", err)
	}
}
