package attest

import (
	"context"
	"encoding/json"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
)

// Attached says what was attested and where the attestation went.
type Attached struct {
	Subject       string `json:"subject"`
	PredicateType string `json:"predicateType"`
	Referrer      string `json:"referrer"`
}

// Attach signs a statement about subject with predicate and stores it next
// to subject as cosign does (a Sigstore bundle referrer). An image
// signature is the statement of cosign's sign predicate with an empty
// predicate and the signed annotations.
func Attach(ctx context.Context, repo oci.Repository, subject v1.Descriptor, predicateType string, predicate json.RawMessage, annotations map[string]any, signer *sign.Signer, now time.Time) (*Attached, error) {
	st, err := Statement(subject.Digest, predicateType, predicate, annotations)
	if err != nil {
		return nil, err
	}
	bundle, err := signer.SignStatement(ctx, st)
	if err != nil {
		return nil, err
	}
	ref, err := sign.StoreBundle(ctx, repo, subject, bundle, predicateType, now)
	if err != nil {
		return nil, err
	}
	return &Attached{Subject: repo.Name() + "@" + subject.Digest.String(), PredicateType: predicateType, Referrer: ref.Digest.String()}, nil
}

// SignImage signs subject: cosign's sign predicate, with annotations.
func SignImage(ctx context.Context, repo oci.Repository, subject v1.Descriptor, annotations map[string]any, signer *sign.Signer, now time.Time) (*Attached, error) {
	return Attach(ctx, repo, subject, evidence.PredicateSignatures, json.RawMessage(`{}`), annotations, signer, now)
}
