package notation

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	notationregistry "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// world is a registry on 127.0.0.1 holding one image, a CA, and
// notation's configuration directory ({NOTATION_CONFIG}: trustpolicy.json
// and truststore/) trusting the CA's release certificate for the image's
// repository.
type world struct {
	repoName string
	repo     oci.Repository
	subject  v1.Descriptor
	ca       *testutil.NotationCA
	// configDir is notation's {NOTATION_CONFIG}
	configDir           string
	policyFile, storeTo string
}

// newWorld starts a registry with the referrers API or, without it, one
// where signatures go to the referrers tag schema, and pushes an image.
func newWorld(t testing.TB, referrersAPI bool, level string) *world {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	w := &world{repoName: strings.TrimPrefix(srv.URL, "http://") + "/app", ca: testutil.NewNotationCA(t, "Acme Root")}
	w.subject = w.push(t, "v1")
	var err error
	if w.repo, err = oci.OpenRegistry(w.repoName, oci.RegistryOptions{}); err != nil {
		t.Fatal(err)
	}
	w.configDir = t.TempDir()
	w.setLevel(t, level, testutil.NotationReleaseIdentity)
	return w
}

// push writes a random image tagged tag and returns its descriptor.
func (w *world) push(t testing.TB, tag string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(w.repoName+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

func (w *world) setLevel(t testing.TB, level, identity string) {
	w.policyFile, w.storeTo = testutil.WriteNotationTrust(t, w.configDir, w.repoName, level, identity, w.ca.Cert)
}

func (w *world) trust(t testing.TB) *trust.Config {
	t.Helper()
	cfg, err := trust.Load(w.policyFile, w.storeTo)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// verify is dossier's verification of the image's Notation signatures.
func (w *world) verify(t testing.TB) Result {
	t.Helper()
	return w.verifyAt(t, time.Now())
}

// verifyAt is dossier's verification of the image's Notation signatures
// at now.
func (w *world) verifyAt(t testing.TB, now time.Time) Result {
	t.Helper()
	v, err := NewVerifier(w.trust(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), w.repo, w.subject, now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// orasRepository is the image's repository as the notation CLI reaches
// it: oras-go's client wrapped by notation-go's registry package.
func (w *world) orasRepository(t testing.TB) notationregistry.Repository {
	t.Helper()
	r, err := orasremote.NewRepository(w.repoName)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return notationregistry.NewRepository(r)
}

// notationVerifier is notation-go's verifier configured as the notation
// CLI configures it: the trust policy decoded by notation's own type and
// the trust store read from {NOTATION_CONFIG}/truststore on each use.
func (w *world) notationVerifier(t testing.TB) notationgo.Verifier {
	t.Helper()
	data, err := os.ReadFile(w.policyFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(&doc, truststore.NewX509TrustStore(dir.NewSysFS(w.configDir)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// notationVerify is notation-go's own Verify of the image, as "notation
// verify" runs it.
func (w *world) notationVerify(t testing.TB) ([]*notationgo.VerificationOutcome, error) {
	t.Helper()
	_, outcomes, err := notationVerifyWith(w.notationVerifier(t), w.orasRepository(t), w)
	return outcomes, err
}

func notationVerifyWith(v notationgo.Verifier, repo notationregistry.Repository, w *world) (ocispec.Descriptor, []*notationgo.VerificationOutcome, error) {
	return notationgo.Verify(context.Background(), v, repo, notationgo.VerifyOptions{
		ArtifactReference:    w.repoName + "@" + w.subject.Digest.String(),
		MaxSignatureAttempts: 50,
	})
}
