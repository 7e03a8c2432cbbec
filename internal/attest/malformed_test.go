package attest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// rawManifest is a manifest pushed exactly as written.
type rawManifest string

func (m rawManifest) RawManifest() ([]byte, error)        { return []byte(m), nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// A cosign .att tag whose manifest dossier cannot read (helper-9: a layer
// digest of sha384) is one rejected attestation, not the end of the read:
// the provenance attached as a referrer still verifies.
func TestMalformedAttestationTagIsARejection(t *testing.T) {
	ctx := context.Background()
	repo, subject := repositories(t)["registry"]()
	kp, trust, prov := trustedProvenance(t)
	if _, err := attest.Attach(ctx, repo, subject, evidence.PredicateSLSA1, prov, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	tag := oci.LegacyTag(subject.Digest, "att")
	ref, err := name.ParseReference(repo.Name()+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	junk := rawManifest(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
		"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
		"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"sha384:` + strings.Repeat("ab", 48) + `","size":10}]}`)
	if err := remote.Put(ref, junk); err != nil {
		t.Fatal(err)
	}
	atts, rejected, err := attest.Verify(ctx, repo, subject, evidence.PredicateSLSA1, trust)
	if err != nil || len(atts) != 1 {
		t.Fatalf("with junk under the .att tag: %+v, rejected %+v, err %v; want the referrer's provenance", atts, rejected, err)
	}
	if len(rejected) != 1 || rejected[0].StoredAt != repo.Name()+":"+tag || !strings.Contains(rejected[0].Reason, "no signature manifest dossier reads") {
		t.Errorf("the junk tag's rejection: %+v", rejected)
	}
}
