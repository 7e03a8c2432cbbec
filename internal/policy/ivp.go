package policy

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gobwas/glob"
	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Kyverno's ImageValidatingPolicy kinds (policies.kyverno.io), whose CEL
// validations dossier compiles at load and evaluates over one image's
// verified evidence.
const (
	KindImageValidatingPolicy           = "ImageValidatingPolicy"
	KindNamespacedImageValidatingPolicy = "NamespacedImageValidatingPolicy"
)

// The versions Kyverno serves the kinds in, all with one schema.
var ivpAPIVersions = []string{"policies.kyverno.io/v1", "policies.kyverno.io/v1beta1", "policies.kyverno.io/v1alpha1"}

// Bounds on what one policy may hold: more is a mistake or an attack on
// the loader and on every decision after it.
const (
	maxIVPExpression = 10_000 // characters in one CEL expression
	maxIVPEntries    = 64     // validations, variables, attestors, attestations, image references each
)

// The part of ImageValidatingPolicySpec dossier reads. Fields dossier
// cannot honour are decoded as unsupported so that they are refused by
// name at their line; any other field is refused as unknown.
type ivpSpec struct {
	MatchConstraints         *ivpMatch           `yaml:"matchConstraints"`
	FailurePolicy            string              `yaml:"failurePolicy"`
	AuditAnnotations         *unsupported        `yaml:"auditAnnotations"`
	ValidationActions        []string            `yaml:"validationActions"`
	MatchConditions          *unsupported        `yaml:"matchConditions"`
	Variables                []ivpVariable       `yaml:"variables"`
	ValidationConfigurations ivpValidationConfig `yaml:"validationConfigurations"`
	MatchImageReferences     []ivpImageReference `yaml:"matchImageReferences"`
	Credentials              *unsupported        `yaml:"credentials"`
	Images                   *unsupported        `yaml:"images"`
	Attestors                []ivpAttestor       `yaml:"attestors"`
	Attestations             []ivpAttestation    `yaml:"attestations"`
	Validations              []ivpValidation     `yaml:"validations"`
	WebhookConfiguration     *struct {
		TimeoutSeconds *int `yaml:"timeoutSeconds"`
	} `yaml:"webhookConfiguration"`
	Evaluation *struct {
		Mode       string      `yaml:"mode"`
		Admission  *ivpEnabled `yaml:"admission"`
		Background *ivpEnabled `yaml:"background"`
	} `yaml:"evaluation"`
	Autogen *struct {
		PodControllers *struct {
			Controllers []string `yaml:"controllers"`
		} `yaml:"podControllers"`
	} `yaml:"autogen"`
}

type ivpEnabled struct {
	Enabled *bool `yaml:"enabled"`
}

// ivpMatch is Kubernetes' MatchResources.
type ivpMatch struct {
	NamespaceSelector    *ivpLabelSelector `yaml:"namespaceSelector"`
	ObjectSelector       *ivpLabelSelector `yaml:"objectSelector"`
	ResourceRules        []ivpResourceRule `yaml:"resourceRules"`
	ExcludeResourceRules *unsupported      `yaml:"excludeResourceRules"`
	MatchPolicy          string            `yaml:"matchPolicy"`
}

type ivpLabelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions *unsupported      `yaml:"matchExpressions"`
}

type ivpResourceRule struct {
	APIGroups     []string     `yaml:"apiGroups"`
	APIVersions   []string     `yaml:"apiVersions"`
	Operations    []string     `yaml:"operations"`
	Resources     []string     `yaml:"resources"`
	ResourceNames *unsupported `yaml:"resourceNames"`
	Scope         string       `yaml:"scope"`
}

type ivpVariable struct {
	Name       string  `yaml:"name"`
	Expression celText `yaml:"expression"`
}

type ivpValidationConfig struct {
	MutateDigest *bool `yaml:"mutateDigest"`
	VerifyDigest *bool `yaml:"verifyDigest"`
	Required     *bool `yaml:"required"`
}

type ivpImageReference struct {
	Glob       string  `yaml:"glob"`
	Expression celText `yaml:"expression"`
}

type ivpAttestor struct {
	Name   string     `yaml:"name"`
	Cosign *ivpCosign `yaml:"cosign"`
	Notary *ivpNotary `yaml:"notary"`
}

type ivpCosign struct {
	Key         *ivpKey         `yaml:"key"`
	Keyless     *ivpKeyless     `yaml:"keyless"`
	Certificate *ivpCertificate `yaml:"certificate"`
	Source      *unsupported    `yaml:"source"`
	CTLog       *ivpCTLog       `yaml:"ctlog"`
	TUF         *unsupported    `yaml:"tuf"`
	TrustedRoot *ivpValue       `yaml:"trustedRoot"`
	Annotations *unsupported    `yaml:"annotations"`
}

type ivpKey struct {
	Data          string       `yaml:"data"`
	KMS           *unsupported `yaml:"kms"`
	HashAlgorithm string       `yaml:"hashAlgorithm"`
	Expression    *unsupported `yaml:"expression"`
}

type ivpKeyless struct {
	Identities           []ivpIdentity `yaml:"identities"`
	Roots                string        `yaml:"roots"`
	AdditionalExtensions *unsupported  `yaml:"additionalExtensions"`
}

type ivpIdentity struct {
	Issuer        string `yaml:"issuer"`
	Subject       string `yaml:"subject"`
	IssuerRegExp  string `yaml:"issuerRegExp"`
	SubjectRegExp string `yaml:"subjectRegExp"`
}

type ivpCertificate struct {
	Cert      *ivpValue    `yaml:"cert"`
	CertChain *unsupported `yaml:"certChain"`
}

// ivpValue is Kyverno's StringOrExpression: dossier reads values only.
type ivpValue struct {
	Value      string       `yaml:"value"`
	Expression *unsupported `yaml:"expression"`
}

type ivpCTLog struct {
	URL                string `yaml:"url"`
	RekorPubKey        string `yaml:"rekorPubKey"`
	CTLogPubKey        string `yaml:"ctLogPubKey"`
	TSACertChain       string `yaml:"tsaCertChain"`
	InsecureIgnoreTlog bool   `yaml:"insecureIgnoreTlog"`
	InsecureIgnoreSCT  bool   `yaml:"insecureIgnoreSCT"`
}

type ivpNotary struct {
	Certs    *ivpValue `yaml:"certs"`
	TSACerts *ivpValue `yaml:"tsaCerts"`
}

type ivpAttestation struct {
	Name   string `yaml:"name"`
	InToto *struct {
		Type string `yaml:"type"`
	} `yaml:"intoto"`
	Referrer *unsupported `yaml:"referrer"`
}

type ivpValidation struct {
	Expression        celText `yaml:"expression"`
	Message           string  `yaml:"message"`
	MessageExpression celText `yaml:"messageExpression"`
	Reason            string  `yaml:"reason"`
}

// celText is an expression and the line it is written at.
type celText struct {
	Text string
	Line int
}

func (c *celText) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a CEL expression is a string", n.Line)
	}
	c.Text, c.Line = n.Value, n.Line
	return nil
}

// ivpLoader reads one ImageValidatingPolicy, with the Kyverno loader's
// refusals and warnings.
type ivpLoader struct {
	*kyvernoLoader
	kind string
}

// at names a field at its line, for errors.
func (l *ivpLoader) at(line int) string {
	if line == 0 {
		return l.src
	}
	return fmt.Sprintf("%s:%d", l.src, line)
}

func decodeIVP(d rawDocument) (*Policy, error) {
	kind := d.header.Kind
	if !slices.Contains(ivpAPIVersions, d.header.APIVersion) {
		return nil, fieldError(d.source, "apiVersion", "%q: Kyverno's %s is read as %s", d.header.APIVersion, kind, strings.Join(ivpAPIVersions, ", "))
	}
	spec, err := d.specNode()
	if err != nil {
		return nil, err
	}
	var s ivpSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return nil, fmt.Errorf("%s: %v", d.source, err)
	}
	src, name := d.source, d.header.Metadata.Name
	if err := checkName(src, kind, name); err != nil {
		return nil, err
	}
	l := &ivpLoader{kyvernoLoader: &kyvernoLoader{src: src, policy: name}, kind: kind}
	if err := l.refusals(&s); err != nil {
		return nil, err
	}
	p := &Policy{Name: name, Kind: kind, Source: src}
	if p.Mode, err = l.actions(s.ValidationActions); err != nil {
		return nil, err
	}
	if err := l.scope(p, s.MatchConstraints, d.header.Metadata.Namespace); err != nil {
		return nil, err
	}
	prog := &ivpProgram{policy: name}
	if err := l.imageReferences(prog, s.MatchImageReferences); err != nil {
		return nil, err
	}
	if err := l.attestors(prog, s.Attestors); err != nil {
		return nil, err
	}
	if err := l.attestations(prog, s.Attestations); err != nil {
		return nil, err
	}
	if err := l.variables(prog, s.Variables); err != nil {
		return nil, err
	}
	if err := l.validations(prog, s.Validations); err != nil {
		return nil, err
	}
	p.ivp = prog
	l.explainImages(p, prog, s.MatchImageReferences)
	cfg := s.ValidationConfigurations
	mutate := cfg.MutateDigest == nil || *cfg.MutateDigest
	verifyDigest := cfg.VerifyDigest == nil || *cfg.VerifyDigest
	required := cfg.Required == nil || *cfg.Required
	if verifyDigest && !mutate {
		p.Rules = append(p.Rules, Rule{Name: "digest", Digest: true})
		l.explain = append(l.explain, "rule digest: the image named by digest (verifyDigest without mutateDigest)")
	}
	for i, v := range prog.validations {
		p.Rules = append(p.Rules, Rule{Name: fmt.Sprintf("validation-%d", i), CEL: &CELRule{program: prog, Index: i}})
		line := fmt.Sprintf("rule validation-%d: %s must be true", i, oneLine(v.expression))
		if v.message != "" {
			line += fmt.Sprintf(", else %q", v.message)
		}
		l.explain = append(l.explain, line)
	}
	if required {
		p.Rules = append(p.Rules, Rule{Name: "required", CEL: &CELRule{program: prog, Index: requiredCheck}})
		l.explain = append(l.explain, "rule required: the image passed a signature or attestation check (a verify function that found at least one attestor) in this or another ImageValidatingPolicy matching it")
	} else {
		l.explain = append(l.explain, "required false: an image no verify function checked is not denied for that")
	}
	if !mutate {
		l.explain = append(l.explain, "mutateDigest false (dossier's mutating webhook still pins images to the digest it judged)")
	}
	p.Warnings, p.Explanation = l.warnings, l.explain
	p.Digest = contentDigest(kind, d.source, mustMarshal(d.node))
	return p, nil
}

// refusals refuses what dossier cannot honour, by name, before anything
// else is read.
func (l *ivpLoader) refusals(s *ivpSpec) error {
	for _, f := range []struct {
		u          *unsupported
		field, why string
	}{
		{s.AuditAnnotations, "auditAnnotations", "audit annotations (dossier records each decision with its reasons)"},
		{s.MatchConditions, "matchConditions", "match conditions over the admission request (dossier decides about an image, not the request that names it)"},
		{s.Credentials, "credentials", "registry credentials named by a policy (dossier reads registries with its own configured credentials)"},
		{s.Images, "images", "custom image extractors (dossier judges the images of containers, init containers and ephemeral containers)"},
	} {
		if f.u != nil {
			return l.refuseAt(f.u, "spec."+f.field, f.why)
		}
	}
	switch s.FailurePolicy {
	case "", "Fail":
	case "Ignore":
		return fieldError(l.src, "spec.failurePolicy", "%q: dossier denies when evidence cannot be read or an expression fails (Fail); Ignore is not supported", s.FailurePolicy)
	default:
		return fieldError(l.src, "spec.failurePolicy", "%q: want Fail (or Ignore, which dossier does not support)", s.FailurePolicy)
	}
	if e := s.Evaluation; e != nil {
		switch {
		case e.Mode != "" && e.Mode != "Kubernetes":
			return fieldError(l.src, "spec.evaluation.mode", "%q: dossier evaluates image policies for Kubernetes workloads and its gates (Kubernetes)", e.Mode)
		case e.Admission != nil && e.Admission.Enabled != nil && !*e.Admission.Enabled:
			return fieldError(l.src, "spec.evaluation.admission.enabled", "false: a policy dossier loads decides at admission and in the gates")
		}
	}
	if w := s.WebhookConfiguration; w != nil && w.TimeoutSeconds != nil {
		l.warn("spec.webhookConfiguration.timeoutSeconds", "no effect: dossier's webhook has its own time-out")
	}
	if s.Autogen != nil && s.Autogen.PodControllers != nil {
		l.warn("spec.autogen.podControllers", "no effect: dossier judges the images of every workload kind")
	}
	return nil
}

// actions reads validationActions into a mode: Deny enforces, Audit and
// Warn report. Kyverno's default is Deny.
func (l *ivpLoader) actions(actions []string) (string, error) {
	if len(actions) == 0 {
		return evidence.ModeEnforce, nil
	}
	mode := evidence.ModeAudit
	for i, a := range actions {
		switch a {
		case "Deny":
			mode = evidence.ModeEnforce
		case "Audit", "Warn":
		default:
			return "", fieldError(l.src, fmt.Sprintf("spec.validationActions[%d]", i), "%q: want Deny, Audit or Warn", a)
		}
		if slices.Contains(actions[:i], a) {
			return "", fieldError(l.src, fmt.Sprintf("spec.validationActions[%d]", i), "%q is given twice", a)
		}
	}
	if slices.Contains(actions, "Deny") && slices.Contains(actions, "Warn") {
		return "", fieldError(l.src, "spec.validationActions", "Deny and Warn may not be used together (as Kubernetes says of validation actions)")
	}
	return mode, nil
}

// ivpResources are the resources (lower-case plural, as resource rules
// name them) whose images dossier's webhook judges.
var ivpResources = []string{"pods", "pods/ephemeralcontainers", "deployments", "statefulsets", "daemonsets", "replicasets", "replicationcontrollers", "jobs", "cronjobs", "*"}

// scope reads matchConstraints into the policy's namespaces: the rules
// must name workloads, created or updated; a namespace selector by labels
// is the policy's namespaces. A NamespacedImageValidatingPolicy applies in
// its own namespace.
func (l *ivpLoader) scope(p *Policy, m *ivpMatch, namespace string) error {
	if m == nil || len(m.ResourceRules) == 0 {
		return fieldError(l.src, "spec.matchConstraints", "a matchConstraints with at least one resource rule is required (as Kyverno's policy validation)")
	}
	switch {
	case m.ExcludeResourceRules != nil:
		return l.refuseAt(m.ExcludeResourceRules, "spec.matchConstraints.excludeResourceRules", "excluding resources")
	case m.ObjectSelector != nil && m.ObjectSelector.MatchExpressions != nil:
		return l.refuseAt(m.ObjectSelector.MatchExpressions, "spec.matchConstraints.objectSelector", "matching workloads by their labels")
	case m.ObjectSelector != nil && len(m.ObjectSelector.MatchLabels) > 0:
		return l.refuse("spec.matchConstraints.objectSelector", "matching workloads by their labels")
	case m.NamespaceSelector != nil && m.NamespaceSelector.MatchExpressions != nil:
		return l.refuseAt(m.NamespaceSelector.MatchExpressions, "spec.matchConstraints.namespaceSelector.matchExpressions", "namespace selection by expressions (use matchLabels)")
	case m.MatchPolicy != "" && m.MatchPolicy != "Equivalent" && m.MatchPolicy != "Exact":
		return fieldError(l.src, "spec.matchConstraints.matchPolicy", "%q: want Exact or Equivalent", m.MatchPolicy)
	}
	for i, r := range m.ResourceRules {
		path := fmt.Sprintf("spec.matchConstraints.resourceRules[%d]", i)
		if r.ResourceNames != nil {
			return l.refuseAt(r.ResourceNames, path+".resourceNames", "matching workloads by name")
		}
		if len(r.Resources) == 0 {
			return fieldError(l.src, path+".resources", "missing")
		}
		for j, res := range r.Resources {
			if !slices.Contains(ivpResources, res) {
				return fieldError(l.src, fmt.Sprintf("%s.resources[%d]", path, j), "%q: dossier judges the images of workloads (%s)", res, strings.Join(ivpResources[:len(ivpResources)-1], ", "))
			}
		}
		for j, op := range r.Operations {
			if op != "CREATE" && op != "UPDATE" && op != "*" {
				return fieldError(l.src, fmt.Sprintf("%s.operations[%d]", path, j), "%q: images are judged when workloads are created or updated", op)
			}
		}
	}
	var labels map[string]string
	if m.NamespaceSelector != nil && len(m.NamespaceSelector.MatchLabels) > 0 {
		labels = m.NamespaceSelector.MatchLabels
	}
	if l.kind == KindNamespacedImageValidatingPolicy {
		if namespace == "" {
			return fieldError(l.src, "metadata.namespace", "a %s applies in its own namespace: give it", l.kind)
		}
		if labels != nil {
			return l.refuse("spec.matchConstraints.namespaceSelector", "a namespace selector in a namespaced policy (it applies in its own namespace)")
		}
		p.Namespaces = &NamespaceSelector{Names: []string{namespace}}
		return nil
	}
	if labels != nil {
		p.Namespaces = &NamespaceSelector{MatchLabels: labels}
	}
	return nil
}

// imageReferences compiles matchImageReferences: Kyverno's globs (gobwas
// globs without separators: "*" crosses "/") and CEL expressions over
// ref. An image any of them matches is the policy's; no references
// match every image.
func (l *ivpLoader) imageReferences(prog *ivpProgram, refs []ivpImageReference) error {
	if len(refs) > maxIVPEntries {
		return fieldError(l.src, "spec.matchImageReferences", "more than %d entries", maxIVPEntries)
	}
	for i, r := range refs {
		path := fmt.Sprintf("spec.matchImageReferences[%d]", i)
		switch {
		case r.Glob != "" && r.Expression.Text != "":
			return fieldError(l.src, path, "give glob or expression, not both")
		case r.Glob != "":
			if len(r.Glob) > 512 {
				return fieldError(l.src, path+".glob", "longer than 512 characters")
			}
			g, err := glob.Compile(r.Glob)
			if err != nil {
				return fieldError(l.src, path+".glob", "%q: %v", r.Glob, err)
			}
			prog.globs = append(prog.globs, ivpGlob{text: r.Glob, g: g})
		case r.Expression.Text != "":
			prg, err := compileMatchExpression(r.Expression.Text)
			if err != nil {
				return fieldError(l.at(r.Expression.Line), path+".expression", "%v", err)
			}
			prog.matchExprs = append(prog.matchExprs, ivpMatchExpr{text: r.Expression.Text, prg: prg})
		default:
			return fieldError(l.src, path, "either glob or expression must be set")
		}
	}
	return nil
}

// cel names: attestors, attestations and variables are read as
// attestors.<name> in expressions.
var celName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func (l *ivpLoader) checkEntryName(path, name string, seen map[string]bool) error {
	switch {
	case name == "":
		return fieldError(l.src, path+".name", "missing")
	case len(name) > 253:
		return fieldError(l.src, path+".name", "longer than 253 characters")
	case seen[name]:
		return fieldError(l.src, path+".name", "%q is given twice", name)
	case !celName.MatchString(name):
		// Kyverno accepts any name, but only these can be written as
		// attestors.<name> in an expression
		l.warn(path+".name", "%q can only be read as [%q] in expressions", name, name)
	}
	seen[name] = true
	return nil
}

// attestors reads each attestor into the signer it amounts to: a Cosign
// key, certificate or keyless identities, or a Notary CA.
func (l *ivpLoader) attestors(prog *ivpProgram, attestors []ivpAttestor) error {
	if len(attestors) > maxIVPEntries {
		return fieldError(l.src, "spec.attestors", "more than %d entries", maxIVPEntries)
	}
	seen := map[string]bool{}
	for i, a := range attestors {
		path := fmt.Sprintf("spec.attestors[%d]", i)
		if err := l.checkEntryName(path, a.Name, seen); err != nil {
			return err
		}
		var s Signer
		var err error
		switch {
		case (a.Cosign == nil) == (a.Notary == nil):
			return fieldError(l.src, path, "an attestor has exactly one of cosign or notary")
		case a.Notary != nil:
			s, err = l.notary(path+".notary", a.Name, a.Notary)
		default:
			s, err = l.cosign(path+".cosign", a.Name, a.Cosign)
		}
		if err != nil {
			return err
		}
		prog.attestors = append(prog.attestors, ivpAttestorDef{name: a.Name, signer: s})
		l.explain = append(l.explain, fmt.Sprintf("attestor %s: %s", a.Name, s.String()))
	}
	return nil
}

func (l *ivpLoader) cosign(path, name string, c *ivpCosign) (Signer, error) {
	switch {
	case c.Source != nil:
		return Signer{}, l.refuseAt(c.Source, path+".source", "reading signatures from another repository or with pull secrets")
	case c.Annotations != nil:
		return Signer{}, l.refuseAt(c.Annotations, path+".annotations", "signature annotations")
	case c.TrustedRoot != nil && c.TrustedRoot.Expression != nil:
		return Signer{}, l.refuseAt(c.TrustedRoot.Expression, path+".trustedRoot.expression", "a trusted root computed by a CEL expression")
	}
	set := 0
	for _, b := range []bool{c.Key != nil, c.Keyless != nil, c.Certificate != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return Signer{}, fieldError(l.src, path, "a cosign attestor has exactly one of key, keyless or certificate")
	}
	ctlog := c.CTLog
	if ctlog == nil {
		ctlog = &ivpCTLog{}
	}
	if c.Keyless != nil {
		return l.cosignKeyless(path, name, c, ctlog)
	}
	if c.TUF != nil || c.TrustedRoot != nil || ctlog.RekorPubKey != "" || ctlog.CTLogPubKey != "" || ctlog.TSACertChain != "" {
		l.warn(path, "dossier verifies key-based signatures by the key alone: the trusted root, TUF and log keys given here are not read")
	}
	var s Signer
	var err error
	if c.Key != nil {
		s, err = l.cosignKey(path+".key", name, c.Key)
	} else {
		switch {
		case c.Certificate.CertChain != nil:
			return Signer{}, l.refuseAt(c.Certificate.CertChain, path+".certificate.certChain", "verifying a Cosign signing certificate against a chain")
		case c.Certificate.Cert == nil:
			return Signer{}, fieldError(l.src, path+".certificate.cert", "missing")
		case c.Certificate.Cert.Expression != nil:
			return Signer{}, l.refuseAt(c.Certificate.Cert.Expression, path+".certificate.cert.expression", "a certificate computed by a CEL expression")
		}
		s, err = l.certificateKey(path+".certificate.cert.value", name, c.Certificate.Cert.Value)
	}
	if err != nil {
		return Signer{}, err
	}
	l.keyLogNote(path, "ctlog.insecureIgnoreTlog", ctlog.InsecureIgnoreTlog)
	return s, nil
}

func (l *ivpLoader) cosignKey(path, name string, k *ivpKey) (Signer, error) {
	switch {
	case k.KMS != nil:
		return Signer{}, l.refuseAt(k.KMS, path+".kms", "a KMS key")
	case k.Expression != nil:
		return Signer{}, l.refuseAt(k.Expression, path+".expression", "a key computed by a CEL expression")
	case k.HashAlgorithm != "" && k.HashAlgorithm != "sha256":
		return Signer{}, fieldError(l.src, path+".hashAlgorithm", "%q: only sha256 is supported", k.HashAlgorithm)
	case strings.TrimSpace(k.Data) == "":
		return Signer{}, fieldError(l.src, path+".data", "give the PEM public key")
	}
	key, fp, err := publicKey(k.Data)
	if err != nil {
		return Signer{}, fieldError(l.src, path+".data", "%v", err)
	}
	return Signer{Name: name, Key: key, KeyFingerprint: fp}, nil
}

// cosignKeyless reads keyless identities as cosign matches them: an exact
// value exactly, a …RegExp anywhere in the value.
func (l *ivpLoader) cosignKeyless(path, name string, c *ivpCosign, ctlog *ivpCTLog) (Signer, error) {
	k := c.Keyless
	kpath := path + ".keyless"
	if k.AdditionalExtensions != nil {
		return Signer{}, l.refuseAt(k.AdditionalExtensions, kpath+".additionalExtensions", "certificate extensions")
	}
	if len(k.Identities) == 0 {
		return Signer{}, fieldError(l.src, kpath+".identities", "list at least one identity: keyless signatures are trusted by who made them")
	}
	s := Signer{Name: name}
	for i, id := range k.Identities {
		ident, err := l.identity(fmt.Sprintf("%s.identities[%d]", kpath, i), false, id.Issuer, id.IssuerRegExp, id.Subject, id.SubjectRegExp)
		if err != nil {
			return Signer{}, err
		}
		s.Identities = append(s.Identities, ident)
	}
	var custom []string
	for _, f := range []struct {
		set  bool
		name string
	}{
		{k.Roots != "", "keyless.roots"}, {c.TrustedRoot != nil, "trustedRoot"}, {c.TUF != nil, "tuf"},
		{ctlog.RekorPubKey != "", "ctlog.rekorPubKey"}, {ctlog.CTLogPubKey != "", "ctlog.ctLogPubKey"}, {ctlog.TSACertChain != "", "ctlog.tsaCertChain"},
	} {
		if f.set {
			custom = append(custom, f.name)
		}
	}
	l.customTrustRoot(path, &s, custom)
	if ctlog.InsecureIgnoreSCT {
		l.ignoreSCT(path+".ctlog.insecureIgnoreSCT", &s)
	}
	if ctlog.InsecureIgnoreTlog {
		l.keylessLogNote(path + ".ctlog.insecureIgnoreTlog")
	}
	return s, nil
}

// notary reads a Notary attestor as Kyverno's Notary verifier builds its
// trust: the certs as one CA trust store (tsaCerts as a TSA one).
func (l *ivpLoader) notary(path, name string, n *ivpNotary) (Signer, error) {
	for _, v := range []struct {
		field string
		v     *ivpValue
	}{{"certs", n.Certs}, {"tsaCerts", n.TSACerts}} {
		if v.v != nil && v.v.Expression != nil {
			return Signer{}, l.refuseAt(v.v.Expression, path+"."+v.field+".expression", "certificates computed by a CEL expression")
		}
	}
	if n.Certs == nil || strings.TrimSpace(n.Certs.Value) == "" {
		return Signer{}, fieldError(l.src, path+".certs.value", "give the PEM certificate(s) of the CA that issues the Notation signing certificates")
	}
	ca, err := l.pemCertificates(path+".certs.value", n.Certs.Value)
	if err != nil {
		return Signer{}, err
	}
	var tsaCerts []*x509.Certificate
	if n.TSACerts != nil {
		if tsaCerts, err = l.pemCertificates(path+".tsaCerts.value", n.TSACerts.Value); err != nil {
			return Signer{}, err
		}
	}
	return l.notaryTrust(path, name, ca, tsaCerts)
}

// attestations reads each attestation: an in-toto statement of a
// predicate type, read as cosign attaches it.
func (l *ivpLoader) attestations(prog *ivpProgram, atts []ivpAttestation) error {
	if len(atts) > maxIVPEntries {
		return fieldError(l.src, "spec.attestations", "more than %d entries", maxIVPEntries)
	}
	seen := map[string]bool{}
	for i, a := range atts {
		path := fmt.Sprintf("spec.attestations[%d]", i)
		if err := l.checkEntryName(path, a.Name, seen); err != nil {
			return err
		}
		switch {
		case a.Referrer != nil:
			return l.refuseAt(a.Referrer, path+".referrer", "referrer attestations (OCI 1.1 artifacts verified with Notation)")
		case a.InToto == nil:
			return fieldError(l.src, path, "give intoto (or referrer, which dossier does not support)")
		case a.InToto.Type == "":
			return fieldError(l.src, path+".intoto.type", "missing")
		}
		uri, err := evidence.PredicateType(a.InToto.Type)
		if err != nil {
			return fieldError(l.src, path+".intoto.type", "%v", err)
		}
		prog.attestations = append(prog.attestations, ivpAttestationDef{name: a.Name, predicateType: uri})
		l.explain = append(l.explain, fmt.Sprintf("attestation %s: an in-toto statement of type %s", a.Name, uri))
	}
	return nil
}

func (l *ivpLoader) variables(prog *ivpProgram, vars []ivpVariable) error {
	if len(vars) > maxIVPEntries {
		return fieldError(l.src, "spec.variables", "more than %d entries", maxIVPEntries)
	}
	seen := map[string]bool{}
	for i, v := range vars {
		path := fmt.Sprintf("spec.variables[%d]", i)
		if err := l.checkEntryName(path, v.Name, seen); err != nil {
			return err
		}
		prg, err := compileIVP(v.Expression.Text, nil)
		if err != nil {
			return fieldError(l.at(v.Expression.Line), path+".expression", "%v", err)
		}
		prog.variables = append(prog.variables, ivpVariableDef{name: v.Name, prg: prg})
	}
	return nil
}

func (l *ivpLoader) validations(prog *ivpProgram, vals []ivpValidation) error {
	if len(vals) == 0 {
		return fieldError(l.src, "spec.validations", "a policy needs at least one validation")
	}
	if len(vals) > maxIVPEntries {
		return fieldError(l.src, "spec.validations", "more than %d entries", maxIVPEntries)
	}
	for i, v := range vals {
		path := fmt.Sprintf("spec.validations[%d]", i)
		prg, err := compileIVP(v.Expression.Text, boolResult)
		if err != nil {
			return fieldError(l.at(v.Expression.Line), path+".expression", "%v", err)
		}
		def := ivpValidationDef{expression: v.Expression.Text, message: v.Message, prg: prg}
		if v.MessageExpression.Text != "" {
			if def.messagePrg, err = compileIVP(v.MessageExpression.Text, stringResult); err != nil {
				return fieldError(l.at(v.MessageExpression.Line), path+".messageExpression", "%v", err)
			}
		}
		switch v.Reason {
		case "", "Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge":
		default:
			return fieldError(l.src, path+".reason", "%q: want Unauthorized, Forbidden, Invalid or RequestEntityTooLarge", v.Reason)
		}
		prog.validations = append(prog.validations, def)
	}
	return nil
}

// explainImages says which images the policy judges.
func (l *ivpLoader) explainImages(p *Policy, prog *ivpProgram, refs []ivpImageReference) {
	var what []string
	for _, r := range refs {
		if r.Glob != "" {
			what = append(what, "glob "+r.Glob)
		} else {
			what = append(what, "expression "+oneLine(r.Expression.Text))
		}
	}
	line := "images: every image"
	if len(what) > 0 {
		line = "images: those matching " + strings.Join(what, " or ")
	}
	switch {
	case p.Namespaces != nil && len(p.Namespaces.Names) > 0:
		line += " in namespace " + p.Namespaces.Names[0]
	case p.Namespaces != nil:
		line += fmt.Sprintf(" in namespaces labelled %v", p.Namespaces.MatchLabels)
	}
	line += fmt.Sprintf(" (%s); each judged alone, listed in images.containers, images.initContainers and images.ephemeralContainers", p.Mode)
	l.explain = append([]string{line}, l.explain...)
	if len(prog.variables) > 0 {
		names := make([]string, len(prog.variables))
		for i, v := range prog.variables {
			names[i] = v.name
		}
		l.explain = append(l.explain, "variables: "+strings.Join(names, ", ")+" (evaluated in order)")
	}
}

// oneLine shortens an expression for a line of text.
func oneLine(expr string) string {
	s := strings.Join(strings.Fields(expr), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
