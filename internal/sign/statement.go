package sign

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Statement is the in-toto statement a DSSE envelope carries, read before
// verification only to report digest mismatches precisely: nothing in it
// is trusted until the signature over it verifies.
type Statement struct {
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	// Raw is the payload as signed.
	Raw []byte `json:"-"`
}

// ParseStatement reads an in-toto statement payload.
func ParseStatement(payload []byte) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, invalid("payload is not an in-toto statement: %v", err)
	}
	if s.PredicateType == "" || len(s.Subject) == 0 {
		return nil, invalid("payload is not an in-toto statement: no predicate type or subject")
	}
	s.Raw = payload
	return &s, nil
}

// Names reports whether the statement is about digest.
func (s *Statement) Names(digest v1.Hash) bool {
	for _, sub := range s.Subject {
		if sub.Digest[digest.Algorithm] == digest.Hex {
			return true
		}
	}
	return false
}

// Subjects lists the digests the statement names.
func (s *Statement) Subjects() string {
	var out []string
	for _, sub := range s.Subject {
		for alg, h := range sub.Digest {
			out = append(out, alg+":"+h)
		}
	}
	return strings.Join(out, ", ")
}

func (s *Statement) checkSubject(digest v1.Hash) error {
	if !s.Names(digest) {
		return fmt.Errorf("%w: it names %s, not %s", ErrDigestMismatch, s.Subjects(), digest)
	}
	return nil
}
