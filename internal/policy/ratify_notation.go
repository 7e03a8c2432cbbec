package policy

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/notation/trust"
)

// KindRatifyKeyManagementProvider is Ratify's source of certificates for
// its notation Verifier; dossier reads the inline ones.
const KindRatifyKeyManagementProvider = "KeyManagementProvider"

type ratifyNotationParams struct {
	VerificationCertStores yaml.Node `yaml:"verificationCertStores"`
	TrustPolicyDoc         yaml.Node `yaml:"trustPolicyDoc"`
	// directories inside Ratify's own container
	VerificationCerts yaml.Node `yaml:"verificationCerts"`
}

type ratifyKMPSpec struct {
	Type            string    `yaml:"type"`
	RefreshInterval yaml.Node `yaml:"refreshInterval"`
	Parameters      struct {
		ContentType string `yaml:"contentType"`
		Value       string `yaml:"value"`
	} `yaml:"parameters"`
}

// ratifyNotation is a notation Verifier read, waiting for the
// KeyManagementProviders its trust stores name.
type ratifyNotation struct {
	base  Policy
	doc   []byte // the trust policy document, as JSON
	refs  map[trust.Store][]string
	nodes map[trust.Store]*yaml.Node
}

// ratifyCerts are the certificates of an inline KeyManagementProvider.
type ratifyCerts struct {
	name, namespace string
	certs           []*x509.Certificate
}

// decodeRatifyKMP reads an inline KeyManagementProvider of certificates.
func decodeRatifyKMP(d rawDocument, spec *yaml.Node, out *Documents) error {
	src := d.source
	var s ratifyKMPSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	switch {
	case s.Type != "inline":
		return refuseAt(src, nodeAt(spec, "type"), "spec.type", "%q: dossier reads inline KeyManagementProviders only (it reaches no key vault)", s.Type)
	case s.Parameters.ContentType != "certificate":
		return refuseAt(src, nodeAt(spec, "parameters", "contentType"), "spec.parameters.contentType", "%q: dossier reads certificates from a KeyManagementProvider, for notation Verifiers; give cosign keys as files in the trust policy", s.Parameters.ContentType)
	}
	certs, err := parseCertificates(s.Parameters.Value)
	if err != nil {
		return refuseAt(src, nodeAt(spec, "parameters", "value"), "spec.parameters.value", "%v", err)
	}
	out.ratify = append(out.ratify, ratifyPending{source: src, certs: &ratifyCerts{name: d.header.Metadata.Name, namespace: d.header.Metadata.Namespace, certs: certs}})
	return nil
}

// parseCertificates reads one or more PEM certificates, nothing else.
func parseCertificates(data string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(strings.TrimSpace(data))
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("not PEM certificates")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("unreadable certificate: %v", err)
		}
		certs = append(certs, cert)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificates")
	}
	return certs, nil
}

// decodeRatifyNotation reads a notation Verifier: its trust policy
// document, checked as notation-go checks it, and which
// KeyManagementProviders fill each trust store it names.
func decodeRatifyNotation(src string, base Policy, params *yaml.Node, out *Documents) error {
	var p ratifyNotationParams
	if err := decodeStrict(params, &p, "spec.parameters"); err != nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	switch {
	case present(p.VerificationCerts):
		return refuseAt(src, &p.VerificationCerts, "spec.parameters.verificationCerts", "certificate directories inside Ratify's container: give the certificates in inline KeyManagementProviders named by verificationCertStores")
	case !present(p.TrustPolicyDoc):
		return refuseAt(src, params, "spec.parameters.trustPolicyDoc", "missing: the Notation trust policy document")
	case !present(p.VerificationCertStores):
		return refuseAt(src, params, "spec.parameters.verificationCertStores", "missing: the KeyManagementProviders of each trust store")
	}
	var doc any
	if err := p.TrustPolicyDoc.Decode(&doc); err != nil {
		return refuseAt(src, &p.TrustPolicyDoc, "spec.parameters.trustPolicyDoc", "%v", err)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return refuseAt(src, &p.TrustPolicyDoc, "spec.parameters.trustPolicyDoc", "%v", err)
	}
	if _, err := trust.ParsePolicy(data); err != nil {
		return refuseAt(src, &p.TrustPolicyDoc, "spec.parameters.trustPolicyDoc", "%v", err)
	}
	refs, nodes, err := ratifyCertStores(src, &p.VerificationCertStores)
	if err != nil {
		return err
	}
	out.ratify = append(out.ratify, ratifyPending{source: src, notation: &ratifyNotation{base: base, doc: data, refs: refs, nodes: nodes}})
	return nil
}

// ratifyCertStores reads verificationCertStores in either of Ratify's
// forms: by trust store type ({ca: {store: [providers]}, tsa: …}), or
// the older one of CA stores ({store: [providers]}).
func ratifyCertStores(src string, n *yaml.Node) (map[trust.Store][]string, map[trust.Store]*yaml.Node, error) {
	const path = "spec.parameters.verificationCertStores"
	if n.Kind != yaml.MappingNode {
		return nil, nil, refuseAt(src, n, path, "want a map of trust stores to KeyManagementProviders")
	}
	refs, nodes := map[trust.Store][]string{}, map[trust.Store]*yaml.Node{}
	add := func(typ truststore.Type, name string, list *yaml.Node, at string) error {
		var providers []string
		if err := list.Decode(&providers); err != nil || len(providers) == 0 {
			return refuseAt(src, list, at, "want a list of KeyManagementProvider names")
		}
		s := trust.Store{Type: typ, Name: name}
		refs[s], nodes[s] = providers, list
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i].Value, n.Content[i+1]
		switch {
		case value.Kind == yaml.SequenceNode:
			if err := add(truststore.TypeCA, key, value, path+"."+key); err != nil {
				return nil, nil, err
			}
		case value.Kind == yaml.MappingNode && slices.Contains(truststore.Types, truststore.Type(key)):
			for j := 0; j+1 < len(value.Content); j += 2 {
				name := value.Content[j].Value
				if err := add(truststore.Type(key), name, value.Content[j+1], path+"."+key+"."+name); err != nil {
					return nil, nil, err
				}
			}
		default:
			return nil, nil, refuseAt(src, value, path+"."+key, "want a list of KeyManagementProviders, or a trust store type (ca, signingAuthority, tsa) holding such lists")
		}
	}
	return refs, nodes, nil
}

// resolveRatifyNotation makes the notation Verifiers' policies, their
// trust stores filled from the inline KeyManagementProviders loaded: a
// policy per trust policy statement, over its registry scopes, requiring
// a Notation signature the whole document verifies.
func (d *Documents) resolveRatifyNotation(notations []ratifyPending, providers []*ratifyCerts) ([]*Policy, error) {
	find := func(ref string) ([]*x509.Certificate, string) {
		var found []*ratifyCerts
		for _, p := range providers {
			if ref == p.name || (p.namespace != "" && ref == p.namespace+"/"+p.name) {
				found = append(found, p)
			}
		}
		switch len(found) {
		case 0:
			return nil, "no KeyManagementProvider of that name is loaded beside it"
		case 1:
			return found[0].certs, ""
		}
		return nil, "several KeyManagementProviders of that name are loaded: name it namespace/name"
	}
	var out []*Policy
	for _, r := range notations {
		n := r.notation
		stores := map[trust.Store][]*x509.Certificate{}
		for s, refs := range n.refs {
			for _, ref := range refs {
				certs, why := find(ref)
				if why != "" {
					return nil, refuseAt(r.source, n.nodes[s], fmt.Sprintf("spec.parameters.verificationCertStores: %s: %q", s, ref), "%s", why)
				}
				stores[s] = append(stores[s], certs...)
			}
		}
		doc, err := trust.ParsePolicy(n.doc)
		if err != nil {
			return nil, fieldError(r.source, "spec.parameters.trustPolicyDoc", "%v", err)
		}
		cfg, err := trust.New(doc, stores)
		if err != nil {
			return nil, fieldError(r.source, "spec.parameters.verificationCertStores", "%v", err)
		}
		statements := cfg.Policy().TrustPolicies
		for _, st := range statements {
			p := n.base
			p.Digest = contentDigest(n.base.Digest, cfg.Digest(), st.Name)
			if len(statements) > 1 {
				p.Name = n.base.Name + "." + st.Name
				if err := checkName(r.source, KindRatifyVerifier, p.Name); err != nil {
					return nil, fieldError(r.source, "spec.parameters.trustPolicyDoc", "statement %q makes the policy name %q: use lower-case letters, digits, '-' and '.'", st.Name, p.Name)
				}
			}
			for _, scope := range st.RegistryScopes {
				glob := scope
				if scope == "*" {
					glob = "**"
				}
				g, err := CompileGlob(glob)
				if err != nil {
					return nil, fieldError(r.source, "spec.parameters.trustPolicyDoc", "statement %q: registry scope %q: %v", st.Name, scope, err)
				}
				p.Images = append(p.Images, g)
			}
			signer := Signer{Name: n.base.Name, Notation: cfg}
			p.Rules = []Rule{{Name: "notation", Signature: &SignatureRule{Signers: []Signer{signer}}}}
			p.Explanation = []string{fmt.Sprintf("images of %s: a Notation signature %s", strings.Join(st.RegistryScopes, ", "), notationStatementText(st))}
			out = append(out, &p)
		}
	}
	return out, nil
}

// notationStatementText says what a Notation trust policy statement
// accepts.
func notationStatementText(st trustpolicy.TrustPolicy) string {
	return fmt.Sprintf("verified by trust policy statement %q (level %s, registry scopes %s, trusted identities %s)",
		st.Name, st.SignatureVerification.VerificationLevel, strings.Join(st.RegistryScopes, ", "), strings.Join(st.TrustedIdentities, ", "))
}
