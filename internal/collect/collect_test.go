package collect_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

var update = flag.Bool("update", false, "write the collected evidence to internal/policy/testdata/captured")

const (
	ghIssuer  = "https://token.actions.githubusercontent.com"
	release   = "https://github.com/acme/samples/.github/workflows/release.yml@refs/tags/v1.2.0"
	lookalike = "https://github.com/acme-evil/samples/.github/workflows/release.yml@refs/tags/v1.2.0"
)

var captured = filepath.Join(testutil.RepoRoot(), "internal", "policy", "testdata", "captured")

// localScan scans an artifact with the real advisory data: the SBOM made
// from the artifact, matched against the imported OSV records.
type localScan struct{ db *vulndb.DB }

func (s localScan) Scan(ctx context.Context, art *oci.Artifact) (*evidence.VulnerabilityEvidence, error) {
	doc, err := generate.Document(ctx, art, generate.Options{})
	if err != nil {
		return nil, err
	}
	r, err := scan.Scan(ctx, s.db, doc, scan.Config{Source: art.Source.Input})
	if err != nil {
		return nil, err
	}
	return r.Evidence(), nil
}

// setup pushes the samples into a registry on 127.0.0.1 and attaches
// evidence to them for real: a key signature, keyless signatures and
// attestations from sigstore-go's offline CA and log (the release workflow
// and a look-alike), and a signature by a key nobody trusts.
type setup struct {
	host     string
	set      *policy.Set
	trust    *sign.Trust
	scanner  localScan
	pubPEM   []byte
	registry interface{ Close() }
}

func newSetup(t *testing.T) *setup {
	ctx := context.Background()
	srv := testutil.RegistryServer(t)
	s := &setup{host: strings.TrimPrefix(srv.URL, "http://"), registry: srv}
	key, _ := sign.GenerateKeyPair()
	other, _ := sign.GenerateKeyPair()
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	s.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	dir := t.TempDir()
	policyYAML, err := os.ReadFile(filepath.Join(captured, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policyYAML, 0o644)
	os.WriteFile(filepath.Join(dir, "release.pub"), s.pubPEM, 0o644)
	docs, err := policy.Load(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s.set = &policy.Set{Policies: docs.Policies}
	vs := testutil.NewSigstore(t)
	if s.trust, err = collect.TrustFor(s.set, vs.TrustedRoot(t), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	vd := testutil.VulnData(t)
	if _, err := vulndb.Import(ctx, data, []string{filepath.Join(vd, "osv", "npm", "all.zip"), filepath.Join(vd, "osv", "Go", "all.zip")}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.scanner = localScan{db: db}

	push := func(sample, repo string) (oci.Repository, v1.Descriptor) {
		testutil.PushSample(t, sample, s.host+"/samples/"+repo+":v1")
		r, err := oci.OpenRegistry(s.host+"/samples/"+repo, oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := r.Resolve(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		return r, d
	}
	keyless := func(repo oci.Repository, d v1.Descriptor, identity, predicateType string, predicate json.RawMessage) {
		st, err := attest.Statement(d.Digest, predicateType, predicate, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sign.StoreBundle(ctx, repo, d, vs.KeylessBundle(t, st, identity, ghIssuer, true), predicateType, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	sbomPredicate, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "internal", "sbom", "testdata", "go-app.syft.cyclonedx-json-1.6.json"))
	if err != nil {
		t.Fatal(err)
	}
	provenance, err := attest.Provenance(map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/samples",
		"GITHUB_WORKFLOW_REF": "acme/samples/.github/workflows/release.yml@refs/tags/v1.2.0", "GITHUB_REF": "refs/tags/v1.2.0",
		"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_RUN_ID": "7", "GITHUB_EVENT_NAME": "push",
	}, attest.ProvenanceOptions{})
	if err != nil {
		t.Fatal(err)
	}

	repo, d := push("npm-app", "npm-app")
	if _, err := attest.SignImage(ctx, repo, d, nil, sign.NewKeySigner(key, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	push("npm-app", "unsigned")
	repo, d = push("go-app", "go-app")
	keyless(repo, d, release, evidence.PredicateSignatures, json.RawMessage(`{}`))
	keyless(repo, d, release, evidence.PredicateCycloneDX, sbomPredicate)
	keyless(repo, d, release, evidence.PredicateSLSA1, provenance)
	repo, d = push("debian", "debian")
	keyless(repo, d, lookalike, evidence.PredicateSignatures, json.RawMessage(`{}`))
	keyless(repo, d, lookalike, evidence.PredicateCycloneDX, sbomPredicate)
	repo, d = push("go-app", "wrong-key")
	if _, err := attest.SignImage(ctx, repo, d, nil, sign.NewKeySigner(other, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *setup) collect(t *testing.T, repo string) *evidence.Collected {
	t.Helper()
	ref := s.host + "/samples/" + repo + ":v1"
	src, err := oci.ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return collect.Collect(context.Background(), s.set, art, ref, collect.Options{Trust: s.trust, Scanner: s.scanner, Timeout: 10 * time.Second})
}

func TestCollectFromSamples(t *testing.T) {
	s := newSetup(t)
	cases := map[string]struct {
		repo  string
		check func(*testing.T, *evidence.Collected)
	}{
		"npm-app-key-signed": {"npm-app", func(t *testing.T, ev *evidence.Collected) {
			if len(ev.Signatures) != 1 || ev.Signatures[0].Signer.KeyFingerprint == "" || len(ev.Rejected) != 0 {
				t.Errorf("signatures: %+v %+v", ev.Signatures, ev.Rejected)
			}
			ids := map[string]bool{}
			for _, f := range ev.Vulnerabilities.Findings {
				ids[f.ID] = true
			}
			if !ids["GHSA-35jh-r3h4-6jhm"] || !ids["GHSA-xvch-5gv4-984h"] {
				t.Errorf("findings: %v", ids)
			}
		}},
		"npm-app-unsigned": {"unsigned", func(t *testing.T, ev *evidence.Collected) {
			if len(ev.Signatures) != 0 || len(ev.Attestations) != 0 || len(ev.Rejected) != 0 || len(ev.Unavailable) != 0 {
				t.Errorf("unsigned: %+v", ev)
			}
		}},
		"go-app-keyless": {"go-app", func(t *testing.T, ev *evidence.Collected) {
			if len(ev.Signatures) != 1 || ev.Signatures[0].Signer.Identity != release || ev.Signatures[0].LogIndex == nil {
				t.Errorf("signatures: %+v", ev.Signatures)
			}
			types := map[string]evidence.Attestation{}
			for _, a := range ev.Attestations {
				types[a.PredicateType] = a
			}
			if p := types[evidence.PredicateSLSA1].Provenance; p == nil || p.SourceRepository != "https://github.com/acme/samples" || p.Trigger != "push" {
				t.Errorf("provenance: %+v", p)
			}
			if _, ok := types[evidence.PredicateCycloneDX]; !ok || len(ev.Attestations) != 2 {
				t.Errorf("attestations: %+v", ev.Attestations)
			}
		}},
		"debian-lookalike": {"debian", func(t *testing.T, ev *evidence.Collected) {
			if len(ev.Signatures) != 1 || ev.Signatures[0].Signer.Identity != lookalike {
				t.Errorf("look-alike must be collected as itself: %+v", ev.Signatures)
			}
		}},
		"go-app-wrong-key": {"wrong-key", func(t *testing.T, ev *evidence.Collected) {
			if len(ev.Signatures) != 0 || len(ev.Rejected) != 1 || ev.Rejected[0].Kind != evidence.FailureUntrustedKey {
				t.Errorf("untrusted key: %+v %+v", ev.Signatures, ev.Rejected)
			}
		}},
	}
	capturedAt := time.Now().UTC().Truncate(time.Second)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ev := s.collect(t, c.repo)
			if ev.Vulnerabilities == nil {
				t.Fatalf("no scan: %+v", ev.Unavailable)
			}
			c.check(t, ev)
			if *update {
				writeCaptured(t, name, capturedAt, ev)
			}
		})
	}
	if *update {
		if err := os.WriteFile(filepath.Join(captured, "release.pub"), s.pubPEM, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Evidence that cannot be read is unavailable, so that the rules needing
// it fail: the registry goes away after the image was resolved.
func TestCollectRegistryDown(t *testing.T) {
	s := newSetup(t)
	ref := s.host + "/samples/npm-app:v1"
	src, _ := oci.ParseSource(ref)
	art, err := oci.Resolve(context.Background(), src, oci.RegistryOptions{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.registry.Close()
	ev := collect.Collect(context.Background(), s.set, art, ref, collect.Options{Trust: s.trust, Timeout: 5 * time.Second, NoScanner: "no advisory database"})
	for _, need := range []string{evidence.NeedSignatures, evidence.NeedAttestation(evidence.PredicateCycloneDX), evidence.NeedAttestation(evidence.PredicateSLSA1), evidence.NeedVulnerabilities} {
		if ev.Unavailable[need] == "" {
			t.Errorf("%s should be unavailable: %+v", need, ev.Unavailable)
		}
	}
	d := policy.Evaluate(s.set, ev, time.Now())
	if d.Allowed || len(d.Failed()) != 4 {
		t.Errorf("every rule must fail when its evidence cannot be read: %+v", d.Rules)
	}
	if *update {
		writeCaptured(t, "npm-app-registry-down", time.Now().UTC().Truncate(time.Second), ev)
	}
}

func writeCaptured(t *testing.T, name string, at time.Time, ev *evidence.Collected) {
	data, err := json.MarshalIndent(map[string]any{"capturedAt": at, "evidence": ev}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(captured, name+".json"), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
