package policy

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notation/trust"
)

// Kyverno's policy kinds (kyverno.io/v1), whose verifyImages rules dossier
// loads into its own model.
const (
	KindKyvernoClusterPolicy = "ClusterPolicy"
	KindKyvernoPolicy        = "Policy"
	kyvernoAPIVersion        = "kyverno.io/v1"
)

// The part of Kyverno's ClusterPolicy / Policy dossier reads. Fields that
// change nothing dossier decides are accepted; fields dossier cannot honour
// are decoded as unsupported so that they are refused by name, and any
// other field is refused as unknown.
type kyvernoSpec struct {
	Rules                            []kyvernoRule `yaml:"rules"`
	ValidationFailureAction          string        `yaml:"validationFailureAction"`
	ValidationFailureActionOverrides *unsupported  `yaml:"validationFailureActionOverrides"`
	FailurePolicy                    string        `yaml:"failurePolicy"`
	Background                       *bool         `yaml:"background"`
	Admission                        *bool         `yaml:"admission"`
	WebhookTimeoutSeconds            *int          `yaml:"webhookTimeoutSeconds"`
	EmitWarning                      *bool         `yaml:"emitWarning"`
	SchemaValidation                 *bool         `yaml:"schemaValidation"`
	ApplyRules                       string        `yaml:"applyRules"`
	UseServerSideApply               *unsupported  `yaml:"useServerSideApply"`
	MutateExistingOnPolicyUpdate     *unsupported  `yaml:"mutateExistingOnPolicyUpdate"`
	GenerateExisting                 *unsupported  `yaml:"generateExisting"`
	GenerateExistingOnPolicyUpdate   *unsupported  `yaml:"generateExistingOnPolicyUpdate"`
	WebhookConfiguration             *unsupported  `yaml:"webhookConfiguration"`
}

type kyvernoRule struct {
	Name                   string          `yaml:"name"`
	Match                  *kyvernoMatch   `yaml:"match"`
	Exclude                *kyvernoMatch   `yaml:"exclude"`
	VerifyImages           []kyvernoVerify `yaml:"verifyImages"`
	SkipBackgroundRequests *bool           `yaml:"skipBackgroundRequests"`
	Context                *unsupported    `yaml:"context"`
	Preconditions          *unsupported    `yaml:"preconditions"`
	CELPreconditions       *unsupported    `yaml:"celPreconditions"`
	ImageExtractors        *unsupported    `yaml:"imageExtractors"`
	Validate               *unsupported    `yaml:"validate"`
	Mutate                 *unsupported    `yaml:"mutate"`
	Generate               *unsupported    `yaml:"generate"`
	ReportProperties       *unsupported    `yaml:"reportProperties"`
}

type kyvernoMatch struct {
	Any          []kyvernoFilter   `yaml:"any"`
	All          []kyvernoFilter   `yaml:"all"`
	Resources    *kyvernoResources `yaml:"resources"`
	Subjects     *unsupported      `yaml:"subjects"`
	Roles        *unsupported      `yaml:"roles"`
	ClusterRoles *unsupported      `yaml:"clusterRoles"`
}

type kyvernoFilter struct {
	Resources    *kyvernoResources `yaml:"resources"`
	Subjects     *unsupported      `yaml:"subjects"`
	Roles        *unsupported      `yaml:"roles"`
	ClusterRoles *unsupported      `yaml:"clusterRoles"`
}

type kyvernoResources struct {
	Kinds             []string `yaml:"kinds"`
	Namespaces        []string `yaml:"namespaces"`
	NamespaceSelector *struct {
		MatchLabels      map[string]string `yaml:"matchLabels"`
		MatchExpressions *unsupported      `yaml:"matchExpressions"`
	} `yaml:"namespaceSelector"`
	Operations  []string     `yaml:"operations"`
	Selector    *unsupported `yaml:"selector"`
	Name        *unsupported `yaml:"name"`
	Names       *unsupported `yaml:"names"`
	Annotations *unsupported `yaml:"annotations"`
}

type kyvernoVerify struct {
	FailureAction            string               `yaml:"failureAction"`
	Type                     string               `yaml:"type"`
	ImageReferences          []string             `yaml:"imageReferences"`
	SkipImageReferences      []string             `yaml:"skipImageReferences"`
	Attestors                []kyvernoAttestorSet `yaml:"attestors"`
	Attestations             []kyvernoAttestation `yaml:"attestations"`
	Repository               *unsupported         `yaml:"repository"`
	CosignOCI11              *bool                `yaml:"cosignOCI11"`
	MutateDigest             *bool                `yaml:"mutateDigest"`
	VerifyDigest             *bool                `yaml:"verifyDigest"`
	Required                 *bool                `yaml:"required"`
	UseCache                 *bool                `yaml:"useCache"`
	Validate                 *unsupported         `yaml:"validate"`
	ImageRegistryCredentials *struct {
		AllowInsecureRegistry bool         `yaml:"allowInsecureRegistry"`
		Providers             *unsupported `yaml:"providers"`
		Secrets               *unsupported `yaml:"secrets"`
	} `yaml:"imageRegistryCredentials"`
	// the deprecated shorthands old tutorials use
	Image                string       `yaml:"image"`
	Key                  string       `yaml:"key"`
	Roots                string       `yaml:"roots"`
	Subject              string       `yaml:"subject"`
	Issuer               string       `yaml:"issuer"`
	AdditionalExtensions *unsupported `yaml:"additionalExtensions"`
	Annotations          *unsupported `yaml:"annotations"`
}

type kyvernoAttestorSet struct {
	Count   *int              `yaml:"count"`
	Entries []kyvernoAttestor `yaml:"entries"`
}

type kyvernoAttestor struct {
	Keys               *kyvernoKeys        `yaml:"keys"`
	Certificates       *kyvernoCerts       `yaml:"certificates"`
	Keyless            *kyvernoKeyless     `yaml:"keyless"`
	Attestor           *kyvernoAttestorSet `yaml:"attestor"`
	Annotations        *unsupported        `yaml:"annotations"`
	Repository         *unsupported        `yaml:"repository"`
	SignatureAlgorithm string              `yaml:"signatureAlgorithm"`
}

type kyvernoKeys struct {
	PublicKeys         string         `yaml:"publicKeys"`
	SignatureAlgorithm string         `yaml:"signatureAlgorithm"`
	KMS                *unsupported   `yaml:"kms"`
	Secret             *kyvernoSecret `yaml:"secret"`
	Rekor              *kyvernoRekor  `yaml:"rekor"`
	CTLog              *kyvernoCTLog  `yaml:"ctlog"`
}

// kyvernoSecret names the Secret whose cosign.pub is the key.
type kyvernoSecret struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

type kyvernoCerts struct {
	Cert      string        `yaml:"cert"`
	CertChain string        `yaml:"certChain"`
	Rekor     *kyvernoRekor `yaml:"rekor"`
	CTLog     *kyvernoCTLog `yaml:"ctlog"`
}

type kyvernoKeyless struct {
	Issuer               string        `yaml:"issuer"`
	IssuerRegExp         string        `yaml:"issuerRegExp"`
	Subject              string        `yaml:"subject"`
	SubjectRegExp        string        `yaml:"subjectRegExp"`
	Roots                string        `yaml:"roots"`
	AdditionalExtensions *unsupported  `yaml:"additionalExtensions"`
	Rekor                *kyvernoRekor `yaml:"rekor"`
	CTLog                *kyvernoCTLog `yaml:"ctlog"`
}

type kyvernoRekor struct {
	URL        string `yaml:"url"`
	PubKey     string `yaml:"pubkey"`
	IgnoreTlog bool   `yaml:"ignoreTlog"`
}

type kyvernoCTLog struct {
	IgnoreSCT    bool   `yaml:"ignoreSCT"`
	PubKey       string `yaml:"pubkey"`
	TSACertChain string `yaml:"tsaCertChain"`
}

type kyvernoAttestation struct {
	Name          string               `yaml:"name"`
	PredicateType string               `yaml:"predicateType"`
	Type          string               `yaml:"type"`
	Attestors     []kyvernoAttestorSet `yaml:"attestors"`
	Conditions    []kyvernoAnyAll      `yaml:"conditions"`
}

type kyvernoAnyAll struct {
	Any []kyvernoCondition `yaml:"any"`
	All []kyvernoCondition `yaml:"all"`
}

type kyvernoCondition struct {
	Key      yaml.Node `yaml:"key"`
	Operator string    `yaml:"operator"`
	Value    yaml.Node `yaml:"value"`
	Message  string    `yaml:"message"`
}

// workloadKinds are the kinds whose images dossier's webhook judges (a
// Kyverno rule on Pods is applied to their controllers too, by autogen).
var workloadKinds = []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}

// kyvernoLoader carries one document's name through its rules.
type kyvernoLoader struct {
	src, policy string
	warnings    []string
	explain     []string
	// notary is set while a verifyImages entry of type Notary is read:
	// its attestors are Notation trust anchors, not Cosign signers
	notary bool
	// secretKey reads keys kept in Kubernetes Secrets (nil: none)
	secretKey SecretKeyReader
}

func (l *kyvernoLoader) refuse(path, what string) error {
	return fieldError(l.src, path, "%s is not supported by dossier; remove it or express the requirement as a dossier SupplyChainPolicy", what)
}

// refuseAt refuses a field that is present, at its line.
func (l *kyvernoLoader) refuseAt(u *unsupported, path, what string) error {
	return fieldError(fmt.Sprintf("%s:%d", l.src, u.line), path, "%s is not supported by dossier; remove it or express the requirement as a dossier SupplyChainPolicy", what)
}

func (l *kyvernoLoader) warn(path, format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf("%s: %s: %s", l.src, path, fmt.Sprintf(format, args...)))
}

func decodeKyverno(d rawDocument, secretKey SecretKeyReader) (*Policy, error) {
	if d.header.APIVersion != kyvernoAPIVersion {
		return nil, fieldError(d.source, "apiVersion", "%q: Kyverno's %s is read as %s", d.header.APIVersion, d.header.Kind, kyvernoAPIVersion)
	}
	spec, err := d.specNode()
	if err != nil {
		return nil, err
	}
	var s kyvernoSpec
	if err := decodeStrict(spec, &s, "spec"); err != nil {
		return nil, fmt.Errorf("%s: %v", d.source, err)
	}
	src, name := d.source, d.header.Metadata.Name
	if err := checkName(src, d.header.Kind, name); err != nil {
		return nil, err
	}
	l := &kyvernoLoader{src: src, policy: name, secretKey: secretKey}
	switch {
	case s.ValidationFailureActionOverrides != nil:
		return nil, l.refuseAt(s.ValidationFailureActionOverrides, "spec.validationFailureActionOverrides", "a failure action per namespace")
	case s.WebhookConfiguration != nil:
		return nil, l.refuseAt(s.WebhookConfiguration, "spec.webhookConfiguration", "Kyverno's webhook match conditions")
	case s.FailurePolicy != "" && s.FailurePolicy != "Fail":
		// dossier fails closed: evidence that cannot be read fails the rule
		return nil, fieldError(src, "spec.failurePolicy", "%q: dossier denies when evidence cannot be read (Fail); Ignore is not supported", s.FailurePolicy)
	case s.ApplyRules != "" && s.ApplyRules != "All":
		return nil, fieldError(src, "spec.applyRules", "%q: dossier applies every rule (All)", s.ApplyRules)
	case s.Admission != nil && !*s.Admission:
		return nil, fieldError(src, "spec.admission", "false: a policy dossier loads decides at admission and in the gates")
	}
	for _, f := range []struct {
		name string
		u    *unsupported
	}{{"useServerSideApply", s.UseServerSideApply}, {"mutateExistingOnPolicyUpdate", s.MutateExistingOnPolicyUpdate},
		{"generateExisting", s.GenerateExisting}, {"generateExistingOnPolicyUpdate", s.GenerateExistingOnPolicyUpdate}} {
		if f.u != nil {
			return nil, l.refuseAt(f.u, "spec."+f.name, "mutation and generation of resources")
		}
	}
	policyAction, err := kyvernoAction(src, "spec.validationFailureAction", s.ValidationFailureAction)
	if err != nil {
		return nil, err
	}
	if policyAction == "" {
		policyAction = evidence.ModeAudit // the CRD's default
	}
	p := &Policy{Name: name, Kind: d.header.Kind, Source: src, Mode: evidence.ModeAudit, wildcardNames: true}
	if len(s.Rules) == 0 {
		return nil, fieldError(src, "spec.rules", "a policy needs at least one verifyImages rule")
	}
	var scope *namespaceScope
	seen := map[string]bool{}
	for i, kr := range s.Rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		rules, sc, err := l.rule(path, kr, policyAction)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			scope = sc
		} else if !scope.equal(sc) {
			return nil, fieldError(src, path+".match", "matches other namespaces than spec.rules[0]: dossier scopes a whole policy to namespaces; split the rules into policies")
		}
		for _, r := range rules {
			if seen[r.Name] {
				return nil, fieldError(src, path+".name", "rule %q is defined twice", r.Name)
			}
			seen[r.Name] = true
			if r.Mode == evidence.ModeEnforce {
				p.Mode = evidence.ModeEnforce
			}
			for _, g := range r.Scope.Images {
				if !slices.ContainsFunc(p.Images, func(h Glob) bool { return h.Pattern == g.Pattern }) {
					p.Images = append(p.Images, g)
				}
			}
			p.Rules = append(p.Rules, r)
		}
	}
	if d.header.Kind == KindKyvernoPolicy {
		ns := d.header.Metadata.Namespace
		if ns == "" {
			return nil, fieldError(src, "metadata.namespace", "a Kyverno Policy applies in its own namespace: give it")
		}
		if scope.labels != nil {
			return nil, l.refuse("spec.rules[0].match", "a namespace selector in a namespaced Policy (it applies in its own namespace)")
		}
		if scope.names != nil && !slices.Contains(scope.names, ns) {
			return nil, fieldError(src, "spec.rules[0].match", "names namespaces other than the policy's own, %s, where a Kyverno Policy never applies", ns)
		}
		scope.names = []string{ns}
	}
	if scope.names != nil || scope.labels != nil {
		p.Namespaces = &NamespaceSelector{Names: scope.names, MatchLabels: scope.labels}
	}
	p.ExcludeNamespaces = scope.exclude
	p.Warnings, p.Explanation = l.warnings, l.explain
	p.Digest = contentDigest(d.header.Kind, d.source, mustMarshal(d.node))
	return p, nil
}

// kyvernoAction reads a failure action ("" when not given).
func kyvernoAction(src, path, action string) (string, error) {
	switch strings.ToLower(action) {
	case "":
		return "", nil
	case "audit":
		return evidence.ModeAudit, nil
	case "enforce":
		return evidence.ModeEnforce, nil
	}
	return "", fieldError(src, path, "%q: want Audit or Enforce", action)
}

// namespaceScope is where a Kyverno rule applies, as dossier scopes
// policies: namespace names, namespace labels, excluded names.
type namespaceScope struct {
	names   []string
	labels  map[string]string
	exclude []string
}

func (a *namespaceScope) equal(b *namespaceScope) bool {
	if len(a.labels) != len(b.labels) {
		return false
	}
	for k, v := range a.labels {
		if b.labels[k] != v {
			return false
		}
	}
	return slices.Equal(a.names, b.names) && slices.Equal(a.exclude, b.exclude)
}

var namespaceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// match reads a rule's match or exclude into namespaces; what cannot be
// expressed as dossier's namespace scoping is refused by name.
func (l *kyvernoLoader) match(path string, m *kyvernoMatch, exclude bool) (names []string, labels map[string]string, err error) {
	switch {
	case m.Subjects != nil, m.Roles != nil, m.ClusterRoles != nil:
		return nil, nil, l.refuse(path, "matching by the requesting user (subjects, roles, clusterRoles)")
	case len(m.Any) > 0 && len(m.All) > 0:
		return nil, nil, fieldError(l.src, path, "give any or all, not both")
	case len(m.All) > 1:
		return nil, nil, l.refuse(path+".all", "requiring several resource filters at once")
	}
	filters := m.Any
	filterPath := path + ".any"
	if len(m.All) == 1 {
		filters, filterPath = m.All, path+".all"
	}
	if m.Resources != nil {
		if len(filters) > 0 {
			return nil, nil, fieldError(l.src, path+".resources", "give resources in any or all, not beside them")
		}
		filters, filterPath = []kyvernoFilter{{Resources: m.Resources}}, path
	}
	if len(filters) == 0 {
		return nil, nil, fieldError(l.src, path, "give any (or all) resource filters")
	}
	everyNamespace := false
	for i, f := range filters {
		fpath := fmt.Sprintf("%s[%d]", filterPath, i)
		if m.Resources != nil {
			fpath = path
		}
		switch {
		case f.Subjects != nil, f.Roles != nil, f.ClusterRoles != nil:
			return nil, nil, l.refuse(fpath, "matching by the requesting user (subjects, roles, clusterRoles)")
		case f.Resources == nil:
			return nil, nil, fieldError(l.src, fpath+".resources", "missing")
		}
		r := f.Resources
		rpath := fpath + ".resources"
		switch {
		case r.Selector != nil:
			return nil, nil, l.refuseAt(r.Selector, rpath+".selector", "matching workloads by their labels")
		case r.Name != nil, r.Names != nil:
			return nil, nil, l.refuse(rpath+".names", "matching workloads by name")
		case r.Annotations != nil:
			return nil, nil, l.refuseAt(r.Annotations, rpath+".annotations", "matching workloads by annotations")
		case r.NamespaceSelector != nil && r.NamespaceSelector.MatchExpressions != nil:
			return nil, nil, l.refuseAt(r.NamespaceSelector.MatchExpressions, rpath+".namespaceSelector.matchExpressions", "namespace selection by expressions (use matchLabels)")
		}
		for j, k := range r.Kinds {
			kind := k[strings.LastIndex(k, "/")+1:]
			if !slices.Contains(workloadKinds, kind) {
				return nil, nil, fieldError(l.src, fmt.Sprintf("%s.kinds[%d]", rpath, j), "%q: dossier judges the images of workloads (%s)", k, strings.Join(workloadKinds, ", "))
			}
		}
		if exclude && len(r.Kinds) > 0 {
			return nil, nil, l.refuse(rpath+".kinds", "excluding workload kinds")
		}
		for j, op := range r.Operations {
			if op != "CREATE" && op != "UPDATE" {
				return nil, nil, fieldError(l.src, fmt.Sprintf("%s.operations[%d]", rpath, j), "%q: images are judged when workloads are created or updated", op)
			}
		}
		for j, ns := range r.Namespaces {
			if !namespaceName.MatchString(ns) {
				return nil, nil, fieldError(l.src, fmt.Sprintf("%s.namespaces[%d]", rpath, j), "%q: dossier matches namespaces by exact name (no wildcards)", ns)
			}
			if !slices.Contains(names, ns) {
				names = append(names, ns)
			}
		}
		if r.NamespaceSelector != nil && len(r.NamespaceSelector.MatchLabels) > 0 {
			if exclude {
				return nil, nil, l.refuse(rpath+".namespaceSelector", "excluding namespaces by label")
			}
			if labels != nil || len(filters) > 1 {
				return nil, nil, l.refuse(rpath+".namespaceSelector", "a namespace selector beside other resource filters")
			}
			labels = r.NamespaceSelector.MatchLabels
		}
		if len(r.Namespaces) == 0 && (r.NamespaceSelector == nil || len(r.NamespaceSelector.MatchLabels) == 0) {
			everyNamespace = true
		}
	}
	if exclude && everyNamespace {
		return nil, nil, l.refuse(path, "an exclude that names no namespaces (dossier excludes by namespace name)")
	}
	if everyNamespace {
		if labels != nil {
			return nil, nil, l.refuse(filterPath, "a namespace selector beside a filter for every namespace")
		}
		names = nil
	}
	if names != nil && labels != nil {
		return nil, nil, l.refuse(filterPath, "namespace names and a namespace selector in one rule (dossier matches either)")
	}
	slices.Sort(names)
	return names, labels, nil
}

// rule reads one Kyverno rule: each of its verifyImages entries becomes a
// dossier rule.
func (l *kyvernoLoader) rule(path string, kr kyvernoRule, policyAction string) ([]Rule, *namespaceScope, error) {
	for _, u := range []struct {
		set        *unsupported
		field, why string
	}{
		{kr.Context, "context", "rule context (API calls, ConfigMaps, variables)"},
		{kr.Preconditions, "preconditions", "preconditions over the admitted resource"},
		{kr.CELPreconditions, "celPreconditions", "CEL preconditions over the admitted resource"},
		{kr.ImageExtractors, "imageExtractors", "custom image extractors"},
		{kr.Validate, "validate", "a validate rule (dossier reads verifyImages rules only)"},
		{kr.Mutate, "mutate", "a mutate rule (dossier reads verifyImages rules only)"},
		{kr.Generate, "generate", "a generate rule (dossier reads verifyImages rules only)"},
		{kr.ReportProperties, "reportProperties", "report properties"},
	} {
		if u.set != nil {
			return nil, nil, l.refuseAt(u.set, path+"."+u.field, u.why)
		}
	}
	if kr.Name == "" {
		return nil, nil, fieldError(l.src, path+".name", "missing")
	}
	if len(kr.VerifyImages) == 0 {
		return nil, nil, fieldError(l.src, path+".verifyImages", "missing: dossier reads verifyImages rules")
	}
	if kr.Match == nil {
		return nil, nil, fieldError(l.src, path+".match", "missing")
	}
	scope := &namespaceScope{}
	var err error
	if scope.names, scope.labels, err = l.match(path+".match", kr.Match, false); err != nil {
		return nil, nil, err
	}
	if kr.Exclude != nil {
		if scope.exclude, _, err = l.match(path+".exclude", kr.Exclude, true); err != nil {
			return nil, nil, err
		}
	}
	// Kyverno's rule action: Enforce when any entry enforces, else the
	// first entry's action, else the policy's
	action, enforce := "", false
	for i, v := range kr.VerifyImages {
		a, err := kyvernoAction(l.src, fmt.Sprintf("%s.verifyImages[%d].failureAction", path, i), v.FailureAction)
		if err != nil {
			return nil, nil, err
		}
		enforce = enforce || a == evidence.ModeEnforce
		action = cmpOr(action, a)
	}
	if enforce {
		action = evidence.ModeEnforce
	}
	action = cmpOr(action, policyAction)
	var out []Rule
	for i, v := range kr.VerifyImages {
		vpath := fmt.Sprintf("%s.verifyImages[%d]", path, i)
		name := kr.Name
		if len(kr.VerifyImages) > 1 {
			name = fmt.Sprintf("%s-%d", kr.Name, i)
		}
		if !namePattern.MatchString(name) {
			return nil, nil, fieldError(l.src, path+".name", "%q: dossier names rules with lower-case letters, digits, '-' and '.'", kr.Name)
		}
		r, err := l.verifyImages(vpath, name, v, action)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, r)
	}
	return out, scope, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// verifyImages reads one verifyImages entry into a rule: every attestor
// set (N of M of its entries) and every attestation (each of its
// attestor sets) must pass, and the image must be named by digest when
// verifyDigest is asked without mutateDigest.
func (l *kyvernoLoader) verifyImages(path, name string, v kyvernoVerify, action string) (Rule, error) {
	switch {
	case v.Repository != nil:
		return Rule{}, l.refuseAt(v.Repository, path+".repository", "reading signatures from another repository")
	case v.Validate != nil:
		return Rule{}, l.refuseAt(v.Validate, path+".validate", "deny conditions across attestations")
	case v.AdditionalExtensions != nil:
		return Rule{}, l.refuseAt(v.AdditionalExtensions, path+".additionalExtensions", "certificate extensions")
	case v.Annotations != nil:
		return Rule{}, l.refuseAt(v.Annotations, path+".annotations", "signature annotations")
	case v.ImageRegistryCredentials != nil && v.ImageRegistryCredentials.Providers != nil:
		return Rule{}, l.refuseAt(v.ImageRegistryCredentials.Providers, path+".imageRegistryCredentials.providers", "registry credentials named by a policy (dossier reads registries with its own configured credentials)")
	case v.ImageRegistryCredentials != nil && v.ImageRegistryCredentials.Secrets != nil:
		return Rule{}, l.refuseAt(v.ImageRegistryCredentials.Secrets, path+".imageRegistryCredentials.secrets", "registry credentials in Kubernetes Secrets named by a policy (dossier reads registries with its own configured credentials)")
	}
	switch v.Type {
	case "", "Cosign", "SigstoreBundle":
	case "Notary":
		if len(v.Attestations) > 0 {
			return Rule{}, l.refuse(path+".attestations", "Notary attestations (referrer artifacts verified with Notation)")
		}
		l.notary = true
		defer func() { l.notary = false }()
	default:
		return Rule{}, fieldError(l.src, path+".type", "%q: want Cosign, SigstoreBundle or Notary", v.Type)
	}
	if err := l.convertShorthands(path, &v); err != nil {
		return Rule{}, err
	}
	mutate := v.MutateDigest == nil || *v.MutateDigest
	verifyDigest := v.VerifyDigest == nil || *v.VerifyDigest
	if action == evidence.ModeAudit && mutate {
		// as Kyverno's own policy validation
		return Rule{}, fieldError(l.src, path+".mutateDigest", "mutateDigest must be set to false for 'Audit' failure action")
	}
	r := Rule{Name: name, Mode: action, Scope: &ImageScope{}}
	if len(v.ImageReferences) == 0 {
		return Rule{}, fieldError(l.src, path+".imageReferences", "an image reference is required")
	}
	for i, ref := range v.ImageReferences {
		g, err := compileWildcard(ref)
		if err != nil {
			return Rule{}, fieldError(l.src, fmt.Sprintf("%s.imageReferences[%d]", path, i), "%v", err)
		}
		r.Scope.Images = append(r.Scope.Images, g)
	}
	for i, ref := range v.SkipImageReferences {
		g, err := compileWildcard(ref)
		if err != nil {
			return Rule{}, fieldError(l.src, fmt.Sprintf("%s.skipImageReferences[%d]", path, i), "%v", err)
		}
		r.Scope.Skip = append(r.Scope.Skip, g)
	}
	var parts []Rule
	var said []string
	for i, set := range v.Attestors {
		spath := fmt.Sprintf("%s.attestors[%d]", path, i)
		part, err := l.attestorSet(spath, fmt.Sprintf("attestors[%d]", i), set, func(s Signer) Rule {
			return Rule{Name: "signature", Signature: &SignatureRule{Signers: []Signer{s}}}
		})
		if err != nil {
			return Rule{}, err
		}
		parts = append(parts, part)
		said = append(said, fmt.Sprintf("a signature by %s", describeSet(part)))
	}
	for i, at := range v.Attestations {
		apath := fmt.Sprintf("%s.attestations[%d]", path, i)
		typ := cmpOr(at.Type, at.PredicateType)
		if typ == "" {
			return Rule{}, fieldError(l.src, apath+".type", "missing")
		}
		uri, err := evidence.PredicateType(typ)
		if err != nil {
			return Rule{}, fieldError(l.src, apath+".type", "%v", err)
		}
		var conds *kyvernoConditions
		if len(at.Conditions) > 0 {
			if conds, err = compileConditions(l.src, apath+".conditions", at.Conditions); err != nil {
				return Rule{}, err
			}
		}
		if len(at.Attestors) == 0 {
			return Rule{}, fieldError(l.src, apath+".attestors", "none given: Kyverno would accept an attestation signed by any certificate of the public Fulcio CA; name who must sign it")
		}
		for j, set := range at.Attestors {
			spath := fmt.Sprintf("%s.attestors[%d]", apath, j)
			part, err := l.attestorSet(spath, fmt.Sprintf("attestations[%d].attestors[%d]", i, j), set, func(s Signer) Rule {
				ar := &AttestationRule{PredicateType: uri, Signers: []Signer{s}, EveryStatement: true}
				if conds != nil {
					ar.Conditions = conds
				}
				return Rule{Name: "attestation-" + evidence.PredicateShortName(uri), Attestation: ar}
			})
			if err != nil {
				return Rule{}, err
			}
			parts = append(parts, part)
			what := fmt.Sprintf("a %s attestation by %s", evidence.PredicateShortName(uri), describeSet(part))
			if conds != nil {
				what += fmt.Sprintf(", every one meeting %d condition block(s)", len(conds.blocks))
			}
			said = append(said, what)
		}
	}
	if verifyDigest && !mutate {
		parts = append(parts, Rule{Name: "digest", Digest: true})
		said = append(said, "the image named by digest")
	}
	if len(parts) == 0 {
		return Rule{}, fieldError(l.src, path, "no attestors or attestations: nothing for dossier to verify (dossier's webhook pins images to digests for every policy)")
	}
	if len(parts) == 1 {
		part := parts[0]
		part.Name, part.Mode, part.Scope = r.Name, r.Mode, r.Scope
		r = part
	} else {
		r.AllOf = parts
	}
	var notes []string
	if len(v.SkipImageReferences) > 0 {
		notes = append(notes, "skipping "+strings.Join(v.SkipImageReferences, ", "))
	}
	if !mutate {
		notes = append(notes, "mutateDigest false (dossier's mutating webhook still pins images to the digest it judged)")
	}
	if v.Required != nil && !*v.Required {
		notes = append(notes, "required false (no effect: dossier decides every matched image)")
	}
	line := fmt.Sprintf("rule %s (%s): images %s require %s", name, action, strings.Join(v.ImageReferences, ", "), strings.Join(said, "; and "))
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, "; ")
	}
	l.explain = append(l.explain, line)
	return r, nil
}

// convertShorthands applies Kyverno's deprecated image, key, issuer,
// subject and roots fields as Kyverno's Convert does.
func (l *kyvernoLoader) convertShorthands(path string, v *kyvernoVerify) error {
	if v.Image == "" && v.Key == "" && v.Issuer == "" {
		if v.Subject != "" || v.Roots != "" {
			return fieldError(l.src, path+".subject", "subject and roots take effect only with issuer (Kyverno ignores them otherwise)")
		}
		return nil
	}
	if v.Image != "" {
		v.ImageReferences = append(v.ImageReferences, v.Image)
	}
	var set kyvernoAttestorSet
	switch {
	case v.Key != "":
		set.Entries = []kyvernoAttestor{{Keys: &kyvernoKeys{PublicKeys: v.Key}}}
	case v.Issuer != "":
		set.Entries = []kyvernoAttestor{{Keyless: &kyvernoKeyless{Issuer: v.Issuer, Subject: v.Subject, Roots: v.Roots}}}
	default:
		return nil
	}
	if len(v.Attestations) > 0 {
		// Kyverno's conversion loses the key here and would accept any
		// Fulcio certificate: refused rather than guessed
		return fieldError(l.src, path+".key", "the deprecated key/issuer shorthand beside attestations: name the attestors in each attestation")
	}
	v.Attestors = append(v.Attestors, set)
	return nil
}

// attestorSet reads an attestor set: count of its entries (all when not
// given) must pass; each entry is a signer (several keys in one entry are
// several entries, as Kyverno splits them) or a nested set.
func (l *kyvernoLoader) attestorSet(path, name string, set kyvernoAttestorSet, check func(Signer) Rule) (Rule, error) {
	if len(set.Entries) == 0 {
		return Rule{}, fieldError(l.src, path+".entries", "list at least one attestor")
	}
	if set.Count != nil && (*set.Count < 1 || *set.Count > len(set.Entries)) {
		return Rule{}, fieldError(l.src, path+".count", "%d: want 1 to %d (the number of entries)", *set.Count, len(set.Entries))
	}
	r := Rule{Name: name}
	for i, e := range set.Entries {
		epath := fmt.Sprintf("%s.entries[%d]", path, i)
		alts, err := l.attestor(epath, fmt.Sprintf("%s.entries[%d]", name, i), e, check)
		if err != nil {
			return Rule{}, err
		}
		r.AnyOf = append(r.AnyOf, alts...)
	}
	r.AtLeast = len(r.AnyOf)
	if set.Count != nil && *set.Count > 0 {
		r.AtLeast = *set.Count
	}
	return r, nil
}

func describeSet(r Rule) string {
	names := make([]string, len(r.AnyOf))
	for i, a := range r.AnyOf {
		names[i] = a.Name
	}
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("%d of [%s]", r.AtLeast, strings.Join(names, "; "))
}

func (l *kyvernoLoader) attestor(path, name string, e kyvernoAttestor, check func(Signer) Rule) ([]Alternative, error) {
	set := 0
	for _, b := range []bool{e.Keys != nil, e.Certificates != nil, e.Keyless != nil, e.Attestor != nil} {
		if b {
			set++
		}
	}
	switch {
	case set != 1:
		return nil, fieldError(l.src, path, "an attestor has exactly one of keys, certificates, keyless or attestor")
	case e.Annotations != nil:
		return nil, l.refuseAt(e.Annotations, path+".annotations", "signature annotations")
	case e.Repository != nil:
		return nil, l.refuseAt(e.Repository, path+".repository", "reading signatures from another repository")
	case e.SignatureAlgorithm != "" && e.SignatureAlgorithm != "sha256":
		return nil, fieldError(l.src, path+".signatureAlgorithm", "%q: only sha256 is supported", e.SignatureAlgorithm)
	}
	switch {
	case l.notary && e.Attestor == nil && e.Certificates == nil:
		return nil, fieldError(l.src, path, "a Notary attestor is certificates (cert, certChain): keys and keyless are Cosign attestors")
	case e.Attestor != nil:
		nested, err := l.attestorSet(path+".attestor", name, *e.Attestor, check)
		if err != nil {
			return nil, err
		}
		return []Alternative{{Name: "(" + describeSet(nested) + ")", Rules: []Rule{nested}}}, nil
	case e.Keys != nil:
		return l.keys(path+".keys", name, e.Keys, check)
	case l.notary:
		s, err := l.notaryCertificates(path+".certificates", name, e.Certificates)
		if err != nil {
			return nil, err
		}
		return []Alternative{{Name: s.String(), Rules: []Rule{check(s)}}}, nil
	case e.Certificates != nil:
		s, err := l.certificate(path+".certificates", name, e.Certificates)
		if err != nil {
			return nil, err
		}
		return []Alternative{{Name: s.String(), Rules: []Rule{check(s)}}}, nil
	}
	s, err := l.keyless(path+".keyless", name, e.Keyless)
	if err != nil {
		return nil, err
	}
	return []Alternative{{Name: s.String(), Rules: []Rule{check(s)}}}, nil
}

func (l *kyvernoLoader) keys(path, name string, k *kyvernoKeys, check func(Signer) Rule) ([]Alternative, error) {
	publicKeys := strings.TrimSpace(k.PublicKeys)
	switch {
	case k.KMS != nil:
		return nil, l.refuseAt(k.KMS, path+".kms", "a KMS key")
	case k.SignatureAlgorithm != "" && k.SignatureAlgorithm != "sha256":
		return nil, fieldError(l.src, path+".signatureAlgorithm", "%q: only sha256 is supported", k.SignatureAlgorithm)
	case k.Secret != nil && publicKeys != "":
		return nil, fieldError(l.src, path+".secret", "give publicKeys or a secret, not both")
	case k.Secret != nil, strings.HasPrefix(publicKeys, "k8s://"):
		where, namespace, secret := path+".publicKeys", "", ""
		if k.Secret != nil {
			where, namespace, secret = path+".secret", k.Secret.Namespace, k.Secret.Name
		} else {
			var ok bool
			namespace, secret, ok = strings.Cut(strings.TrimPrefix(publicKeys, "k8s://"), "/")
			if !ok || strings.Contains(secret, "/") {
				return nil, fieldError(l.src, where, "%.100q: a key in a Secret is k8s://NAMESPACE/NAME", publicKeys)
			}
		}
		data, absent, err := l.keyInSecret(where, namespace, secret)
		if err != nil {
			return nil, err
		}
		if absent != "" {
			// a key deleted from its Secret is revoked: it verifies nothing,
			// and the attestor's other entries still count
			l.warnings = append(l.warnings, fmt.Sprintf("%s: %s: %s: no signature passes this entry", l.src, where, absent))
			return []Alternative{{Name: name, Rules: []Rule{{Name: name, Static: &StaticRule{Reason: absent}}}}}, nil
		}
		publicKeys = data
	case publicKeys == "":
		return nil, fieldError(l.src, path+".publicKeys", "give the PEM public key(s)")
	}
	l.keyLogNote(path, "rekor.ignoreTlog", k.Rekor != nil && k.Rekor.IgnoreTlog)
	var out []Alternative
	rest := []byte(publicKeys)
	for i := 0; len(strings.TrimSpace(string(rest))) > 0; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fieldError(l.src, path+".publicKeys", "not PEM public keys")
		}
		one, fp, err := publicKey(string(pem.EncodeToMemory(block)))
		if err != nil {
			return nil, fieldError(l.src, fmt.Sprintf("%s.publicKeys (key %d)", path, i+1), "%v", err)
		}
		s := Signer{Name: name, Key: one, KeyFingerprint: fp}
		if i > 0 || len(strings.TrimSpace(string(rest))) > 0 {
			s.Name = fmt.Sprintf("%s.key-%d", name, i+1)
		}
		out = append(out, Alternative{Name: s.String(), Rules: []Rule{check(s)}})
	}
	return out, nil
}

// keyInSecret reads the PEM public key(s) Secret namespace/name holds in
// its cosign.pub, as Kyverno reads k8s://namespace/name: only where an API
// server is reached, and read again at each reload, so that a key rotated
// in the Secret is a new version of the rules.
// A Secret that does not exist, or holds no cosign.pub, holds no key:
// absent says so, and the entry then verifies nothing (deleting the
// Secret revokes the key, as in Kyverno). A Secret that cannot be read
// (the API server down, a denied read) is an error: the load fails and
// the rules in force stay.
func (l *kyvernoLoader) keyInSecret(path, namespace, secret string) (key, absent string, err error) {
	for _, part := range []struct{ what, value string }{{"namespace", namespace}, {"name", secret}} {
		if problems := validation.IsDNS1123Subdomain(part.value); len(problems) > 0 {
			return "", "", fieldError(l.src, path, "Secret %s %.100q: %s", part.what, part.value, problems[0])
		}
	}
	if l.secretKey == nil {
		return "", "", fieldError(l.src, path, "the key in Secret %s/%s is read from the Kubernetes API server, by the webhook and serve only (in a cluster, or given --kubernetes-api); elsewhere give the PEM key in publicKeys", namespace, secret)
	}
	data, err := l.secretKey(namespace, secret)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Sprintf("the key in Secret %s/%s: %v", namespace, secret, err), nil
	case err != nil:
		return "", "", fieldError(l.src, path, "the key in Secret %s/%s: %v", namespace, secret, err)
	case strings.TrimSpace(string(data)) == "":
		return "", fmt.Sprintf("Secret %s/%s holds no public key in cosign.pub", namespace, secret), nil
	}
	return strings.TrimSpace(string(data)), "", nil
}

// certificate trusts the public key of a given certificate.
func (l *kyvernoLoader) certificate(path, name string, c *kyvernoCerts) (Signer, error) {
	if c.CertChain != "" {
		return Signer{}, l.refuse(path+".certChain", "verifying a Cosign signing certificate against a chain")
	}
	s, err := l.certificateKey(path+".cert", name, c.Cert)
	if err != nil {
		return Signer{}, err
	}
	l.keyLogNote(path, "rekor.ignoreTlog", c.Rekor != nil && c.Rekor.IgnoreTlog)
	return s, nil
}

// certificateKey is a signer of the public key of the PEM certificate
// text (read at path).
func (l *kyvernoLoader) certificateKey(path, name, text string) (Signer, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil || block.Type != "CERTIFICATE" {
		return Signer{}, fieldError(l.src, path, "not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Signer{}, fieldError(l.src, path, "unreadable certificate: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return Signer{}, fieldError(l.src, path, "unreadable public key: %v", err)
	}
	key := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return Signer{Name: name, Key: key, KeyFingerprint: evidence.KeyFingerprint(der)}, nil
}

// notaryCertificates reads a Notary attestor as Kyverno's Notary verifier
// builds its trust: cert and certChain together are one CA trust store,
// under a trust policy of every registry, level strict, any identity
// those CAs issued.
func (l *kyvernoLoader) notaryCertificates(path, name string, c *kyvernoCerts) (Signer, error) {
	var certs []*x509.Certificate
	for _, f := range []struct{ field, pem string }{{"cert", c.Cert}, {"certChain", c.CertChain}} {
		some, err := l.pemCertificates(path+"."+f.field, f.pem)
		if err != nil {
			return Signer{}, err
		}
		certs = append(certs, some...)
	}
	if len(certs) == 0 {
		return Signer{}, fieldError(l.src, path+".cert", "give the PEM certificate(s) of the CA that issues the Notation signing certificates")
	}
	if c.Rekor != nil || c.CTLog != nil {
		l.warn(path, "rekor and ctlog have no meaning for Notary signatures (Kyverno ignores them too)")
	}
	return l.notaryTrust(path, name, certs, nil)
}

// pemCertificates reads the PEM certificates of text (at path).
func (l *kyvernoLoader) pemCertificates(path, text string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(strings.TrimSpace(text))
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fieldError(l.src, path, "not PEM certificates")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fieldError(l.src, path, "unreadable certificate: %v", err)
		}
		certs = append(certs, cert)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	return certs, nil
}

// notaryTrust is the Notation signer Kyverno's Notary verifier amounts to:
// a CA trust store (and a TSA one when tsa is given) under one trust
// policy for every registry, level strict, any identity those CAs issued.
func (l *kyvernoLoader) notaryTrust(path, name string, ca, tsa []*x509.Certificate) (Signer, error) {
	store := trust.Store{Type: truststore.TypeCA, Name: "kyverno"}
	stores := map[trust.Store][]*x509.Certificate{store: ca}
	named := []string{store.String()}
	if len(tsa) > 0 {
		tsaStore := trust.Store{Type: truststore.TypeTSA, Name: "kyverno"}
		stores[tsaStore] = tsa
		named = append(named, tsaStore.String())
	}
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "kyverno", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name},
		TrustStores:           named, TrustedIdentities: []string{"*"},
	}}}
	cfg, err := trust.New(doc, stores)
	if err != nil {
		return Signer{}, fieldError(l.src, path, "%v", err)
	}
	l.warn(path, "as in Kyverno, a Notation signature by any identity these CAs issued is accepted")
	return Signer{Name: name, Notation: cfg}, nil
}

// keyLogNote says that dossier does not check the transparency-log entry
// Kyverno requires of a key's signatures unless told (by field) to ignore
// it.
func (l *kyvernoLoader) keyLogNote(path, field string, ignored bool) {
	if !ignored {
		l.warn(path, "Kyverno requires a transparency-log entry for this key's signatures (%s is not true); dossier verifies key-based signatures by the key alone and does not check log entries", field)
	}
}

// keyless reads a certificate identity. Kyverno matches subject and
// issuer with wildcards and its …RegExp forms anywhere in the value.
func (l *kyvernoLoader) keyless(path, name string, k *kyvernoKeyless) (Signer, error) {
	if k.AdditionalExtensions != nil {
		return Signer{}, l.refuseAt(k.AdditionalExtensions, path+".additionalExtensions", "certificate extensions")
	}
	if k.Rekor == nil && k.Roots == "" {
		return Signer{}, fieldError(l.src, path, "either rekor or roots is required (as Kyverno's policy validation)")
	}
	if k.Rekor != nil && k.Rekor.URL == "" {
		return Signer{}, fieldError(l.src, path+".rekor.url", "missing (as Kyverno's policy validation)")
	}
	id, err := l.identity(path, true, k.Issuer, k.IssuerRegExp, k.Subject, k.SubjectRegExp)
	if err != nil {
		return Signer{}, err
	}
	s := Signer{Name: name, Identities: []Identity{id}}
	var custom []string
	if k.Roots != "" {
		custom = append(custom, "roots")
	}
	if k.Rekor != nil && k.Rekor.PubKey != "" {
		custom = append(custom, "rekor.pubkey")
	}
	if k.CTLog != nil && k.CTLog.PubKey != "" {
		custom = append(custom, "ctlog.pubkey")
	}
	if k.CTLog != nil && k.CTLog.TSACertChain != "" {
		custom = append(custom, "ctlog.tsaCertChain")
	}
	l.customTrustRoot(path, &s, custom)
	if k.CTLog != nil && k.CTLog.IgnoreSCT {
		l.ignoreSCT(path+".ctlog.ignoreSCT", &s)
	}
	if k.Rekor != nil && k.Rekor.IgnoreTlog {
		l.keylessLogNote(path + ".rekor.ignoreTlog")
	}
	return s, nil
}

// identity reads one keyless identity: issuer and subject, each exact or
// a regular expression. wildcards makes "*" and "?" in an exact value
// Kyverno's wildcards (kyverno.io/v1); without, an exact value is matched
// exactly, as cosign does.
func (l *kyvernoLoader) identity(path string, wildcards bool, issuer, issuerRE, subject, subjectRE string) (Identity, error) {
	id := Identity{Issuer: issuer, IssuerRegExp: issuerRE, Subject: subject, SubjectRegExp: subjectRE}
	pair := func(field, exact, re string, out **regexp.Regexp) error {
		switch {
		case exact != "" && re != "":
			return fieldError(l.src, path, "give %s or %sRegExp, not both", field, field)
		case exact == "" && re == "":
			return fieldError(l.src, path, "%s (or %sRegExp) is required: an identity that accepts any %s accepts anyone", field, field, field)
		case re == "":
			switch {
			case !strings.ContainsAny(exact, "*?"):
			case wildcards:
				*out = wildcardRegexp(exact)
			default:
				l.warn(path+"."+field, "%q is matched exactly, as cosign matches it: \"*\" and \"?\" are no wildcards here (use %sRegExp)", exact, field)
			}
			return nil
		}
		if len(re) > 1024 {
			return fieldError(l.src, path+"."+field+"RegExp", "longer than 1024 characters")
		}
		compiled, err := regexp.Compile(re)
		if err != nil {
			return fieldError(l.src, path+"."+field+"RegExp", "%q does not compile: %v", re, err)
		}
		if !strings.HasPrefix(re, "^") || !strings.HasSuffix(re, "$") {
			l.warn(path+"."+field+"RegExp", "%q is unanchored: as in Kyverno it matches anywhere in the %s, so look-alikes match too; anchor it with ^…$", re, field)
		}
		*out = compiled
		return nil
	}
	if err := pair("issuer", issuer, issuerRE, &id.issuerRE); err != nil {
		return Identity{}, err
	}
	if err := pair("subject", subject, subjectRE, &id.subjectRE); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// customTrustRoot makes a keyless signer whose policy names its own CAs
// or logs (custom) one verified only against a trusted root given
// explicitly, never the public-good one, as a named TrustRoot is.
func (l *kyvernoLoader) customTrustRoot(path string, s *Signer, custom []string) {
	if len(custom) == 0 {
		return
	}
	s.TrustRootRef = fmt.Sprintf("%s/%s (%s)", l.policy, s.Name, strings.Join(custom, ", "))
	l.warn(path, "%s: dossier verifies these certificates against the trusted root given with --trusted-root, which must hold these CAs and logs", strings.Join(custom, ", "))
}

// ignoreSCT waives certificate transparency for a keyless signer, as
// the policy says (at path).
func (l *kyvernoLoader) ignoreSCT(path string, s *Signer) {
	s.InsecureIgnoreSCT = true
	l.warn(path, "certificates no certificate-transparency log has seen are accepted for %s", s.String())
}

// keylessLogNote says that dossier does not waive the log proof of a
// keyless signature whatever the policy says (at path).
func (l *kyvernoLoader) keylessLogNote(path string) {
	l.warn(path, "dossier still requires a transparency-log entry or a signed timestamp for certificates: a short-lived certificate proves nothing without one")
}
