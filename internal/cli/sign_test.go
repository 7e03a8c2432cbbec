package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func TestSignVerifyAttestCLI(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "s3cret")
	dir := t.TempDir()
	key := generateKey(t, dir, "team")
	if r := dossier(t, "", "key", "generate", "--output-prefix", key); r.code != ExitError || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("overwrite: %+v", r)
	}
	host := testutil.Registry(t)
	npm := testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	ref := host + "/team/app:v1"

	if r := dossier(t, "", "verify", ref, "--key", key+".pub"); r.code != ExitGateFailed || !strings.Contains(r.stderr, "no signature by key") {
		t.Fatalf("unsigned: %+v", r)
	}
	if r := dossier(t, "", "verify", ref); r.code != ExitError || !strings.Contains(r.stderr, "identity is mandatory") {
		t.Fatalf("verify without an identity: %+v", r)
	}
	r := dossier(t, "", "sign", ref, "--key", key+".key")
	if r.code != 0 || !strings.Contains(r.stdout, "signed "+host+"/team/app@"+npm) || !strings.Contains(r.stderr, "resolved") {
		t.Fatalf("sign: %+v", r)
	}
	r = dossier(t, "", "verify", ref, "--key", key+".pub", "-o", "json")
	var v []verifyResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || len(v) != 1 || !v[0].Verified || v[0].Subject.Digest != npm ||
		len(v[0].Signatures) != 1 || !strings.HasPrefix(v[0].Signatures[0].Signer.KeyFingerprint, "sha256:") || !v[0].Signatures[0].TransparencyLogSkipped {
		t.Fatalf("verify: %+v", r)
	}
	// several REFs at once: one unsigned makes the run fail, the other is still reported
	unsigned := testutil.PushSample(t, "debian", host+"/team/unsigned:v1")
	r = dossier(t, "", "verify", ref, host+"/team/unsigned:v1", "--key", key+".pub")
	if r.code != ExitGateFailed || !strings.Contains(r.stdout, "verified "+host+"/team/app@"+npm) || !strings.Contains(r.stderr, unsigned) {
		t.Fatalf("verify of two refs: %+v", r)
	}
	// the tag moves to other content after signing
	testutil.PushSample(t, "go-app", ref)
	if r := dossier(t, "", "verify", ref, "--key", key+".pub", "--expected-digest", npm); r.code != ExitGateFailed || !strings.Contains(r.stderr, "tag now points to a digest other than the one that was signed") {
		t.Fatalf("moved tag: %+v", r)
	}
	// a wrong password, a missing key
	t.Setenv("DOSSIER_PASSWORD", "wrong")
	if r := dossier(t, "", "sign", ref, "--key", key+".key"); r.code != ExitError || !strings.Contains(r.stderr, "wrong password") {
		t.Fatalf("wrong password: %+v", r)
	}
	t.Setenv("DOSSIER_PASSWORD", "s3cret")
	// attest an SBOM and read it back; a predicate that is not JSON is refused
	sbomFile := filepath.Join(dir, "sbom.json")
	if r := dossier(t, "", "sbom", "oci-layout:"+testutil.SampleLayout("npm-app"), "--output-file", sbomFile); r.code != 0 {
		t.Fatal(r)
	}
	digestRef := host + "/team/app@" + npm
	if r := dossier(t, "", "attest", digestRef, "--predicate", sbomFile, "--type", "cyclonedx", "--key", key+".key"); r.code != 0 {
		t.Fatalf("attest: %+v", r)
	}
	r = dossier(t, "", "verify-attestation", digestRef, "--type", "cyclonedx", "--key", key+".pub")
	if r.code != 0 || !strings.Contains(r.stdout, `"predicateType": "https://cyclonedx.org/bom"`) {
		t.Fatalf("verify-attestation: %+v", r)
	}
	r = dossier(t, "", "tree", digestRef, "-o", "json")
	var tree struct {
		Attachments []struct{ Kind, Layout, PredicateType string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tree) != nil {
		t.Fatalf("tree: %+v", r)
	}
	kinds := map[string]int{}
	for _, a := range tree.Attachments {
		kinds[a.Kind+" "+a.PredicateType]++
	}
	if kinds["signature https://sigstore.dev/cosign/sign/v1"] != 1 || kinds["attestation https://cyclonedx.org/bom"] != 1 {
		t.Fatalf("tree: %+v", tree.Attachments)
	}
	notJSON := filepath.Join(dir, "x.txt")
	if err := os.WriteFile(notJSON, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := dossier(t, "", "attest", digestRef, "--predicate", notJSON, "--key", key+".key"); r.code != ExitError || !strings.Contains(r.stderr, "JSON object") {
		t.Fatalf("bad predicate: %+v", r)
	}
	if r := dossier(t, "", "attest", digestRef, "--predicate", sbomFile, "--type", "nonsense", "--key", key+".key"); r.code != ExitError {
		t.Fatalf("bad type: %+v", r)
	}
}

func TestSBOMAndScanAttest(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "s3cret")
	dir := t.TempDir()
	key := generateKey(t, dir, "k")
	data := importedDataDir(t)
	host := testutil.Registry(t)
	testutil.PushSample(t, "go-app", host+"/team/go:v1")
	ref := host + "/team/go:v1"
	arm := testutil.SampleImageDigest(t, "go-app", "arm64")
	// the SBOM of the arm64 image is attached to the arm64 manifest digest
	if r := dossier(t, "", "sbom", ref, "--platform", "linux/arm64", "-o", "spdx-json", "--attest", "--key", key+".key"); r.code != 0 {
		t.Fatalf("sbom --attest: %+v", r)
	}
	if r := dossier(t, "", "verify-attestation", host+"/team/go@"+arm, "--type", "spdxjson", "--key", key+".pub"); r.code != 0 || !strings.Contains(r.stdout, `"spdxVersion": "SPDX-2.3"`) {
		t.Fatalf("spdx attestation on the arm64 digest: %+v", r)
	}
	if r := dossier(t, "", "scan", "--data-dir", data, ref, "--attest", "--key", key+".key"); r.code != 0 {
		t.Fatalf("scan --attest: %+v", r)
	}
	// the scan of the index covers every platform and is about the index
	_, index := testutil.SampleTagged(t, "go-app")
	r := dossier(t, "", "verify-attestation", host+"/team/go@"+index.Digest.String(), "--type", "vuln", "--key", key+".pub")
	if r.code != 0 || !strings.Contains(r.stdout, "GO-2021-0113") || !strings.Contains(r.stdout, `"scanner"`) {
		t.Fatalf("vuln attestation: %.400s %s", r.stdout, r.stderr)
	}
	if r := dossier(t, "", "scan", "--data-dir", data, ref, "--attest"); r.code != ExitError || !strings.Contains(r.stderr, "--key FILE or --keyless") {
		t.Fatalf("--attest without key: %+v", r)
	}
}

// TestKeylessVerifyOffline verifies a keyless signature from sigstore-go's
// offline CA and log with --trusted-root, and rejects a look-alike identity.
func TestKeylessVerifyOffline(t *testing.T) {
	vs := testutil.NewSigstore(t)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(rootFile, vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/acme/app:v1")
	repo, err := oci.OpenRegistry(host+"/acme/app", oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := repo.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	const id = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	const issuer = "https://token.actions.githubusercontent.com"
	st, err := attest.Statement(subject.Digest, evidence.PredicateSignatures, json.RawMessage(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.StoreBundle(context.Background(), repo, subject, vs.KeylessBundle(t, st, id, issuer, true), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	ref := host + "/acme/app:v1"
	r := dossier(t, "", "verify", ref, "--trusted-root", rootFile, "--certificate-identity", id, "--certificate-oidc-issuer", issuer)
	if r.code != 0 || !strings.Contains(r.stdout, "signer "+id) || !strings.Contains(r.stdout, "issuer "+issuer) || !strings.Contains(r.stdout, "log index") {
		t.Fatalf("keyless verify: %+v", r)
	}
	r = dossier(t, "", "verify", ref, "--trusted-root", rootFile, "--certificate-identity-regexp", `^https://github\.com/acme-evil/`, "--certificate-oidc-issuer", issuer)
	if r.code != ExitGateFailed || !strings.Contains(r.stderr, "signed by "+id+" (issuer "+issuer+"), but the policy requires /^https://github\\.com/acme-evil//") {
		t.Fatalf("look-alike identity: %+v", r)
	}
	// a certificate no CT log has seen: refused unless waived, and the waiver is named
	testutil.PushSample(t, "go-app", host+"/acme/nosct:v1")
	noSCTRepo, _ := oci.OpenRegistry(host+"/acme/nosct", oci.RegistryOptions{})
	noSCT, _ := noSCTRepo.Resolve(context.Background(), "v1")
	noSCTStatement, _ := attest.Statement(noSCT.Digest, evidence.PredicateSignatures, json.RawMessage(`{}`), nil)
	if _, err := sign.StoreBundle(context.Background(), noSCTRepo, noSCT, vs.KeylessBundleWithoutSCT(t, noSCTStatement, id, issuer), evidence.PredicateSignatures, time.Now()); err != nil {
		t.Fatal(err)
	}
	noSCTRef := host + "/acme/nosct:v1"
	if r := dossier(t, "", "verify", noSCTRef, "--trusted-root", rootFile, "--certificate-identity", id, "--certificate-oidc-issuer", issuer); r.code != ExitGateFailed || !strings.Contains(r.stderr, "carries no SCT") {
		t.Fatalf("no SCT: %+v", r)
	}
	if r := dossier(t, "", "verify", noSCTRef, "--trusted-root", rootFile, "--certificate-identity", id, "--certificate-oidc-issuer", issuer, "--insecure-ignore-sct"); r.code != 0 || !strings.Contains(r.stdout, "no SCT, accepted because of --insecure-ignore-sct") {
		t.Fatalf("no SCT, waived: %+v", r)
	}
	if r := dossier(t, "", "verify", ref, "--trusted-root", rootFile, "--certificate-identity", id); r.code != ExitError || !strings.Contains(r.stderr, "--certificate-oidc-issuer") {
		t.Fatalf("issuer is mandatory: %+v", r)
	}
	if r := dossier(t, "", "verify", ref, "--trusted-root", filepath.Join(dir, "absent.json"), "--certificate-identity", id, "--certificate-oidc-issuer", issuer); r.code != ExitError || !strings.Contains(r.stderr, "trusted root") {
		t.Fatalf("missing trusted root: %+v", r)
	}
}

func TestSignKeylessNeedsAnIdentity(t *testing.T) {
	t.Setenv("SIGSTORE_ID_TOKEN", "")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "")
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	ref := host + "/team/app:v1"
	if r := dossier(t, "", "sign", ref, "--keyless"); r.code != ExitError || !strings.Contains(r.stderr, "no OIDC identity token") {
		t.Fatalf("keyless without a token: %+v", r)
	}
	if r := dossier(t, "", "sign", ref); r.code != ExitError || !strings.Contains(r.stderr, "--key FILE or --keyless") {
		t.Fatalf("sign without a signer: %+v", r)
	}
	// a Fulcio-API CA on 127.0.0.1 issues the certificate; the log is down,
	// so nothing is stored and the error names it
	fulcio := testutil.StartFulcio(t, testutil.NewSigstore(t))
	token := testutil.IDToken("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com")
	r := dossier(t, "", "sign", ref, "--keyless", "--identity-token", token, "--fulcio-url", fulcio.URL, "--rekor-url", "http://127.0.0.1:1")
	if r.code != ExitError || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Fatalf("keyless with the log down: %+v", r)
	}
	if r := dossier(t, "", "tree", ref, "-o", "json"); r.code != 0 || strings.Contains(r.stdout, "signature") {
		t.Fatalf("a failed keyless signing stored something: %+v", r)
	}
}

// TestKeylessSignAndVerifyOverHTTP runs `dossier sign --keyless` against a
// Fulcio-API CA and a Rekor-API log on 127.0.0.1 (sigstore-go's real HTTP
// clients), then verifies offline with a trusted root file; and logs a
// key-based signature with --rekor-url.
func TestKeylessSignAndVerifyOverHTTP(t *testing.T) {
	vs := testutil.NewSigstore(t)
	fulcio := testutil.StartFulcio(t, vs)
	rekor := testutil.StartRekor(t, vs.VS)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(rootFile, vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/acme/app:v1")
	ref := host + "/acme/app:v1"
	const id = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	const issuer = "https://token.actions.githubusercontent.com"
	t.Setenv("SIGSTORE_ID_TOKEN", testutil.IDToken(id, issuer))
	if r := dossier(t, "", "sign", ref, "--keyless", "--fulcio-url", fulcio.URL, "--rekor-url", rekor.URL); r.code != 0 {
		t.Fatalf("sign --keyless: %+v", r)
	}
	r := dossier(t, "", "verify", ref, "--trusted-root", rootFile, "--certificate-identity", id, "--certificate-oidc-issuer", issuer, "-o", "json")
	var v []verifyResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || len(v) != 1 || len(v[0].Signatures) != 1 {
		t.Fatalf("verify keyless: %+v", r)
	}
	if s := v[0].Signatures[0]; s.Signer.Identity != id || s.Signer.Issuer != issuer || s.LogIndex == nil || s.SigningTime == nil || s.TransparencyLogSkipped {
		t.Fatalf("verify keyless: %+v", s)
	}
	r = dossier(t, "", "verify", ref, "--trusted-root", rootFile, "--certificate-identity", strings.Replace(id, "/acme/", "/acme-evil/", 1), "--certificate-oidc-issuer", issuer)
	if r.code != ExitGateFailed || !strings.Contains(r.stderr, "but the policy requires https://github.com/acme-evil/") {
		t.Fatalf("look-alike identity: %+v", r)
	}

	// key-based, logged in the transparency log too
	t.Setenv("DOSSIER_PASSWORD", "pw")
	key := generateKey(t, dir, "k")
	testutil.PushSample(t, "go-app", host+"/acme/logged:v1")
	before := rekor.Entries()
	if r := dossier(t, "", "sign", host+"/acme/logged:v1", "--key", key+".key", "--rekor-url", rekor.URL); r.code != 0 {
		t.Fatalf("sign --key --rekor-url: %+v", r)
	}
	if rekor.Entries() != before+1 {
		t.Fatalf("sign --key --rekor-url made %d log entries, want 1", rekor.Entries()-before)
	}
	if r := dossier(t, "", "verify", host+"/acme/logged:v1", "--key", key+".pub"); r.code != 0 {
		t.Fatalf("verify the logged key-based signature: %+v", r)
	}
}
