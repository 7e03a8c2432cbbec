package sign

import (
	"context"
	"fmt"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements.
const InTotoPayloadType = "application/vnd.in-toto+json"

// Signer signs payloads into Sigstore bundles: with a key pair, or keyless
// with an ephemeral key, a Fulcio certificate and a transparency-log entry.
type Signer struct {
	keypair sgsign.Keypair
	opts    sgsign.BundleOptions
	// key is the key pair of a key-based signer (legacy signatures need it).
	key *KeyPair
}

// NewKeySigner signs with kp; rekorURL, when set, also records each
// signature in that transparency log.
func NewKeySigner(kp *KeyPair, rekorURL string) *Signer {
	s := &Signer{keypair: kp, key: kp}
	if rekorURL != "" {
		s.opts.TransparencyLogs = []sgsign.Transparency{sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: rekorURL, Timeout: 30 * time.Second, Retries: 2})}
	}
	return s
}

// KeyPair is the signer's key pair, nil for keyless signers.
func (s *Signer) KeyPair() *KeyPair { return s.key }

// SignStatement signs an in-toto statement into a Sigstore bundle (JSON).
func (s *Signer) SignStatement(ctx context.Context, statement []byte) ([]byte, error) {
	opts := s.opts
	opts.Context = ctx
	b, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: InTotoPayloadType}, s.keypair, opts)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return protojson.Marshal(b)
}
