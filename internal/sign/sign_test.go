package sign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func pushed(t *testing.T, sample, repo string) (name.Digest, string) {
	t.Helper()
	host := testutil.Registry(t)
	digest := testutil.PushSample(t, sample, host+"/"+repo+":v1")
	d, err := name.NewDigest(host+"/"+repo+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d, host
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
	p, err := LoadPublicKey(pub)
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

func TestSignVerifyAndAdversarialCases(t *testing.T) {
	ctx := context.Background()
	reg := oci.RegistryOptions{}
	subject, _ := pushed(t, "npm-app", "team/app")
	kp, _ := GenerateKeyPair()
	other, _ := GenerateKeyPair()

	// no signature yet
	if _, err := Verify(ctx, subject, SignPredicateType, NewKeyVerifier(kp.Public()), reg); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("unsigned: %v", err)
	}
	if _, err := SignDigest(ctx, subject, kp, sgsign.BundleOptions{}, map[string]any{"team": "web"}, reg); err != nil {
		t.Fatal(err)
	}
	got, err := Verify(ctx, subject, SignPredicateType, NewKeyVerifier(kp.Public()), reg)
	if err != nil || len(got) != 1 || got[0].Digest != subject.DigestStr() || !strings.Contains(string(got[0].Statement), `"team":"web"`) {
		t.Fatalf("verify: %+v %v", got, err)
	}
	// wrong key
	if _, err := Verify(ctx, subject, SignPredicateType, NewKeyVerifier(other.Public()), reg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong key: %v", err)
	}

	// a signature copied onto another digest: the bundle for subject stored
	// as a referrer of a different image
	otherSubject, _ := pushed(t, "go-app", "team/other")
	st, _ := Statement(subject.DigestStr(), SignPredicateType, map[string]any{}, nil)
	bundle, err := BundleStatement(st, kp, sgsign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Store(ctx, otherSubject, bundle, SignPredicateType, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, otherSubject, SignPredicateType, NewKeyVerifier(kp.Public()), reg); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("copied signature: %v", err)
	}

	// a tampered payload: the statement is changed after signing
	third, _ := pushed(t, "debian", "team/third")
	st3, _ := Statement(third.DigestStr(), SignPredicateType, map[string]any{}, map[string]any{"approved": "no"})
	b3, err := sgsign.Bundle(&sgsign.DSSEData{Data: st3, PayloadType: InTotoPayloadType}, kp, sgsign.BundleOptions{})
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
	if _, err := Store(ctx, third, tampered, SignPredicateType, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, third, SignPredicateType, NewKeyVerifier(kp.Public()), reg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered payload: %v", err)
	}
}

// An attestation whose statement names another digest fails on the image
// it is attached to, with the digest reason.
func TestAttestationForAnotherDigest(t *testing.T) {
	ctx := context.Background()
	reg := oci.RegistryOptions{}
	kp, _ := GenerateKeyPair()
	image, _ := pushed(t, "npm-app", "team/image")
	elsewhere, _ := pushed(t, "go-app", "team/elsewhere")
	uri, _ := PredicateType("cyclonedx")
	st, err := Statement(elsewhere.DigestStr(), uri, map[string]any{"bomFormat": "CycloneDX"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := BundleStatement(st, kp, sgsign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Store(ctx, image, bundle, uri, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, image, uri, NewKeyVerifier(kp.Public()), reg); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("attestation about another digest: %v", err)
	}
}
