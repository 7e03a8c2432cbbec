package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Ratify v1's configuration documents (config.ratify.deislabs.io/v1beta1),
// read as dossier policies. A Verifier becomes a policy whose one rule is
// named after the verifier's type (cosign, sbom, vulnerabilityreport), so
// that Gatekeeper templates written for Ratify's reports find it; the
// config Policy is checked against the Verifiers loaded beside it. What
// dossier cannot judge as Ratify would is refused by name, never ignored.
const (
	RatifyAPIVersion   = "config.ratify.deislabs.io/v1beta1"
	KindRatifyVerifier = "Verifier"
	KindRatifyPolicy   = "Policy"
)

// The artifact types Ratify's verifiers read.
const (
	ratifyCosignType   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	ratifySPDXType     = "application/spdx+json"
	ratifySARIFType    = "application/sarif+json"
	ratifyNotationType = "application/vnd.cncf.notary.signature"
)

// Policy returns the set's policy named name, or nil.
func (s *Set) Policy(name string) *Policy {
	for _, p := range s.Policies {
		if p.Name == name {
			return p
		}
	}
	return nil
}

type ratifyVerifierSpec struct {
	Name          string    `yaml:"name"`
	Type          string    `yaml:"type"`
	Version       string    `yaml:"version"`
	ArtifactTypes string    `yaml:"artifactTypes"`
	Address       yaml.Node `yaml:"address"`
	Source        yaml.Node `yaml:"source"`
	Parameters    yaml.Node `yaml:"parameters"`
}

type ratifyCosignParams struct {
	TrustPolicies []ratifyTrustPolicy `yaml:"trustPolicies"`
	// the legacy configuration: one key file, or keyless with no identity
	Key                 yaml.Node `yaml:"key"`
	RekorURL            yaml.Node `yaml:"rekorURL"`
	NestedArtifactTypes yaml.Node `yaml:"nestedArtifactTypes"`
	NestedReferences    yaml.Node `yaml:"nestedReferences"`
}

type ratifyTrustPolicy struct {
	Version string   `yaml:"version"`
	Name    string   `yaml:"name"`
	Scopes  []string `yaml:"scopes"`
	Keys    []struct {
		Provider yaml.Node `yaml:"provider"`
		Name     yaml.Node `yaml:"name"`
		Version  yaml.Node `yaml:"version"`
		File     string    `yaml:"file"`
	} `yaml:"keys"`
	Keyless *struct {
		CTLogVerify                 *bool  `yaml:"ctLogVerify"`
		CertificateIdentity         string `yaml:"certificateIdentity"`
		CertificateIdentityRegExp   string `yaml:"certificateIdentityRegExp"`
		CertificateOIDCIssuer       string `yaml:"certificateOIDCIssuer"`
		CertificateOIDCIssuerRegExp string `yaml:"certificateOIDCIssuerRegExp"`
	} `yaml:"keyless"`
	TLogVerify *bool     `yaml:"tLogVerify"`
	RekorURL   yaml.Node `yaml:"rekorURL"`
}

type ratifyVulnParams struct {
	MaximumAge            string    `yaml:"maximumAge"`
	DisallowedSeverities  []string  `yaml:"disallowedSeverities"`
	DenylistCVEs          []string  `yaml:"denylistCVEs"`
	Passthrough           yaml.Node `yaml:"passthrough"`
	SchemaURL             yaml.Node `yaml:"schemaURL"`
	CreatedAnnotationName yaml.Node `yaml:"createdAnnotationName"`
	NestedReferences      yaml.Node `yaml:"nestedReferences"`
}

type ratifySBOMParams struct {
	DisallowedLicenses []string `yaml:"disallowedLicenses"`
	DisallowedPackages []struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	} `yaml:"disallowedPackages"`
	NestedReferences yaml.Node `yaml:"nestedReferences"`
}

type ratifyPolicySpec struct {
	Type       string `yaml:"type"`
	Parameters struct {
		ArtifactVerificationPolicies map[string]string `yaml:"artifactVerificationPolicies"`
		// rego-policy's
		Policy             yaml.Node `yaml:"policy"`
		PassthroughEnabled yaml.Node `yaml:"passthroughEnabled"`
	} `yaml:"parameters"`
}

// ratifyPending is what a Ratify document needs from the others loaded
// beside it: an sbom Verifier reads SBOMs signed by a cosign Verifier's
// trust policies; the config Policy names artifact types Verifiers must
// verify.
type ratifyPending struct {
	source string
	// sbom is the sbom Verifier's name, conditions and document's digest
	sbom       string
	conditions *spdxConditions
	digest     string
	// policy is the config Policy's name and artifact types
	policy string
	types  map[string]string
	// notation is a notation Verifier, certs an inline
	// KeyManagementProvider's certificates for its trust stores
	notation *ratifyNotation
	certs    *ratifyCerts
	// executor is a v2 Executor: which one judges an image depends on
	// the others loaded
	executor *ratifyExecutor
}

// refuseAt names the document, the line and the path of what is refused.
func refuseAt(src string, n *yaml.Node, path, format string, args ...any) error {
	if n != nil && n.Line > 0 {
		return fmt.Errorf("%s: line %d: %s: %s", src, n.Line, path, fmt.Sprintf(format, args...))
	}
	return fieldError(src, path, format, args...)
}

// nodeAt is the value at a path of mapping keys under n (n when it has
// none), for the line an error names.
func nodeAt(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		found := false
		for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			return n
		}
	}
	return n
}

func present(n yaml.Node) bool { return n.Kind != 0 }

// decodeRatify reads a Ratify Verifier or config Policy into out.
func decodeRatify(d rawDocument, opts LoadOptions, out *Documents) error {
	src := d.source
	if d.header.APIVersion != RatifyAPIVersion {
		return fieldError(src, "apiVersion", "%q: Ratify's %s is read as %s", d.header.APIVersion, d.header.Kind, RatifyAPIVersion)
	}
	if err := checkName(src, d.header.Kind, d.header.Metadata.Name); err != nil {
		return err
	}
	spec, err := d.specNode()
	if err != nil {
		return err
	}
	switch d.header.Kind {
	case KindRatifyPolicy:
		return decodeRatifyPolicy(d, spec, out)
	case KindRatifyKeyManagementProvider:
		return decodeRatifyKMP(d, spec, out)
	case KindRatifyVerifier:
	case "":
		return fieldError(src, "kind", "missing: want %s or %s", KindRatifyVerifier, KindRatifyPolicy)
	default:
		return fieldError(src, "kind", "Ratify's %s is not read by dossier (it reads registries and keys of its own): want %s or %s", d.header.Kind, KindRatifyVerifier, KindRatifyPolicy)
	}
	var s ratifyVerifierSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	switch {
	case present(s.Address):
		return refuseAt(src, &s.Address, "spec.address", "verifier plugins are not run by dossier; its verifiers are built in")
	case present(s.Source):
		return refuseAt(src, &s.Source, "spec.source", "verifier plugins are not downloaded by dossier; its verifiers are built in")
	}
	kind := s.Type
	if kind == "" {
		kind = s.Name
	}
	name := d.header.Metadata.Name
	params := &s.Parameters
	if !present(s.Parameters) {
		params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: spec.Line}
	}
	want := map[string]string{"cosign": ratifyCosignType, "notation": ratifyNotationType, "sbom": ratifySPDXType, "vulnerabilityreport": ratifySARIFType}[kind]
	switch kind {
	case "cosign", "notation", "sbom", "vulnerabilityreport":
	case "":
		return fieldError(src, "spec.name", "missing: the verifier's type (cosign, notation, sbom or vulnerabilityreport)")
	default:
		return refuseAt(src, nodeAt(spec, "name"), "spec.name", "%q: dossier reads cosign, notation, sbom and vulnerabilityreport Verifiers only", kind)
	}
	if s.ArtifactTypes != want {
		return refuseAt(src, nodeAt(spec, "artifactTypes"), "spec.artifactTypes", "%q: a %s Verifier is read for %s artifacts only", s.ArtifactTypes, kind, want)
	}
	base := Policy{Name: name, Kind: KindRatifyVerifier, Source: src, Mode: evidence.ModeEnforce}
	base.Digest = contentDigest(KindRatifyVerifier, src, mustMarshal(d.node))
	switch kind {
	case "notation":
		return decodeRatifyNotation(src, base, params, out)
	case "cosign":
		var p ratifyCosignParams
		if err := decodeStrict(params, &p, "spec.parameters"); err != nil {
			return fmt.Errorf("%s: %v", src, err)
		}
		policies, err := ratifyCosign(src, base, params, p, opts)
		if err != nil {
			return err
		}
		out.Policies = append(out.Policies, policies...)
		for _, p := range policies {
			out.Warnings = append(out.Warnings, p.Warnings...)
		}
	case "vulnerabilityreport":
		var p ratifyVulnParams
		if err := decodeStrict(params, &p, "spec.parameters"); err != nil {
			return fmt.Errorf("%s: %v", src, err)
		}
		policy, err := ratifyVulnerabilities(src, base, params, p)
		if err != nil {
			return err
		}
		out.Policies = append(out.Policies, policy)
	case "sbom":
		var p ratifySBOMParams
		if err := decodeStrict(params, &p, "spec.parameters"); err != nil {
			return fmt.Errorf("%s: %v", src, err)
		}
		conditions, err := ratifySBOM(src, params, p)
		if err != nil {
			return err
		}
		out.ratify = append(out.ratify, ratifyPending{source: src, sbom: name, conditions: conditions, digest: base.Digest})
	}
	return nil
}

// ratifyCosign makes a policy of each trust policy: its scopes are the
// images, its keys or keyless identity the signers of the rule "cosign".
func ratifyCosign(src string, base Policy, params *yaml.Node, p ratifyCosignParams, opts LoadOptions) ([]*Policy, error) {
	switch {
	case present(p.Key):
		return nil, refuseAt(src, &p.Key, "spec.parameters.key", "the legacy key setting: give the key in a trust policy (trustPolicies[].keys[].file)")
	case present(p.RekorURL):
		return nil, refuseAt(src, &p.RekorURL, "spec.parameters.rekorURL", "the legacy keyless setting verifies any certificate: give trust policies with a keyless certificate identity and issuer")
	case present(p.NestedArtifactTypes):
		return nil, refuseAt(src, &p.NestedArtifactTypes, "spec.parameters.nestedArtifactTypes", "verifying artifacts attached to a signature is not supported")
	case present(p.NestedReferences):
		return nil, refuseAt(src, &p.NestedReferences, "spec.parameters.nestedReferences", "verifying artifacts attached to a signature is not supported")
	case len(p.TrustPolicies) == 0:
		return nil, refuseAt(src, params, "spec.parameters.trustPolicies", "list at least one trust policy: a signature from anyone is not a mode")
	}
	global, names := -1, map[string]bool{}
	for i, tp := range p.TrustPolicies {
		if slices.Contains(tp.Scopes, "*") {
			global = i
		}
		if names[tp.Name] {
			return nil, fieldError(src, fmt.Sprintf("spec.parameters.trustPolicies[%d].name", i), "%q is named twice", tp.Name)
		}
		names[tp.Name] = true
	}
	if global >= 0 && len(p.TrustPolicies) > 1 {
		return nil, refuseAt(src, nodeAt(params, "trustPolicies"), fmt.Sprintf("spec.parameters.trustPolicies[%d].scopes", global),
			"a \"*\" trust policy beside others is Ratify's fallback for images no other scope names; dossier applies every policy whose images match, so give each trust policy scopes of its own")
	}
	var out []*Policy
	for i, tp := range p.TrustPolicies {
		path := fmt.Sprintf("spec.parameters.trustPolicies[%d]", i)
		policy, err := ratifyTrustPolicyOf(src, path, base, tp, len(p.TrustPolicies) > 1, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, policy)
	}
	return out, nil
}

// ratifyKeylessSigner is the keyless identity of a Ratify cosign trust
// policy (v1's keyless block, v2's trust policy): a certificate identity
// and an OIDC issuer, each exact or an expression sigstore matches
// anywhere (re names the expressions: RegExp in v1, Regex in v2). fields
// is where the identity's fields are, path the trust policy.
func ratifyKeylessSigner(src, path, fields, name, re string, id IdentitySpec, ignoreSCT bool) (decodedSigner, error) {
	switch {
	case id.Subject != "" && id.SubjectRegExp != "":
		return decodedSigner{}, fieldError(src, fields+".certificateIdentity", "give certificateIdentity or certificateIdentity%s, not both", re)
	case id.Issuer != "" && id.IssuerRegExp != "":
		return decodedSigner{}, fieldError(src, fields+".certificateOIDCIssuer", "give certificateOIDCIssuer or certificateOIDCIssuer%s, not both", re)
	case id.Subject == "" && id.SubjectRegExp == "":
		return decodedSigner{}, fieldError(src, fields+".certificateIdentity", "give certificateIdentity or certificateIdentity%s: a certificate of anyone is not a mode", re)
	case id.Issuer == "" && id.IssuerRegExp == "":
		return decodedSigner{}, fieldError(src, fields+".certificateOIDCIssuer", "give certificateOIDCIssuer or certificateOIDCIssuer%s", re)
	}
	return decodeSigner(src, path, name, nil, &keylessSpec{Identities: []IdentitySpec{id}, InsecureIgnoreSCT: ignoreSCT}, false, LoadOptions{})
}

var ratifyScope = regexp.MustCompile(`^[a-z0-9.\-:@/]*\*?$`)

func ratifyTrustPolicyOf(src, path string, base Policy, tp ratifyTrustPolicy, several bool, opts LoadOptions) (*Policy, error) {
	p := base
	p.Digest = contentDigest(base.Digest, tp.Name)
	if several {
		p.Name = base.Name + "." + tp.Name
		if err := checkName(src, KindRatifyVerifier, p.Name); err != nil {
			return nil, fieldError(src, path+".name", "%q makes the policy name %q: use lower-case letters, digits, '-' and '.'", tp.Name, p.Name)
		}
	}
	switch {
	case tp.Version != "" && tp.Version != "1.0.0":
		return nil, fieldError(src, path+".version", "%q: Ratify's trust policies are version 1.0.0", tp.Version)
	case tp.Name == "":
		return nil, fieldError(src, path+".name", "missing")
	case len(tp.Scopes) == 0:
		return nil, fieldError(src, path+".scopes", "list at least one scope (\"*\" for every image)")
	case present(tp.RekorURL):
		return nil, refuseAt(src, &tp.RekorURL, path+".rekorURL", "a transparency log of the policy's own: dossier uses the logs of its trusted root (--trusted-root)")
	case len(tp.Keys) > 0 && tp.Keyless != nil:
		return nil, fieldError(src, path, "give keys or keyless, not both")
	case len(tp.Keys) == 0 && tp.Keyless == nil:
		return nil, fieldError(src, path, "give keys or keyless: a signature from anyone is not a mode")
	}
	var globs []string
	for i, scope := range tp.Scopes {
		if !ratifyScope.MatchString(scope) || scope == "" {
			return nil, fieldError(src, fmt.Sprintf("%s.scopes[%d]", path, i), "%q: a scope is \"*\", a reference, or a prefix ending in *", scope)
		}
		g, why := ratifyScopeGlobs(scope)
		if why != "" {
			return nil, fieldError(src, fmt.Sprintf("%s.scopes[%d]", path, i), "%q: %s", scope, why)
		}
		globs = append(globs, g...)
	}
	var err error
	var warnings []string
	if p.Images, warnings, err = compileGlobs(src, path+".scopes", globs); err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, warnings...)
	var signers []Signer
	if tp.Keyless != nil {
		k := tp.Keyless
		ds, err := ratifyKeylessSigner(src, path, path+".keyless", tp.Name, "RegExp", IdentitySpec{Issuer: k.CertificateOIDCIssuer, IssuerRegExp: k.CertificateOIDCIssuerRegExp,
			Subject: k.CertificateIdentity, SubjectRegExp: k.CertificateIdentityRegExp}, k.CTLogVerify != nil && !*k.CTLogVerify)
		if err != nil {
			return nil, err
		}
		signers, p.Warnings = append(signers, ds.Signer), append(p.Warnings, ds.warnings...)
		p.Explanation = append(p.Explanation, fmt.Sprintf("trust policy %s: a keyless cosign signature by %s, verified against dossier's trusted root with its transparency-log proof whatever tLogVerify says", tp.Name, ds.Signer))
	} else {
		if tp.TLogVerify == nil || *tp.TLogVerify {
			return nil, refuseAt(src, nil, path+".tLogVerify", "Ratify requires a Rekor entry for key signatures unless tLogVerify is false; dossier verifies key signatures without a log: set tLogVerify: false to say so")
		}
		for j, k := range tp.Keys {
			kpath := fmt.Sprintf("%s.keys[%d]", path, j)
			switch {
			case present(k.Provider):
				return nil, refuseAt(src, &k.Provider, kpath+".provider", "keys of a KeyManagementProvider are not read by dossier: give the public key's file")
			case present(k.Name) || present(k.Version):
				return nil, fieldError(src, kpath, "name and version select a KeyManagementProvider's key: give the public key's file")
			case k.File == "":
				return nil, fieldError(src, kpath+".file", "missing: the public key's file")
			}
			ds, err := decodeSigner(src, kpath, fmt.Sprintf("%s-key-%d", tp.Name, j), &keySpec{File: k.File}, nil, false, opts)
			if err != nil {
				return nil, err
			}
			signers = append(signers, ds.Signer)
		}
		p.Explanation = append(p.Explanation, fmt.Sprintf("trust policy %s: a cosign signature by one of %d keys, verified offline (tLogVerify: false)", tp.Name, len(signers)))
	}
	p.Rules = []Rule{{Name: "cosign", Signature: &SignatureRule{Signers: signers}}}
	p.Explanation = append(p.Explanation, fmt.Sprintf("required of %s, whatever else is attached (Ratify runs a verifier only when an artifact of its type is attached)", strings.Join(tp.Scopes, ", ")))
	return &p, nil
}

// ratifyScopeGlobs are the image globs of a Ratify scope, or why it
// cannot be read as one. Ratify compares a scope with the key as
// Gatekeeper sent it; dossier matches images by their canonical names
// (nginx:1 is index.docker.io/library/nginx:1), so a scope must name a
// registry host as dossier spells it, else the policy would claim none of
// the images it names. A Docker Hub prefix within the first path segment
// ("docker.io/ngin*") is also read under library/, where Hub's official
// images are.
func ratifyScopeGlobs(scope string) ([]string, string) {
	if scope == "*" {
		return []string{"**"}, ""
	}
	prefix, wildcard := strings.CutSuffix(scope, "*")
	host, rest, named := strings.Cut(prefix, "/")
	switch {
	case !named && !wildcard:
		return nil, "names no registry host and repository: write host/repository (docker.io/library/nginx for nginx)"
	case !evidence.LooksLikeHost(host):
		return nil, fmt.Sprintf("%q is no registry host: dossier names images by their registry (docker.io/%s for Docker Hub)", host, scope)
	case !named && evidence.CanonicalHost(host) != host:
		return nil, fmt.Sprintf("dossier names this registry %s: write %s*", evidence.CanonicalHost(host), evidence.CanonicalHost(host))
	}
	glob := prefix
	if wildcard {
		glob += "**"
	}
	if wildcard && named && evidence.CanonicalHost(host) == evidence.DockerHub && rest != "" && !strings.Contains(rest, "/") {
		return []string{glob, host + "/library/" + rest + "**"}, ""
	}
	return []string{glob}, ""
}

// ratifySeverities are the severities disallowedSeverities may name, from
// the lowest.
var ratifySeverities = []string{evidence.SeverityLow, evidence.SeverityMedium, evidence.SeverityHigh, evidence.SeverityCritical}

// ratifyVulnerabilities makes a vulnerabilityreport Verifier dossier's
// vulnerability gate on every image: dossier scans the image against its
// advisory data instead of reading a report attached to it.
func ratifyVulnerabilities(src string, base Policy, params *yaml.Node, p ratifyVulnParams) (*Policy, error) {
	for _, f := range []struct {
		n    *yaml.Node
		name string
		why  string
	}{
		{&p.Passthrough, "passthrough", "a report passed through unjudged is not a decision"},
		{&p.SchemaURL, "schemaURL", "dossier reads no attached report to validate"},
		{&p.CreatedAnnotationName, "createdAnnotationName", "dossier reads no attached report: maximumAge bounds the age of its advisory data"},
		{&p.NestedReferences, "nestedReferences", "dossier reads no attached report whose signatures to verify: it scans the image against its advisory data"},
	} {
		if present(*f.n) {
			return nil, refuseAt(src, f.n, "spec.parameters."+f.name, "%s", f.why)
		}
	}
	rule := &VulnerabilityRule{}
	if p.MaximumAge != "" {
		age, err := parseDuration(src, "spec.parameters.maximumAge", p.MaximumAge)
		if err != nil {
			return nil, err
		}
		rule.MaxDatabaseAge = age
	}
	if len(p.DisallowedSeverities) > 0 {
		lowest := len(ratifySeverities)
		named := map[string]bool{}
		for i, s := range p.DisallowedSeverities {
			at := slices.Index(ratifySeverities, strings.ToLower(s))
			if at < 0 {
				return nil, fieldError(src, fmt.Sprintf("spec.parameters.disallowedSeverities[%d]", i), "%q: want low, medium, high or critical", s)
			}
			named[ratifySeverities[at]], lowest = true, min(lowest, at)
		}
		for _, s := range ratifySeverities[lowest:] {
			if !named[s] {
				return nil, refuseAt(src, nodeAt(params, "disallowedSeverities"), "spec.parameters.disallowedSeverities",
					"dossier's gate refuses a severity and every one above it: list %s too (or list %s only)", s, strings.Join(ratifySeverities[lowest:], ", "))
			}
		}
		rule.FailOn = ratifySeverities[lowest]
	}
	for i, id := range p.DenylistCVEs {
		if strings.TrimSpace(id) == "" {
			return nil, fieldError(src, fmt.Sprintf("spec.parameters.denylistCVEs[%d]", i), "empty")
		}
		rule.DenyIDs = append(rule.DenyIDs, strings.TrimSpace(id))
	}
	if rule.FailOn == "" && len(rule.DenyIDs) == 0 {
		return nil, refuseAt(src, params, "spec.parameters", "give disallowedSeverities or denylistCVEs: a report that fails nothing is not a check")
	}
	out := base
	images, _, err := compileGlobs(src, "spec", []string{"**"})
	if err != nil {
		return nil, err
	}
	out.Images = images
	out.Rules = []Rule{{Name: "vulnerabilityreport", Vulnerabilities: rule}}
	what := []string{}
	if rule.FailOn != "" {
		what = append(what, "no finding at or above "+rule.FailOn+" (or of unknown severity)")
	}
	if len(rule.DenyIDs) > 0 {
		what = append(what, "none of "+strings.Join(rule.DenyIDs, ", "))
	}
	age := ""
	if rule.MaxDatabaseAge > 0 {
		age = fmt.Sprintf(", with advisory data at most %s old (maximumAge)", rule.MaxDatabaseAge)
	}
	out.Explanation = []string{fmt.Sprintf("every image: %s, by dossier's scan of the image against its advisory data%s (Ratify reads a SARIF report attached to the image instead)", strings.Join(what, " and "), age)}
	return &out, nil
}

// spdxConditions judge a signed SPDX SBOM: no package under a disallowed
// license (a whole word of its concluded or declared license expression,
// any case), and no disallowed package (a name, or a name and version).
type spdxConditions struct {
	licenses []string
	packages []spdxPackage
}

type spdxPackage struct{ name, version string }

func ratifySBOM(src string, params *yaml.Node, p ratifySBOMParams) (*spdxConditions, error) {
	c := &spdxConditions{}
	for i, l := range p.DisallowedLicenses {
		if strings.TrimSpace(l) == "" {
			return nil, fieldError(src, fmt.Sprintf("spec.parameters.disallowedLicenses[%d]", i), "empty")
		}
		c.licenses = append(c.licenses, strings.TrimSpace(l))
	}
	for i, pk := range p.DisallowedPackages {
		if pk.Name == "" {
			return nil, fieldError(src, fmt.Sprintf("spec.parameters.disallowedPackages[%d].name", i), "missing")
		}
		c.packages = append(c.packages, spdxPackage{name: pk.Name, version: pk.Version})
	}
	if !present(p.NestedReferences) {
		return nil, refuseAt(src, params, "spec.parameters.nestedReferences", "an SBOM nobody signed proves nothing: name %s, and load a cosign Verifier beside this one whose trust policies sign the SBOMs", ratifyCosignType)
	}
	var nested []string
	switch p.NestedReferences.Kind {
	case yaml.ScalarNode:
		nested = strings.Split(p.NestedReferences.Value, ",")
	case yaml.SequenceNode:
		for _, n := range p.NestedReferences.Content {
			nested = append(nested, n.Value)
		}
	}
	for _, t := range nested {
		if t = strings.TrimSpace(t); t != ratifyCosignType {
			return nil, refuseAt(src, &p.NestedReferences, "spec.parameters.nestedReferences", "%q: dossier verifies SBOMs signed with cosign (%s) only", t, ratifyCosignType)
		}
	}
	return c, nil
}

func (c *spdxConditions) String() string {
	var what []string
	if len(c.licenses) > 0 {
		what = append(what, "no package licensed "+strings.Join(c.licenses, ", "))
	}
	for _, p := range c.packages {
		what = append(what, "no package "+strings.TrimSuffix(p.name+" "+p.version, " "))
	}
	if len(what) == 0 {
		return "any content"
	}
	return strings.Join(what, ", ")
}

// maxSPDXViolations bounds the violations a reason names.
const maxSPDXViolations = 10

// Check judges an SPDX document's packages.
func (c *spdxConditions) Check(predicate []byte, _ ImageFacts, _ time.Time) string {
	doc, err := decodeSPDXPackages(predicate)
	if err != nil {
		return "its SPDX document could not be read: " + err.Error()
	}
	var found []string
	for _, p := range doc {
		for _, l := range c.licenses {
			if containsLicense(p.LicenseConcluded, l) || containsLicense(p.LicenseDeclared, l) {
				found = append(found, fmt.Sprintf("%s %s is licensed %s", p.Name, p.VersionInfo, l))
			}
		}
		for _, d := range c.packages {
			if p.Name == d.name && (d.version == "" || p.VersionInfo == d.version) {
				found = append(found, fmt.Sprintf("%s %s is disallowed", p.Name, p.VersionInfo))
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	more := ""
	if len(found) > maxSPDXViolations {
		more = fmt.Sprintf(", and %d more", len(found)-maxSPDXViolations)
	}
	return fmt.Sprintf("its SBOM has %d license or package violations: %s%s", len(found), strings.Join(found[:min(len(found), maxSPDXViolations)], "; "), more)
}

// containsLicense says whether an SPDX license expression names license
// as a whole word, any case, as Ratify's sbom verifier reads it.
func containsLicense(expression, license string) bool {
	expression, license = strings.ToLower(expression), strings.ToLower(license)
	for i := 0; ; {
		at := strings.Index(expression[i:], license)
		if at < 0 {
			return false
		}
		start, end := i+at, i+at+len(license)
		before := start == 0 || strings.ContainsRune("( \t\n", rune(expression[start-1]))
		after := end == len(expression) || strings.ContainsRune(") \t\n", rune(expression[end]))
		if before && after {
			return true
		}
		i = start + 1
	}
}

// decodeRatifyPolicy reads Ratify's config Policy: which artifact types
// every image needs. It becomes no policy of its own; Load checks it
// against the Verifiers loaded beside it.
func decodeRatifyPolicy(d rawDocument, spec *yaml.Node, out *Documents) error {
	src := d.source
	var s ratifyPolicySpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	switch s.Type {
	case "config-policy":
	case "rego-policy":
		return refuseAt(src, nodeAt(spec, "type"), "spec.type", "rego-policy: dossier does not run Rego; use config-policy, or write the requirement as a dossier SupplyChainPolicy")
	default:
		return refuseAt(src, nodeAt(spec, "type"), "spec.type", "%q: want config-policy", s.Type)
	}
	switch {
	case present(s.Parameters.Policy):
		return refuseAt(src, &s.Parameters.Policy, "spec.parameters.policy", "Rego is read by rego-policy only, which dossier does not run")
	case present(s.Parameters.PassthroughEnabled):
		return refuseAt(src, &s.Parameters.PassthroughEnabled, "spec.parameters.passthroughEnabled", "a result passed through unjudged is not a decision")
	}
	types := map[string]string{}
	for t, rule := range s.Parameters.ArtifactVerificationPolicies {
		path := fmt.Sprintf("spec.parameters.artifactVerificationPolicies[%q]", t)
		if rule != "any" && rule != "all" {
			return fieldError(src, path, "%q: want any or all", rule)
		}
		switch t {
		case "default", ratifyCosignType, ratifyNotationType, ratifySPDXType, ratifySARIFType:
		default:
			return fieldError(src, path, "no Verifier dossier reads verifies %s artifacts", t)
		}
		types[t] = rule
	}
	out.ratify = append(out.ratify, ratifyPending{source: src, policy: d.header.Metadata.Name, types: types})
	return nil
}

// resolveRatify completes the Ratify documents of a load: each sbom
// Verifier becomes, for each cosign trust policy loaded, a policy over
// that trust policy's images requiring an SPDX SBOM attested by its
// signers that meets the conditions; the config Policy's artifact types
// must each be verified by a Verifier loaded, and what it means is told
// on every Ratify policy.
func (d *Documents) resolveRatify() error {
	if len(d.ratify) == 0 {
		return nil
	}
	var cosign []*Policy
	byType := map[string][]*Policy{}
	for _, p := range d.Policies {
		if p.Kind != KindRatifyVerifier || len(p.Rules) != 1 {
			continue
		}
		switch {
		case p.Rules[0].Signature != nil:
			cosign = append(cosign, p)
			byType[ratifyCosignType] = append(byType[ratifyCosignType], p)
		case p.Rules[0].Vulnerabilities != nil:
			byType[ratifySARIFType] = append(byType[ratifySARIFType], p)
		}
	}
	var configs, notations []ratifyPending
	var providers []*ratifyCerts
	var sboms []ratifyPending
	var executors []*ratifyExecutor
	for _, r := range d.ratify {
		switch {
		case r.executor != nil:
			executors = append(executors, r.executor)
		case r.policy != "":
			configs = append(configs, r)
		case r.notation != nil:
			notations = append(notations, r)
		case r.certs != nil:
			providers = append(providers, r.certs)
		default:
			sboms = append(sboms, r)
		}
	}
	if err := d.resolveRatifyExecutors(executors); err != nil {
		return err
	}
	notary, err := d.resolveRatifyNotation(notations, providers)
	if err != nil {
		return err
	}
	if len(notary) > 0 {
		d.Policies = append(d.Policies, notary...)
		byType[ratifyNotationType] = notary
	}
	for _, r := range sboms {
		if len(cosign) == 0 {
			return fieldError(r.source, "spec.parameters.nestedReferences", "Verifier %s reads SBOMs signed by a cosign Verifier's trust policies, and none is loaded beside it", r.sbom)
		}
		for _, c := range cosign {
			p := &Policy{Name: r.sbom, Kind: KindRatifyVerifier, Source: r.source, Mode: evidence.ModeEnforce, Images: c.Images}
			if len(cosign) > 1 {
				p.Name = r.sbom + "." + c.Name
			}
			// the document's digest: the conditions' wording can be the same
			// for other conditions, and a policy's version must change with them
			p.Digest = contentDigest(KindRatifyVerifier, r.source, c.Digest, r.digest)
			p.Rules = []Rule{{Name: "sbom", Attestation: &AttestationRule{PredicateType: evidence.PredicateSPDX, Signers: c.Rules[0].Signature.Signers, Conditions: r.conditions}}}
			p.Explanation = []string{fmt.Sprintf("the images of %s: an SPDX SBOM attested by its signers, with %s (Ratify reads an SBOM attached to the image and verifies its cosign signature)", c.Name, r.conditions)}
			d.Policies = append(d.Policies, p)
			byType[ratifySPDXType] = append(byType[ratifySPDXType], p)
		}
	}
	d.ratify = nil
	if len(configs) > 0 && len(byType) == 0 {
		// Ratify denies an image no Verifier verified: alone, the config
		// Policy would judge nothing here
		return fieldError(configs[0].source, "spec.parameters.artifactVerificationPolicies", "config Policy %s: no Verifier is loaded beside it (Ratify would deny every image): load its Verifiers with it", configs[0].policy)
	}
	for _, c := range configs {
		var told []string
		for t, rule := range c.types {
			if t != "default" && len(byType[t]) == 0 {
				return fieldError(c.source, fmt.Sprintf("spec.parameters.artifactVerificationPolicies[%q]", t), "no Verifier loaded verifies %s artifacts: Ratify would deny every image", t)
			}
			told = append(told, fmt.Sprintf("%s: %s", t, rule))
		}
		slices.Sort(told)
		note := fmt.Sprintf("config Policy %s (%s): every Verifier's artifact is required of the images it covers; any and all are both judged as any — one artifact of the type verified by a trusted signer passes, and others that do not verify are reported, never counted, so that whoever can attach an artifact cannot deny an image",
			c.policy, strings.Join(told, ", "))
		for _, p := range d.Policies {
			if p.Kind == KindRatifyVerifier {
				p.Explanation = append(p.Explanation, note)
			}
		}
	}
	return nil
}

// spdxPackageFacts are what the SBOM conditions read of an SPDX package.
type spdxPackageFacts struct {
	Name             string `json:"name"`
	VersionInfo      string `json:"versionInfo"`
	LicenseConcluded string `json:"licenseConcluded"`
	LicenseDeclared  string `json:"licenseDeclared"`
}

// decodeSPDXPackages reads the packages of an SPDX 2 JSON document (the
// predicate of an SPDX attestation).
func decodeSPDXPackages(predicate []byte) ([]spdxPackageFacts, error) {
	var doc struct {
		SPDXVersion string             `json:"spdxVersion"`
		Packages    []spdxPackageFacts `json:"packages"`
	}
	if err := json.Unmarshal(predicate, &doc); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return nil, errors.New("not an SPDX 2 JSON document (no spdxVersion SPDX-2.x)")
	}
	return doc.Packages, nil
}

// RatifyVerifierType is the type of the Ratify verifier a rule of the
// policy was read from (cosign, notation, sbom, vulnerabilityreport), as
// Ratify's reports name it; "" for a rule Ratify did not define.
func (p *Policy) RatifyVerifierType(rule string) string {
	switch p.Kind {
	case KindRatifyVerifier:
		return rule
	case KindRatifyExecutor, KindRatifyNamespacedExecutor:
		for _, r := range p.Rules {
			if r.Name == rule {
				return r.Verifier
			}
		}
	}
	return ""
}
