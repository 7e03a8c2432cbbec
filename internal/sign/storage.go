package sign

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
)

// Media types and annotations shared with cosign.
const (
	// BundleMediaType is the Sigstore bundle v0.3 media type, also the
	// artifactType of the referrer manifest that carries it.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PredicateTypeAnnotation on a referrer names its statement's predicate.
	PredicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
	emptyJSONMediaType      = "application/vnd.oci.empty.v1+json"
)

// attachedBudget counts what is read of one subject's attachments.
type attachedBudget struct {
	where string
	left  int64
}

func newAttachedBudget(where string) *attachedBudget {
	return &attachedBudget{where: where, left: oci.MaxAttachedBytes}
}

func (b *attachedBudget) take(n int64) error {
	if b.left -= n; b.left < 0 || n < 0 {
		return fmt.Errorf("%s: signatures and attestations of more than %d MiB: dossier reads no more of one subject", b.where, oci.MaxAttachedBytes>>20)
	}
	return nil
}

// CheckLegacyManifest refuses a legacy .sig or .att manifest with more
// layers, or layers adding up to more bytes, than dossier reads of one
// subject.
func CheckLegacyManifest(m *v1.Manifest, where string) error {
	if len(m.Layers) > oci.MaxReferrers {
		return fmt.Errorf("%s: %d signatures or attestations, more than the %d dossier reads of one subject", where, len(m.Layers), oci.MaxReferrers)
	}
	budget := newAttachedBudget(where)
	for _, l := range m.Layers {
		if err := budget.take(l.Size); err != nil {
			return err
		}
	}
	return nil
}

// StoreBundle writes bundle as an OCI 1.1 referrer of subject, as cosign
// does: an image manifest with the bundle media type as artifactType, an
// empty config, the bundle as its one layer, and subject set. Registries
// without the referrers API get the tag schema (sha256-<hex>) updated. It
// returns the referrer manifest's descriptor.
func StoreBundle(ctx context.Context, repo oci.Repository, subject v1.Descriptor, bundle []byte, predicateType string, created time.Time) (v1.Descriptor, error) {
	config := []byte("{}")
	cd := oci.Descriptor(emptyJSONMediaType, config)
	cd.ArtifactType = BundleMediaType
	ld := oci.Descriptor(BundleMediaType, bundle)
	for _, b := range []struct {
		d v1.Descriptor
		c []byte
	}{{cd, config}, {ld, bundle}} {
		if err := repo.Push(ctx, b.d, b.c); err != nil {
			return v1.Descriptor{}, err
		}
	}
	m := struct {
		v1.Manifest
		ArtifactType string `json:"artifactType"`
	}{
		Manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			Config:        cd,
			Layers:        []v1.Descriptor{ld},
			Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
			Annotations: map[string]string{
				"org.opencontainers.image.created": created.UTC().Format(time.RFC3339),
				"dev.sigstore.bundle.content":      "dsse-envelope",
				PredicateTypeAnnotation:            predicateType,
			},
		},
		ArtifactType: BundleMediaType,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, err
	}
	md := oci.Descriptor(types.OCIManifestSchema1, raw)
	if err := repo.Push(ctx, md, raw); err != nil {
		return v1.Descriptor{}, fmt.Errorf("storing the bundle for %s@%s: %w", repo.Name(), subject.Digest, err)
	}
	md.ArtifactType = BundleMediaType
	return md, nil
}

// Found is a bundle attached to a subject, not yet verified.
type Found struct {
	Data []byte
	// StoredAt is the referrer manifest digest, or the legacy tag and layer.
	StoredAt string
	Layout   string
}

// FindBundles lists the Sigstore bundles attached to subject as referrers
// whose predicate type is predicateType (every type when empty), fetched
// with size and digest checked. A referrer the registry lists but will not
// serve is a rejection, not the end of the read.
func FindBundles(ctx context.Context, repo oci.Repository, subject v1.Descriptor, predicateType string) ([]Found, []evidence.RejectedSignature, error) {
	descs, err := repo.Referrers(ctx, subject, BundleMediaType)
	if err != nil {
		return nil, nil, err
	}
	var unreadable []evidence.RejectedSignature
	fetch := func(referrer v1.Hash, d v1.Descriptor, what string) ([]byte, bool, error) {
		raw, err := repo.Fetch(ctx, d)
		if Unreadable(err) {
			unreadable = append(unreadable, Rejection(predicateType, referrer.String(), fmt.Errorf("%s: %w", what, err)))
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", what, err)
		}
		return raw, true, nil
	}
	// the manifests first, then the bundles, once their sizes add up
	type bundle struct{ referrer, layer v1.Descriptor }
	var bundles []bundle
	budget := newAttachedBudget(fmt.Sprintf("%s@%s", repo.Name(), subject.Digest))
	for _, d := range descs {
		if pt := d.Annotations[PredicateTypeAnnotation]; predicateType != "" && pt != "" && pt != predicateType {
			continue
		}
		if err := budget.take(d.Size); err != nil {
			return nil, nil, err
		}
		raw, ok, err := fetch(d.Digest, d, "fetching referrer "+d.Digest.String())
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType {
			continue // not a bundle manifest of the shape cosign and dossier write
		}
		if m.Layers[0].Size > oci.MaxBundleBytes {
			return nil, nil, fmt.Errorf("bundle in referrer %s is %d bytes, more than %d MiB", d.Digest, m.Layers[0].Size, oci.MaxBundleBytes>>20)
		}
		if err := budget.take(m.Layers[0].Size); err != nil {
			return nil, nil, err
		}
		bundles = append(bundles, bundle{d, m.Layers[0]})
	}
	var total int64
	for _, b := range bundles {
		total += b.layer.Size
	}
	if err := oci.Reserve(ctx, total); err != nil {
		return nil, nil, fmt.Errorf("the bundles attached to %s@%s: %w", repo.Name(), subject.Digest, err)
	}
	var out []Found
	for _, b := range bundles {
		data, ok, err := fetch(b.referrer.Digest, b.layer, "fetching the bundle of referrer "+b.referrer.Digest.String())
		if err != nil {
			return nil, nil, err
		}
		if ok {
			out = append(out, Found{Data: data, StoredAt: b.referrer.Digest.String(), Layout: evidence.LayoutReferrer})
		}
	}
	return out, unreadable, nil
}

// Attached is a verified statement and where it was stored.
type Attached struct {
	Verified
	StoredAt string
	Layout   string
}

// Verification is what verifying it established, as evidence.
func (a Attached) Verification() evidence.Verification {
	return evidence.Verification{Signer: a.Signer, SigningTime: a.SigningTime, LogIndex: a.LogIndex,
		StoredAt: a.StoredAt, Layout: a.Layout, TransparencyLogSkipped: a.TransparencyLogSkipped, NoSCT: a.NoSCT}
}

// VerifyFound verifies bundles about subject and keeps those whose
// statement is of predicateType; the rest that fail are rejections.
func (t *Trust) VerifyFound(found []Found, subject v1.Hash, predicateType string) ([]Attached, []evidence.RejectedSignature) {
	var ok []Attached
	var rejected []evidence.RejectedSignature
	for _, f := range found {
		v, err := t.VerifyBundle(f.Data, subject)
		if err != nil {
			rejected = append(rejected, Rejection(predicateType, f.StoredAt, err))
			continue
		}
		if v.Statement.PredicateType != predicateType {
			continue // another kind of statement stored as a bundle
		}
		ok = append(ok, Attached{Verified: *v, StoredAt: f.StoredAt, Layout: f.Layout})
	}
	return ok, rejected
}
