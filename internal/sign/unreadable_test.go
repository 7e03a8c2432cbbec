package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// A referrer or cosign tag the registry lists but will not serve — a
// quarantine holding a junk "bundle" with a tar layer that a push token
// attached to a signed release (helper-8) — is a rejection of that one:
// the release's real signatures, in a referrer and in cosign's tag, still
// verify. Before, the first unreadable referrer ended the whole read and
// every reader denied the release.
func TestUnreadableAttachmentsAreRejectionsNotTheEnd(t *testing.T) {
	ctx := context.Background()
	var held sync.Map // manifest digests the registry refuses to serve
	srv, repo, subject, kp, trust := referrerSignedSample(t, func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i := strings.LastIndex(r.URL.Path, "/manifests/"); i >= 0 && r.Method == http.MethodGet {
				if _, ok := held.Load(r.URL.Path[i+len("/manifests/"):]); ok {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusForbidden)
					io.WriteString(w, `{"errors":[{"code":"DENIED","message":"quarantined: its scan failed"}]}`)
					return
				}
			}
			inner.ServeHTTP(w, r)
		})
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	if _, err := SignLegacy(ctx, repo, subject.Digest, kp, nil); err != nil {
		t.Fatal(err)
	}
	// the junk referrer: a bundle's artifactType over a tar layer, held
	tarLayer := static.NewLayer([]byte("0123456789"), types.OCILayer)
	emptyConfig := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	for _, l := range []v1.Layer{tarLayer, emptyConfig} {
		if err := remote.WriteLayer(mustRef(t, host+"/team/app:x").Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	tarDigest, _ := tarLayer.Digest()
	junkManifest := func(withSubject bool) rawManifest {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
			"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
			"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":10}]`, tarDigest)
		if withSubject {
			m += fmt.Sprintf(`,"artifactType":%q,"subject":{"mediaType":%q,"digest":%q,"size":%d}`, BundleMediaType, subject.MediaType, subject.Digest, subject.Size)
		}
		return rawManifest(m + "}")
	}
	junk := junkManifest(true)
	junkDigest := junk.digest()
	if err := remote.Put(mustRef(t, host+"/team/app@"+junkDigest), junk); err != nil {
		t.Fatal(err)
	}
	held.Store(junkDigest, true)
	sigs, rejected, err := trust.VerifySignatures(ctx, repo, subject)
	if err != nil || len(sigs) != 2 {
		t.Fatalf("with a held junk referrer: %d signatures, rejected %+v, err %v; want the referrer's and the tag's", len(sigs), rejected, err)
	}
	if len(rejected) != 1 || rejected[0].Kind != evidence.FailureUnreadable || rejected[0].StoredAt != junkDigest || !strings.Contains(rejected[0].Reason, "quarantined") {
		t.Errorf("the held referrer's rejection: %+v", rejected)
	}
	// cosign's tag replaced by a held manifest: its signatures cannot be
	// read (the tag no longer names them), the referrer's still verify
	legacyTag := oci.LegacyTag(subject.Digest, "sig")
	junkTag := junkManifest(false)
	if err := remote.Put(mustRef(t, host+"/team/app:"+legacyTag), junkTag); err != nil {
		t.Fatal(err)
	}
	held.Store(junkTag.digest(), true)
	sigs, rejected, err = trust.VerifySignatures(ctx, repo, subject)
	if err != nil || len(sigs) != 1 || sigs[0].Layout != evidence.LayoutReferrer {
		t.Fatalf("with a held cosign tag: %+v, rejected %+v, err %v; want the referrer's signature", sigs, rejected, err)
	}
	if len(rejected) != 2 || !strings.Contains(rejected[0].StoredAt+rejected[1].StoredAt, ":"+legacyTag) {
		t.Errorf("the held tag's rejection: %+v", rejected)
	}
	// an outage is not a rejection: it still ends the read
	srv.Close()
	if _, _, err := trust.VerifySignatures(ctx, repo, subject); err == nil {
		t.Error("verification with the registry down succeeded")
	}
}

// referrerSignedSample serves a registry, behind wrap, on 127.0.0.1 and
// pushes a sample image to team/app:v1 signed by a referrer bundle.
func referrerSignedSample(t *testing.T, wrap func(http.Handler) http.Handler) (*httptest.Server, oci.Repository, v1.Descriptor, *KeyPair, *Trust) {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewServer(wrap(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	repo, err := oci.OpenRegistry(host+"/team/app", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := GenerateKeyPair()
	bundle, err := NewKeySigner(kp, "").SignStatement(ctx, statement(subject.Digest, evidence.PredicateSignatures, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StoreBundle(ctx, repo, subject, bundle, evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	return srv, repo, subject, kp, mustTrust(t, kp)
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// rawManifest is a manifest pushed exactly as written.
type rawManifest string

func (m rawManifest) RawManifest() ([]byte, error) { return []byte(m), nil }
func (m rawManifest) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
func (m rawManifest) digest() string {
	sum := sha256.Sum256([]byte(m))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// A cosign .sig tag whose manifest dossier cannot read — a layer digest of
// another algorithm (helper-9: sha384, which the registry takes and
// go-containerregistry will not parse), or broken JSON — is one rejected
// signature, not the end of the read: the subject's referrer signature
// still verifies.
func TestMalformedCosignTagIsARejection(t *testing.T) {
	ctx := context.Background()
	srv, repo, subject, _, trust := referrerSignedSample(t, func(h http.Handler) http.Handler { return h })
	host := strings.TrimPrefix(srv.URL, "http://")
	legacyTag := oci.LegacyTag(subject.Digest, "sig")
	for name, junk := range map[string]rawManifest{
		"a sha384 layer": rawManifest(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
			"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
			"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha384:` + strings.Repeat("ab", 48) + `","size":10}]}`),
		"broken JSON": rawManifest(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":"not a list"}`),
	} {
		if err := remote.Put(mustRef(t, host+"/team/app:"+legacyTag), junk); err != nil {
			t.Fatal(err)
		}
		sigs, rejected, err := trust.VerifySignatures(ctx, repo, subject)
		if err != nil || len(sigs) != 1 || sigs[0].Layout != evidence.LayoutReferrer {
			t.Errorf("%s under the .sig tag: %+v, rejected %+v, err %v; want the referrer's signature", name, sigs, rejected, err)
			continue
		}
		if len(rejected) != 1 || rejected[0].StoredAt != repo.Name()+":"+legacyTag || !strings.Contains(rejected[0].Reason, "no signature manifest dossier reads") {
			t.Errorf("%s under the .sig tag: rejected %+v", name, rejected)
		}
	}
}
