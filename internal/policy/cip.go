package policy

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// The subset of Sigstore policy-controller's ClusterImagePolicy
// (policy.sigstore.dev v1alpha1 and v1beta1) dossier evaluates. Fields
// outside it are decoded so that they can be refused by name instead of
// being silently ignored.
type cipSpec struct {
	Images      []struct{ Glob string } `yaml:"images"`
	Authorities []cipAuthority          `yaml:"authorities"`
	Mode        string                  `yaml:"mode"`
	Policy      *unsupported            `yaml:"policy"`
	Match       *unsupported            `yaml:"match"`
}

type cipAuthority struct {
	Name string `yaml:"name"`
	Key  *struct {
		Data          string       `yaml:"data"`
		SecretRef     *unsupported `yaml:"secretRef"`
		KMS           string       `yaml:"kms"`
		HashAlgorithm string       `yaml:"hashAlgorithm"`
	} `yaml:"key"`
	Keyless *struct {
		URL               *unsupported   `yaml:"url"`
		Identities        []IdentitySpec `yaml:"identities"`
		CACert            *unsupported   `yaml:"ca-cert"`
		TrustRootRef      string         `yaml:"trustRootRef"`
		InsecureIgnoreSCT bool           `yaml:"insecureIgnoreSCT"`
	} `yaml:"keyless"`
	Static *struct {
		Action  string `yaml:"action"`
		Message string `yaml:"message"`
	} `yaml:"static"`
	Source           *unsupported `yaml:"source"`
	CTLog            *unsupported `yaml:"ctlog"`
	RFC3161Timestamp *unsupported `yaml:"rfc3161timestamp"`
	SignatureFormat  string       `yaml:"signatureFormat"`
	Attestations     []struct {
		Name          string       `yaml:"name"`
		PredicateType string       `yaml:"predicateType"`
		Policy        *unsupported `yaml:"policy"`
	} `yaml:"attestations"`
}

// unsupported accepts any YAML value so that its presence can be refused
// (at its line).
type unsupported struct {
	set  bool
	line int
}

func (u *unsupported) UnmarshalYAML(n *yaml.Node) error { u.set, u.line = true, n.Line; return nil }

func decodeCIP(d rawDocument) (*Policy, error) {
	switch d.header.APIVersion {
	case "policy.sigstore.dev/v1beta1", "policy.sigstore.dev/v1alpha1":
	default:
		return nil, fieldError(d.source, "apiVersion", "%q: ClusterImagePolicy is read as policy.sigstore.dev/v1beta1 or v1alpha1", d.header.APIVersion)
	}
	spec, err := d.specNode()
	if err != nil {
		return nil, err
	}
	var s cipSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return nil, fmt.Errorf("%s: %v", d.source, err)
	}
	src := d.source
	if err := checkName(src, KindClusterPolicy, d.header.Metadata.Name); err != nil {
		return nil, err
	}
	refuse := func(path, what string) error {
		return fieldError(src, path, "%s is not supported by dossier; remove it or express the requirement as a dossier SupplyChainPolicy", what)
	}
	if s.Policy != nil {
		return nil, refuse("spec.policy", "a CUE/Rego policy")
	}
	if s.Match != nil {
		return nil, refuse("spec.match", "resource matching")
	}
	p := &Policy{Name: d.header.Metadata.Name, Kind: KindClusterPolicy, Source: src}
	switch s.Mode {
	case "", "enforce":
		p.Mode = evidence.ModeEnforce
	case "warn":
		p.Mode = evidence.ModeAudit
	default:
		return nil, fieldError(src, "spec.mode", "%q: want enforce or warn", s.Mode)
	}
	globs := make([]string, len(s.Images))
	for i, im := range s.Images {
		globs[i] = im.Glob
	}
	var warnings []string
	if p.Images, warnings, err = compileGlobs(src, "spec.images[].glob", globs); err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, warnings...)
	if len(s.Authorities) == 0 {
		return nil, fieldError(src, "spec.authorities", "list at least one authority")
	}
	rule := Rule{Name: "authorities"}
	for i, a := range s.Authorities {
		path := fmt.Sprintf("spec.authorities[%d]", i)
		alt, warns, err := decodeAuthority(src, path, a, refuse)
		if err != nil {
			return nil, err
		}
		if alt.Name == "" {
			alt.Name = fmt.Sprintf("authority-%d", i)
		}
		p.Warnings = append(p.Warnings, warns...)
		rule.AnyOf = append(rule.AnyOf, alt)
	}
	p.Rules = []Rule{rule}
	p.Digest = contentDigest(KindClusterPolicy, d.source, mustMarshal(d.node))
	return p, nil
}

func decodeAuthority(src, path string, a cipAuthority, refuse func(string, string) error) (Alternative, []string, error) {
	alt := Alternative{Name: a.Name}
	switch {
	case a.Source != nil:
		return alt, nil, refuse(path+".source", "reading signatures from another repository")
	case a.CTLog != nil:
		return alt, nil, refuse(path+".ctlog", "a per-authority transparency log (dossier uses the trusted root's logs)")
	case a.RFC3161Timestamp != nil:
		return alt, nil, refuse(path+".rfc3161timestamp", "a per-authority timestamp authority (dossier uses the trusted root's)")
	case a.SignatureFormat != "" && a.SignatureFormat != "simplesigning" && a.SignatureFormat != "bundle":
		return alt, nil, fieldError(src, path+".signatureFormat", "%q: want simplesigning or bundle", a.SignatureFormat)
	}
	set := 0
	for _, b := range []bool{a.Key != nil, a.Keyless != nil, a.Static != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return alt, nil, fieldError(src, path, "an authority has exactly one of key, keyless or static")
	}
	if a.Static != nil {
		if len(a.Attestations) > 0 {
			return alt, nil, fieldError(src, path+".attestations", "a static authority has no attestations")
		}
		switch a.Static.Action {
		case "pass", "fail":
		default:
			return alt, nil, fieldError(src, path+".static.action", "%q: want pass or fail", a.Static.Action)
		}
		alt.Rules = []Rule{{Name: "static", Static: &StaticRule{Pass: a.Static.Action == "pass", Message: a.Static.Message}}}
		return alt, nil, nil
	}
	var key *keySpec
	var keyless *keylessSpec
	if a.Key != nil {
		switch {
		case a.Key.SecretRef != nil:
			return alt, nil, refuse(path+".key.secretRef", "a key in a Kubernetes Secret")
		case a.Key.KMS != "":
			return alt, nil, refuse(path+".key.kms", "a KMS key")
		case a.Key.HashAlgorithm != "" && a.Key.HashAlgorithm != "sha256":
			return alt, nil, fieldError(src, path+".key.hashAlgorithm", "%q: only sha256 is supported", a.Key.HashAlgorithm)
		}
		key = &keySpec{Data: a.Key.Data}
	} else {
		switch {
		case a.Keyless.URL != nil:
			return alt, nil, refuse(path+".keyless.url", "a per-authority Fulcio URL (dossier uses the trusted root's authorities)")
		case a.Keyless.CACert != nil:
			return alt, nil, refuse(path+".keyless.ca-cert", "a per-authority CA certificate (dossier uses the trusted root)")
		}
		keyless = &keylessSpec{Identities: a.Keyless.Identities, InsecureIgnoreSCT: a.Keyless.InsecureIgnoreSCT, trustRootRef: a.Keyless.TrustRootRef}
	}
	ds, err := decodeSigner(src, path, alt.Name, key, keyless, false, LoadOptions{})
	if err != nil {
		return alt, nil, err
	}
	if len(a.Attestations) == 0 {
		alt.Rules = []Rule{{Name: "signature", Signature: &SignatureRule{Signers: []Signer{ds.Signer}}}}
		return alt, ds.warnings, nil
	}
	for j, at := range a.Attestations {
		apath := fmt.Sprintf("%s.attestations[%d]", path, j)
		if at.Policy != nil {
			return alt, nil, refuse(apath+".policy", "a CUE/Rego attestation policy")
		}
		if at.PredicateType == "" {
			return alt, nil, fieldError(src, apath+".predicateType", "missing")
		}
		uri, err := evidence.PredicateType(at.PredicateType)
		if err != nil {
			return alt, nil, fieldError(src, apath+".predicateType", "%v", err)
		}
		name := at.Name
		if name == "" {
			name = "attestation-" + evidence.PredicateShortName(uri)
		}
		alt.Rules = append(alt.Rules, Rule{Name: name, Attestation: &AttestationRule{PredicateType: uri, Signers: []Signer{ds.Signer}}})
	}
	return alt, ds.warnings, nil
}
