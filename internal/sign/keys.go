// Package sign signs and verifies artifact digests: cosign-compatible key
// pairs, Sigstore bundles (DSSE envelopes over in-toto statements) stored
// as OCI 1.1 referrers of the signed digest, and verification that checks
// who signed, never just that some signature is valid.
package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// PEM block types of encrypted private keys, as cosign writes and reads them.
const (
	SigstorePrivateKeyPEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignPrivateKeyPEM   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// ErrKeyExists refuses to overwrite key files.
var ErrKeyExists = errors.New("key file exists and is not overwritten")

// KeyPair is an ECDSA P-256 signing key. It implements sigstore-go's
// sign.Keypair, so bundles are built by sigstore-go.
type KeyPair struct {
	private *ecdsa.PrivateKey
	hint    []byte
}

// GenerateKeyPair makes a new ECDSA P-256 key pair.
func GenerateKeyPair() (*KeyPair, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newKeyPair(k)
}

func newKeyPair(k *ecdsa.PrivateKey) (*KeyPair, error) {
	if k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("unsupported key: ECDSA %s (dossier signs with ECDSA P-256)", k.Curve.Params().Name)
	}
	hint, err := KeyHint(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return &KeyPair{private: k, hint: []byte(hint)}, nil
}

// KeyHint is the base64 SHA-256 of the DER public key, the hint Sigstore
// bundles carry for key-based signatures.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// WriteKeyFiles writes PREFIX.key (encrypted with password, mode 0600) and
// PREFIX.pub. Existing files are refused unless force is set.
func (kp *KeyPair) WriteKeyFiles(prefix string, password []byte, force bool) (privPath, pubPath string, err error) {
	privPath, pubPath = prefix+".key", prefix+".pub"
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Stat(p); err == nil {
				return "", "", fmt.Errorf("%s: %w", p, ErrKeyExists)
			}
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(kp.private)
	if err != nil {
		return "", "", err
	}
	sealed, err := encrypted.Encrypt(der, password)
	if err != nil {
		return "", "", err
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEM, Bytes: sealed})
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(&kp.private.PublicKey)
	if err != nil {
		return "", "", err
	}
	if err := WritePrivate(privPath, privPEM); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		return "", "", err
	}
	return privPath, pubPath, nil
}

// WritePrivate writes through a 0600 temporary file and a rename, so the
// key is never readable by others, even for a moment.
func WritePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadPrivateKey reads an encrypted cosign/Sigstore private key file.
func LoadPrivateKey(path string, password []byte) (*KeyPair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: not a PEM file", path)
	}
	if block.Type != SigstorePrivateKeyPEM && block.Type != CosignPrivateKeyPEM {
		return nil, fmt.Errorf("%s: PEM type %q is not an encrypted cosign/Sigstore private key", path, block.Type)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decrypt (wrong password?): %w", path, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T keys are not supported (dossier signs with ECDSA P-256)", path, key)
	}
	return newKeyPair(ec)
}

// Public returns the public key.
func (kp *KeyPair) Public() crypto.PublicKey { return &kp.private.PublicKey }

// The sigstore-go sign.Keypair interface.

func (kp *KeyPair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}

func (kp *KeyPair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}

func (kp *KeyPair) GetHint() []byte { return kp.hint }

func (kp *KeyPair) GetKeyAlgorithm() string { return "ECDSA" }

func (kp *KeyPair) GetPublicKey() crypto.PublicKey { return kp.Public() }

func (kp *KeyPair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(kp.Public())
	return string(b), err
}

// SignData signs SHA-256(data) and returns the signature and the digest.
func (kp *KeyPair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	sum := sha256.Sum256(data)
	sig, err := ecdsa.SignASN1(rand.Reader, kp.private, sum[:])
	return sig, sum[:], err
}
