package attest

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Statement builds the in-toto statement v1 about digest with a predicate
// (a JSON object) and optional subject annotations.
func Statement(digest v1.Hash, predicateType string, predicate json.RawMessage, annotations map[string]any) ([]byte, error) {
	var fields map[string]any
	if err := json.Unmarshal(predicate, &fields); err != nil {
		return nil, fmt.Errorf("predicate: must be a JSON object: %w", err)
	}
	pred, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	subject := &intoto.ResourceDescriptor{Digest: map[string]string{digest.Algorithm: digest.Hex}}
	if len(annotations) > 0 {
		if subject.Annotations, err = structpb.NewStruct(annotations); err != nil {
			return nil, fmt.Errorf("annotations: %w", err)
		}
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{subject},
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}
