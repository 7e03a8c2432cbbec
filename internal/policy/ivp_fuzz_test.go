package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// FuzzImageValidatingPolicy feeds arbitrary documents to the
// ImageValidatingPolicy loader: it must load or refuse, never panic, and
// what loads must decide (within its cost limit) on evidence that
// exercises every verify function.
func FuzzImageValidatingPolicy(f *testing.F) {
	for _, path := range []string{"testdata/kyverno/ivp-check-signed.yaml", "testdata/kyverno/ivp-notary.yaml", "testdata/kyverno/ivp-slsa.yaml"} {
		f.Add(must(os.ReadFile(path)))
	}
	f.Add([]byte(ivpHeader + "  attestors: [{name: k, cosign: {keyless: {identities: [{issuer: i, subjectRegExp: \"^s$\"}]}}}]\n" +
		"  attestations: [{name: p, intoto: {type: https://slsa.dev/provenance/v1}}]\n" +
		"  variables: [{name: n, expression: \"verifyAttestationSignatures(images.containers[0], attestations.p, [attestors.k])\"}]\n" +
		"  validations: [{expression: \"variables.n > 0 && extractPayload(images.containers[0], attestations.p).predicate.x == 1\", messageExpression: \"'bad ' + images.containers[0]\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data, LoadOptions{})
		if err != nil {
			return
		}
		ev := fullEvidence(t)
		ev.Reference = "registry.example/acme/payments:v1"
		ev.Attestations = append(ev.Attestations, slsa1(evidence.Signer{Identity: release, Issuer: ghIssuer}, "sha256:dddd", provenancePredicate(release, "https://github.com/acme/payments"), now))
		set := &Set{Policies: docs.Policies}
		set.Needs(ev)
		Evaluate(set, ev, now)
	})
}

// ivpBenchPolicies are the requirement of kyvernoBenchPolicies (a
// signature by the release key, a SLSA provenance by the release workflow
// whose builder is the release workflow) as an ImageValidatingPolicy,
// and the same as a SupplyChainPolicy.
func ivpBenchPolicies(b *testing.B) (ivp, native *Set) {
	key := strings.TrimSpace(string(must(os.ReadFile("testdata/release.pub"))))
	doc := ivpHeader + "  validationConfigurations: {required: false}\n  attestors:\n" +
		"    - {name: release, cosign: {key: {data: \"" + strings.ReplaceAll(key, "\n", `\n`) + "\"}, ctlog: {insecureIgnoreTlog: true}}}\n" +
		"    - {name: ci, cosign: {keyless: {identities: [{issuer: \"" + ghIssuer + "\", subject: \"" + slsaBuilder + "\"}]}}}\n" +
		"  attestations: [{name: slsa, intoto: {type: https://slsa.dev/provenance/v0.2}}]\n" +
		"  validations:\n" +
		"    - {expression: \"images.containers.map(image, verifyImageSignatures(image, [attestors.release])).all(e, e > 0)\"}\n" +
		"    - {expression: \"images.containers.map(image, verifyAttestationSignatures(image, attestations.slsa, [attestors.ci])).all(e, e > 0)\"}\n" +
		"    - {expression: \"images.containers.all(image, extractPayload(image, attestations.slsa).predicate.builder.id == '" + slsaBuilder + "')\"}\n"
	docs, err := Parse("bench.yaml", []byte(doc), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	_, native = kyvernoBenchPolicies(b)
	return &Set{Policies: docs.Policies}, native
}

func benchmarkIVP(b *testing.B, cel bool) {
	ivp, native := ivpBenchPolicies(b)
	set := native
	if cel {
		set = ivp
	}
	_, fp, err := publicKey(string(must(os.ReadFile("testdata/release.pub"))))
	if err != nil {
		b.Fatal(err)
	}
	att := slsa02(evidence.Signer{Identity: slsaBuilder, Issuer: ghIssuer}, slsaBuilder)
	att.Provenance = &evidence.Provenance{BuilderID: slsaBuilder}
	ev := kyvernoEvidence("registry.example/acme/payments:v1", signedBy(evidence.Signer{KeyFingerprint: fp}), []evidence.Attestation{att})
	b.ReportAllocs()
	for b.Loop() {
		if d := Evaluate(set, ev, now); !d.Allowed {
			b.Fatalf("denied: %+v", d.Rules)
		}
	}
}

// BenchmarkEvaluateImageValidatingPolicy and
// BenchmarkEvaluateImageValidatingNativeTwin decide the same requirement
// on the same evidence, as CEL validations and as dossier's own rules.
func BenchmarkEvaluateImageValidatingPolicy(b *testing.B)     { benchmarkIVP(b, true) }
func BenchmarkEvaluateImageValidatingNativeTwin(b *testing.B) { benchmarkIVP(b, false) }

// BenchmarkLoadImageValidatingPolicy is the cost of loading (and
// compiling) one policy: paid once per policy file read.
func BenchmarkLoadImageValidatingPolicy(b *testing.B) {
	data := must(os.ReadFile("testdata/kyverno/ivp-slsa.yaml"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", data, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
