package notation

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

var envelopes = []string{evidence.NotationJWS, evidence.NotationCOSE}

// forms runs fn on a registry with the referrers API and on one without,
// where signatures are found through the referrers tag schema.
func forms(t *testing.T, fn func(t *testing.T, referrersAPI bool, envelope string)) {
	for _, api := range []bool{true, false} {
		for _, env := range envelopes {
			t.Run(fmt.Sprintf("referrersAPI=%v/%s", api, env), func(t *testing.T) { fn(t, api, env) })
		}
	}
}

// checkStorageForm fails unless the signature went where the registry
// keeps referrers: its API, or the sha256-<hex> tag of the schema.
func checkStorageForm(t *testing.T, w *world, referrersAPI bool) {
	t.Helper()
	tag := w.subject.Digest.Algorithm + "-" + w.subject.Digest.Hex
	ref, err := name.ParseReference(w.repoName+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(ref)
	if referrersAPI && err == nil {
		t.Fatalf("the registry serves the referrers API, yet tag %s was written", tag)
	}
	if !referrersAPI && err != nil {
		t.Fatalf("no referrers API, yet no referrers tag %s: %v", tag, err)
	}
}

// TestDossierVerifiesNotationCLISignatures signs with notation-go's own
// signing path (notation.Sign with its generic signer over oras-go, as
// the notation CLI signs) and verifies with dossier.
func TestDossierVerifiesNotationCLISignatures(t *testing.T) {
	forms(t, func(t *testing.T, api bool, env string) {
		w := newWorld(t, api, "strict")
		key, chain := w.ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
		s, err := signer.NewGenericSigner(key, chain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := notationgo.Sign(context.Background(), s, w.orasRepository(t), notationgo.SignOptions{
			ArtifactReference: w.repoName + "@" + w.subject.Digest.String(),
			SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: env},
		}); err != nil {
			t.Fatal(err)
		}
		if !api {
			// (oras-go also indexes into the tag schema when a registry with
			// the API does not answer with OCI-Subject, as this one)
			checkStorageForm(t, w, api)
		}
		res := w.verify(t)
		if len(res.Signatures) != 1 || len(res.Rejected) != 0 {
			t.Fatalf("want one verified signature, got %+v", res)
		}
		got := res.Signatures[0]
		if got.Signer.CertificateSubject != "CN=release,O=Acme,ST=WA,C=US" || got.Signer.NotationTrust != w.trust(t).Digest() {
			t.Errorf("signer %+v", got.Signer)
		}
		if got.Notation.EnvelopeType != env || got.Notation.Level != "strict" || got.Notation.Statement != "acme-app" || len(got.Notation.Logged) != 0 {
			t.Errorf("notation verification %+v", got.Notation)
		}
		if got.Subject.Digest != w.subject.Digest.String() || !strings.HasPrefix(got.StoredAt, "sha256:") {
			t.Errorf("subject %v, stored at %q", got.Subject, got.StoredAt)
		}
	})
}

// TestNotationVerifiesDossierSignatures signs with dossier sign --notation's
// flow and verifies with notation-go's Verify, as "notation verify" does;
// a signature by a certificate of another CA is refused by both.
func TestNotationVerifiesDossierSignatures(t *testing.T) {
	forms(t, func(t *testing.T, api bool, env string) {
		w := newWorld(t, api, "strict")
		k, chain := w.ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
		key, err := NewKey(k, chain)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := Sign(context.Background(), w.repo, w.subject, key, SignOptions{EnvelopeType: env, Annotations: map[string]string{"build": "42"}})
		if err != nil {
			t.Fatal(err)
		}
		checkStorageForm(t, w, api)
		tree, err := attest.Tree(context.Background(), w.repo, w.subject)
		if err != nil || len(tree) != 1 || tree[0].Kind != "signature" || tree[0].Format != "notation" || tree[0].Digest != sig.Digest.String() {
			t.Errorf("tree %+v, %v", tree, err)
		}
		outcomes, err := w.notationVerify(t)
		if err != nil {
			t.Fatalf("notation refused dossier's signature %s: %v", sig.Digest, err)
		}
		info := outcomes[0].EnvelopeContent.SignerInfo
		if info.CertificateChain[0].Subject.String() != "CN=release,O=Acme,ST=WA,C=US" {
			t.Errorf("notation saw signer %s", info.CertificateChain[0].Subject)
		}
		if meta, err := outcomes[0].UserMetadata(); err != nil || meta["build"] != "42" {
			t.Errorf("user metadata %v, %v", meta, err)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		w := newWorld(t, true, "strict")
		k, chain := testutil.NewNotationCA(t, "Other Root").Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
		key, err := NewKey(k, chain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Sign(context.Background(), w.repo, w.subject, key, SignOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.notationVerify(t); err == nil {
			t.Fatal("notation verified a signature by a CA its trust store does not hold")
		}
	})
}

// TestRefusals: what dossier refuses, and the reason it gives.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	sign := func(t *testing.T, w *world, subject pkix.Name, ca *testutil.NotationCA, notAfter time.Time) {
		t.Helper()
		k, chain := ca.Issue(t, subject, notAfter)
		key, err := NewKey(k, chain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Sign(ctx, w.repo, w.subject, key, SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// attach stores blob as a Notation signature of w's image
	attach := func(t *testing.T, w *world, blob []byte) {
		t.Helper()
		r := &repository{repo: w.repo}
		if _, _, err := r.PushSignature(ctx, evidence.NotationJWS, blob, toOCI(w.subject), nil); err != nil {
			t.Fatal(err)
		}
	}
	envelope := func(t *testing.T, w *world, desc any) []byte {
		t.Helper()
		k, chain := w.ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
		key, err := NewKey(k, chain)
		if err != nil {
			t.Fatal(err)
		}
		d := toOCI(w.subject)
		if other, ok := desc.(string); ok {
			d = toOCI(w.push(t, other))
		}
		blob, _, err := key.signer.Sign(ctx, d, notationgo.SignerSignOptions{SignatureMediaType: evidence.NotationJWS})
		if err != nil {
			t.Fatal(err)
		}
		return blob
	}
	cases := []struct {
		name  string
		level string
		setup func(t *testing.T, w *world)
		// later is how long after now the signature is verified
		later  time.Duration
		kind   string
		reason string
	}{
		{"tampered envelope", "strict", func(t *testing.T, w *world) {
			var jws map[string]any
			if err := json.Unmarshal(envelope(t, w, nil), &jws); err != nil {
				t.Fatal(err)
			}
			sig := []byte(jws["signature"].(string))
			if sig[len(sig)/2] == 'A' {
				sig[len(sig)/2] = 'B'
			} else {
				sig[len(sig)/2] = 'A'
			}
			jws["signature"] = string(sig)
			tampered, _ := json.Marshal(jws)
			attach(t, w, tampered)
		}, 0, evidence.FailureInvalid, "integrity check failed"},
		{"signature for another digest", "strict", func(t *testing.T, w *world) {
			attach(t, w, envelope(t, w, "other"))
		}, 0, evidence.FailureDigestMismatch, "made for sha256:"},
		{"untrusted chain", "strict", func(t *testing.T, w *world) {
			sign(t, w, testutil.NotationRelease, testutil.NewNotationCA(t, "Other Root"), time.Now().Add(time.Hour))
		}, 0, evidence.FailureUntrustedKey, "authenticity check failed"},
		{"untrusted identity", "strict", func(t *testing.T, w *world) {
			sign(t, w, pkix.Name{CommonName: "intruder", Organization: []string{"Acme"}, Province: []string{"WA"}, Country: []string{"US"}}, w.ca, time.Now().Add(time.Hour))
		}, 0, evidence.FailureUntrustedKey, "trusted identities"},
		{"expired certificate", "strict", func(t *testing.T, w *world) {
			sign(t, w, testutil.NotationRelease, w.ca, time.Now().Add(time.Hour))
		}, 2 * time.Hour, evidence.FailureExpired, "expired"},
		{"revoked certificate", "strict", func(t *testing.T, w *world) {
			k, chain := w.ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
			w.ca.Revoke(chain[0])
			key, err := NewKey(k, chain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Sign(ctx, w.repo, w.subject, key, SignOptions{}); err != nil {
				t.Fatal(err)
			}
		}, 0, evidence.FailureRevoked, "is revoked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, true, c.level)
			c.setup(t, w)
			res := w.verifyAt(t, time.Now().Add(c.later))
			if len(res.Signatures) != 0 || len(res.Rejected) != 1 {
				t.Fatalf("want one rejected signature, got %+v", res)
			}
			rj := res.Rejected[0]
			if rj.Kind != c.kind || !strings.Contains(rj.Reason, c.reason) || rj.NotationTrust != w.trust(t).Digest() {
				t.Errorf("rejected as %s: %s; want %s containing %q", rj.Kind, rj.Reason, c.kind, c.reason)
			}
			if c.later != 0 {
				return // notation-go takes no clock
			}
			if _, err := w.notationVerify(t); err == nil {
				t.Error("notation-go verified what dossier refused")
			}
		})
	}
}

// TestLevels: what each verification level accepts, and what it says.
func TestLevels(t *testing.T) {
	ctx := context.Background()
	signWith := func(t *testing.T, w *world, ca *testutil.NotationCA, notAfter time.Time) {
		t.Helper()
		k, chain := ca.Issue(t, testutil.NotationRelease, notAfter)
		key, err := NewKey(k, chain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Sign(ctx, w.repo, w.subject, key, SignOptions{EnvelopeType: evidence.NotationCOSE}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("audit accepts an untrusted chain and says so", func(t *testing.T) {
		w := newWorld(t, true, "audit")
		signWith(t, w, testutil.NewNotationCA(t, "Other Root"), time.Now().Add(time.Hour))
		res := w.verify(t)
		if len(res.Signatures) != 1 || res.Signatures[0].Notation.Level != "audit" || !strings.Contains(strings.Join(res.Signatures[0].Notation.Logged, " "), "authenticity") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("permissive accepts an expired certificate and says so", func(t *testing.T) {
		w := newWorld(t, true, "permissive")
		notAfter := time.Now().Add(time.Hour)
		signWith(t, w, w.ca, notAfter)
		res := w.verifyAt(t, notAfter.Add(time.Second))
		if len(res.Signatures) != 1 || !strings.Contains(strings.Join(res.Signatures[0].Notation.Logged, " "), "authenticTimestamp") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("an override skips revocation", func(t *testing.T) {
		w := newWorld(t, true, `{"level": "strict", "override": {"revocation": "skip"}}`)
		k, chain := w.ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
		w.ca.Revoke(chain[0])
		key, err := NewKey(k, chain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Sign(ctx, w.repo, w.subject, key, SignOptions{}); err != nil {
			t.Fatal(err)
		}
		res := w.verify(t)
		if len(res.Signatures) != 1 || res.Signatures[0].Notation.Level != "custom" {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("skip reads nothing", func(t *testing.T) {
		w := newWorld(t, true, "skip")
		if res := w.verify(t); res.Skipped != "acme-app" || len(res.Signatures)+len(res.Rejected) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("a repository no statement covers", func(t *testing.T) {
		w := newWorld(t, true, "strict")
		cfg := w.trust(t)
		other, err := oci.OpenRegistry(strings.TrimSuffix(w.repoName, "/app")+"/elsewhere", oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, other, w.subject, time.Now()); err == nil || !strings.Contains(err.Error(), "no Notation trust policy statement covers it") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no clock", func(t *testing.T) {
		w := newWorld(t, true, "strict")
		v, err := NewVerifier(w.trust(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, w.repo, w.subject, time.Time{}); err == nil || !strings.Contains(err.Error(), "no time to judge") {
			t.Fatalf("a zero clock: %v", err)
		}
	})
}
