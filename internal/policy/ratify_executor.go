package policy

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/notaryproject/notation-go/verifier/truststore"
	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
)

// Ratify v2's configuration: an Executor (cluster-wide) or a
// NamespacedExecutor holds scopes, verifiers, stores and a threshold
// policy enforcer. Each becomes one dossier policy per set of images its
// verifiers judge alike, whose rules are the threshold rule tree; what
// dossier cannot judge as Ratify would is refused by name. The group was
// config.ratify.dev until Ratify 2.0.0-beta.1 renamed it config.ratify.sh;
// the spec is the same in both.
const (
	RatifyV2APIVersion           = "config.ratify.sh/v2alpha1"
	ratifyV2OldAPIVersion        = "config.ratify.dev/v2alpha1"
	KindRatifyExecutor           = "Executor"
	KindRatifyNamespacedExecutor = "NamespacedExecutor"
	ratifyThresholdPolicy        = "threshold-policy"
)

// isRatifyV2 says whether an apiVersion is in Ratify v2's group, either
// spelling.
func isRatifyV2(apiVersion string) bool {
	return strings.HasPrefix(apiVersion, "config.ratify.sh/") || strings.HasPrefix(apiVersion, "config.ratify.dev/")
}

type ratifyV2VerifierSpec struct {
	Name       string    `yaml:"name"`
	Type       string    `yaml:"type"`
	Parameters yaml.Node `yaml:"parameters"`
}

type ratifyV2StoreSpec struct {
	Type       string    `yaml:"type"`
	Scopes     []string  `yaml:"scopes"`
	Parameters yaml.Node `yaml:"parameters"`
}

// ratifyRegistryStoreParams are a registry-store's settings: how Ratify
// reaches the registry, none of them part of a decision.
type ratifyRegistryStoreParams struct {
	PlainHTTP        yaml.Node `yaml:"plainHttp"`
	UserAgent        yaml.Node `yaml:"userAgent"`
	MaxBlobBytes     yaml.Node `yaml:"maxBlobBytes"`
	MaxManifestBytes yaml.Node `yaml:"maxManifestBytes"`
	Credential       yaml.Node `yaml:"credential"`
	AllowCosignTag   yaml.Node `yaml:"allowCosignTag"`
	CAPem            yaml.Node `yaml:"caPem"`
	CABase64         yaml.Node `yaml:"caBase64"`
}

type ratifyV2PolicyEnforcer struct {
	Type       string `yaml:"type"`
	Parameters struct {
		Policy *ratifyThresholdRule `yaml:"policy"`
	} `yaml:"parameters"`
}

// ratifyThresholdRule is a rule of ratify-go's ThresholdPolicyEnforcer: a
// verifier's rule, met by one artifact that verifier verified, or a group
// of rules of which threshold must be met (0: all of them).
type ratifyThresholdRule struct {
	VerifierName string                 `yaml:"verifierName"`
	Threshold    int                    `yaml:"threshold"`
	Rules        []*ratifyThresholdRule `yaml:"rules"`
}

// The verifiers' parameters, as Ratify v2's notation and cosign factories
// read them.
type ratifyV2NotationParams struct {
	Scopes            []string                `yaml:"scopes"`
	TrustedIdentities []string                `yaml:"trustedIdentities"`
	Certificates      []ratifyV2CertProviders `yaml:"certificates"`
}

type ratifyV2CertProviders struct {
	Type          string    `yaml:"type"`
	Inline        yaml.Node `yaml:"inline"`
	Files         yaml.Node `yaml:"files"`
	AzureKeyVault yaml.Node `yaml:"azurekeyvault"`
}

type ratifyV2Inline struct {
	Certs string `yaml:"certs"`
	Keys  string `yaml:"keys"`
}

type ratifyV2CosignParams struct {
	TrustPolicies []ratifyV2CosignTrustPolicy `yaml:"trustPolicies"`
}

type ratifyV2CosignTrustPolicy struct {
	Scopes                     []string `yaml:"scopes"`
	CertificateIdentity        string   `yaml:"certificateIdentity"`
	CertificateIdentityRegex   string   `yaml:"certificateIdentityRegex"`
	CertificateOIDCIssuer      string   `yaml:"certificateOIDCIssuer"`
	CertificateOIDCIssuerRegex string   `yaml:"certificateOIDCIssuerRegex"`
	IgnoreTLog                 bool     `yaml:"ignoreTLog"`
	IgnoreCTLog                bool     `yaml:"ignoreCTLog"`
	IgnoreObserverTimestamps   bool     `yaml:"ignoreObserverTimestamps"`
	Keys                       *struct {
		Inline        yaml.Node `yaml:"inline"`
		Files         yaml.Node `yaml:"files"`
		AzureKeyVault yaml.Node `yaml:"azurekeyvault"`
	} `yaml:"keys"`
}

// The kinds of scope, from the least specific: Ratify picks the executor
// (and a cosign verifier its trust policy) by the most specific scope
// naming an image.
const (
	scopeWildcard   = iota // *.example.com: every host one label below
	scopeRegistry          // example.com: that registry
	scopeRepository        // example.com/team/app: that repository
)

// ratifyV2Scope is a scope read, in dossier's canonical spelling.
type ratifyV2Scope struct {
	text string
	kind int
	key  string // the suffix, host or host/path, canonical
	glob Glob
}

// contains says whether s is less specific than t and names every image
// t names.
func (s ratifyV2Scope) contains(t ratifyV2Scope) bool {
	host := t.key
	if t.kind == scopeRepository {
		host, _, _ = strings.Cut(t.key, "/")
	}
	switch {
	case s.kind == scopeWildcard && t.kind > scopeWildcard:
		_, below, ok := strings.Cut(host, ".")
		return ok && below == s.key
	case s.kind == scopeRegistry && t.kind == scopeRepository:
		return host == s.key
	}
	return false
}

// ratifyV2Verifier is a verifier read: a Notation trust configuration, or
// a cosign verifier's trust policies.
type ratifyV2Verifier struct {
	name, typ string
	notation  *trust.Config
	cosign    []*ratifyV2TrustPolicy
	what      string
}

type ratifyV2TrustPolicy struct {
	index   int
	scopes  []ratifyV2Scope
	signers []Signer
	what    string
}

// ratifyExecutor is an Executor read, waiting for the others loaded beside
// it: which executor judges an image depends on all of them.
type ratifyExecutor struct {
	source, name, kind, namespace string
	digest                        string
	scopes                        []ratifyV2Scope
	verifiers                     map[string]*ratifyV2Verifier
	order                         []string // verifier names as listed
	policy                        *ratifyThresholdRule
	notes, warnings               []string
	// cosignTag says a store reads cosign's sha256-….sig tags
	cosignTag bool
}

// decodeRatifyExecutor reads an Executor or NamespacedExecutor.
func decodeRatifyExecutor(d rawDocument, opts LoadOptions, out *Documents) error {
	src, kind := d.source, d.header.Kind
	switch {
	case kind != KindRatifyExecutor && kind != KindRatifyNamespacedExecutor:
		return fieldError(src, "kind", "%q: dossier reads Ratify v2's Executor and NamespacedExecutor", kind)
	case d.header.APIVersion != RatifyV2APIVersion && d.header.APIVersion != ratifyV2OldAPIVersion:
		return fieldError(src, "apiVersion", "%q: Ratify's %s is read as %s (or %s)", d.header.APIVersion, kind, RatifyV2APIVersion, ratifyV2OldAPIVersion)
	}
	if err := checkName(src, kind, d.header.Metadata.Name); err != nil {
		return err
	}
	ns := d.header.Metadata.Namespace
	switch {
	case kind == KindRatifyNamespacedExecutor && ns == "":
		return fieldError(src, "metadata.namespace", "missing: a NamespacedExecutor judges the images of its namespace only, so name it")
	case kind == KindRatifyExecutor && ns != "":
		return fieldError(src, "metadata.namespace", "%q: an Executor is cluster-wide; a NamespacedExecutor judges one namespace", ns)
	case ns != "" && !namespaceName.MatchString(ns):
		// no Pod is ever in it: the executor would judge nothing, and the
		// cluster executors would go on judging the namespace meant
		return fieldError(src, "metadata.namespace", "%q: not a namespace name (a DNS-1123 label: lower-case letters, digits and '-', at most 63)", ns)
	}
	spec, err := d.specNode()
	if err != nil {
		return err
	}
	var s struct {
		Scopes         []string                `yaml:"scopes"`
		Verifiers      []ratifyV2VerifierSpec  `yaml:"verifiers"`
		Stores         []ratifyV2StoreSpec     `yaml:"stores"`
		PolicyEnforcer *ratifyV2PolicyEnforcer `yaml:"policyEnforcer"`
		// how many verifications Ratify runs at once: no part of a decision
		Concurrency int `yaml:"concurrency"`
	}
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	x := &ratifyExecutor{source: src, name: d.header.Metadata.Name, kind: kind, namespace: ns, verifiers: map[string]*ratifyV2Verifier{}}
	x.digest = contentDigest(kind, src, mustMarshal(d.node))
	if len(s.Scopes) == 0 {
		return refuseAt(src, nodeAt(spec, "scopes"), "spec.scopes", "list at least one scope (a registry, a repository or *.domain)")
	}
	if x.scopes, err = ratifyV2Scopes(src, "spec.scopes", s.Scopes, nodeAt(spec, "scopes")); err != nil {
		return err
	}
	if err := ratifyV2Stores(src, spec, s.Stores, x); err != nil {
		return err
	}
	if len(s.Verifiers) == 0 {
		return refuseAt(src, nodeAt(spec, "verifiers"), "spec.verifiers", "list at least one verifier")
	}
	for i, v := range s.Verifiers {
		path := fmt.Sprintf("spec.verifiers[%d]", i)
		at := seqItem(nodeAt(spec, "verifiers"), i)
		switch {
		case v.Name == "":
			return refuseAt(src, at, path+".name", "missing")
		case x.verifiers[v.Name] != nil:
			return refuseAt(src, nodeAt(at, "name"), path+".name", "%q is named twice: the threshold policy names verifiers", v.Name)
		}
		var verifier *ratifyV2Verifier
		params := &v.Parameters
		if !present(v.Parameters) {
			params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line}
		}
		switch v.Type {
		case "notation":
			verifier, err = ratifyV2Notation(src, path+".parameters", v.Name, params)
		case "cosign":
			verifier, err = ratifyV2Cosign(src, path+".parameters", v.Name, params, x.scopes, opts)
		case "":
			return refuseAt(src, at, path+".type", "missing: notation or cosign")
		default:
			return refuseAt(src, nodeAt(at, "type"), path+".type", "%q: Ratify v2's verifiers are notation and cosign", v.Type)
		}
		if err != nil {
			return err
		}
		x.verifiers[v.Name], x.order = verifier, append(x.order, v.Name)
	}
	if err := x.readPolicy(spec, s.PolicyEnforcer); err != nil {
		return err
	}
	out.ratify = append(out.ratify, ratifyPending{source: src, executor: x})
	return nil
}

// seqItem is the i-th item of a sequence node (n when it has none), for
// the line an error names.
func seqItem(n *yaml.Node, i int) *yaml.Node {
	if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

// ratifyV2Scopes reads a list of scopes as Ratify's executor and cosign
// verifier register them, refusing what they refuse.
func ratifyV2Scopes(src, path string, scopes []string, list *yaml.Node) ([]ratifyV2Scope, error) {
	var out []ratifyV2Scope
	for i, text := range scopes {
		at := fmt.Sprintf("%s[%d]", path, i)
		s, why := ratifyV2ScopeOf(text)
		if why != "" {
			return nil, refuseAt(src, seqItem(list, i), at, "%q: %s", text, why)
		}
		for _, prev := range out {
			if prev.key == s.key && prev.kind == s.kind {
				return nil, refuseAt(src, seqItem(list, i), at, "%q names what %q names: Ratify refuses a scope given twice", text, prev.text)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// repositoryPath is the grammar of a repository path (distribution's).
var repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// ratifyV2ScopeOf reads one scope: a repository (host/path, no wildcard,
// tag or digest), a registry (host), or *.domain (the hosts one label
// below it; "*" alone Ratify refuses). Hosts are spelled canonically, as
// dossier names images; the globs are the v1 loader's.
func ratifyV2ScopeOf(text string) (ratifyV2Scope, string) {
	s := ratifyV2Scope{text: text}
	host, rest, repo := strings.Cut(text, "/")
	switch {
	case text == "":
		return s, "empty"
	case text == "*":
		return s, "Ratify refuses \"*\" as a scope: name registries, repositories or *.domain"
	case repo && strings.Contains(text, "*"):
		return s, "a repository scope names one repository, without wildcards"
	case repo && (strings.Contains(rest, "@") || strings.Contains(rest, ":")):
		return s, "a repository scope names no tag or digest"
	case repo && (!evidence.ValidHost(host) || !repositoryPath.MatchString(rest)):
		return s, "not host/repository (lower-case repository path)"
	case repo:
		s.kind, s.key = scopeRepository, evidence.CanonicalRepository(text)
	case strings.Count(text, "*") > 1:
		return s, "only one wildcard, at the beginning (*.example.com)"
	case strings.HasPrefix(text, "*."):
		suffix := strings.ToLower(text[2:])
		if !evidence.ValidHost("x."+suffix) || strings.Contains(suffix, "*") {
			return s, "*.domain: the domain is no registry host"
		}
		// spelled as dossier spells the hosts it compares it with (no
		// trailing dot, no :443, no leading zeros in the port): else it
		// would name no image
		suffix = strings.TrimPrefix(evidence.CanonicalHost("x."+suffix), "x.")
		s.kind, s.key = scopeWildcard, suffix
		// glob syntax has no "one label": Ratify compares what follows the
		// host's first dot with the domain
		s.glob = Glob{Pattern: text, re: regexp.MustCompile(`^[^./:@]+\.` + regexp.QuoteMeta(suffix) + `/.*$`)}
		return s, ""
	case strings.Contains(text, "*"):
		return s, "the wildcard begins the scope (*.example.com)"
	case !evidence.ValidHost(text):
		return s, "not a registry host (host[:port]), a repository (host/path) or *.domain"
	default:
		s.kind, s.key = scopeRegistry, evidence.CanonicalHost(text)
	}
	// a registry is what v1 spells host/*, a repository its name
	v1 := text
	if s.kind == scopeRegistry {
		v1 = strings.ToLower(text) + "/*"
	}
	globs, why := ratifyScopeGlobs(strings.ToLower(v1))
	if why != "" {
		return s, why
	}
	g, err := CompileGlob(evidence.CanonicalRepository(globs[0]))
	if err != nil {
		return s, err.Error()
	}
	g.Pattern = text
	s.glob = g
	return s, ""
}

// ratifyV2Stores checks the stores: registry-stores only, as dossier
// reads images from registries itself; their settings are Ratify's way
// to the registry and no part of a decision.
func ratifyV2Stores(src string, spec *yaml.Node, stores []ratifyV2StoreSpec, x *ratifyExecutor) error {
	if len(stores) == 0 {
		return refuseAt(src, nodeAt(spec, "stores"), "spec.stores", "list at least one store (Ratify refuses an Executor without one)")
	}
	cosignTag := false
	var storeScopes []ratifyV2Scope
	for i, st := range stores {
		path := fmt.Sprintf("spec.stores[%d]", i)
		at := seqItem(nodeAt(spec, "stores"), i)
		switch st.Type {
		case "registry-store":
		case "filesystem-oci-store":
			return refuseAt(src, nodeAt(at, "type"), path+".type", "an OCI layout on Ratify's disk: dossier reads the images and their signatures from the registry that serves them")
		default:
			return refuseAt(src, nodeAt(at, "type"), path+".type", "%q: want registry-store", st.Type)
		}
		if len(stores) > 1 && len(st.Scopes) == 0 {
			return refuseAt(src, at, path+".scopes", "Ratify refuses several stores unless each names its scopes")
		}
		scopes, err := ratifyV2Scopes(src, path+".scopes", st.Scopes, nodeAt(at, "scopes"))
		if err != nil {
			return err
		}
		storeScopes = append(storeScopes, scopes...)
		if present(st.Parameters) {
			var p ratifyRegistryStoreParams
			if err := decodeStrict(&st.Parameters, &p, path+".parameters"); err != nil {
				return fmt.Errorf("%s: %v", src, err)
			}
			var allow bool
			cosignTag = cosignTag || (present(p.AllowCosignTag) && p.AllowCosignTag.Decode(&allow) == nil && allow)
		}
	}
	x.cosignTag = cosignTag
	// a store with scopes reads only their images: Ratify fails to read an
	// image of the executor's scopes that no store's scopes name, and so
	// denies it, where dossier reads every image from its registry
	for _, s := range x.scopes {
		covered := slices.ContainsFunc(storeScopes, func(t ratifyV2Scope) bool { return sameScope(t, s) || t.contains(s) })
		if len(storeScopes) > 0 && !covered {
			x.warnings = append(x.warnings, fmt.Sprintf("%s: spec.scopes: %q is in no store's scopes: Ratify cannot read those images and denies them, where dossier reads them from their registry and judges them", src, s.text))
		}
	}
	x.notes = append(x.notes, "stores (registry-store): not used — dossier reads the images and their signatures from the registry with its own credentials and TLS settings")
	return nil
}

// ratifyV2Notation reads a notation verifier as Ratify v2 builds it: one
// trust policy statement ("default", level strict) over its scopes ("*"
// by default) trusting its identities ("*": any the trust stores issued),
// its trust stores ("<type>:ratify") filled from its certificates.
func ratifyV2Notation(src, path, name string, params *yaml.Node) (*ratifyV2Verifier, error) {
	var p ratifyV2NotationParams
	if err := decodeStrict(params, &p, path); err != nil {
		return nil, fmt.Errorf("%s: %v", src, err)
	}
	if len(p.Certificates) == 0 {
		return nil, refuseAt(src, params, path+".certificates", "missing: the certificates of the trust stores (Ratify refuses a notation verifier without)")
	}
	certs := map[trust.Store][]*x509.Certificate{}
	var names []string
	for i, c := range p.Certificates {
		at := fmt.Sprintf("%s.certificates[%d]", path, i)
		node := seqItem(nodeAt(params, "certificates"), i)
		typ := truststore.TypeCA
		if c.Type != "" {
			typ = truststore.Type(c.Type)
		}
		if !slices.Contains(truststore.Types, typ) {
			return nil, refuseAt(src, nodeAt(node, "type"), at+".type", "%q: want ca, signingAuthority or tsa", c.Type)
		}
		store := trust.Store{Type: typ, Name: "ratify"}
		if certs[store] != nil {
			return nil, refuseAt(src, nodeAt(node, "type"), at+".type", "trust store type %s is given twice (Ratify refuses it)", typ)
		}
		switch {
		case present(c.Files):
			return nil, refuseAt(src, &c.Files, at+".files", "certificate files inside Ratify's container: give the certificates inline")
		case present(c.AzureKeyVault):
			return nil, refuseAt(src, &c.AzureKeyVault, at+".azurekeyvault", "dossier reaches no key vault: give the certificates inline")
		case !present(c.Inline):
			return nil, refuseAt(src, node, at+".inline", "missing: the PEM certificates")
		}
		pemText, err := ratifyV2InlineCerts(src, at+".inline", &c.Inline)
		if err != nil {
			return nil, err
		}
		parsed, err := parseCertificates(pemText)
		if err != nil {
			return nil, refuseAt(src, &c.Inline, at+".inline", "%v", err)
		}
		certs[store] = parsed
		names = append(names, store.String())
	}
	scopes := p.Scopes
	if len(scopes) == 0 {
		scopes = []string{"*"}
	}
	identities := p.TrustedIdentities
	if len(identities) == 0 {
		identities = []string{"*"}
	}
	sort.Strings(names)
	doc := map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
		"name": "default", "registryScopes": scopes, "signatureVerification": map[string]any{"level": "strict"},
		"trustStores": names, "trustedIdentities": identities}}}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fieldError(src, path, "%v", err)
	}
	parsed, err := trust.ParsePolicy(data)
	if err != nil {
		return nil, refuseAt(src, params, path, "the trust policy Ratify makes of scopes and trustedIdentities: %v", err)
	}
	cfg, err := trust.New(parsed, certs)
	if err != nil {
		return nil, refuseAt(src, nodeAt(params, "certificates"), path+".certificates", "%v", err)
	}
	st := cfg.Policy().TrustPolicies[0]
	return &ratifyV2Verifier{name: name, typ: "notation", notation: cfg,
		what: fmt.Sprintf("verifier %s (notation): a Notation signature %s, trust stores %s", name, notationStatementText(st), strings.Join(names, ", "))}, nil
}

// ratifyV2InlineCerts is an inline key provider's certificates: a PEM
// string (Ratify 2.0.0-alpha) or {certs: PEM}.
func ratifyV2InlineCerts(src, path string, n *yaml.Node) (string, error) {
	if n.Kind == yaml.ScalarNode {
		return n.Value, nil
	}
	var in ratifyV2Inline
	if err := decodeStrict(n, &in, path); err != nil {
		return "", fmt.Errorf("%s: %v", src, err)
	}
	switch {
	case in.Keys != "":
		return "", refuseAt(src, nodeAt(n, "keys"), path+".keys", "a notation trust store holds certificates; keys are read by cosign verifiers")
	case in.Certs == "":
		return "", refuseAt(src, n, path+".certs", "missing: the PEM certificates")
	}
	return in.Certs, nil
}

// ratifyV2Cosign reads a cosign verifier as Ratify v2 builds it: trust
// policies, each over its scopes (the executor's when it names none), each
// a keyless identity or inline public keys.
func ratifyV2Cosign(src, path, name string, params *yaml.Node, executorScopes []ratifyV2Scope, opts LoadOptions) (*ratifyV2Verifier, error) {
	var p ratifyV2CosignParams
	if err := decodeStrict(params, &p, path); err != nil {
		return nil, fmt.Errorf("%s: %v", src, err)
	}
	if len(p.TrustPolicies) == 0 {
		return nil, refuseAt(src, params, path+".trustPolicies", "list at least one trust policy (Ratify refuses a cosign verifier without)")
	}
	v := &ratifyV2Verifier{name: name, typ: "cosign"}
	var seen []ratifyV2Scope
	for i, tp := range p.TrustPolicies {
		at := fmt.Sprintf("%s.trustPolicies[%d]", path, i)
		node := seqItem(nodeAt(params, "trustPolicies"), i)
		t := &ratifyV2TrustPolicy{index: i, scopes: executorScopes}
		if len(tp.Scopes) > 0 {
			scopes, err := ratifyV2Scopes(src, at+".scopes", tp.Scopes, nodeAt(node, "scopes"))
			if err != nil {
				return nil, err
			}
			t.scopes = scopes
		}
		for _, s := range t.scopes {
			if slices.ContainsFunc(seen, func(o ratifyV2Scope) bool { return o.kind == s.kind && o.key == s.key }) {
				return nil, refuseAt(src, node, at+".scopes", "%q is a scope of another trust policy of this verifier (Ratify refuses it)", s.text)
			}
			seen = append(seen, s)
		}
		signerName := name
		if len(p.TrustPolicies) > 1 {
			signerName = fmt.Sprintf("%s-%d", name, i)
		}
		identity := tp.CertificateIdentity != "" || tp.CertificateIdentityRegex != "" || tp.CertificateOIDCIssuer != "" || tp.CertificateOIDCIssuerRegex != ""
		if tp.Keys == nil {
			ds, err := ratifyKeylessSigner(src, at, at, signerName, "Regex", IdentitySpec{Subject: tp.CertificateIdentity, SubjectRegExp: tp.CertificateIdentityRegex,
				Issuer: tp.CertificateOIDCIssuer, IssuerRegExp: tp.CertificateOIDCIssuerRegex}, tp.IgnoreCTLog)
			if err != nil {
				return nil, err
			}
			t.signers = []Signer{ds.Signer}
			t.what = fmt.Sprintf("a keyless cosign signature by %s, verified against dossier's trusted root with its transparency-log proof", ds.Signer)
			if tp.IgnoreTLog {
				t.what += " (required although ignoreTLog is true)"
			}
			if tp.IgnoreCTLog {
				t.what += "; certificates without a signed certificate timestamp accepted (ignoreCTLog)"
			}
			v.cosign = append(v.cosign, t)
			continue
		}
		keys := nodeAt(node, "keys")
		providers := 0
		for _, n := range []yaml.Node{tp.Keys.Inline, tp.Keys.Files, tp.Keys.AzureKeyVault} {
			if present(n) {
				providers++
			}
		}
		switch {
		case identity:
			return nil, refuseAt(src, keys, at+".keys", "give keys or a certificate identity: Ratify ignores the identity when keys are given")
		case providers != 1:
			return nil, refuseAt(src, keys, at+".keys", "give one key provider (Ratify takes one): inline")
		case present(tp.Keys.Files):
			return nil, refuseAt(src, &tp.Keys.Files, at+".keys.files", "Ratify's files provider holds certificates and gives a cosign verifier no keys: give the public keys inline")
		case present(tp.Keys.AzureKeyVault):
			return nil, refuseAt(src, &tp.Keys.AzureKeyVault, at+".keys.azurekeyvault", "dossier reaches no key vault: give the public keys inline")
		case tp.Keys.Inline.Kind != yaml.MappingNode:
			return nil, refuseAt(src, &tp.Keys.Inline, at+".keys.inline", "want {keys: PEM public keys}")
		case !tp.IgnoreTLog:
			return nil, refuseAt(src, node, at+".ignoreTLog", "Ratify requires a transparency-log entry for key signatures unless ignoreTLog is true; dossier verifies key signatures without one: set ignoreTLog: true to say so")
		case !tp.IgnoreObserverTimestamps:
			return nil, refuseAt(src, node, at+".ignoreObserverTimestamps", "Ratify requires a signed timestamp for key signatures unless ignoreObserverTimestamps is true; dossier verifies key signatures without one: set ignoreObserverTimestamps: true to say so")
		}
		var in ratifyV2Inline
		if err := decodeStrict(&tp.Keys.Inline, &in, at+".keys.inline"); err != nil {
			return nil, fmt.Errorf("%s: %v", src, err)
		}
		switch {
		case in.Certs != "":
			return nil, refuseAt(src, nodeAt(&tp.Keys.Inline, "certs"), at+".keys.inline.certs", "a cosign verifier reads public keys; certificates are read by notation verifiers")
		case strings.TrimSpace(in.Keys) == "":
			return nil, refuseAt(src, &tp.Keys.Inline, at+".keys.inline.keys", "missing: the PEM public keys")
		}
		rest := []byte(strings.TrimSpace(in.Keys))
		for j := 0; len(rest) > 0; j++ {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				return nil, refuseAt(src, nodeAt(&tp.Keys.Inline, "keys"), at+".keys.inline.keys", "not PEM public keys")
			}
			rest = []byte(strings.TrimSpace(string(rest)))
			ds, err := decodeSigner(src, fmt.Sprintf("%s.keys.inline.keys[%d]", at, j), fmt.Sprintf("%s-key-%d", signerName, j), &keySpec{Data: string(pem.EncodeToMemory(block))}, nil, false, opts)
			if err != nil {
				return nil, err
			}
			t.signers = append(t.signers, ds.Signer)
		}
		t.what = fmt.Sprintf("a cosign signature by one of %d keys, verified without transparency log or timestamp (ignoreTLog, ignoreObserverTimestamps)", len(t.signers))
		v.cosign = append(v.cosign, t)
	}
	return v, nil
}

// readPolicy reads the policy enforcer: threshold-policy, its rule tree
// checked as ratify-go checks it, and every verifier it names one of this
// executor's.
func (x *ratifyExecutor) readPolicy(spec *yaml.Node, pe *ratifyV2PolicyEnforcer) error {
	src, node := x.source, nodeAt(spec, "policyEnforcer")
	const path = "spec.policyEnforcer.parameters.policy"
	switch {
	case pe == nil:
		return refuseAt(src, spec, "spec.policyEnforcer", "missing: without a policy enforcer Ratify decides nothing (succeeded is false for every image, left to a Gatekeeper template judging the reports in Rego, which dossier does not run): give a threshold-policy")
	case pe.Type != ratifyThresholdPolicy:
		return refuseAt(src, nodeAt(node, "type"), "spec.policyEnforcer.type", "%q: want threshold-policy (Ratify's one policy enforcer)", pe.Type)
	case pe.Parameters.Policy == nil:
		return refuseAt(src, node, path, "missing: the root rule (Ratify refuses a threshold policy without one)")
	case pe.Parameters.Policy.VerifierName != "":
		return refuseAt(src, nodeAt(node, "parameters", "policy", "verifierName"), path+".verifierName", "the root rule names no verifier (Ratify refuses it): give the verifier's rule under rules")
	}
	if err := x.checkRule(pe.Parameters.Policy, path, nodeAt(node, "parameters", "policy")); err != nil {
		return err
	}
	x.policy = pe.Parameters.Policy
	for _, n := range x.order {
		if !x.named(n) {
			x.notes = append(x.notes, fmt.Sprintf("verifier %s is named by no rule of the threshold policy: Ratify does not run it for a decision, and dossier does not judge it", n))
			x.warnings = append(x.warnings, fmt.Sprintf("%s: spec.verifiers: %s is named by no rule of the threshold policy: it judges nothing", src, n))
		}
	}
	return nil
}

// checkRule refuses what ratify-go's NewThresholdPolicyEnforcer refuses,
// a rule dossier cannot judge, and a verifier no verifier of the executor
// is (a rule never met).
func (x *ratifyExecutor) checkRule(r *ratifyThresholdRule, path string, n *yaml.Node) error {
	src := x.source
	threshold := nodeAt(n, "threshold")
	switch {
	case r == nil:
		return refuseAt(src, n, path, "a rule is a mapping (verifierName, threshold, rules)")
	case threshold != n && threshold.ShortTag() != "!!int":
		// the YAML decoder, like ratify-go's float64, would truncate it
		return refuseAt(src, threshold, path+".threshold", "%q: a threshold is a whole number", threshold.Value)
	case r.Threshold < 0:
		return refuseAt(src, nodeAt(n, "threshold"), path+".threshold", "%d: a threshold is 0 (every rule) or more", r.Threshold)
	case r.Threshold > len(r.Rules):
		return refuseAt(src, nodeAt(n, "threshold"), path+".threshold", "%d of %d rules: Ratify refuses a threshold above the number of rules", r.Threshold, len(r.Rules))
	case r.VerifierName == "" && len(r.Rules) == 0:
		return refuseAt(src, n, path, "name a verifier (verifierName) or list rules (Ratify refuses a rule with neither)")
	case r.VerifierName != "" && len(r.Rules) > 0:
		return refuseAt(src, nodeAt(n, "rules"), path+".rules", "rules under a verifier's rule judge the artifacts attached to the artifact it verified (a signature's own signatures, an SBOM's): dossier verifies no nested artifacts")
	case r.VerifierName != "" && x.verifiers[r.VerifierName] == nil:
		return refuseAt(src, nodeAt(n, "verifierName"), path+".verifierName", "%q is no verifier of this executor: the rule could never be met", r.VerifierName)
	}
	for i, c := range r.Rules {
		if err := x.checkRule(c, fmt.Sprintf("%s.rules[%d]", path, i), seqItem(nodeAt(n, "rules"), i)); err != nil {
			return err
		}
	}
	return nil
}

// named says whether a rule of the threshold policy names the verifier.
func (x *ratifyExecutor) named(verifier string) bool {
	var in func(r *ratifyThresholdRule) bool
	in = func(r *ratifyThresholdRule) bool {
		return r.VerifierName == verifier || slices.ContainsFunc(r.Rules, in)
	}
	return in(x.policy)
}

// describe says what a rule requires.
func (r *ratifyThresholdRule) describe() string {
	if r.VerifierName != "" {
		return r.VerifierName
	}
	parts := make([]string, len(r.Rules))
	for i, c := range r.Rules {
		parts[i] = c.describe()
	}
	if r.Threshold == 0 || r.Threshold == len(r.Rules) {
		return "all of [" + strings.Join(parts, "; ") + "]"
	}
	return fmt.Sprintf("%d of [%s]", r.Threshold, strings.Join(parts, "; "))
}
