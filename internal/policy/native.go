package policy

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// The SupplyChainPolicy document, as written in YAML.
type nativeSpec struct {
	Mode       string           `yaml:"mode"`
	Images     []string         `yaml:"images"`
	Namespaces *namespacesSpec  `yaml:"namespaces"`
	Signers    []nativeSigner   `yaml:"signers"`
	Rules      []nativeRuleSpec `yaml:"rules"`
	// VerificationSummaries accept a gate's signed word for rules
	VerificationSummaries []summarySpec `yaml:"verificationSummaries"`
}

type summarySpec struct {
	Verifier string   `yaml:"verifier"`
	Signers  []string `yaml:"signers"`
	MaxAge   string   `yaml:"maxAge"`
	Levels   []string `yaml:"levels"`
	Rules    []string `yaml:"rules"`
}

type namespacesSpec struct {
	Names    []string `yaml:"names"`
	Selector *struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

type nativeSigner struct {
	Name     string        `yaml:"name"`
	Key      *keySpec      `yaml:"key"`
	Keyless  *keylessSpec  `yaml:"keyless"`
	Notation *notationSpec `yaml:"notation"`
}

// notationSpec names Notation trust material: notation's trust policy
// file and trust store directory, read when the policy is loaded.
type notationSpec struct {
	TrustPolicy string `yaml:"trustPolicy"`
	TrustStore  string `yaml:"trustStore"`
}

type keySpec struct {
	Data string `yaml:"data"`
	File string `yaml:"file"`
}

type keylessSpec struct {
	Identities        []IdentitySpec `yaml:"identities"`
	InsecureIgnoreSCT bool           `yaml:"insecureIgnoreSCT"`
	// trustRootRef is read from ClusterImagePolicies only
	trustRootRef string
}

type IdentitySpec struct {
	Issuer        string `yaml:"issuer"`
	IssuerRegExp  string `yaml:"issuerRegExp"`
	Subject       string `yaml:"subject"`
	SubjectRegExp string `yaml:"subjectRegExp"`
}

type nativeRuleSpec struct {
	Name            string     `yaml:"name"`
	Signature       *sigSpec   `yaml:"signature"`
	Attestation     *attSpec   `yaml:"attestation"`
	Vulnerabilities *vulnsSpec `yaml:"vulnerabilities"`
}

type sigSpec struct {
	Signers []string `yaml:"signers"`
}

type attSpec struct {
	PredicateType      string   `yaml:"predicateType"`
	Signers            []string `yaml:"signers"`
	MaxAge             string   `yaml:"maxAge"`
	BuilderIDs         []string `yaml:"builderIDs"`
	SourceRepositories []string `yaml:"sourceRepositories"`
	Refs               []string `yaml:"refs"`
	Triggers           []string `yaml:"triggers"`
	WorkflowAudit      *struct {
		FailOn   string `yaml:"failOn"`
		Required bool   `yaml:"required"`
	} `yaml:"workflowAudit"`
}

type vulnsSpec struct {
	FailOn          string `yaml:"failOn"`
	IgnoreUnfixed   bool   `yaml:"ignoreUnfixed"`
	MaxDatabaseAge  string `yaml:"maxDatabaseAge"`
	RequireCoverage bool   `yaml:"requireCoverage"`
	Attestation     *struct {
		Signers []string `yaml:"signers"`
		MaxAge  string   `yaml:"maxAge"`
	} `yaml:"attestation"`
}

// fieldError names the document, the field path and the problem.
func fieldError(source, path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", source, path, fmt.Sprintf(format, args...))
}

var namePattern = lazyPattern(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

func checkName(source, kind, name string) error {
	if name == "" {
		return fieldError(source, "metadata.name", "a %s needs a name", kind)
	}
	if !namePattern.MatchString(name) {
		return fieldError(source, "metadata.name", "%q: use lower-case letters, digits, '-' and '.' (as Kubernetes names)", name)
	}
	return nil
}

func decodeNative(d rawDocument, opts LoadOptions) (*Policy, error) {
	spec, err := d.specNode()
	if err != nil {
		return nil, err
	}
	var s nativeSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return nil, fmt.Errorf("%s: %v", d.source, err)
	}
	src := d.source
	if err := checkName(src, KindPolicy, d.header.Metadata.Name); err != nil {
		return nil, err
	}
	p := &Policy{Name: d.header.Metadata.Name, Kind: KindPolicy, Source: src}
	switch s.Mode {
	case "", evidence.ModeEnforce:
		p.Mode = evidence.ModeEnforce
	case evidence.ModeAudit:
		p.Mode = evidence.ModeAudit
	default:
		return nil, fieldError(src, "spec.mode", "%q: want enforce or audit", s.Mode)
	}
	var warnings []string
	if p.Images, warnings, err = compileGlobs(src, "spec.images", s.Images); err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, warnings...)
	if s.Namespaces != nil {
		p.Namespaces = &NamespaceSelector{Names: s.Namespaces.Names}
		if s.Namespaces.Selector != nil {
			p.Namespaces.MatchLabels = s.Namespaces.Selector.MatchLabels
		}
		if len(p.Namespaces.Names) == 0 && len(p.Namespaces.MatchLabels) == 0 {
			return nil, fieldError(src, "spec.namespaces", "give names or selector.matchLabels, or leave namespaces out to match every namespace")
		}
	}
	signers := map[string]Signer{}
	var order []string
	for i, ns := range s.Signers {
		path := fmt.Sprintf("spec.signers[%d]", i)
		if ns.Name == "" {
			return nil, fieldError(src, path+".name", "a signer needs a name that rules refer to")
		}
		if _, dup := signers[ns.Name]; dup {
			return nil, fieldError(src, path+".name", "signer %q is defined twice", ns.Name)
		}
		var sg decodedSigner
		var err error
		if ns.Notation != nil {
			if ns.Key != nil || ns.Keyless != nil {
				return nil, fieldError(src, path, "a signer is a key, keyless identities or notation: one of them")
			}
			sg, err = decodeNotationSigner(src, path+".notation", ns.Name, ns.Notation, opts)
		} else {
			sg, err = decodeSigner(src, path, ns.Name, ns.Key, ns.Keyless, true, opts)
		}
		if err != nil {
			return nil, err
		}
		p.Warnings = append(p.Warnings, sg.warnings...)
		signers[ns.Name] = sg.Signer
		order = append(order, ns.Name)
	}
	summarySigners := map[string]bool{}
	for _, ss := range s.VerificationSummaries {
		for _, n := range ss.Signers {
			summarySigners[n] = true
		}
	}
	pick := func(path string, names []string) ([]Signer, error) {
		if len(names) == 0 {
			// "any signer above" must not take a key the policy names so
			// that its verification summaries count
			for _, n := range order {
				if summarySigners[n] {
					return nil, fieldError(src, path, "no signers named, which would accept %s: spec.verificationSummaries trust it for summaries, not to sign; name this rule's signers", n)
				}
			}
			names = order
		}
		if len(names) == 0 {
			return nil, fieldError(src, path, "no signers: define spec.signers (a key or a keyless identity); \"any valid signature\" is not a mode")
		}
		var out []Signer
		for _, n := range names {
			sg, ok := signers[n]
			if !ok {
				return nil, fieldError(src, path, "no signer named %q in spec.signers (have: %s)", n, strings.Join(order, ", "))
			}
			out = append(out, sg)
		}
		return out, nil
	}
	if len(s.Rules) == 0 {
		return nil, fieldError(src, "spec.rules", "a policy needs at least one rule (signature, attestation or vulnerabilities)")
	}
	seen := map[string]bool{}
	for i, rs := range s.Rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		r, err := decodeNativeRule(src, path, rs, pick)
		if err != nil {
			return nil, err
		}
		if seen[r.Name] {
			return nil, fieldError(src, path+".name", "rule %q is defined twice", r.Name)
		}
		seen[r.Name] = true
		p.Rules = append(p.Rules, r)
	}
	for i, ss := range s.VerificationSummaries {
		a, err := decodeSummary(src, fmt.Sprintf("spec.verificationSummaries[%d]", i), ss, seen, pick)
		if err != nil {
			return nil, err
		}
		p.Summaries = append(p.Summaries, a)
	}
	// the trust material a Notation signer read is part of what the policy is
	parts := []string{KindPolicy, d.source, mustMarshal(d.node)}
	for _, n := range order {
		if cfg := signers[n].Notation; cfg != nil {
			parts = append(parts, cfg.Digest())
		}
	}
	p.Digest = contentDigest(parts...)
	return p, nil
}

func decodeNativeRule(src, path string, rs nativeRuleSpec, pick func(string, []string) ([]Signer, error)) (Rule, error) {
	kinds := 0
	for _, set := range []bool{rs.Signature != nil, rs.Attestation != nil, rs.Vulnerabilities != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return Rule{}, fieldError(src, path, "a rule has exactly one of signature, attestation or vulnerabilities")
	}
	r := Rule{Name: rs.Name}
	switch {
	case rs.Signature != nil:
		signers, err := pick(path+".signature.signers", rs.Signature.Signers)
		if err != nil {
			return Rule{}, err
		}
		r.Signature = &SignatureRule{Signers: signers}
		if r.Name == "" {
			r.Name = "signature"
		}
	case rs.Attestation != nil:
		a := rs.Attestation
		if a.PredicateType == "" {
			return Rule{}, fieldError(src, path+".attestation.predicateType", "missing (cyclonedx, spdxjson, slsaprovenance1, openvex, vuln, or a URI)")
		}
		uri, err := evidence.PredicateType(a.PredicateType)
		if err != nil {
			return Rule{}, fieldError(src, path+".attestation.predicateType", "%v", err)
		}
		signers, err := pick(path+".attestation.signers", a.Signers)
		if err != nil {
			return Rule{}, err
		}
		if err := signaturesOnly(src, path+".attestation.signers", signers); err != nil {
			return Rule{}, err
		}
		maxAge, err := parseDuration(src, path+".attestation.maxAge", a.MaxAge)
		if err != nil {
			return Rule{}, err
		}
		if (len(a.BuilderIDs) > 0 || len(a.SourceRepositories) > 0 || len(a.Refs) > 0 || len(a.Triggers) > 0 || a.WorkflowAudit != nil) &&
			uri != evidence.PredicateSLSA1 && uri != evidence.PredicateSLSA02 {
			return Rule{}, fieldError(src, path+".attestation", "builderIDs, sourceRepositories, refs, triggers and workflowAudit are conditions on SLSA provenance, not on %s", a.PredicateType)
		}
		r.Attestation = &AttestationRule{PredicateType: uri, Signers: signers, MaxAge: maxAge, BuilderIDs: a.BuilderIDs, SourceRepositories: a.SourceRepositories, Triggers: a.Triggers}
		for i, ref := range a.Refs {
			g, err := CompileGlob(ref)
			if err != nil {
				return Rule{}, fieldError(src, fmt.Sprintf("%s.attestation.refs[%d]", path, i), "%v", err)
			}
			r.Attestation.Refs = append(r.Attestation.Refs, RefGlob{Text: ref, Glob: g})
		}
		for i, t := range a.Triggers {
			if strings.HasPrefix(t, "pull_request") {
				return Rule{}, fieldError(src, fmt.Sprintf("%s.attestation.triggers[%d]", path, i), "%q: a pull request's run is never a controlled build", t)
			}
		}
		if w := a.WorkflowAudit; w != nil {
			if !slices.Contains([]string{evidence.SeverityLow, evidence.SeverityMedium, evidence.SeverityHigh, evidence.SeverityCritical}, w.FailOn) {
				return Rule{}, fieldError(src, path+".attestation.workflowAudit.failOn", "%q: want low, medium, high or critical", w.FailOn)
			}
			r.Attestation.WorkflowAudit = &WorkflowAuditCondition{FailOn: w.FailOn, Required: w.Required}
		}
		if r.Name == "" {
			r.Name = "attestation-" + evidence.PredicateShortName(uri)
		}
	default:
		v := rs.Vulnerabilities
		if !slices.Contains([]string{evidence.SeverityLow, evidence.SeverityMedium, evidence.SeverityHigh, evidence.SeverityCritical}, v.FailOn) {
			return Rule{}, fieldError(src, path+".vulnerabilities.failOn", "%q: want low, medium, high or critical", v.FailOn)
		}
		maxDB, err := parseDuration(src, path+".vulnerabilities.maxDatabaseAge", v.MaxDatabaseAge)
		if err != nil {
			return Rule{}, err
		}
		vr := &VulnerabilityRule{FailOn: v.FailOn, IgnoreUnfixed: v.IgnoreUnfixed, MaxDatabaseAge: maxDB, RequireCoverage: v.RequireCoverage}
		if v.Attestation != nil {
			signers, err := pick(path+".vulnerabilities.attestation.signers", v.Attestation.Signers)
			if err != nil {
				return Rule{}, err
			}
			if err := signaturesOnly(src, path+".vulnerabilities.attestation.signers", signers); err != nil {
				return Rule{}, err
			}
			maxAge, err := parseDuration(src, path+".vulnerabilities.attestation.maxAge", v.Attestation.MaxAge)
			if err != nil {
				return Rule{}, err
			}
			vr.Attestation = &VulnAttestation{Signers: signers, MaxAge: maxAge}
		}
		r.Vulnerabilities = vr
		if r.Name == "" {
			r.Name = "vulnerabilities"
		}
	}
	if !namePattern.MatchString(r.Name) {
		return Rule{}, fieldError(src, path+".name", "%q: use lower-case letters, digits, '-' and '.'", r.Name)
	}
	return r, nil
}

// levelPattern is how SLSA spells verified levels: ORG_PROPERTY.
var levelPattern = regexp.MustCompile(`^[A-Z0-9]+(_[A-Z0-9]+)+$`)

// decodeSummary reads one accepted verification summary: whose, signed by
// whom, how old at most, carrying which levels, for which of the policy's
// rules (rules names them). Every part is required: a summary accepted
// from anyone, for ever, or for nothing in particular is not a policy.
func decodeSummary(src, path string, ss summarySpec, rules map[string]bool, pick func(string, []string) ([]Signer, error)) (SummaryAcceptance, error) {
	a := SummaryAcceptance{Verifier: ss.Verifier, Levels: ss.Levels, Rules: ss.Rules}
	if u, err := url.Parse(ss.Verifier); ss.Verifier == "" || err != nil || u.Scheme == "" {
		return a, fieldError(src, path+".verifier", "%q: want the verifier's URI, as its summaries name it (verifier.id)", ss.Verifier)
	}
	if len(ss.Signers) == 0 {
		return a, fieldError(src, path+".signers", "name the signers whose summaries are accepted")
	}
	var err error
	if a.Signers, err = pick(path+".signers", ss.Signers); err != nil {
		return a, err
	}
	if err := signaturesOnly(src, path+".signers", a.Signers); err != nil {
		return a, err
	}
	if ss.MaxAge == "" {
		return a, fieldError(src, path+".maxAge", "give how old a summary may be (24h, say): a judgement does not hold for ever")
	}
	if a.MaxAge, err = parseDuration(src, path+".maxAge", ss.MaxAge); err != nil {
		return a, err
	}
	if len(ss.Levels) == 0 {
		return a, fieldError(src, path+".levels", "name the verified levels a summary must carry (DOSSIER_<POLICY>_<RULE>, SLSA_BUILD_LEVEL_3, …)")
	}
	for j, l := range ss.Levels {
		if !levelPattern.MatchString(l) {
			return a, fieldError(src, fmt.Sprintf("%s.levels[%d]", path, j), "%q: a level is spelled ORG_PROPERTY (upper case, digits, _)", l)
		}
	}
	if len(ss.Rules) == 0 {
		return a, fieldError(src, path+".rules", "name the rules of this policy a summary satisfies")
	}
	for j, r := range ss.Rules {
		if !rules[r] {
			return a, fieldError(src, fmt.Sprintf("%s.rules[%d]", path, j), "no rule named %q in spec.rules", r)
		}
	}
	return a, nil
}

func parseDuration(src, path, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fieldError(src, path, "%q: want a positive duration such as 72h or 30m", s)
	}
	return d, nil
}

type decodedSigner struct {
	Signer
	warnings []string
}

// decodeSigner reads a key or keyless identities. Native policies require
// regular expressions to be anchored; ClusterImagePolicy regular
// expressions keep policy-controller's meaning (a match anywhere) and get
// a warning.
func decodeSigner(src, path, name string, key *keySpec, keyless *keylessSpec, native bool, opts LoadOptions) (decodedSigner, error) {
	out := decodedSigner{Signer: Signer{Name: name}}
	switch {
	case key != nil && keyless != nil:
		return out, fieldError(src, path, "a signer is a key or keyless identities, not both")
	case key != nil:
		pemText := key.Data
		switch {
		case key.Data != "" && key.File != "":
			return out, fieldError(src, path+".key", "give data or file, not both")
		case key.File != "":
			if opts.ReadFile == nil {
				return out, fieldError(src, path+".key.file", "key files are not read here; inline the key as data")
			}
			file := key.File
			if !filepath.IsAbs(file) && opts.BaseDir != "" {
				file = filepath.Join(opts.BaseDir, file)
			}
			data, err := opts.ReadFile(file)
			if err != nil {
				return out, fieldError(src, path+".key.file", "%v", err)
			}
			pemText = string(data)
		case key.Data == "":
			return out, fieldError(src, path+".key", "give the PEM public key as data (or, in dossier policies, a file)")
		}
		key, fp, err := publicKey(pemText)
		if err != nil {
			return out, fieldError(src, path+".key", "%v", err)
		}
		out.Key, out.KeyFingerprint = key, fp
	case keyless != nil:
		if len(keyless.Identities) == 0 {
			return out, fieldError(src, path+".keyless.identities", "list at least one identity (issuer and subject): \"any valid certificate\" is not a mode")
		}
		for i, is := range keyless.Identities {
			id, warns, err := compileIdentity(src, fmt.Sprintf("%s.keyless.identities[%d]", path, i), is, native)
			if err != nil {
				return out, err
			}
			out.Identities = append(out.Identities, id)
			out.warnings = append(out.warnings, warns...)
		}
		out.TrustRootRef = keyless.trustRootRef
		if keyless.InsecureIgnoreSCT {
			out.InsecureIgnoreSCT = true
			out.warnings = append(out.warnings, fmt.Sprintf("%s: %s.keyless.insecureIgnoreSCT: certificates no certificate-transparency log has seen are accepted for signer %s", src, path, name))
		}
	default:
		return out, fieldError(src, path, "give a key or keyless identities")
	}
	return out, nil
}

func compileIdentity(src, path string, is IdentitySpec, native bool) (Identity, []string, error) {
	id := Identity{Issuer: is.Issuer, IssuerRegExp: is.IssuerRegExp, Subject: is.Subject, SubjectRegExp: is.SubjectRegExp}
	var warnings []string
	pair := func(field, exact, re string, out **regexp.Regexp) error {
		switch {
		case exact != "" && re != "":
			return fieldError(src, path, "give %s or %sRegExp, not both", field, field)
		case exact == "" && re == "":
			return fieldError(src, path, "%s (or %sRegExp) is required: an identity that accepts any %s accepts anyone", field, field, field)
		case re == "":
			return nil
		}
		if len(re) > 1024 {
			return fieldError(src, path+"."+field+"RegExp", "longer than 1024 characters")
		}
		expr := re
		if native {
			// whole-string match whatever the expression's own anchors: in
			// "^a$|b$" the second branch would match anywhere before its end
			expr = "^(?:" + re + ")$"
		}
		compiled, err := regexp.Compile(expr)
		if err != nil {
			return fieldError(src, path+"."+field+"RegExp", "%q does not compile: %v", re, err)
		}
		if !strings.HasPrefix(re, "^") || !strings.HasSuffix(re, "$") {
			if native {
				return fieldError(src, path+"."+field+"RegExp", "%q is not anchored: write ^…$ so that look-alike identities do not match", re)
			}
			warnings = append(warnings, fmt.Sprintf("%s: %s.%sRegExp %q is unanchored: as in policy-controller it matches anywhere in the %s, so look-alikes match too; anchor it with ^…$", src, path, field, re, field))
		}
		*out = compiled
		return nil
	}
	if err := pair("issuer", is.Issuer, is.IssuerRegExp, &id.issuerRE); err != nil {
		return id, nil, err
	}
	if err := pair("subject", is.Subject, is.SubjectRegExp, &id.subjectRE); err != nil {
		return id, nil, err
	}
	return id, warnings, nil
}

// publicKey reads a PEM public key as cosign, Kyverno and Ratify read it
// (PKIX "PUBLIC KEY", or PKCS #1 "RSA PUBLIC KEY") and gives it in PKIX
// PEM, as signatures are verified against it, with its fingerprint.
func publicKey(pemText string) (pkixPEM, fingerprint string, err error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return "", "", fmt.Errorf("not a PEM public key")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return "", "", fmt.Errorf("more than one PEM block: give one public key per signer")
	}
	der := block.Bytes
	switch block.Type {
	case "PUBLIC KEY":
		if _, err := x509.ParsePKIXPublicKey(der); err != nil {
			return "", "", fmt.Errorf("unreadable public key: %v", err)
		}
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return "", "", fmt.Errorf("unreadable PKCS #1 RSA public key: %v", err)
		}
		if der, err = x509.MarshalPKIXPublicKey(key); err != nil {
			return "", "", fmt.Errorf("unusable RSA public key: %v", err)
		}
	default:
		return "", "", fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\" (or \"RSA PUBLIC KEY\"), as cosign reads keys", block.Type)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), evidence.KeyFingerprint(der), nil
}
