package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// legacyAttestationMediaType is the layer media type of legacy .att
// attestations: a DSSE envelope.
const legacyAttestationMediaType = "application/vnd.dsse.envelope.v1+json"

// Verify finds the attestations of predicateType attached to subject, in
// both layouts, and verifies each with trust. Those that verify become
// evidence (with who signed them; SLSA provenance summarised); the others
// are rejections with the reason. err is for attestations that could not
// be read at all.
func Verify(ctx context.Context, repo oci.Repository, subject v1.Descriptor, predicateType string, trust *sign.Trust) ([]evidence.Attestation, []evidence.RejectedSignature, error) {
	found, unreadable, err := sign.FindBundles(ctx, repo, subject, predicateType)
	if err != nil {
		return nil, nil, err
	}
	legacy, legacyRejected, err := legacyAttestations(ctx, repo, subject.Digest, predicateType)
	if err != nil {
		return nil, nil, err
	}
	attached, rejected := trust.VerifyFound(append(found, legacy...), subject.Digest, predicateType)
	rejected = append(append(rejected, unreadable...), legacyRejected...)
	s := evidence.Subject{Repository: repo.Name(), Digest: subject.Digest.String()}
	var out []evidence.Attestation
	for _, a := range attached {
		att := evidence.Attestation{
			Subject: s, PredicateType: a.Statement.PredicateType, Predicate: a.Statement.Predicate, Verification: a.Verification(),
			StatedTime: PredicateTime(predicateType, a.Statement.Predicate),
		}
		if predicateType == evidence.PredicateSLSA1 || predicateType == evidence.PredicateSLSA02 {
			// unreadable provenance stays nil: conditions on it then fail
			att.Provenance, _ = SummarizeProvenance(predicateType, a.Statement.Predicate)
		}
		out = append(out, att)
	}
	return out, rejected, nil
}

// legacyAttestations turns the DSSE envelopes under subject's .att tag
// into bundles for the usual verification; envelopes that cannot be
// rebuilt are rejections.
func legacyAttestations(ctx context.Context, repo oci.Repository, subject v1.Hash, predicateType string) ([]sign.Found, []evidence.RejectedSignature, error) {
	tag := oci.LegacyTag(subject, "att")
	d, err := repo.Resolve(ctx, tag)
	if errors.Is(err, oci.ErrNotFound) {
		return nil, nil, nil
	}
	var raw []byte
	if err == nil {
		raw, err = repo.Fetch(ctx, d)
	}
	if sign.Unreadable(err) {
		return nil, []evidence.RejectedSignature{sign.Rejection(predicateType, repo.Name()+":"+tag, err)}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s:%s: %w", repo.Name(), tag, err)
	}
	var m v1.Manifest
	err = json.Unmarshal(raw, &m)
	if err == nil {
		err = sign.CheckLegacyManifest(&m, repo.Name()+":"+tag)
	}
	if err != nil {
		malformed := fmt.Errorf("%w: %s:%s: %v", sign.ErrMalformedTag, repo.Name(), tag, err)
		return nil, []evidence.RejectedSignature{sign.Rejection(predicateType, repo.Name()+":"+tag, malformed)}, nil
	}
	var total int64
	for _, l := range m.Layers {
		if pt := l.Annotations["predicateType"]; l.MediaType == legacyAttestationMediaType && l.Size <= oci.MaxFetchSize && (predicateType == "" || pt == "" || pt == predicateType) {
			total += l.Size
		}
	}
	if err := oci.Reserve(ctx, total); err != nil {
		return nil, nil, fmt.Errorf("%s:%s: %w", repo.Name(), tag, err)
	}
	var found []sign.Found
	var rejected []evidence.RejectedSignature
	for _, l := range m.Layers {
		if l.MediaType != legacyAttestationMediaType {
			continue
		}
		if pt := l.Annotations["predicateType"]; predicateType != "" && pt != "" && pt != predicateType {
			continue
		}
		where := fmt.Sprintf("%s:%s layer %s", repo.Name(), tag, l.Digest)
		if l.Size > oci.MaxFetchSize {
			rejected = append(rejected, sign.Rejection(predicateType, where, fmt.Errorf("%w: layer is %d bytes, more than dossier reads", sign.ErrInvalid, l.Size)))
			continue
		}
		envelope, err := repo.Fetch(ctx, l)
		if sign.Unreadable(err) {
			rejected = append(rejected, sign.Rejection(predicateType, where, err))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		data, err := sign.LegacyDSSEBundle(envelope, l.Annotations)
		if err != nil {
			rejected = append(rejected, sign.Rejection(predicateType, where, err))
			continue
		}
		found = append(found, sign.Found{Data: data, StoredAt: where, Layout: evidence.LayoutLegacyTag})
	}
	return found, rejected, nil
}
