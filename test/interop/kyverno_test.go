package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// kyvernoCase is one image judged under one Kyverno policy: dossier's
// decision (allowed), the Kyverno CLI's result for the policy's rules
// (pass, fail or error) and, where it matters, words its reason must hold.
type kyvernoCase struct {
	policy, image string
	dossier       bool
	kyverno       string
	reason        string
}

// kyvernoApply runs `kyverno apply` on policy with a Pod naming image and
// returns the worst result its policy report gives the policy's rules
// (error, then fail, then pass) and the CLI's output.
func kyvernoApply(t *testing.T, dir, policy, image string) (string, string) {
	t.Helper()
	pod := filepath.Join(dir, "pod.yaml")
	if err := os.WriteFile(pod, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
    - name: app
      image: %s
`, image)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.Peer(t, "kyverno"), "apply", policy, "--resource", pod, "--policy-report", "--output-format", "json")
	// the CLI reads registries with the Docker keychain: none here
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir, "HOME="+dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("kyverno apply: %v: %s%s", err, out.String(), errOut.String())
	}
	start := bytes.IndexByte(out.Bytes(), '{')
	if start < 0 {
		t.Fatalf("kyverno apply printed no policy report: %s%s", out.String(), errOut.String())
	}
	var report struct {
		Results []struct {
			Policy, Rule, Result, Message string
		} `json:"results"`
	}
	if err := json.NewDecoder(bytes.NewReader(out.Bytes()[start:])).Decode(&report); err != nil {
		t.Fatalf("kyverno apply: the policy report: %v: %s", err, out.String())
	}
	if len(report.Results) == 0 {
		t.Fatalf("kyverno apply: no result for %s: %s%s", image, out.String(), errOut.String())
	}
	worst, rank := "", map[string]int{"pass": 1, "fail": 2, "error": 3}
	var messages []string
	for _, r := range report.Results {
		if rank[r.Result] == 0 {
			t.Fatalf("kyverno apply: result %q for rule %s: %s", r.Result, r.Rule, out.String())
		}
		if rank[r.Result] > rank[worst] {
			worst = r.Result
		}
		messages = append(messages, r.Rule+": "+r.Result+": "+r.Message)
	}
	return worst, strings.Join(messages, "\n") + errOut.String()
}

// indent indents every line of text by n spaces, for a YAML block.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n"+pad)
}

// seedPolicy reads one of the Kyverno examples dossier's loader is tested
// on and adapts it with edit (image globs, keys, identities).
func seedPolicy(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "internal", "policy", "testdata", "kyverno", name))
	if err != nil {
		t.Fatal(err)
	}
	return edit(string(data))
}

// TestKyvernoCLIAgrees decides Kyverno ClusterPolicies with the Kyverno CLI
// (kyverno apply on a Pod naming the image) and with dossier policy check,
// on the same images in the same registry, signed and attested by dossier:
// a key's signature, another key's, none; an attestation whose condition
// holds and one whose condition does not; one of two and two of two
// attestors; a keyless identity and a look-alike. Among the policies are
// the Kyverno examples dossier's loader is tested on
// (internal/policy/testdata/kyverno), adapted in their image globs, keys
// and identities. The deliberate differences (docs/policies.md) are
// asserted as such: Kyverno requires a transparency-log entry for a key's
// signature unless rekor.ignoreTlog, and each of its types reads one
// storage format (Cosign the legacy .sig tags, SigstoreBundle referrers),
// where dossier reads both.
func TestKyvernoCLIAgrees(t *testing.T) {
	ctx := context.Background()
	testutil.Peer(t, "kyverno")
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	dir := t.TempDir()
	release, other := filepath.Join(dir, "release"), filepath.Join(dir, "other")
	pubs := map[string]string{}
	for _, k := range []string{release, other} {
		if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", k); code != 0 {
			t.Fatalf("key generate: %s", errOut)
		}
		pub, err := os.ReadFile(k + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		pubs[k] = string(pub)
	}
	host := startDistribution(t)
	ref := func(name string) string { return host + "/ky/" + name + ":v1" }
	for _, name := range []string{"legacy-signed", "legacy-other", "unsigned", "bundle-signed", "bundle-other",
		"slsa-release", "slsa-scan", "slsa-both", "keyless-right", "keyless-lookalike"} {
		cranePush(t, "npm-app", ref(name))
	}
	for _, s := range []struct {
		image, key string
		legacy     bool
	}{{"legacy-signed", release, true}, {"legacy-other", other, true}, {"bundle-signed", release, false}, {"bundle-other", other, false}} {
		args := []string{"sign", ref(s.image), "--key", s.key + ".key"}
		if s.legacy {
			args = append(args, "--legacy-tags")
		}
		if code, _, errOut := runDossier(t, args...); code != 0 {
			t.Fatalf("sign %s: %s", s.image, errOut)
		}
	}
	const releaseBuilder = "https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main"
	const scanBuilder = "https://github.com/acme/payments/.github/workflows/vulnerability-scan.yaml@refs/heads/main"
	for _, a := range []struct {
		image, builder string
		keys           []string
	}{{"slsa-release", releaseBuilder, []string{release}}, {"slsa-scan", scanBuilder, []string{release}}, {"slsa-both", releaseBuilder, []string{release, other}}} {
		predicate := filepath.Join(dir, a.image+".json")
		if err := os.WriteFile(predicate, []byte(fmt.Sprintf(`{"builder": {"id": %q}, "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1"}`, a.builder)), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, k := range a.keys {
			if code, _, errOut := runDossier(t, "attest", ref(a.image), "--predicate", predicate, "--type", "https://slsa.dev/provenance/v0.2", "--key", k+".key"); code != 0 {
				t.Fatalf("attest %s: %s", a.image, errOut)
			}
		}
	}
	// keyless signatures in cosign's legacy layout, by an offline Sigstore
	const issuer = "https://token.actions.githubusercontent.com"
	const identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	sigstore := testutil.NewSigstore(t)
	for name, who := range map[string]string{"keyless-right": identity, "keyless-lookalike": strings.Replace(identity, "/acme/", "/acme-evil/", 1)} {
		repo, err := oci.OpenRegistry(host+"/ky/"+name, oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		payload, err := sign.SimpleSigningPayload(repo.Name(), d.Digest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sign.AppendLegacySignature(ctx, repo, d.Digest, payload, sigstore.LegacyKeylessAnnotations(t, payload, who, issuer)); err != nil {
			t.Fatal(err)
		}
	}
	trustedRoot := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(trustedRoot, sigstore.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}

	// Kyverno checks a key's signatures against the public Rekor and CT
	// logs unless told not to; offline (and for dossier's key signatures,
	// which are not logged) these say not to.
	const offline = "\n              rekor: {ignoreTlog: true}\n              ctlog: {ignoreSCT: true}"
	seedKey := regexp.MustCompile(`(?m)^( *)-----BEGIN PUBLIC KEY-----\n(?:.*\n)*? *-----END PUBLIC KEY-----`)
	checkImage := seedPolicy(t, "check-image.yaml", func(s string) string {
		s = strings.ReplaceAll(s, "registry.example/acme/", host+"/ky/")
		return seedKey.ReplaceAllLiteralString(s, indent(pubs[release], 16))
	})
	policies := map[string]string{
		// Kyverno's check-image as it is: Kyverno requires a Rekor entry
		"check-image": checkImage,
		// with the logs waived, in Kyverno's legacy Cosign layout (.sig tags)
		"check-image-offline": strings.Replace(checkImage, "-----END PUBLIC KEY-----", "-----END PUBLIC KEY-----"+offline, 1),
	}
	policies["check-image-bundle"] = strings.Replace(policies["check-image-offline"], "      - imageReferences:", "      - type: SigstoreBundle\n        imageReferences:", 1)

	// Kyverno's SLSA attestation example (conditions on builder.id, 1 of 2
	// attestors), its attestors keys instead of keyless identities (a
	// keyless attestation needs the public-good TUF root in Kyverno), read
	// as Sigstore bundles (dossier attest's format)
	slsa := func(count int) string {
		return seedPolicy(t, "check-slsa-attestations.yaml", func(s string) string {
			s = strings.ReplaceAll(s, "registry.example/acme/payments*", host+"/ky/*")
			entry := regexp.MustCompile(`(?s)          - keyless:\n.*?subject: \S+\n`)
			n := 0
			s = entry.ReplaceAllStringFunc(s, func(string) string {
				key := []string{release, other}[n]
				n++
				return "          - keys:\n              publicKeys: |-\n" + indent(pubs[key], 16) + "\n              rekor: {ignoreTlog: true}\n              ctlog: {ignoreSCT: true}\n"
			})
			s = strings.Replace(s, "- count: 1", fmt.Sprintf("- count: %d", count), 1)
			return strings.Replace(s, "    - attestations:", "    - type: SigstoreBundle\n      attestations:", 1)
		})
	}
	policies["check-slsa-1-of-2"] = slsa(1)
	policies["check-slsa-2-of-2"] = slsa(2)

	// a keyless identity with the offline Sigstore's CA and logs named
	// (roots, rekor.pubkey, ctlog.pubkey); dossier is given the same as a
	// trusted root
	policies["keyless"] = fmt.Sprintf(`apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: keyless
spec:
  validationFailureAction: Enforce
  background: false
  rules:
    - name: release-workflow
      match:
        any:
        - resources:
            kinds:
              - Pod
      verifyImages:
      - imageReferences:
        - "%s/ky/*"
        attestors:
        - entries:
          - keyless:
              issuer: %s
              subject: %s
              roots: |-
%s
              rekor:
                url: https://rekor.test
                pubkey: |-
%s
              ctlog:
                pubkey: |-
%s
`, host, issuer, identity, indent(string(sigstore.CAPEM()), 16), indent(string(sigstore.RekorPublicKeyPEM()), 18), indent(string(sigstore.CTLogPublicKeyPEM()), 18))

	files := map[string]string{}
	for name, text := range policies {
		files[name] = filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(files[name], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []kyvernoCase{
		// Kyverno requires a Rekor entry for a key's signature (and, here,
		// fails fetching the public-good root to check one); dossier verifies
		// by the key
		{"check-image", "legacy-signed", true, "fail", "failed to load Rekor public keys"},
		{"check-image", "unsigned", false, "fail", ""},
		{"check-image-offline", "legacy-signed", true, "pass", ""},
		{"check-image-offline", "legacy-other", false, "fail", "no matching signatures"},
		{"check-image-offline", "unsigned", false, "fail", "no signatures found"},
		// Kyverno's Cosign type reads .sig tags only; dossier reads both
		{"check-image-offline", "bundle-signed", true, "fail", "no signatures found"},
		{"check-image-bundle", "bundle-signed", true, "pass", ""},
		{"check-image-bundle", "bundle-other", false, "fail", "no matching signatures found"},
		{"check-image-bundle", "unsigned", false, "fail", ""},
		// and its SigstoreBundle type reads bundle referrers only
		{"check-image-bundle", "legacy-signed", true, "fail", "no matching signatures found"},
		{"check-slsa-1-of-2", "slsa-release", true, "pass", ""},
		{"check-slsa-1-of-2", "slsa-scan", false, "fail", "attestation checks failed"},
		{"check-slsa-1-of-2", "unsigned", false, "fail", ""},
		{"check-slsa-2-of-2", "slsa-release", false, "fail", "verifiedCount: 1, requiredCount: 2"},
		{"check-slsa-2-of-2", "slsa-both", true, "pass", ""},
		{"keyless", "keyless-right", true, "pass", ""},
		{"keyless", "keyless-lookalike", false, "fail", "subject mismatch"},
		{"keyless", "unsigned", false, "fail", ""},
	}
	for _, c := range cases {
		t.Run(c.policy+"/"+c.image, func(t *testing.T) {
			got, out := kyvernoApply(t, t.TempDir(), files[c.policy], ref(c.image))
			if got != c.kyverno || !strings.Contains(out, c.reason) {
				t.Errorf("kyverno: %s, want %s (%q)\n%s", got, c.kyverno, c.reason, out)
			}
			args := []string{"policy", "check", ref(c.image), "--policy", files[c.policy]}
			if c.policy == "keyless" {
				args = append(args, "--trusted-root", trustedRoot)
			}
			code, dout, errOut := runDossier(t, args...)
			if code != 0 && code != 1 {
				t.Fatalf("dossier policy check: exit %d: %s", code, errOut)
			}
			if (code == 0) != c.dossier {
				t.Errorf("dossier allowed=%v, want %v\n%s", code == 0, c.dossier, dout)
			}
		})
	}
}
