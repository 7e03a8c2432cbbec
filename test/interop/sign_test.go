package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func runDossier(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(args, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

func runCosign(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testutil.Peer(t, "cosign"), args...)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+os.Getenv("DOSSIER_PASSWORD"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cosignOfflineConfig writes a signing config with no services and an
// empty trusted root: cosign v3 then signs with a key and logs nothing.
func cosignOfflineConfig(t *testing.T, dir string) (signingConfig, trustedRoot string) {
	t.Helper()
	signingConfig, trustedRoot = filepath.Join(dir, "signing-config.json"), filepath.Join(dir, "trusted-root.json")
	for _, args := range [][]string{{"signing-config", "create", "--out", signingConfig}, {"trusted-root", "create", "--out", trustedRoot}} {
		if out, err := runCosign(t, args...); err != nil {
			t.Fatalf("cosign %v: %v: %s", args, err, out)
		}
	}
	return signingConfig, trustedRoot
}

func cranePush(t *testing.T, sample, ref string) {
	t.Helper()
	if out, err := exec.Command(testutil.Peer(t, "crane"), "push", "--insecure", testutil.SampleLayout(sample), ref).CombinedOutput(); err != nil {
		t.Fatalf("crane push: %v: %s", err, out)
	}
}

// TestCosignInterop signs and verifies both ways between dossier and the
// real cosign, with keys of both tools, on the distribution registry
// (referrers tag schema), on a registry with the referrers API, and on
// dossier's own registry (referrers API, token authentication).
func TestCosignInterop(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	dir := t.TempDir()
	dossierKey := filepath.Join(dir, "dossier")
	if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", dossierKey); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	cosignKey := filepath.Join(dir, "cosign")
	if out, err := runCosign(t, "generate-key-pair", "--output-key-prefix", cosignKey); err != nil {
		t.Fatalf("cosign generate-key-pair: %v: %s", err, out)
	}
	signingConfig, trustedRoot := cosignOfflineConfig(t, dir)
	// dossier's own registry, reached with a token from a Docker config
	dossierHost, token := startDossierRegistry(t)
	dockerLogin(t, dossierHost, token)
	registries := map[string]string{"distribution (tag schema)": startDistribution(t), "referrers API": testutil.Registry(t), "dossier serve": dossierHost}
	for regName, host := range registries {
		t.Run(regName, func(t *testing.T) {
			for _, key := range []string{dossierKey, cosignKey} {
				keyName := filepath.Base(key)
				// dossier signs, cosign verifies
				ref := host + "/interop/by-dossier-" + keyName + ":v1"
				cranePush(t, "npm-app", ref)
				digest := testutil.SampleImageDigest(t, "npm-app", "amd64")
				if code, _, errOut := runDossier(t, "sign", ref, "--key", key+".key", "-a", "team=web"); code != 0 {
					t.Fatalf("dossier sign with %s key: %s", keyName, errOut)
				}
				out, err := runCosign(t, "verify", "--key", key+".pub", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", ref)
				if err != nil || !strings.Contains(out, digest) || !strings.Contains(out, `"team":"web"`) {
					t.Errorf("cosign verify of dossier's signature (%s key): %v\n%s", keyName, err, out)
				}
				// cosign signs, dossier verifies
				ref = host + "/interop/by-cosign-" + keyName + ":v1"
				cranePush(t, "npm-app", ref)
				if out, err := runCosign(t, "sign", "--key", key+".key", "--signing-config", signingConfig, "--trusted-root", trustedRoot,
					"--allow-insecure-registry", "--allow-http-registry", "-y", ref); err != nil {
					t.Fatalf("cosign sign with %s key: %v: %s", keyName, err, out)
				}
				code, out, errOut := runDossier(t, "verify", ref, "--key", key+".pub", "-o", "json")
				if code != 0 || !strings.Contains(out, digest) {
					t.Errorf("dossier verify of cosign's signature (%s key): exit %d: %s %s", keyName, code, out, errOut)
				}
				// and neither accepts the other key
				other := cosignKey
				if key == cosignKey {
					other = dossierKey
				}
				if code, _, errOut := runDossier(t, "verify", ref, "--key", other+".pub"); code != 1 || !strings.Contains(errOut, "signed by a key that is not trusted") {
					t.Errorf("verify with the wrong key: exit %d: %s", code, errOut)
				}
			}
		})
	}
}

// TestCosignAttestationInterop attaches a CycloneDX SBOM attestation with
// each tool and verifies it with the other.
func TestCosignAttestationInterop(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	dir := t.TempDir()
	key := filepath.Join(dir, "dossier")
	if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", key); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	signingConfig, trustedRoot := cosignOfflineConfig(t, dir)
	host := startDistribution(t)
	predicate := filepath.Join(dir, "sbom.cdx.json")
	if err := os.WriteFile(predicate, dossierSBOM(t, "oci-layout:"+testutil.SampleLayout("npm-app"), "cyclonedx-json"), 0o644); err != nil {
		t.Fatal(err)
	}
	digest := testutil.SampleImageDigest(t, "npm-app", "amd64")

	ref := host + "/att/by-dossier:v1"
	cranePush(t, "npm-app", ref)
	if code, _, errOut := runDossier(t, "attest", ref, "--predicate", predicate, "--type", "cyclonedx", "--key", key+".key"); code != 0 {
		t.Fatalf("dossier attest: %s", errOut)
	}
	if out, err := runCosign(t, "verify-attestation", "--key", key+".pub", "--type", "cyclonedx", "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", "--allow-http-registry", ref); err != nil {
		t.Errorf("cosign verify-attestation of dossier's attestation: %v\n%s", err, out)
	}

	ref = host + "/att/by-cosign:v1"
	cranePush(t, "npm-app", ref)
	if out, err := runCosign(t, "attest", "--key", key+".key", "--predicate", predicate, "--type", "cyclonedx", "--signing-config", signingConfig,
		"--trusted-root", trustedRoot, "--allow-insecure-registry", "--allow-http-registry", "-y", ref); err != nil {
		t.Fatalf("cosign attest: %v: %s", err, out)
	}
	code, out, errOut := runDossier(t, "verify-attestation", ref, "--type", "cyclonedx", "--key", key+".pub")
	if code != 0 || !strings.Contains(out, digest) || !strings.Contains(out, `"bomFormat": "CycloneDX"`) {
		t.Errorf("dossier verify-attestation of cosign's attestation: exit %d: %.300s %s", code, out, errOut)
	}
	if code, _, errOut := runDossier(t, "verify-attestation", ref, "--type", "slsaprovenance", "--key", key+".pub"); code != 1 || !strings.Contains(errOut, "no slsaprovenance attestation by key") {
		t.Errorf("an absent attestation type must fail: exit %d: %s", code, errOut)
	}
}

// TestCosignLegacyLayout covers cosign's legacy sha256-<hex>.sig layout
// both ways, on the distribution registry and on dossier's own.
func TestCosignLegacyLayout(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	key := filepath.Join(t.TempDir(), "dossier")
	if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", key); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	dossierHost, token := startDossierRegistry(t)
	dockerLogin(t, dossierHost, token)
	for name, host := range map[string]string{"distribution": startDistribution(t), "dossier serve": dossierHost} {
		t.Run(name, func(t *testing.T) { legacyLayout(t, host, key) })
	}
}

func legacyLayout(t *testing.T, host, key string) {
	digest := testutil.SampleImageDigest(t, "npm-app", "amd64")

	ref := host + "/legacy/by-dossier:v1"
	cranePush(t, "npm-app", ref)
	if code, _, errOut := runDossier(t, "sign", "--legacy-tags", ref, "--key", key+".key", "-a", "env=prod"); code != 0 {
		t.Fatalf("dossier sign --legacy-tags: %s", errOut)
	}
	out, err := runCosign(t, "verify", "--key", key+".pub", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", ref)
	if err != nil || !strings.Contains(out, digest) || !strings.Contains(out, `"env":"prod"`) {
		t.Errorf("cosign verify of dossier's legacy signature: %v\n%s", err, out)
	}

	ref = host + "/legacy/by-cosign:v1"
	cranePush(t, "npm-app", ref)
	if out, err := runCosign(t, "sign", "--key", key+".key", "--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false",
		"--allow-insecure-registry", "--allow-http-registry", "-y", ref); err != nil {
		t.Fatalf("cosign legacy sign: %v: %s", err, out)
	}
	code, out, errOut := runDossier(t, "verify", ref, "--key", key+".pub")
	if code != 0 || !strings.Contains(out, ".sig") {
		t.Errorf("dossier verify of cosign's legacy signature: exit %d: %s %s", code, out, errOut)
	}
	// a legacy .att attestation by cosign
	predicate := filepath.Join(filepath.Dir(key), "sbom.cdx.json")
	if err := os.WriteFile(predicate, dossierSBOM(t, "oci-layout:"+testutil.SampleLayout("npm-app"), "cyclonedx-json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCosign(t, "attest", "--key", key+".key", "--type", "cyclonedx", "--predicate", predicate, "--new-bundle-format=false",
		"--use-signing-config=false", "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry", "-y", ref); err != nil {
		t.Fatalf("cosign legacy attest: %v: %s", err, out)
	}
	code, out, errOut = runDossier(t, "verify-attestation", ref, "--type", "cyclonedx", "--key", key+".pub")
	if code != 0 || !strings.Contains(out, digest[len("sha256:"):]) {
		t.Errorf("dossier verify-attestation of cosign's legacy attestation: exit %d: %.300s %s", code, out, errOut)
	}
	if code, out, _ := runDossier(t, "tree", ref); code != 0 || !strings.Contains(out, ".att (1 entries)") || !strings.Contains(out, ".sig (1 entries)") {
		t.Errorf("tree of the legacy layout: %s", out)
	}
}

// TestVerificationSummaryInterop: the SLSA verification summary policy
// check --attest publishes is read by cosign verify-attestation with the
// gate's key, as a https://slsa.dev/verification_summary/v1 statement
// about the digest.
func TestVerificationSummaryInterop(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "interop-pass")
	dir := t.TempDir()
	key := filepath.Join(dir, "gate")
	if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", key); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	host := startDistribution(t)
	ref := host + "/vsa/app:v1"
	cranePush(t, "npm-app", ref)
	// a policy every image passes: the summary is of the decision, whatever
	// its rules
	cip := filepath.Join(dir, "cip.yaml")
	if err := os.WriteFile(cip, []byte(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: allow-vsa}
spec:
  images: [{glob: "`+host+`/vsa/**"}]
  authorities: [{static: {action: pass}}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runDossier(t, "policy", "check", ref, "--policy", cip, "--attest", "--key", key+".key"); code != 0 || !strings.Contains(errOut, "published a verification summary") {
		t.Fatalf("policy check --attest: exit %d: %s", code, errOut)
	}
	out, err := runCosign(t, "verify-attestation", "--key", key+".pub", "--type", "https://slsa.dev/verification_summary/v1", "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", "--allow-http-registry", ref)
	if err != nil {
		t.Fatalf("cosign verify-attestation of dossier's summary: %v\n%s", err, out)
	}
	var envelope struct {
		Payload string `json:"payload"`
	}
	line := out[strings.Index(out, "{"):]
	if err := json.Unmarshal([]byte(strings.SplitN(line, "\n", 2)[0]), &envelope); err != nil {
		t.Fatalf("cosign's output: %v\n%s", err, out)
	}
	statement, err := base64.StdEncoding.DecodeString(envelope.Payload)
	if err != nil || !strings.Contains(string(statement), `"predicateType":"https://slsa.dev/verification_summary/v1"`) ||
		!strings.Contains(string(statement), `"resourceUri":"`+host+`/vsa/app@`) || !strings.Contains(string(statement), `"verificationResult":"PASSED"`) {
		t.Fatalf("the statement cosign verified: %v %s", err, statement)
	}
}
