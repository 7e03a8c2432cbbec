package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// ratifyCosignExecutorDoc is an Executor of scopes whose one cosign
// verifier, c, has a trust policy per entry of trustPolicies (its scopes;
// nil: none given, so the executor's), each trusting its own key
// ("<name>-<i>"); its threshold policy needs c.
func ratifyCosignExecutorDoc(t testing.TB, name string, scopes []string, trustPolicies [][]string) string {
	quoted := func(list []string) string {
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	doc := "apiVersion: config.ratify.sh/v2alpha1\nkind: Executor\nmetadata: {name: " + name + "}\nspec:\n  scopes: " + quoted(scopes) +
		"\n  stores: [{type: registry-store}]\n  verifiers:\n    - name: c\n      type: cosign\n      parameters:\n        trustPolicies:\n"
	for i, tp := range trustPolicies {
		doc += "          - "
		if tp != nil {
			doc += "scopes: " + quoted(tp) + "\n            "
		}
		key := strings.ReplaceAll(strings.TrimSpace(ratifyKey(t, fmt.Sprintf("%s-%d", name, i)).pem), "\n", "\n                  ")
		doc += "keys:\n              inline:\n                keys: |\n                  " + key + "\n            ignoreTLog: true\n            ignoreObserverTimestamps: true\n"
	}
	return doc + "  policyEnforcer:\n    type: threshold-policy\n    parameters:\n      policy:\n        rules: [{verifierName: c}]\n"
}

// ratifyScopeNames reports whether scope names image (canonical), as
// Ratify's ScopedExecutor compares them: a repository exactly, a registry
// by the image's host, *.domain by what follows the host's first dot.
func ratifyScopeNames(scope ratifyV2Scope, image string) bool {
	host, _, _ := strings.Cut(image, "/")
	switch scope.kind {
	case scopeRepository:
		return scope.key == image
	case scopeRegistry:
		return scope.key == host
	}
	_, below, ok := strings.Cut(host, ".")
	return ok && below == scope.key
}

// ratifyMostSpecific is the index of the scope list naming image most
// specifically (repository, then registry, then *.domain), -1 for none.
func ratifyMostSpecific(lists [][]ratifyV2Scope, image string) int {
	best, kind := -1, -1
	for i, list := range lists {
		for _, s := range list {
			if ratifyScopeNames(s, image) && s.kind > kind {
				best, kind = i, s.kind
			}
		}
	}
	return best
}

// A cosign trust policy of one executor may name a scope another executor
// registers: Ratify sends that scope's images to the other executor, so
// the first judges none of them (dossier once made a policy of it too, and
// denied an image of the other executor's scope signed only as that one
// requires).
func TestRatifyTrustPolicyScopeOfAnotherExecutor(t *testing.T) {
	docs, err := ratifyLoad(t, ratifyCosignExecutorDoc(t, "registry", []string{"registry.example"}, [][]string{nil, {"registry.example/team/app"}})+
		"---\n"+ratifyCosignExecutorDoc(t, "team", []string{"registry.example/team/app"}, [][]string{nil}))
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Policies: docs.Policies}
	for _, c := range []struct {
		repo, key string
		allowed   bool
	}{
		{"registry.example/team/app", "team-0", true},
		{"registry.example/team/app", "registry-1", false},
		{"registry.example/team/app", "registry-0", false},
		{"registry.example/other", "registry-0", true},
		{"registry.example/other", "team-0", false},
	} {
		if d := Evaluate(set, signedImage(c.repo, "", ratifyKey(t, c.key).signer), now); d.Allowed != c.allowed {
			t.Errorf("%s signed by %s: allowed %v, want %v: %+v", c.repo, c.key, d.Allowed, c.allowed, d.Rules)
		}
	}
}

// Random Executors over overlapping scopes (registries, repositories,
// *.domain, Docker Hub's names), each with cosign trust policies of their
// own scopes: an image signed by one trust policy's key is allowed by
// dossier exactly when Ratify would route it to that executor and, within
// its verifier, to that trust policy (each the most specific scope naming
// the image), compared on canonical names.
func TestRatifyExecutorsRouteAsRatify(t *testing.T) {
	pool := []string{"*.example.com", "a.example.com", "b.example.com", "example.com", "a.example.com/team/app", "a.example.com/team",
		"*.a.example.com", "x.a.example.com", "docker.io", "*.docker.io", "docker.io/acme/app", "a.example.com:5000", "*.example.com:5000"}
	images := []string{"a.example.com/team/app", "a.example.com/team/app/sub", "a.example.com/team", "a.example.com/other", "a.example.com:5000/team/app",
		"b.example.com/x", "x.a.example.com/y", "y.x.a.example.com/y", "example.com/x", "index.docker.io/library/nginx", "index.docker.io/acme/app", "c.example.com/z", "c.example.com:5000/z"}
	scopeOf := func(text string) ratifyV2Scope {
		s, why := ratifyV2ScopeOf(text)
		if why != "" {
			t.Fatalf("%s: %s", text, why)
		}
		return s
	}
	r := rand.New(rand.NewPCG(7, 11))
	// pick takes up to n scopes of the pool not yet in used
	pick := func(n int, used map[string]bool) []string {
		var out []string
		for range n {
			text := pool[r.IntN(len(pool))]
			s := scopeOf(text)
			if key := fmt.Sprint(s.kind, s.key); !used[key] {
				used[key] = true
				out = append(out, text)
			}
		}
		return out
	}
	for iter := range 300 {
		type executor struct {
			name          string
			scopes        []ratifyV2Scope
			trustPolicies [][]ratifyV2Scope
		}
		var execs []executor
		var texts []string
		taken := map[string]bool{}
		for e := range 1 + r.IntN(3) {
			x := executor{name: fmt.Sprintf("e%d", e)}
			scopes := pick(1+r.IntN(3), taken)
			if len(scopes) == 0 {
				continue
			}
			for _, s := range scopes {
				x.scopes = append(x.scopes, scopeOf(s))
			}
			var tps [][]string
			inVerifier := map[string]bool{}
			if r.IntN(2) == 0 {
				tps = append(tps, nil) // the executor's scopes
				for _, s := range x.scopes {
					inVerifier[fmt.Sprint(s.kind, s.key)] = true
				}
				x.trustPolicies = append(x.trustPolicies, x.scopes)
			}
			for range r.IntN(3) {
				if own := pick(1+r.IntN(2), inVerifier); len(own) > 0 {
					tps = append(tps, own)
					var scopes []ratifyV2Scope
					for _, s := range own {
						scopes = append(scopes, scopeOf(s))
					}
					x.trustPolicies = append(x.trustPolicies, scopes)
				}
			}
			if len(tps) == 0 {
				continue
			}
			execs = append(execs, x)
			texts = append(texts, ratifyCosignExecutorDoc(t, x.name, scopes, tps))
		}
		if len(execs) == 0 {
			continue
		}
		docs, err := ratifyLoad(t, strings.Join(texts, "---\n"))
		if err != nil {
			t.Fatalf("run %d: %v", iter, err)
		}
		set := &Set{Policies: docs.Policies}
		execScopes := make([][]ratifyV2Scope, len(execs))
		for i, x := range execs {
			execScopes[i] = x.scopes
		}
		for _, image := range images {
			routed := ratifyMostSpecific(execScopes, image)
			for ei, x := range execs {
				chosen := -1
				if ei == routed {
					chosen = ratifyMostSpecific(x.trustPolicies, image)
				}
				for i := range x.trustPolicies {
					ev := signedImage(image, "", ratifyKey(t, fmt.Sprintf("%s-%d", x.name, i)).signer)
					claimed := false
					for _, p := range docs.Policies {
						claimed = claimed || p.Matches(ev)
					}
					if allowed := claimed && Evaluate(set, ev, now).Allowed; allowed != (chosen == i) {
						t.Fatalf("run %d: %s signed by %s's trust policy %d: allowed %v; Ratify routes it to executor %d, trust policy %d\n%s",
							iter, image, x.name, i, allowed, routed, chosen, strings.Join(texts, "---\n"))
					}
				}
			}
		}
	}
}

// A *.domain scope is compared with hosts as dossier spells them, so a
// trailing dot, :443 or a port's leading zeros still name the hosts one
// label below (dossier once compared the domain as written, and such an
// executor judged no image at all); spelled twice, it is refused as Ratify
// refuses a scope given twice. A NamespacedExecutor of a namespace no Pod
// can be in (not a DNS label) is refused: it would judge nothing, while the
// cluster's executors went on judging the namespace meant.
func TestRatifyExecutorSpellings(t *testing.T) {
	for _, scope := range []string{"*.example.com.", "*.example.com:443", "*.EXAMPLE.com.:443"} {
		docs, err := ratifyLoad(t, ratifyCosignExecutorDoc(t, "wild", []string{scope}, [][]string{nil}))
		if err != nil {
			t.Fatalf("%s: %v", scope, err)
		}
		for image, want := range map[string]bool{"registry.example.com/app": true, "a.registry.example.com/app": false, "registry.example.com:5000/app": false} {
			claimed := false
			for _, p := range docs.Policies {
				claimed = claimed || p.Matches(signedImage(image, ""))
			}
			if claimed != want {
				t.Errorf("scope %s claims %s: %v, want %v", scope, image, claimed, want)
			}
		}
	}
	docs, err := ratifyLoad(t, ratifyCosignExecutorDoc(t, "wild", []string{"*.example.com:05000"}, [][]string{nil}))
	if err != nil || !docs.Policies[0].Matches(signedImage("registry.example.com:5000/app", "")) {
		t.Errorf("*.example.com:05000 does not claim registry.example.com:5000/app: %v", err)
	}
	if _, err := ratifyLoad(t, ratifyCosignExecutorDoc(t, "wild", []string{"*.example.com", "*.example.com."}, [][]string{nil})); err == nil || !strings.Contains(err.Error(), `"*.example.com." names what "*.example.com" names`) {
		t.Errorf("a wildcard scope twice: %v", err)
	}
	for _, ns := range []string{"Payments", "team_x", "-team", strings.Repeat("a", 64)} {
		doc := strings.Replace(ratifyCosignExecutorDoc(t, "e", []string{"registry.example"}, [][]string{nil}), "kind: Executor\nmetadata: {name: e}", "kind: NamespacedExecutor\nmetadata: {name: e, namespace: "+ns+"}", 1)
		if _, err := ratifyLoad(t, doc); err == nil || !strings.Contains(err.Error(), "metadata.namespace: \""+ns+"\": not a namespace name") {
			t.Errorf("namespace %q: %v", ns, err)
		}
	}
}
