package notation

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// FuzzEnvelopeLayer: a signature manifest is one envelope layer of a known
// type and a bounded size, or an error; never a panic.
func FuzzEnvelopeLayer(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","config":{"mediaType":"application/vnd.cncf.notary.signature","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/jose+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		l, err := envelopeLayer(manifest)
		if err != nil {
			return
		}
		if CheckEnvelopeType(string(l.MediaType)) != nil || l.Size < 0 || l.Size > MaxEnvelopeBytes {
			t.Fatalf("accepted layer %+v", l)
		}
	})
}

// FuzzJudgeEnvelope: whatever a registry serves as an envelope, JWS or
// COSE, notation-go's verifier as dossier drives it verifies it or says
// why not, never panics, and never verifies an envelope of a type other
// than JWS or COSE. The seeds are real envelopes over the target.
func FuzzJudgeEnvelope(f *testing.F) {
	ca := testutil.NewNotationCA(f, "Fuzz Root")
	cfg, err := trust.New(mustPolicy(f), map[trust.Store][]*x509.Certificate{{Type: "ca", Name: "acme"}: {ca.Cert}})
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(cfg, Options{RevocationTimeout: 100 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	target := toOCI(oci.Descriptor(types.OCIManifestSchema1, []byte(`{"schemaVersion":2}`)))
	k, chain := ca.Issue(f, testutil.NotationRelease, time.Now().Add(time.Hour))
	key, err := NewKey(k, chain)
	if err != nil {
		f.Fatal(err)
	}
	for i, mt := range []string{evidence.NotationJWS, evidence.NotationCOSE} {
		blob, _, err := key.signer.Sign(context.Background(), target, notationgo.SignerSignOptions{SignatureMediaType: mt})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), blob)
	}
	statement, level, err := cfg.Statement("registry.example/app@" + target.Digest.String())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind uint8, blob []byte) {
		mediaType := []string{evidence.NotationJWS, evidence.NotationCOSE, "application/octet-stream"}[int(kind)%3]
		sig, rejected := v.judge(context.Background(), statement, level, "registry.example/app@"+target.Digest.String(), target, ocispec.Descriptor{Digest: target.Digest}, mediaType, blob, time.Now())
		if (sig == nil) == (rejected == nil) {
			t.Fatalf("judged %v and %v", sig, rejected)
		}
		if sig != nil && mediaType == "application/octet-stream" {
			t.Fatal("verified an envelope of an unknown type")
		}
		if sig != nil && sig.Signer.CertificateSubject != "CN=release,O=Acme,ST=WA,C=US" {
			t.Fatalf("verified a signature by %q", sig.Signer.CertificateSubject)
		}
		if rejected != nil && !strings.HasPrefix(rejected.Reason, "Notation signature: ") {
			t.Fatalf("reason %q", rejected.Reason)
		}
	})
}

func mustPolicy(f *testing.F) *trustpolicy.Document {
	doc, err := trust.ParsePolicy([]byte(`{"version":"1.0","trustPolicies":[{"name":"app","registryScopes":["registry.example/app"],
		"signatureVerification":{"level":"strict","override":{"revocation":"skip"}},"trustStores":["ca:acme"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=Acme, CN=release"]}]}`))
	if err != nil {
		f.Fatal(err)
	}
	return doc
}
