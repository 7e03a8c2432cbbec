package registry

import (
	"context"
	"crypto"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

// signedRelease pushes team/app:v1 and signs it with a new key, by a
// cosign .sig tag (legacy), by an OCI referrer (referrer), or both;
// verified counts the signatures of it that verify now.
func signedRelease(t *testing.T, s *server, legacy, referrer bool) (owner oci.Repository, desc v1.Descriptor, kp *sign.KeyPair, verified func() (int, error)) {
	t.Helper()
	ctx := context.Background()
	if err := remote.Write(s.ref(t, "team/app:v1"), randomImage(t), s.options(s.admin)...); err != nil {
		t.Fatal(err)
	}
	owner, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	if desc, err = owner.Resolve(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if kp, err = sign.GenerateKeyPair(); err != nil {
		t.Fatal(err)
	}
	signatures := 0
	if referrer {
		if _, err := attest.SignImage(ctx, owner, desc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
			t.Fatal(err)
		}
		signatures++
	}
	if legacy {
		if _, err := sign.SignLegacy(ctx, owner, desc.Digest, kp, nil); err != nil {
			t.Fatal(err)
		}
		signatures++
	}
	trust, err := sign.NewTrust([]crypto.PublicKey{kp.Public()}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	verified = func() (int, error) {
		sigs, _, err := trust.VerifySignatures(ctx, owner, desc)
		return len(sigs), err
	}
	if n, err := verified(); n != signatures || err != nil {
		t.Fatalf("the release's signatures before the attack: %d %v", n, err)
	}
	return owner, desc, kp, verified
}

// A push token cannot "append" to the .sig tag of a released image so
// many layers that the tag passes what verifiers read (oci.MaxReferrers):
// every old layer kept, the push looked like cosign appending, and the
// release's signature could no longer be verified — removed in effect.
func TestSignatureTagStaysWithinTheReadBound(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "team/**:v*")
	owner, desc, kp, verified := signedRelease(t, s, true, false)

	// the attacker: a push token for team/**, no admin
	pusher := s.token(t, "team/**", store.RolePush)
	sigRef := s.ref(t, "team/app:sha256-"+desc.Digest.Hex+".sig")
	current, err := remote.Image(sigRef, s.options(pusher)...)
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.Addendum
	junk := static.NewLayer([]byte("{}"), "application/vnd.dev.cosign.simplesigning.v1+json")
	for range oci.MaxReferrers {
		adds = append(adds, mutate.Addendum{Layer: junk})
	}
	appended, err := mutate.Append(current, adds...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sigRef, appended, s.options(pusher)...); err == nil || !strings.Contains(err.Error(), "more than the 500 verifiers read") {
		t.Errorf("appending %d layers to the .sig tag of a release: %v", oci.MaxReferrers, err)
	}
	if n, err := verified(); n != 1 || err != nil {
		t.Errorf("the release's signature after the push: %d %v", n, err)
	}
	if _, err := sign.SignLegacy(ctx, owner, desc.Digest, kp, nil); err != nil {
		t.Errorf("its owner signs it again: %v", err)
	}
}

// The same against a release signed the new way (a Sigstore bundle as an
// OCI referrer): a .sig tag nobody had pushed, created with 501 layers,
// and 501 referrers, are both refused, and the signature still counts.
func TestAttachmentsStayWithinTheReadBound(t *testing.T) {
	s := newServer(t, "team/**:v*")
	_, desc, _, verified := signedRelease(t, s, false, true)
	pusher := s.token(t, "team/**", store.RolePush)
	var adds []mutate.Addendum
	junk := static.NewLayer([]byte("{}"), "application/vnd.dev.cosign.simplesigning.v1+json")
	for range oci.MaxReferrers + 1 {
		adds = append(adds, mutate.Addendum{Layer: junk})
	}
	poison, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(s.ref(t, "team/app:sha256-"+desc.Digest.Hex+".sig"), poison, s.options(pusher)...); err == nil {
		t.Errorf("a .sig tag of %d layers was taken", oci.MaxReferrers+1)
	}
	// referrers up to the bound (the signature is one), then no more
	pushReferrer := func(i int) error {
		junk := mutate.Annotations(empty.Image, map[string]string{"n": fmt.Sprint(i)}).(v1.Image)
		junk = mutate.Subject(junk, desc).(v1.Image)
		return remote.Write(s.ref(t, fmt.Sprintf("team/app:junk%d", i)), junk, s.options(pusher)...)
	}
	for i := range oci.MaxReferrers - 1 {
		if err := pushReferrer(i); err != nil {
			t.Fatalf("referrer %d: %v", i+2, err)
		}
	}
	if err := pushReferrer(oci.MaxReferrers); err == nil || !strings.Contains(err.Error(), "no more can be attached") {
		t.Errorf("referrer %d: %v", oci.MaxReferrers+1, err)
	}
	if n, err := verified(); n != 1 || err != nil {
		t.Errorf("the signature after the pushes: %d %v", n, err)
	}
}
