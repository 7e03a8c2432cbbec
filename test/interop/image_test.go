package interop

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// dossier eats its own cooking: its container image, built by
// build/image (go build and go-containerregistry, no container engine),
// is pushed to dossier's own registry, then catalogued, scanned, signed
// and SBOM-attested by dossier pipeline; cosign verifies the signature
// and the SBOM attestation, and the SBOM lists dossier's Go modules.
func TestDossierImage(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "image-pass")
	dir := t.TempDir()
	host, token := startDossierRegistry(t)
	dockerLogin(t, host, token) // build/image and cosign read the Docker config
	ref := host + "/dossier/dossier:test"
	build := exec.Command("go", "run", "./build/image", "--push", ref, "--insecure", "--layout", filepath.Join(dir, "layout"))
	build.Dir = testutil.RepoRoot()
	out, err := build.Output()
	if err != nil {
		t.Fatalf("build/image: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	digest := strings.TrimSpace(string(out))
	data := filepath.Join(dir, "data")
	vd := testutil.VulnData(t)
	if code, _, errOut := runDossier(t, "db", "import", "--data-dir", data, filepath.Join(vd, "osv", "Go", "all.zip")); code != 0 {
		t.Fatalf("db import: %s", errOut)
	}
	key := filepath.Join(dir, "release")
	if code, _, errOut := runDossier(t, "key", "generate", "--output-prefix", key); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	// the index's image for this machine's platform
	code, stdout, errOut := runDossier(t, "pipeline", ref, "--key", key+".key", "--data-dir", data, "--provenance",
		"--builder-id", "https://github.com/dossier-dev/dossier/build/image", "--source-uri", "git+https://github.com/dossier-dev/dossier", "--source-digest", strings.Repeat("0", 40))
	if code != 0 {
		t.Fatalf("pipeline on dossier's image (%s): %s\n%s", digest, stdout, errOut)
	}
	// the SBOM describes the image of this machine's platform, the
	// signature the index
	platformImage := host + "/dossier/dossier@" + platformDigest(t, filepath.Join(dir, "layout"))
	for _, cmd := range [][]string{
		{"verify", "--key", key + ".pub", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", ref},
		{"verify-attestation", "--key", key + ".pub", "--type", "cyclonedx", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", platformImage},
	} {
		if out, err := runCosign(t, cmd...); err != nil {
			t.Errorf("cosign %s of dossier's image: %v\n%s", cmd[0], err, out)
		}
	}
	code, stdout, _ = runDossier(t, "query", "component", "pkg:golang/github.com/google/go-containerregistry", "--data-dir", data, "-o", "json")
	if code != 0 || !strings.Contains(stdout, host+"/dossier/dossier") {
		t.Errorf("the image's SBOM does not list go-containerregistry: %s", stdout)
	}
}

// platformDigest is the digest of the one image of the index an OCI
// layout holds.
func platformDigest(t *testing.T, dir string) string {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := root.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("layout index: %+v %v", m, err)
	}
	idx, err := root.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if m, err = idx.IndexManifest(); err != nil || len(m.Manifests) != 1 {
		t.Fatalf("image index: %+v %v", m, err)
	}
	return m.Manifests[0].Digest.String()
}
