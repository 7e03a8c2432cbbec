package cli

// Attacks on `policy check --attest` (d6097b8) and on the verification
// summaries a SupplyChainPolicy accepts (b6eb843), against a real registry
// with real keys and signatures. A test that fails shows a weakness of the
// current code; one that passes keeps an attack that did not work.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

const attackVerifier = "https://ci.example/gates/release"

// readSummary is a verification summary as verify-attestation prints it.
type readSummary struct {
	Predicate struct {
		TimeVerified   time.Time `json:"timeVerified"`
		ResourceURI    string    `json:"resourceUri"`
		VerifiedLevels []string  `json:"verifiedLevels"`
	} `json:"predicate"`
}

// summariesOn reads back every verification summary on ref that verifies
// with pub.
func summariesOn(t *testing.T, ref, pub string) []readSummary {
	t.Helper()
	r := dossier(t, "", "verify-attestation", ref, "--type", "vsa", "--key", pub)
	if r.code == ExitGateFailed {
		return nil
	}
	var out []readSummary
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("verify-attestation %s: %+v", ref, r)
	}
	return out
}

// repository opens ref's repository and the descriptor ref resolves to.
func repository(t *testing.T, ref string) (oci.Repository, v1.Descriptor) {
	t.Helper()
	src, err := oci.ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := art.Repository()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := art.SubjectDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	return repo, desc
}

// summaryBundles are the Sigstore bundles attached to desc whose statement
// is a verification summary, as stored.
func summaryBundles(t *testing.T, repo oci.Repository, desc v1.Descriptor) [][]byte {
	t.Helper()
	ctx := context.Background()
	refs, err := repo.Referrers(ctx, desc, sign.BundleMediaType)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range refs {
		raw, err := repo.Fetch(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) != 1 {
			continue
		}
		bundle, err := repo.Fetch(ctx, m.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			DSSE struct {
				Payload []byte `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		var st struct {
			PredicateType string `json:"predicateType"`
		}
		if json.Unmarshal(bundle, &b) == nil && json.Unmarshal(b.DSSE.Payload, &st) == nil && st.PredicateType == evidence.PredicateVSA {
			out = append(out, bundle)
		}
	}
	return out
}

// attachLegacy stores envelope (a DSSE envelope) under subject's cosign
// .att tag, as cosign's legacy layout does.
func attachLegacy(t *testing.T, repo oci.Repository, subject v1.Hash, envelope []byte, predicateType string) {
	t.Helper()
	ctx := context.Background()
	config := []byte("{}")
	cd := oci.Descriptor("application/vnd.oci.image.config.v1+json", config)
	ld := oci.Descriptor("application/vnd.dsse.envelope.v1+json", envelope)
	ld.Annotations = map[string]string{"predicateType": predicateType}
	for _, b := range []struct {
		d v1.Descriptor
		c []byte
	}{{cd, config}, {ld, envelope}} {
		if err := repo.Push(ctx, b.d, b.c); err != nil {
			t.Fatal(err)
		}
	}
	m, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{ld}})
	if err != nil {
		t.Fatal(err)
	}
	md := oci.Descriptor(types.OCIManifestSchema1, m)
	if err := repo.Push(ctx, md, m); err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, md, oci.LegacyTag(subject, "att")); err != nil {
		t.Fatal(err)
	}
}

func clusterPolicy(host, level string) string {
	return fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: cluster}
spec:
  images: ["%s/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
    - name: gate
      key: {file: gate.pub}
  rules:
    - name: sbom
      attestation: {predicateType: cyclonedx, signers: [release]}
  verificationSummaries:
    - verifier: %s
      signers: [gate]
      maxAge: 1h
      levels: [%s]
      rules: [sbom]
`, host, attackVerifier, level)
}

const requireSignedGate = `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  images: ["%s/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {signers: [release]}
`

// A genuine summary the gate signed for digest X, replayed onto digest Y —
// as Y's referrer, and as a DSSE envelope under Y's legacy .att tag — is
// refused: its statement names X. A summary the gate's key signed about Y
// whose resourceUri names X, a summary by the release key (trusted for
// signatures only), and a summary-shaped predicate of another type are
// refused too.
func TestSummaryAttackReplayAndForgedFields(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	release := generateKey(t, dir, "release")
	gate := generateKey(t, dir, "gate")
	host := testutil.Registry(t)
	x := testutil.PushSample(t, "npm-app", host+"/team/x:v1")
	y := testutil.PushSample(t, "debian", host+"/team/y:v1")
	if r := dossier(t, "", "sign", host+"/team/x:v1", "--key", release+".key"); r.code != 0 {
		t.Fatal(r)
	}
	gatePolicy := writeFile(t, filepath.Join(dir, "gate.yaml"), fmt.Sprintf(requireSignedGate, host))
	if r := dossier(t, "", "policy", "check", host+"/team/x:v1", "--policy", gatePolicy, "--attest", "--key", gate+".key", "--verifier-id", attackVerifier); r.code != 0 {
		t.Fatalf("gate: %+v", r)
	}
	cluster := writeFile(t, filepath.Join(dir, "cluster.yaml"), clusterPolicy(host, "DOSSIER_REQUIRE_SIGNED_SIGNED"))
	if r := dossier(t, "", "policy", "check", host+"/team/x:v1", "--policy", cluster); r.code != 0 {
		t.Fatalf("the genuine summary on X: %+v", r)
	}

	xRepo, xDesc := repository(t, host+"/team/x:v1")
	bundles := summaryBundles(t, xRepo, xDesc)
	if len(bundles) != 1 {
		t.Fatalf("want X's one summary, have %d", len(bundles))
	}
	yRepo, yDesc := repository(t, host+"/team/y:v1")
	if yDesc.Digest.String() != y || xDesc.Digest.String() != x {
		t.Fatalf("digests: %s %s", xDesc.Digest, yDesc.Digest)
	}
	// as Y's referrer
	if _, err := sign.StoreBundle(context.Background(), yRepo, yDesc, bundles[0], evidence.PredicateVSA, time.Now()); err != nil {
		t.Fatal(err)
	}
	// as a DSSE envelope under Y's .att tag
	var b struct {
		DSSE json.RawMessage `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundles[0], &b); err != nil {
		t.Fatal(err)
	}
	attachLegacy(t, yRepo, yDesc.Digest, b.DSSE, evidence.PredicateVSA)
	r := dossier(t, "", "policy", "check", host+"/team/y:v1", "--policy", cluster, "-o", "json")
	if r.code != ExitGateFailed {
		t.Fatalf("X's summary replayed onto Y: %+v", r)
	}
	if n := len(summariesOn(t, host+"/team/y:v1", gate+".pub")); n != 0 {
		t.Errorf("X's summary verified on Y %d times", n)
	}

	// the gate's key signs a summary about Y that names X as its resource
	forged := writeFile(t, filepath.Join(dir, "forged.json"), fmt.Sprintf(`{"verifier":{"id":%q},"timeVerified":%q,"resourceUri":%q,
		"policy":{"uri":"urn:dossier:policies:require-signed","digest":{"sha256":"00"}},"verificationResult":"PASSED",
		"verifiedLevels":["DOSSIER_REQUIRE_SIGNED_SIGNED"],"slsaVersion":"1.0"}`, attackVerifier, time.Now().UTC().Format(time.RFC3339), host+"/team/x@"+x))
	if r := dossier(t, "", "attest", host+"/team/y:v1", "--type", "vsa", "--predicate", forged, "--key", gate+".key"); r.code != 0 {
		t.Fatal(r)
	}
	if r := dossier(t, "", "policy", "check", host+"/team/y:v1", "--policy", cluster); r.code != ExitGateFailed || !strings.Contains(r.stdout, "is about "+host+"/team/x@"+x) {
		t.Fatalf("a summary about Y naming X: %+v", r)
	}

	// the release key (trusted for the signature rule) signs a summary of
	// its own, and the gate's key signs one as another predicate type
	z := testutil.PushSample(t, "go-app", host+"/team/z:v1")
	good := writeFile(t, filepath.Join(dir, "good.json"), fmt.Sprintf(`{"verifier":{"id":%q},"timeVerified":%q,"resourceUri":%q,
		"policy":{"uri":"urn:dossier:policies:require-signed","digest":{"sha256":"00"}},"verificationResult":"PASSED",
		"verifiedLevels":["DOSSIER_REQUIRE_SIGNED_SIGNED"],"slsaVersion":"1.0"}`, attackVerifier, time.Now().UTC().Format(time.RFC3339), host+"/team/z@"+z))
	if r := dossier(t, "", "attest", host+"/team/z:v1", "--type", "vsa", "--predicate", good, "--key", release+".key"); r.code != 0 {
		t.Fatal(r)
	}
	if r := dossier(t, "", "attest", host+"/team/z:v1", "--type", "custom", "--predicate", good, "--key", gate+".key"); r.code != 0 {
		t.Fatal(r)
	}
	if r := dossier(t, "", "attest", host+"/team/z:v1", "--type", "https://slsa.dev/verification_summary/v0.2", "--predicate", good, "--key", gate+".key"); r.code != 0 {
		t.Fatal(r)
	}
	if r := dossier(t, "", "policy", "check", host+"/team/z:v1", "--policy", cluster); r.code != ExitGateFailed {
		t.Fatalf("a summary by the release key, or of another type by the gate's: %+v", r)
	}
}

// The gate summarises only what passed: a denied image (one policy of
// several failing) gets no summary; an audit policy's failure and an
// exception's waiver are no level; --allow-unmatched gets none.
func TestSummaryAttackGatePublishesOnlyWhatPassed(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	release := generateKey(t, dir, "release")
	gate := generateKey(t, dir, "gate")
	host := testutil.Registry(t)
	npm := testutil.PushSample(t, "npm-app", host+"/team/npm:v1")
	testutil.PushSample(t, "debian", host+"/other/app:v1")
	if r := dossier(t, "", "sign", host+"/team/npm:v1", "--key", release+".key"); r.code != 0 {
		t.Fatal(r)
	}
	policies := writeFile(t, filepath.Join(dir, "gate.yaml"), fmt.Sprintf(requireSignedGate, host)+fmt.Sprintf(`---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: audit-sbom}
spec:
  mode: audit
  images: ["%[1]s/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: sbom
      attestation: {predicateType: cyclonedx, signers: [release]}
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: waived}
spec:
  images: ["%[1]s/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: provenance
      attestation: {predicateType: slsaprovenance1, signers: [release]}
`, host))
	exceptions := writeFile(t, filepath.Join(dir, "exceptions.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: no-provenance-yet}
spec:
  owner: team
  imageDigest: %s/team/npm@%s
  reason: the builder is being moved
  expiresAt: "%s"
  waives: {policies: [waived/provenance]}
`, host, npm, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)))
	r := dossier(t, "", "policy", "check", host+"/team/npm:v1", host+"/other/app:v1", "--allow-unmatched", "--policy", policies, "--exceptions", exceptions,
		"--attest", "--key", gate+".key", "--verifier-id", attackVerifier)
	if r.code != 0 {
		t.Fatalf("gate: %+v", r)
	}
	got := summariesOn(t, host+"/team/npm:v1", gate+".pub")
	if len(got) != 1 || !slices.Equal(got[0].Predicate.VerifiedLevels, []string{"DOSSIER_REQUIRE_SIGNED_SIGNED"}) {
		t.Fatalf("levels: %+v", got)
	}
	if got := summariesOn(t, host+"/other/app:v1", gate+".pub"); len(got) != 0 {
		t.Errorf("an unmatched image was summarised: %+v", got)
	}
	for _, level := range []string{"DOSSIER_AUDIT_SBOM_SBOM", "DOSSIER_WAIVED_PROVENANCE"} {
		cluster := writeFile(t, filepath.Join(dir, "cluster.yaml"), clusterPolicy(host, level))
		if r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", cluster); r.code != ExitGateFailed {
			t.Errorf("%s accepted: %+v", level, r)
		}
	}
	// an enforcing policy that fails denies: no summary at all
	strict := writeFile(t, filepath.Join(dir, "strict.yaml"), strings.Replace(readText(t, policies), "mode: audit", "mode: enforce", 1))
	r = dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", strict, "--exceptions", exceptions, "--attest", "--key", gate+".key", "--verifier-id", attackVerifier)
	if r.code != ExitGateFailed || strings.Contains(r.stderr, "published") {
		t.Fatalf("a denied decision: %+v", r)
	}
	if got := summariesOn(t, host+"/team/npm:v1", gate+".pub"); len(got) != 1 {
		t.Errorf("a denied decision was summarised: %d summaries", len(got))
	}
}

// Levels are DOSSIER_<POLICY>_<RULE> with every run of other characters
// spelled "_": policy "payments" rule "release-signed" and policy
// "payments-release" rule "signed" are the same level. The gate's set
// holds both; the second does not even match the image, and the first is
// satisfied by a developer's key. The summary carries
// DOSSIER_PAYMENTS_RELEASE_SIGNED, and a cluster that requires that level
// — meaning payments-release/signed, the release key's signature — admits
// an image the release key never signed.
func TestSummaryAttackLevelCollision(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	generateKey(t, dir, "release")
	dev := generateKey(t, dir, "dev")
	gate := generateKey(t, dir, "gate")
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/npm:v1")
	if r := dossier(t, "", "sign", host+"/team/npm:v1", "--key", dev+".key"); r.code != 0 {
		t.Fatal(r)
	}
	policies := writeFile(t, filepath.Join(dir, "gate.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: payments-release}
spec:
  images: ["%[1]s/prod/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {signers: [release]}
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: payments}
spec:
  images: ["%[1]s/team/**"]
  signers:
    - name: dev
      key: {file: dev.pub}
  rules:
    - name: release-signed
      signature: {signers: [dev]}
`, host))
	r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", policies, "--attest", "--key", gate+".key", "--verifier-id", attackVerifier)
	if r.code != 0 && r.code != ExitError {
		t.Fatalf("gate: %+v", r)
	}
	if got := summariesOn(t, host+"/team/npm:v1", gate+".pub"); len(got) > 0 {
		t.Logf("published levels %v (payments-release never matched this image)", got[0].Predicate.VerifiedLevels)
	}
	cluster := writeFile(t, filepath.Join(dir, "cluster.yaml"), clusterPolicy(host, "DOSSIER_PAYMENTS_RELEASE_SIGNED"))
	if r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", cluster); r.code != ExitGateFailed {
		t.Errorf("the cluster admits on a level another policy and rule spell: %s", r.stdout)
	}
}

// A gate whose own policy accepts summaries (the cluster's policy run in
// CI as the gate, as docs suggest the same documents drive both) publishes
// a fresh summary for a rule that passed only on an older summary: the
// judgement is re-stamped with a new timeVerified at every run, so maxAge
// never runs out. Here the release key is rotated (compromised): the
// policy now trusts only the new key, yet the image signed by the old key
// gets a fresh DOSSIER_CLUSTER_SIGNED, and would for ever.
func TestSummaryAttackSummaryLaundering(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	old := generateKey(t, dir, "old")
	generateKey(t, dir, "new")
	gate := generateKey(t, dir, "gate")
	host := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", host+"/team/npm:v1")
	if r := dossier(t, "", "sign", host+"/team/npm:v1", "--key", old+".key"); r.code != 0 {
		t.Fatal(r)
	}
	policy := func(key string) string {
		return fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: cluster}
spec:
  images: ["%s/team/**"]
  signers:
    - name: release
      key: {file: %s.pub}
    - name: gate
      key: {file: gate.pub}
  rules:
    - name: signed
      signature: {signers: [release]}
  verificationSummaries:
    - verifier: %s
      signers: [gate]
      maxAge: 1h
      levels: [DOSSIER_CLUSTER_SIGNED]
      rules: [signed]
`, host, key, attackVerifier)
	}
	before := writeFile(t, filepath.Join(dir, "before.yaml"), policy("old"))
	if r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", before, "--attest", "--key", gate+".key", "--verifier-id", attackVerifier); r.code != 0 {
		t.Fatalf("gate before the rotation: %+v", r)
	}
	first := summariesOn(t, host+"/team/npm:v1", gate+".pub")
	if len(first) != 1 {
		t.Fatalf("first summary: %+v", first)
	}
	time.Sleep(1100 * time.Millisecond) // a later timeVerified (RFC 3339 seconds)
	after := writeFile(t, filepath.Join(dir, "after.yaml"), policy("new"))
	r := dossier(t, "", "policy", "check", host+"/team/npm:v1", "--policy", after, "--attest", "--key", gate+".key", "--verifier-id", attackVerifier)
	t.Logf("gate after the rotation: exit %d\n%s", r.code, r.stdout)
	var fresh []readSummary
	for _, s := range summariesOn(t, host+"/team/npm:v1", gate+".pub") {
		if slices.Contains(s.Predicate.VerifiedLevels, "DOSSIER_CLUSTER_SIGNED") && s.Predicate.TimeVerified.After(first[0].Predicate.TimeVerified) {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) > 0 {
		t.Errorf("the rule passed only on the old summary, yet the gate re-stamped it: DOSSIER_CLUSTER_SIGNED verified %s (first verified %s)",
			fresh[0].Predicate.TimeVerified.Format(time.RFC3339), first[0].Predicate.TimeVerified.Format(time.RFC3339))
	}
}

// With --platform the gate scans one image of an index, but its summary is
// attached to the index's digest and says the vulnerability rule passed:
// a cluster accepting the summary admits the index — and its arm64 image,
// whose lodash the gate never looked at — where, verifying the rule
// itself, it scans every platform and denies.
func TestSummaryAttackPlatformNarrowedSummary(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	gate := generateKey(t, dir, "gate")
	host := testutil.Registry(t)
	idx, desc := testutil.SampleTagged(t, "npm-app")
	vulnerable, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	index := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: clean, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: vulnerable, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	ref, err := name.ParseReference(host+"/team/multi:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, index); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if r := dossier(t, "", "db", "import", "--data-dir", data, filepath.Join(testutil.VulnData(t), "records", "ghsa", "GHSA-35jh-r3h4-6jhm.json")); r.code != 0 {
		t.Fatal(r)
	}
	gatePolicy := writeFile(t, filepath.Join(dir, "gate.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  images: ["%s/team/**"]
  rules:
    - name: no-high
      vulnerabilities: {failOn: high}
`, host))
	if r := dossier(t, "", "policy", "check", host+"/team/multi:v1", "--policy", gatePolicy, "--data-dir", data); r.code != ExitGateFailed || !strings.Contains(r.stdout, "GHSA-35jh-r3h4-6jhm") {
		t.Fatalf("the index, every platform: %+v", r)
	}
	r := dossier(t, "", "policy", "check", host+"/team/multi:v1", "--policy", gatePolicy, "--data-dir", data, "--platform", "linux/amd64",
		"--attest", "--key", gate+".key", "--verifier-id", attackVerifier)
	t.Logf("gate with --platform linux/amd64: exit %d, %s", r.code, strings.TrimSpace(r.stderr))
	cluster := writeFile(t, filepath.Join(dir, "cluster.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: cluster}
spec:
  images: ["%s/team/**"]
  signers:
    - name: gate
      key: {file: gate.pub}
  rules:
    - name: no-high
      vulnerabilities: {failOn: high}
  verificationSummaries:
    - verifier: %s
      signers: [gate]
      maxAge: 1h
      levels: [DOSSIER_RELEASE_NO_HIGH]
      rules: [no-high]
`, host, attackVerifier))
	if r := dossier(t, "", "policy", "check", host+"/team/multi:v1", "--policy", cluster, "--data-dir", data); r.code != ExitGateFailed {
		t.Errorf("the cluster admits the index on a summary of its amd64 image alone:\n%s", r.stdout)
	}
}
