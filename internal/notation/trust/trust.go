// Package trust holds Notation (Notary Project) trust material: a trust
// policy document (notation's trustpolicy.json / trustpolicy.oci.json) and
// the trust store certificates its statements name, read once, validated
// by notation-go's own rules and kept in memory. A policy loads it with its
// signers; verification (package notation) reads nothing from disk after.
package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Bounds on what is read: a trust policy is a few kilobytes and a trust
// store a handful of certificates.
const (
	MaxPolicyBytes    = 1 << 20
	MaxCertFileBytes  = 1 << 20
	MaxFilesPerStore  = 100
	maxStatements     = 1000
	maxScopesOrValues = 1000
)

// Store names one named trust store: ca, signingAuthority or tsa, and a
// name ("ca:acme-roots" in a trust policy).
type Store struct {
	Type truststore.Type
	Name string
}

func (s Store) String() string { return string(s.Type) + ":" + s.Name }

// Config is a validated trust policy document and the certificates of
// every trust store its statements name. It implements notation-go's
// truststore.X509TrustStore, so notation's verifier reads the stores from
// memory.
type Config struct {
	policy *trustpolicy.Document
	stores map[Store][]*x509.Certificate
	digest string
}

// ParsePolicy decodes a trust policy document strictly (unknown fields
// are refused by name, as is anything after the document) and validates
// it with notation-go's rules.
func ParsePolicy(data []byte) (*trustpolicy.Document, error) {
	if len(data) > MaxPolicyBytes {
		return nil, fmt.Errorf("%d bytes, more than the %d KiB a trust policy may have", len(data), MaxPolicyBytes>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc trustpolicy.Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a trust policy document: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a trust policy document: more data after the JSON object")
	}
	if len(doc.TrustPolicies) > maxStatements {
		return nil, fmt.Errorf("%d trust policy statements, more than %d", len(doc.TrustPolicies), maxStatements)
	}
	for _, s := range doc.TrustPolicies {
		if len(s.RegistryScopes) > maxScopesOrValues || len(s.TrustStores) > maxScopesOrValues || len(s.TrustedIdentities) > maxScopesOrValues {
			return nil, fmt.Errorf("trust policy statement %q: more than %d registry scopes, trust stores or trusted identities", s.Name, maxScopesOrValues)
		}
	}
	return validate(&doc)
}

// validate checks doc by notation-go's rules, then spells its registry
// scopes as dossier names repositories and checks it again: the statement
// an image is judged by must not depend on how the author spelled the
// registry ("localhost:5000/app" is 127.0.0.1:5000/app, "docker.io/nginx"
// is index.docker.io/library/nginx), or a specific statement is talked
// around and the "*" one applies. The returned document is a copy.
func validate(doc *trustpolicy.Document) (*trustpolicy.Document, error) {
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	out := *doc
	out.TrustPolicies = slices.Clone(doc.TrustPolicies)
	for i, st := range out.TrustPolicies {
		var scopes []string
		for _, s := range st.RegistryScopes {
			if s != "*" {
				s = evidence.CanonicalRepository(s)
			}
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
		out.TrustPolicies[i].RegistryScopes = scopes
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("registry scopes spelled as dossier names repositories (lower-case host, localhost as 127.0.0.1, no port 443, Docker Hub as index.docker.io/library/…): %w", err)
	}
	return &out, nil
}

// Load reads the trust policy file (LoadPolicy) and the trust stores it
// names from storeDir (LoadStores).
func Load(policyFile, storeDir string) (*Config, error) {
	doc, err := LoadPolicy(policyFile)
	if err != nil {
		return nil, err
	}
	stores, err := LoadStores(doc, storeDir)
	if err != nil {
		return nil, err
	}
	return New(doc, stores)
}

// LoadPolicy reads and validates a trust policy file (ParsePolicy).
func LoadPolicy(file string) (*trustpolicy.Document, error) {
	data, err := readBounded(file, MaxPolicyBytes)
	if err != nil {
		return nil, err
	}
	doc, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return doc, nil
}

// LoadStores reads, from storeDir (laid out as notation's
// {NOTATION_CONFIG}/truststore: x509/{ca,signingAuthority,tsa}/NAME/ with
// PEM or DER certificate files), the certificates of every trust store doc
// names, with notation-go's trust store reader and its checks (no
// symbolic links, CA or self-signed certificates, root TSA certificates).
func LoadStores(doc *trustpolicy.Document, storeDir string) (map[Store][]*x509.Certificate, error) {
	stores := map[Store][]*x509.Certificate{}
	reader := truststore.NewX509TrustStore(storeFS{FS: os.DirFS(storeDir), dir: storeDir})
	for _, s := range Named(doc) {
		if err := checkStoreFiles(filepath.Join(storeDir, "x509", string(s.Type), s.Name)); err != nil {
			return nil, fmt.Errorf("trust store %s in %s: %w", s, storeDir, err)
		}
		certs, err := reader.GetCertificates(context.Background(), s.Type, s.Name)
		if err != nil {
			return nil, fmt.Errorf("trust store %s in %s: %w", s, storeDir, err)
		}
		stores[s] = certs
	}
	return stores, nil
}

// New builds a Config from a trust policy document and trust store
// certificates held in memory (as a Kubernetes policy carries them). Every
// store the document names must be given; the document must be valid.
func New(doc *trustpolicy.Document, stores map[Store][]*x509.Certificate) (*Config, error) {
	doc, err := validate(doc)
	if err != nil {
		return nil, err
	}
	for _, s := range Named(doc) {
		certs := stores[s]
		if len(certs) == 0 {
			return nil, fmt.Errorf("trust store %s: no certificates", s)
		}
		if err := truststore.ValidateCertificates(certs); err != nil {
			return nil, fmt.Errorf("trust store %s: %w", s, err)
		}
	}
	c := &Config{policy: doc, stores: stores}
	c.digest = c.contentDigest()
	return c, nil
}

// Named lists the trust stores the document's statements name, sorted.
func Named(doc *trustpolicy.Document) []Store {
	var out []Store
	for _, st := range doc.TrustPolicies {
		for _, ts := range st.TrustStores {
			typ, name, _ := strings.Cut(ts, ":")
			s := Store{Type: truststore.Type(typ), Name: name}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Digest names this exact trust configuration: "sha256:<hex>" of the
// policy document and every store's certificates.
func (c *Config) Digest() string { return c.digest }

// Policy is the trust policy document (not to be modified).
func (c *Config) Policy() *trustpolicy.Document { return c.policy }

// Certificates are the certificates of every trust store, of every type.
func (c *Config) Certificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, s := range Named(c.policy) {
		out = append(out, c.stores[s]...)
	}
	return out
}

// GetCertificates implements truststore.X509TrustStore from memory.
func (c *Config) GetCertificates(_ context.Context, storeType truststore.Type, name string) ([]*x509.Certificate, error) {
	certs, ok := c.stores[Store{Type: storeType, Name: name}]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("the trust store %q of type %q is not in the trust configuration", name, storeType)}
	}
	return slices.Clone(certs), nil
}

// Statement is the trust policy statement that applies to reference
// (registry/repository@digest, the repository read as dossier names it)
// and its verification level, by notation's rules: the statement naming
// the repository in registryScopes, else the "*" statement.
func (c *Config) Statement(reference string) (*trustpolicy.TrustPolicy, *trustpolicy.VerificationLevel, error) {
	if i := strings.LastIndex(reference, "@"); i >= 0 {
		reference = evidence.CanonicalRepository(reference[:i]) + reference[i:]
	}
	st, err := c.policy.GetApplicableTrustPolicy(reference)
	if err != nil {
		return nil, nil, err
	}
	level, err := st.SignatureVerification.GetVerificationLevel()
	if err != nil {
		return nil, nil, err
	}
	return st, level, nil
}

// Skips names the statement that skips signature verification (level
// skip) for reference, or "" when the statement that applies (if any)
// verifies.
func (c *Config) Skips(reference string) string {
	st, level, err := c.Statement(reference)
	if err != nil || level.Name != trustpolicy.LevelSkip.Name {
		return ""
	}
	return st.Name
}

// Warnings say what the document's statements accept that a reader should
// know: levels that only log failed checks, and revocation not checked.
func Warnings(doc *trustpolicy.Document) []string {
	var out []string
	for _, st := range doc.TrustPolicies {
		level, err := st.SignatureVerification.GetVerificationLevel()
		if err != nil {
			continue // Validate refused it already
		}
		var logged, skipped []string
		for _, t := range trustpolicy.ValidationTypes {
			switch level.Enforcement[t] {
			case trustpolicy.ActionLog:
				logged = append(logged, string(t))
			case trustpolicy.ActionSkip:
				skipped = append(skipped, string(t))
			}
		}
		switch {
		case level.Name == trustpolicy.LevelSkip.Name:
			out = append(out, fmt.Sprintf("trust policy statement %q skips signature verification: images in %s pass unsigned", st.Name, strings.Join(st.RegistryScopes, ", ")))
		default:
			if len(logged) > 0 {
				out = append(out, fmt.Sprintf("trust policy statement %q (level %s) only logs failed %s checks: such signatures are accepted", st.Name, level.Name, strings.Join(logged, ", ")))
			}
			if len(skipped) > 0 {
				out = append(out, fmt.Sprintf("trust policy statement %q (level %s) does not check %s", st.Name, level.Name, strings.Join(skipped, ", ")))
			}
		}
	}
	return out
}

func (c *Config) contentDigest() string {
	h := sha256.New()
	doc, _ := json.Marshal(c.policy) // plain data: cannot fail
	h.Write(doc)
	keys := make([]Store, 0, len(c.stores))
	for s := range c.stores {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, s := range keys {
		h.Write([]byte{0})
		h.Write([]byte(s.String()))
		for _, cert := range c.stores[s] {
			h.Write([]byte{1})
			h.Write(cert.Raw)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// storeFS lets notation-go's trust store reader, which looks for
// {NOTATION_CONFIG}/truststore/x509/…, read a trust store directory given
// on its own.
type storeFS struct {
	fs.FS
	dir string
}

func (s storeFS) SysPath(items ...string) (string, error) {
	rel, ok := strings.CutPrefix(path.Join(items...), dir.TrustStoreDir+"/")
	if !ok {
		return "", fmt.Errorf("%s is not in a trust store", path.Join(items...))
	}
	return filepath.Join(s.dir, filepath.FromSlash(rel)), nil
}

// checkStoreFiles bounds what notation's reader will read of one store.
func checkStoreFiles(storeDir string) error {
	entries, err := os.ReadDir(storeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no directory %s", storeDir)
	}
	if err != nil {
		return err
	}
	if len(entries) > MaxFilesPerStore {
		return fmt.Errorf("%d files, more than %d", len(entries), MaxFilesPerStore)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			// notation's reader refuses directories and links, and would
			// wait forever on a named pipe
			return fmt.Errorf("%s is not a regular file (mode %s): a trust store holds certificate files only", e.Name(), info.Mode())
		}
		if info.Size() > MaxCertFileBytes {
			return fmt.Errorf("%s: %d bytes, more than a certificate file may have (%d KiB)", e.Name(), info.Size(), MaxCertFileBytes>>10)
		}
	}
	return nil
}

func readBounded(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than the %d KiB a trust policy may have", file, limit>>10)
	}
	return data, nil
}
