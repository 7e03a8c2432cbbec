package sign

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// pushed copies a sample to a registry on 127.0.0.1 and returns the
// repository and the sample's manifest descriptor.
func pushed(t *testing.T, sample, repo string) (oci.Repository, v1.Descriptor) {
	t.Helper()
	host := testutil.Registry(t)
	testutil.PushSample(t, sample, host+"/"+repo+":v1")
	r, err := oci.OpenRegistry(host+"/"+repo, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	return r, d
}

// statement is an in-toto statement about digest.
func statement(digest v1.Hash, predicateType, predicate string) []byte {
	return []byte(fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{%q:%q}}],"predicateType":%q,"predicate":%s}`,
		digest.Algorithm, digest.Hex, predicateType, predicate))
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	kp, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := kp.WriteKeyFiles(filepath.Join(dir, "k"), []byte("pw"), false)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(priv)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, %v", info.Mode(), err)
	}
	if _, _, err := kp.WriteKeyFiles(filepath.Join(dir, "k"), []byte("pw"), false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrite without force: %v", err)
	}
	if _, _, err := kp.WriteKeyFiles(filepath.Join(dir, "k"), []byte("pw"), true); err != nil {
		t.Fatalf("overwrite with force: %v", err)
	}
	if _, err := LoadPrivateKey(priv, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("wrong password: %v", err)
	}
	loaded, err := LoadPrivateKey(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := KeyHint(p)
	if string(loaded.GetHint()) != h1 {
		t.Fatal("the loaded key does not match the written public key")
	}
	if _, err := LoadPrivateKey(pub, []byte("pw")); err == nil || !strings.Contains(err.Error(), "not an encrypted") {
		t.Fatalf("a public key as private key: %v", err)
	}
}

func mustTrust(t *testing.T, keys ...*KeyPair) *Trust {
	t.Helper()
	var pubs []crypto.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Public())
	}
	tr, err := NewTrust(pubs, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestSignVerifyAndAdversarialCases(t *testing.T) {
	ctx := context.Background()
	repo, subject := pushed(t, "npm-app", "team/app")
	kp, _ := GenerateKeyPair()
	other, _ := GenerateKeyPair()
	trust := mustTrust(t, kp)

	sigs, rejected, err := trust.VerifySignatures(ctx, repo, subject)
	if err != nil || len(sigs) != 0 || len(rejected) != 0 {
		t.Fatalf("unsigned: %v %v %v", sigs, rejected, err)
	}
	bundle, err := NewKeySigner(kp, "").SignStatement(ctx, statement(subject.Digest, evidence.PredicateSignatures, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := StoreBundle(ctx, repo, subject, bundle, evidence.PredicateSignatures, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sigs, rejected, err = trust.VerifySignatures(ctx, repo, subject)
	der, _ := x509.MarshalPKIXPublicKey(kp.Public())
	if err != nil || len(sigs) != 1 || len(rejected) != 0 || sigs[0].Signer.KeyFingerprint != evidence.KeyFingerprint(der) ||
		sigs[0].StoredAt != ref.Digest.String() || !sigs[0].TransparencyLogSkipped || sigs[0].Subject.Digest != subject.Digest.String() {
		t.Fatalf("verify: %+v %+v %v", sigs, rejected, err)
	}
	// a key the verifier does not trust
	sigs, rejected, _ = mustTrust(t, other).VerifySignatures(ctx, repo, subject)
	if len(sigs) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureUntrustedKey {
		t.Fatalf("untrusted key: %+v %+v", sigs, rejected)
	}

	// a signature copied onto another digest: the bundle for subject stored
	// as a referrer of a different image
	otherRepo, otherSubject := pushed(t, "go-app", "team/other")
	if _, err := StoreBundle(ctx, otherRepo, otherSubject, bundle, evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, _ = trust.VerifySignatures(ctx, otherRepo, otherSubject)
	if len(sigs) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureDigestMismatch {
		t.Fatalf("copied signature: %+v %+v", sigs, rejected)
	}

	// a tampered payload: the statement is changed after signing
	thirdRepo, third := pushed(t, "debian", "team/third")
	b3, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement(third.Digest, evidence.PredicateSignatures, `{"approved":"no"}`), PayloadType: InTotoPayloadType}, kp, sgsign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := b3.GetDsseEnvelope()
	env.Payload = []byte(strings.Replace(string(env.Payload), `"approved":"no"`, `"approved":"yes"`, 1))
	tampered, err := protojson.Marshal(b3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env.Payload), `"approved":"yes"`) {
		t.Fatal("the tampering did not apply")
	}
	if _, err := StoreBundle(ctx, thirdRepo, third, tampered, evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, _ = trust.VerifySignatures(ctx, thirdRepo, third)
	if len(sigs) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureInvalid || !strings.Contains(rejected[0].Reason, "changed after signing") {
		t.Fatalf("tampered payload: %+v %+v", sigs, rejected)
	}
}

func TestLegacyKeySignatures(t *testing.T) {
	ctx := context.Background()
	repo, subject := pushed(t, "npm-app", "team/legacy")
	kp, _ := GenerateKeyPair()
	tag, err := SignLegacy(ctx, repo, subject.Digest, kp, map[string]any{"team": "web"})
	if err != nil || !strings.HasSuffix(tag, ".sig") {
		t.Fatal(tag, err)
	}
	// a second signature appends to the same tag
	other, _ := GenerateKeyPair()
	if _, err := SignLegacy(ctx, repo, subject.Digest, other, nil); err != nil {
		t.Fatal(err)
	}
	sigs, rejected, err := mustTrust(t, kp).VerifySignatures(ctx, repo, subject)
	if err != nil || len(sigs) != 1 || sigs[0].Layout != evidence.LayoutLegacyTag || len(rejected) != 1 || rejected[0].Kind != evidence.FailureUntrustedKey {
		t.Fatalf("legacy: %+v %+v %v", sigs, rejected, err)
	}
}

// An oversized legacy layer is refused with an error, never truncated and
// then judged.
func TestLegacyLayerTooLarge(t *testing.T) {
	ctx := context.Background()
	repo, subject := pushed(t, "npm-app", "team/big")
	kp, _ := GenerateKeyPair()
	payload := make([]byte, oci.MaxBundleBytes+1)
	if _, err := AppendLegacySignature(ctx, repo, subject.Digest, payload, map[string]string{legacySignatureAnnot: "c2ln"}); err != nil {
		t.Fatal(err)
	}
	_, rejected, err := mustTrust(t, kp).VerifySignatures(ctx, repo, subject)
	if err != nil || len(rejected) != 1 || !strings.Contains(rejected[0].Reason, "more than the 64 MiB") {
		t.Fatalf("oversized layer: %+v %v", rejected, err)
	}
}

// An attestation whose statement names another digest fails on the image
// it is attached to, with the digest reason.
func TestAttestationForAnotherDigest(t *testing.T) {
	ctx := context.Background()
	kp, _ := GenerateKeyPair()
	repo, image := pushed(t, "npm-app", "team/image")
	_, elsewhere := pushed(t, "go-app", "team/elsewhere")
	bundle, err := NewKeySigner(kp, "").SignStatement(ctx, statement(elsewhere.Digest, evidence.PredicateCycloneDX, `{"bomFormat":"CycloneDX"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StoreBundle(ctx, repo, image, bundle, evidence.PredicateCycloneDX, time.Now()); err != nil {
		t.Fatal(err)
	}
	found, _, err := FindBundles(ctx, repo, image, evidence.PredicateCycloneDX)
	if err != nil || len(found) != 1 {
		t.Fatalf("find: %v %v", found, err)
	}
	ok, rejected := mustTrust(t, kp).VerifyFound(found, image.Digest, evidence.PredicateCycloneDX)
	if len(ok) != 0 || len(rejected) != 1 || rejected[0].Kind != evidence.FailureDigestMismatch {
		t.Fatalf("attestation about another digest: %+v %+v", ok, rejected)
	}
}
