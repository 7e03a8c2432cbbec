package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// How a Ratify v2 Executor's images become policies: Ratify routes an
// image to the executor whose scope names it most specifically, and a
// cosign verifier to its trust policy the same way; dossier applies every
// policy whose images match, so each executor's images are partitioned
// by that routing, and more specific scopes excluded where Ratify sends
// their images elsewhere.

// ratifyClass is a set of images an executor judges alike: those whose
// most specific scope, among the executor's and its cosign trust
// policies', is scope.
type ratifyClass struct {
	scope ratifyV2Scope
	// sel is, for each cosign verifier the policy names, the trust policy
	// that judges these images (-1: none does)
	sel map[string]int
	// own are the more specific scopes within it that are other classes;
	// cross those of other executors of the namespace, which Ratify
	// prefers for the images they name
	own, cross []ratifyV2Scope
}

func sameScope(a, b ratifyV2Scope) bool { return a.kind == b.kind && a.key == b.key }

// cosignNamed are the cosign verifiers the threshold policy names.
func (x *ratifyExecutor) cosignNamed() []string {
	var out []string
	var walk func(r *ratifyThresholdRule)
	walk = func(r *ratifyThresholdRule) {
		if v := x.verifiers[r.VerifierName]; v != nil && v.typ == "cosign" && !slices.Contains(out, r.VerifierName) {
			out = append(out, r.VerifierName)
		}
		for _, c := range r.Rules {
			walk(c)
		}
	}
	walk(x.policy)
	sort.Strings(out)
	return out
}

// classes partitions the executor's images by how Ratify routes them:
// to this executor (the most specific scope naming an image, among every
// executor's of the namespace, is one of its own: others are its cross
// exclusions) and, within it, to each cosign verifier's trust policy.
func (x *ratifyExecutor) classes(others []ratifyV2Scope) []ratifyClass {
	cosigns := x.cosignNamed()
	all := slices.Clone(x.scopes)
	for _, name := range cosigns {
		for _, tp := range x.verifiers[name].cosign {
			for _, s := range tp.scopes {
				if !slices.ContainsFunc(all, func(o ratifyV2Scope) bool { return sameScope(o, s) }) {
					all = append(all, s)
				}
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].kind != all[j].kind {
			return all[i].kind < all[j].kind
		}
		return all[i].key < all[j].key
	})
	var out []ratifyClass
	for _, s := range all {
		chain := []ratifyV2Scope{s}
		for _, t := range all {
			if t.contains(s) {
				chain = append(chain, t)
			}
		}
		inChain := func(t ratifyV2Scope) bool {
			return slices.ContainsFunc(chain, func(c ratifyV2Scope) bool { return sameScope(c, t) })
		}
		// the executor's own scope for these images: the most specific of
		// the chain that is one
		exec, covered := ratifyV2Scope{}, false
		for _, t := range chain {
			if slices.ContainsFunc(x.scopes, func(e ratifyV2Scope) bool { return sameScope(e, t) }) && (!covered || t.kind > exec.kind) {
				exec, covered = t, true
			}
		}
		if !covered {
			continue // a trust policy's scope no executor scope holds: Ratify never routes it here
		}
		if slices.ContainsFunc(others, func(t ratifyV2Scope) bool { return sameScope(t, s) }) {
			// a trust policy's scope that is another executor's scope: Ratify
			// routes its images to that executor, never here
			continue
		}
		c := ratifyClass{scope: s, sel: map[string]int{}}
		for _, name := range cosigns {
			c.sel[name] = -1
			best := -1
			for _, tp := range x.verifiers[name].cosign {
				for _, ts := range tp.scopes {
					if inChain(ts) && ts.kind > best {
						c.sel[name], best = tp.index, ts.kind
					}
				}
			}
		}
		for _, t := range all {
			if s.contains(t) {
				c.own = append(c.own, t)
			}
		}
		for _, t := range others {
			if exec.contains(t) {
				c.cross = append(c.cross, t)
			}
		}
		out = append(out, c)
	}
	return out
}

func (c ratifyClass) key() string {
	var parts []string
	for name, i := range c.sel {
		parts = append(parts, fmt.Sprintf("%s=%d", name, i))
	}
	sort.Strings(parts)
	for _, t := range c.cross {
		parts = append(parts, fmt.Sprintf("-%d:%s", t.kind, t.key))
	}
	return strings.Join(parts, ",")
}

// policies makes the executor's policies: one per group of classes its
// verifiers judge alike, merged only where excluding each class's more
// specific scopes keeps every member's images.
func (x *ratifyExecutor) policies(others []ratifyV2Scope) ([]*Policy, error) {
	var groups [][]ratifyClass
	for _, c := range x.classes(others) {
		placed := false
		for gi, g := range groups {
			if g[0].key() != c.key() {
				continue
			}
			members := append(slices.Clone(g), c)
			if ratifyMergeable(members) {
				groups[gi], placed = members, true
				break
			}
		}
		if !placed {
			groups = append(groups, []ratifyClass{c})
		}
	}
	var out []*Policy
	names := map[string]bool{}
	for gi, g := range groups {
		p := &Policy{Name: x.name, Kind: x.kind, Source: x.source, Mode: evidence.ModeEnforce}
		var texts, except []string
		var excluded []ratifyV2Scope
		isMember := func(t ratifyV2Scope) bool {
			return slices.ContainsFunc(g, func(m ratifyClass) bool { return sameScope(m.scope, t) })
		}
		for _, m := range g {
			p.Images = append(p.Images, m.scope.glob)
			texts = append(texts, m.scope.text)
			for _, t := range append(slices.Clone(m.own), m.cross...) {
				if !isMember(t) && !slices.ContainsFunc(excluded, func(e ratifyV2Scope) bool { return sameScope(e, t) }) {
					excluded = append(excluded, t)
				}
			}
		}
		for _, t := range excluded {
			p.ExcludeImages = append(p.ExcludeImages, t.glob)
			except = append(except, t.text)
		}
		if gi > 0 {
			// the broadest images keep the executor's name
			p.Name = x.name + "." + ratifyScopeName(g[0].scope.text)
			if checkName(x.source, x.kind, p.Name) != nil {
				p.Name = fmt.Sprintf("%s.%d", x.name, len(out)+1)
			}
			for names[p.Name] {
				p.Name += "-"
			}
		}
		names[p.Name] = true
		p.Digest = contentDigest(x.digest, g[0].key(), strings.Join(texts, "\x00"), strings.Join(except, "\x00"))
		p.Rules = x.rules(g[0].sel)
		what := fmt.Sprintf("%s %s: the images of %s", x.kind, x.name, strings.Join(texts, ", "))
		if len(except) > 0 {
			what += ", except those of " + strings.Join(except, ", ") + " (more specific scopes, which Ratify routes elsewhere)"
		}
		p.Explanation = append(p.Explanation, what)
		cosign := false
		for _, name := range x.order {
			v, i, named := x.verifiers[name], -1, x.named(name)
			if v.notation == nil {
				i = g[0].sel[name]
			}
			switch {
			case !named:
				// said in x.notes
			case v.notation != nil:
				p.Explanation = append(p.Explanation, v.what)
			case i < 0:
				cosign = true
				p.Explanation = append(p.Explanation, fmt.Sprintf("verifier %s (cosign): no trust policy of it covers these images, so its rules fail here", name))
			default:
				cosign = true
				tp := v.cosign[i]
				p.Explanation = append(p.Explanation, fmt.Sprintf("verifier %s (cosign), trust policy %d for these images: %s", name, tp.index, tp.what))
			}
		}
		p.Explanation = append(p.Explanation, "threshold-policy: "+x.policy.describe()+"; a verifier's rule is met by one artifact it verifies, by a trusted signer: artifacts that do not verify are reported, never counted, as Ratify counts only verified results")
		if cosign {
			layout := "a cosign signature is accepted in cosign's legacy layout (the sha256-….sig tag) or as a Sigstore bundle referrer; Ratify's cosign verifier reads the legacy layout"
			if !x.cosignTag {
				layout += ", and finds the tag only when a store sets allowCosignTag"
			}
			p.Explanation = append(p.Explanation, layout)
		}
		p.Explanation = append(p.Explanation, x.notes...)
		out = append(out, p)
	}
	return out, nil
}

// ratifyMergeable says whether classes can be one policy: no scope one of
// them excludes may hold another of them.
func ratifyMergeable(members []ratifyClass) bool {
	for _, m := range members {
		for _, t := range m.own {
			if slices.ContainsFunc(members, func(o ratifyClass) bool { return sameScope(o.scope, t) }) {
				continue
			}
			for _, o := range members {
				if t.contains(o.scope) {
					return false
				}
			}
		}
	}
	return true
}

// ratifyScopeName spells a scope for a policy name.
func ratifyScopeName(scope string) string {
	return strings.NewReplacer("*", "any", "/", "-", ":", "-", "_", "-").Replace(strings.ToLower(scope))
}

// rules are the threshold policy's rules for images whose cosign trust
// policies are sel: the root's rules when all of them are required, else
// one rule requiring its threshold of them.
func (x *ratifyExecutor) rules(sel map[string]int) []Rule {
	root := x.policy
	if root.Threshold == 0 || root.Threshold == len(root.Rules) {
		out := make([]Rule, len(root.Rules))
		for i, c := range root.Rules {
			out[i] = x.rule(c, fmt.Sprintf("rules[%d]", i), sel)
		}
		return out
	}
	return []Rule{x.rule(root, ratifyThresholdPolicy, sel)}
}

// rule is one rule of the tree: a verifier's, or a group whose threshold
// is dossier's AtLeast (Kyverno's count) and whose "all" is AllOf.
func (x *ratifyExecutor) rule(r *ratifyThresholdRule, name string, sel map[string]int) Rule {
	if r.VerifierName != "" {
		v := x.verifiers[r.VerifierName]
		if v.notation != nil {
			return Rule{Name: r.VerifierName, Verifier: v.typ, Signature: &SignatureRule{Signers: []Signer{{Name: r.VerifierName, Notation: v.notation}}}}
		}
		if i := sel[r.VerifierName]; i >= 0 {
			return Rule{Name: r.VerifierName, Verifier: v.typ, Signature: &SignatureRule{Signers: v.cosign[i].signers}}
		}
		return Rule{Name: r.VerifierName, Verifier: v.typ, Static: &StaticRule{Message: fmt.Sprintf("no trust policy of cosign verifier %s covers this image (Ratify fails the validation when such an image carries a cosign signature)", r.VerifierName)}}
	}
	children := make([]Rule, len(r.Rules))
	for i, c := range r.Rules {
		children[i] = x.rule(c, fmt.Sprintf("%s.rules[%d]", name, i), sel)
	}
	if r.Threshold == 0 || r.Threshold == len(r.Rules) {
		return Rule{Name: name, AllOf: children}
	}
	alts := make([]Alternative, len(children))
	for i, c := range children {
		alts[i] = Alternative{Name: c.Name, Rules: []Rule{c}}
	}
	return Rule{Name: name, AnyOf: alts, AtLeast: r.Threshold}
}

// resolveRatifyExecutors makes the executors' policies once all are
// loaded: Ratify routes an image to the executor of the namespace whose
// scope names it most specifically (refusing a scope two executors
// register), and judges a namespace with a NamespacedExecutor by its own
// executors alone.
func (d *Documents) resolveRatifyExecutors(execs []*ratifyExecutor) error {
	var namespaced []string
	for i, x := range execs {
		if x.namespace != "" && !slices.Contains(namespaced, x.namespace) {
			namespaced = append(namespaced, x.namespace)
		}
		for _, y := range execs[:i] {
			if y.namespace != x.namespace {
				continue
			}
			for _, s := range x.scopes {
				if slices.ContainsFunc(y.scopes, func(t ratifyV2Scope) bool { return sameScope(s, t) }) {
					return fieldError(x.source, "spec.scopes", "%q is a scope of %s %s too (%s): Ratify refuses a scope two executors of a namespace register", s.text, y.kind, y.name, y.source)
				}
			}
		}
	}
	sort.Strings(namespaced)
	for _, x := range execs {
		var others []ratifyV2Scope
		for _, y := range execs {
			if y != x && y.namespace == x.namespace {
				others = append(others, y.scopes...)
			}
		}
		policies, err := x.policies(others)
		if err != nil {
			return err
		}
		for _, p := range policies {
			if x.namespace != "" {
				p.Namespaces = &NamespaceSelector{Names: []string{x.namespace}}
				p.Explanation = append(p.Explanation, fmt.Sprintf("judged in namespace %s only at admission (Ratify judges a namespace with NamespacedExecutors by them alone); outside admission it applies wherever its images are", x.namespace))
			} else if len(namespaced) > 0 {
				p.ExcludeNamespaces = slices.Clone(namespaced)
				p.Explanation = append(p.Explanation, "not in namespaces "+strings.Join(namespaced, ", ")+" at admission: their NamespacedExecutors judge them")
			}
		}
		d.Policies = append(d.Policies, policies...)
		d.Warnings = append(d.Warnings, x.warnings...)
	}
	return nil
}
