package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func TestPipeline(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	data := importedDataDir(t)
	dir := t.TempDir()
	key := generateKey(t, dir, "release")
	outputs := filepath.Join(dir, "github-output")
	t.Setenv("GITHUB_OUTPUT", outputs)
	host := testutil.Registry(t)
	digest := testutil.PushSample(t, "npm-app", host+"/team/rel:v1")
	ref := host + "/team/rel:v1"
	dotenv := filepath.Join(dir, "gitlab.env")
	r := dossier(t, "", "pipeline", ref, "--key", key+".key", "--data-dir", data, "--provenance", "--dotenv", dotenv,
		"--builder-id", "https://ci.example/builder", "--source-uri", "git+https://example.com/app@refs/tags/v1", "--source-digest", "0123456789abcdef0123456789abcdef01234567")
	if r.code != 0 {
		t.Fatalf("pipeline: %+v", r)
	}
	for _, want := range []string{"digest          " + host + "/team/rel@" + digest, "signer          key sha256:", "scan-summary    2 findings: 1 critical, 1 high", "provenance      sha256:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for i, step := range []string{"sbom", "scan", "sign", "attest sbom", "attest scan", "provenance", "record"} {
		if !strings.Contains(r.stderr, "] "+step+"\n") {
			t.Errorf("step %d %s not reported:\n%s", i, step, r.stderr)
		}
	}
	gh, err := os.ReadFile(outputs)
	if err != nil || !strings.Contains(string(gh), "digest="+host+"/team/rel@"+digest+"\n") || !strings.Contains(string(gh), "scan-summary=2 findings: 1 critical, 1 high\n") {
		t.Errorf("GITHUB_OUTPUT: %q %v", gh, err)
	}
	env, err := os.ReadFile(dotenv)
	if err != nil || !strings.Contains(string(env), "DOSSIER_DIGEST="+host+"/team/rel@"+digest+"\n") || !strings.Contains(string(env), "DOSSIER_SCAN_SUMMARY=2 findings: 1 critical, 1 high\n") {
		t.Errorf("dotenv: %q %v", env, err)
	}
	// what it made verifies with the public key
	if r := dossier(t, "", "verify", ref, "--key", key+".pub"); r.code != 0 {
		t.Errorf("verify: %+v", r)
	}
	for _, typ := range []string{"cyclonedx", "vuln", "slsaprovenance1"} {
		if r := dossier(t, "", "verify-attestation", ref, "--type", typ, "--key", key+".pub"); r.code != 0 {
			t.Errorf("verify-attestation %s: %+v", typ, r)
		}
	}
	r = dossier(t, "", "query", "digest", ref, "--data-dir", data, "-o", "json")
	var d store.Dossier
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || len(d.Signatures) != 1 || len(d.Attestations) != 3 || len(d.Findings) != 2 {
		t.Errorf("recorded: %.400s %s", r.stdout, r.stderr)
	}

	// a failed gate: nothing signed, recorded as failing
	gated := host + "/team/gated:v1"
	testutil.PushSample(t, "npm-app", gated)
	r = dossier(t, "", "pipeline", gated, "--key", key+".key", "--data-dir", data, "--fail-on", "high")
	if r.code != ExitGateFailed || !strings.Contains(r.stderr, "nothing was signed") || strings.Contains(r.stderr, "] sign\n") {
		t.Fatalf("gate: %+v", r)
	}
	if r := dossier(t, "", "verify", gated, "--key", key+".pub"); r.code != ExitGateFailed {
		t.Errorf("a gated image was signed: %+v", r)
	}
	r = dossier(t, "", "query", "digest", gated, "--data-dir", data, "-o", "json")
	d = store.Dossier{}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || len(d.Decisions) != 1 || d.Decisions[0].Allowed || len(d.Signatures) != 0 {
		t.Errorf("gated record: %.400s %s", r.stdout, r.stderr)
	}
	if r := dossier(t, "", "pipeline", gated, "--data-dir", data); r.code != ExitError || !strings.Contains(r.stderr, "--key FILE or --keyless") {
		t.Errorf("no signer: %+v", r)
	}
}

// A multi-platform image, in a registry and in a layout: the index is
// signed, the catalogued platform's manifest carries the SBOM and scan
// attestations, and the index's dossier holds them all.
func TestPipelineOfAnIndex(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	data := importedDataDir(t)
	key := generateKey(t, t.TempDir(), "release")
	host := testutil.Registry(t)
	testutil.PushSample(t, "go-app", host+"/team/multi:v1")
	for _, ref := range []string{host + "/team/multi:v1", "oci-layout:" + testutil.CopyLayout(t, "go-app") + ":latest"} {
		if r := dossier(t, "", "pipeline", ref, "--key", key+".key", "--data-dir", data); r.code != 0 {
			t.Fatalf("pipeline %s: %+v", ref, r)
		}
		r := dossier(t, "", "query", "digest", ref, "--data-dir", data, "-o", "json")
		var d store.Dossier
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || len(d.Signatures) != 1 || len(d.Attestations) != 2 || d.Platform != "linux/amd64" ||
			d.Attestations[0].Subject.Digest == d.Subject.Digest {
			t.Errorf("%s recorded: %.600s %s", ref, r.stdout, r.stderr)
		}
	}
}
