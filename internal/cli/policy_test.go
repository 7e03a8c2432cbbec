package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func TestPolicyCheck(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	key := generateKey(t, dir, "release")
	host := testutil.Registry(t)
	npm := testutil.PushSample(t, "npm-app", host+"/team/npm:v1")
	testutil.PushSample(t, "go-app", host+"/team/unsigned:v1")
	if r := dossier(t, "", "sign", host+"/team/npm:v1", "--key", key+".key"); r.code != 0 {
		t.Fatal(r)
	}
	signedOnly := writeFile(t, filepath.Join(dir, "signed.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  images: ["%s/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
`, host))

	r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", signedOnly)
	if r.code != 0 || !strings.Contains(r.stdout, host+"/team/npm@"+npm+": ALLOWED") || !strings.Contains(r.stdout, "pass   require-signed/signed: signed by key sha256:") {
		t.Fatalf("signed image: %+v", r)
	}
	r = dossier(t, "", "policy", "check", host+"/team/npm:v1", host+"/team/unsigned:v1", "--policy", signedOnly)
	if r.code != ExitGateFailed || !strings.Contains(r.stdout, "DENIED") || !strings.Contains(r.stdout, "fix: dossier sign "+host+"/team/unsigned@sha256:") ||
		!strings.Contains(r.stderr, "1 of 2 denied") {
		t.Fatalf("one unsigned image: %+v", r)
	}
	// JSON decisions carry every rule
	r = dossier(t, "", "policy", "check", host+"/team/unsigned:v1", "--policy", signedOnly, "-o", "json")
	var decisions []evidence.Decision
	if r.code != ExitGateFailed || json.Unmarshal([]byte(r.stdout), &decisions) != nil || len(decisions) != 1 || decisions[0].Allowed ||
		decisions[0].Rules[0].Outcome != evidence.OutcomeFail || decisions[0].Rules[0].Fix == "" {
		t.Fatalf("json: %+v", r)
	}
	// an image no policy matches is denied unless allowed explicitly
	other := testutil.PushSample(t, "debian", host+"/elsewhere/app:v1")
	if r := dossier(t, "", "policy", "check", host+"/elsewhere/app:v1", "--policy", signedOnly); r.code != ExitGateFailed || !strings.Contains(r.stdout, "no policy matches "+host+"/elsewhere/app:v1") {
		t.Fatalf("unmatched: %+v", r)
	}
	if r := dossier(t, "", "policy", "check", host+"/elsewhere/app:v1", "--policy", signedOnly, "--allow-unmatched"); r.code != 0 || !strings.Contains(r.stdout, other) {
		t.Fatalf("unmatched, allowed: %+v", r)
	}
	// audit mode reports and admits
	audit := writeFile(t, filepath.Join(dir, "audit.yaml"), strings.Replace(readText(t, signedOnly), "spec:\n", "spec:\n  mode: audit\n", 1))
	if r := dossier(t, "", "policy", "check", host+"/team/unsigned:v1", "--policy", audit); r.code != 0 || !strings.Contains(r.stdout, "ALLOWED (audit: 1 violations)") || !strings.Contains(r.stdout, "FAIL   require-signed/signed (audit)") {
		t.Fatalf("audit: %+v", r)
	}
	// the vulnerability gate: findings fail it, an exception for the digest waives them
	vulns := writeFile(t, filepath.Join(dir, "vulns.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: no-high}
spec:
  images: ["%s/team/**"]
  rules:
    - vulnerabilities: {failOn: high, maxDatabaseAge: 72h}
`, host))
	if r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", vulns, "--data-dir", filepath.Join(dir, "empty")); r.code != ExitGateFailed || !strings.Contains(r.stdout, "no advisory database in") {
		t.Fatalf("no database: %+v", r)
	}
	data := importedDataDir(t)
	r = dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", vulns, "--data-dir", data)
	if r.code != ExitGateFailed || !strings.Contains(r.stdout, "GHSA-35jh-r3h4-6jhm") || !strings.Contains(r.stdout, "GHSA-xvch-5gv4-984h") {
		t.Fatalf("findings: %+v", r)
	}
	exceptions := writeFile(t, filepath.Join(dir, "exceptions.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: npm-waiver, namespace: production}
spec:
  owner: web-platform
  imageDigest: %s/team/npm@%s
  reason: not reachable
  expiresAt: "%s"
  waives: {vulnerabilities: [CVE-2021-23337, CVE-2021-44906]}
`, host, npm, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)))
	r = dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", vulns, "--exceptions", exceptions, "--data-dir", data, "--namespace", "production")
	if r.code != 0 || !strings.Contains(r.stdout, "waived no-high/vulnerabilities: 2 findings") || !strings.Contains(r.stdout, "npm-waiver (owner web-platform") {
		t.Fatalf("waived: %+v", r)
	}
	// the exception is for production: another namespace does not get it,
	// nor does a gate judging for every namespace
	for _, where := range [][]string{{"--namespace", "staging"}, nil} {
		args := append([]string{"policy", "check", host + "/team/npm:v1", "--policy", vulns, "--exceptions", exceptions, "--data-dir", data}, where...)
		if r := dossier(t, "", args...); r.code != ExitGateFailed || strings.Contains(r.stdout, "waived") {
			t.Fatalf("namespaced exception applied outside its namespace (%v): %+v", where, r)
		}
	}
	if r := dossier(t, "", "policy", "check", host+"/team/npm:v1"); r.code != ExitError || !strings.Contains(r.stderr, "--policy") {
		t.Fatalf("no policy: %+v", r)
	}
}

// A ClusterImagePolicy with a key authority decides as policy-controller
// does, on a signature in cosign's legacy layout.
func TestPolicyCheckClusterImagePolicy(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	key := generateKey(t, dir, "k")
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/cip/app:v1")
	if r := dossier(t, "", "sign", host+"/cip/app:v1", "--key", key+".key", "--legacy-tags"); r.code != 0 {
		t.Fatal(r)
	}
	pub := readText(t, key+".pub")
	cip := writeFile(t, filepath.Join(dir, "cip.yaml"), fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  images: [{glob: "%s/cip/**"}]
  authorities:
    - key:
        data: |
%s
`, host, indentText(pub, "          ")))
	if r := dossier(t, "", "policy", "check", host+"/cip/app:v1", "--policy", cip); r.code != 0 || !strings.Contains(r.stdout, "authority authority-0: satisfied") {
		t.Fatalf("cip: %+v", r)
	}
}

func TestPolicyLint(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.yaml"), `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: old}
spec:
  owner: team
  imageDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111
  reason: r
  expiresAt: "2020-01-01T00:00:00Z"
  waives: {policies: [p]}
`)
	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: p}
spec:
  images: ["**"]
  rules: [{signature: {}}]
`)
	r := dossier(t, "", "policy", "lint", good, bad)
	if r.code != ExitGateFailed || !strings.Contains(r.stdout, "ok: "+good+": 0 policies, 1 exceptions") ||
		!strings.Contains(r.stdout, "exception old (owner team) expired 2020-01-01T00:00:00Z") ||
		!strings.Contains(r.stdout, "invalid: "+bad+": spec.rules[0].signature.signers: no signers") {
		t.Fatalf("lint: %+v", r)
	}
	if r := dossier(t, "", "policy", "lint", good); r.code != 0 {
		t.Fatalf("lint of a valid file: %+v", r)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func indentText(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

// policy check --attest publishes each allowed decision as a signed SLSA
// verification summary on its digest, which verify-attestation reads back
// for the gate's key; a denied image and an image no policy matched get
// none.
func TestPolicyCheckAttestsVerificationSummaries(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	release := generateKey(t, dir, "release")
	gate := generateKey(t, dir, "gate")
	host := testutil.Registry(t)
	npm := testutil.PushSample(t, "npm-app", host+"/team/npm:v1")
	testutil.PushSample(t, "go-app", host+"/team/unsigned:v1")
	testutil.PushSample(t, "debian", host+"/elsewhere/app:v1")
	if r := dossier(t, "", "sign", host+"/team/npm:v1", "--key", release+".key"); r.code != 0 {
		t.Fatal(r)
	}
	policyFile := writeFile(t, filepath.Join(dir, "signed.yaml"), fmt.Sprintf(requireSignedGate, host))
	if r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", policyFile, "--attest"); r.code != ExitError || !strings.Contains(r.stderr, "--key") {
		t.Fatalf("--attest without a key: %+v", r)
	}
	if r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", policyFile, "--key", gate+".key"); r.code != ExitError || !strings.Contains(r.stderr, "--attest") {
		t.Fatalf("--key without --attest: %+v", r)
	}
	r := dossier(t, "", "policy", "check", host+"/team/npm:v1", host+"/team/unsigned:v1", host+"/elsewhere/app:v1", "--allow-unmatched",
		"--policy", policyFile, "--attest", "--key", gate+".key", "--verifier-id", "https://ci.example/gates/release")
	if r.code != ExitGateFailed || strings.Count(r.stderr, "published a verification summary") != 1 || !strings.Contains(r.stderr, host+"/team/npm@"+npm) {
		t.Fatalf("policy check --attest: %+v", r)
	}
	r = dossier(t, "", "verify-attestation", host+"/team/npm:v1", "--type", "vsa", "--key", gate+".pub")
	if r.code != 0 {
		t.Fatalf("verify-attestation --type vsa: %+v", r)
	}
	var verified []struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			Verifier struct {
				ID      string            `json:"id"`
				Version map[string]string `json:"version"`
			} `json:"verifier"`
			TimeVerified time.Time `json:"timeVerified"`
			ResourceURI  string    `json:"resourceUri"`
			Policy       struct {
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"policy"`
			VerificationResult string   `json:"verificationResult"`
			VerifiedLevels     []string `json:"verifiedLevels"`
			SLSAVersion        string   `json:"slsaVersion"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &verified); err != nil || len(verified) != 1 {
		t.Fatalf("verify-attestation output: %v\n%s", err, r.stdout)
	}
	p := verified[0].Predicate
	if verified[0].PredicateType != "https://slsa.dev/verification_summary/v1" || p.Verifier.ID != "https://ci.example/gates/release" ||
		p.ResourceURI != host+"/team/npm@"+npm || p.VerificationResult != "PASSED" || p.SLSAVersion != "1.0" ||
		p.Policy.URI != "urn:dossier:policies:require-signed" || len(p.Policy.Digest["sha256"]) != 64 ||
		!slices.Equal(p.VerifiedLevels, []string{"DOSSIER_REQUIRE_SIGNED_SIGNED"}) || time.Since(p.TimeVerified) > time.Hour {
		t.Fatalf("summary: %+v", verified[0])
	}
	// a cluster's policy accepts the gate's summary for a rule it would
	// otherwise verify itself (here an SBOM attestation nobody made), and
	// says why not when the summary lacks a level it requires
	cluster := writeFile(t, filepath.Join(dir, "cluster.yaml"), clusterPolicy(host, "DOSSIER_REQUIRE_SIGNED_SIGNED"))
	r = dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", cluster)
	if r.code != 0 || !strings.Contains(r.stdout, "pass   cluster/sbom: verified by https://ci.example/gates/release at") {
		t.Fatalf("the gate's summary accepted: %+v", r)
	}
	if r := dossier(t, "", "policy", "lint", cluster); r.code != 0 || !strings.Contains(r.stdout, "rules sbom also pass on a verification summary by https://ci.example/gates/release") {
		t.Fatalf("lint: %+v", r)
	}
	stricter := writeFile(t, filepath.Join(dir, "stricter.yaml"), strings.Replace(readText(t, cluster), "levels: [DOSSIER_REQUIRE_SIGNED_SIGNED]", "levels: [DOSSIER_REQUIRE_SIGNED_SIGNED, SLSA_BUILD_LEVEL_3]", 1))
	r = dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", stricter)
	if r.code != ExitGateFailed || !strings.Contains(r.stdout, "does not verify SLSA_BUILD_LEVEL_3") {
		t.Fatalf("a summary without a required level: %+v", r)
	}
	// the release key did not sign a summary; the denied and the unmatched
	// images have none
	if r := dossier(t, "", "verify-attestation", host+"/team/npm:v1", "--type", "vsa", "--key", release+".pub"); r.code != ExitGateFailed {
		t.Fatalf("a summary verified for the wrong key: %+v", r)
	}
	for _, ref := range []string{host + "/team/unsigned:v1", host + "/elsewhere/app:v1"} {
		if r := dossier(t, "", "verify-attestation", ref, "--type", "vsa", "--key", gate+".pub"); r.code != ExitGateFailed {
			t.Fatalf("%s has a summary: %+v", ref, r)
		}
	}
}
