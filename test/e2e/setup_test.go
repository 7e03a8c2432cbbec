// Package e2e runs dossier's admission webhook against a real Kubernetes
// control plane on 127.0.0.1: etcd, kube-apiserver and
// kube-controller-manager (installed by .ci/install-peers), the CNCF
// distribution registry holding the images, and dossier itself as a
// separate process, configured by `dossier webhook install --apply`.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/cli"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestMain lets the test binary run as dossier itself, so that the
// webhook is a process of its own that the suite can stop.
func TestMain(m *testing.M) {
	if os.Getenv("DOSSIER_E2E_RUN_DOSSIER") != "" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runDossier runs a dossier command in-process.
func runDossier(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(args, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// registry is the CNCF distribution registry, stoppable and restartable
// on the same address and storage for the rest of the test that started
// it (t).
type registry struct {
	t            *testing.T
	host, config string
	proc         *process
}

func startRegistry(t *testing.T) *registry { return startRegistryWith(t, "") }

// startRegistryWith starts the registry with more configuration (YAML).
func startRegistryWith(t *testing.T, more string) *registry {
	t.Helper()
	dir := t.TempDir()
	r := &registry{t: t, host: fmt.Sprintf("127.0.0.1:%d", freePort(t)), config: filepath.Join(dir, "config.yml")}
	config := fmt.Sprintf("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %q}\n",
		filepath.Join(dir, "data"), r.host) + more
	if err := os.WriteFile(r.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	return r
}

func (r *registry) start() {
	t := r.t
	t.Helper()
	r.proc = start(t, "registry", testutil.Peer(t, "registry"), cleanEnv(), "serve", r.config)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if r.proc.exited() || time.Now().After(deadline) {
			t.Fatalf("registry did not start: %v\n%s", err, r.proc.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The identities of the suite's offline Sigstore: the release workflow
// the policies trust, and a look-alike.
const (
	issuer          = "https://token.actions.githubusercontent.com"
	releaseIdentity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	evilIdentity    = "https://github.com/acme-evil/app/.github/workflows/release.yml@refs/tags/v1"
)

// images pushes the suite's images and signs them: name → (tag
// reference, digest).
type image struct{ ref, digest string }

func pushImages(t *testing.T, host string, s *testutil.Sigstore) map[string]image {
	t.Helper()
	ctx := context.Background()
	out := map[string]image{}
	for name, c := range map[string]struct {
		sample, signer string
		legacy         bool
	}{
		"team/signed":    {"npm-app", releaseIdentity, false},
		"team/unsigned":  {"debian", "", false},
		"team/lookalike": {"npm-app", evilIdentity, false},
		"team/fresh":     {"npm-app", releaseIdentity, false},
		"cip/right":      {"npm-app", releaseIdentity, true},
		"cip/lookalike":  {"npm-app", evilIdentity, true},
		"cip/unsigned":   {"npm-app", "", true},
	} {
		ref := host + "/" + name + ":v1"
		testutil.PushSample(t, c.sample, ref)
		repo, err := oci.OpenRegistry(host+"/"+name, oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = image{ref: ref, digest: d.Digest.String()}
		switch {
		case c.signer == "":
		case c.legacy: // cosign's .sig tag, which policy-controller reads
			payload, err := sign.SimpleSigningPayload(repo.Name(), d.Digest, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sign.AppendLegacySignature(ctx, repo, d.Digest, payload, s.LegacyKeylessAnnotations(t, payload, c.signer, issuer)); err != nil {
				t.Fatal(err)
			}
		default: // a cosign v3 bundle
			st, err := attest.Statement(d.Digest, evidence.PredicateSignatures, json.RawMessage(`{}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sign.StoreBundle(ctx, repo, d, s.KeylessBundle(t, st, c.signer, issuer, true), evidence.PredicateSignatures, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// suite pushes the suite's images to host (signed as pushImages signs
// them) and writes into dir their policies, exceptions and the trusted root
// of the suite's Sigstore.
func suite(t *testing.T, dir, host string) (images map[string]image, policyDir, cipFile, exceptionsFile, trustedRoot string) {
	t.Helper()
	sigstore := testutil.NewSigstore(t)
	images = pushImages(t, host, sigstore)
	policyDir, cipFile, exceptionsFile = writePolicies(t, dir, host, images, time.Now())
	trustedRoot = filepath.Join(dir, "trusted-root.json")
	write(t, trustedRoot, string(sigstore.TrustedRootJSON(t)))
	return images, policyDir, cipFile, exceptionsFile, trustedRoot
}

// policies writes the suite's policies: the release workflow's signature
// enforced in namespaces labelled dossier.dev/mode=enforce and audited
// in those labelled audit (the rollout is a label change); a Sigstore
// ClusterImagePolicy for the cip/ images; and the exceptions.
func writePolicies(t *testing.T, dir, host string, images map[string]image, now time.Time) (policyDir, cipFile, exceptionsFile string) {
	t.Helper()
	policyDir = filepath.Join(dir, "policies")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var native strings.Builder
	for i, mode := range []string{"enforce", "audit"} {
		if i > 0 {
			native.WriteString("---\n")
		}
		fmt.Fprintf(&native, `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release-%s}
spec:
  mode: %s
  images: ["%s/team/**"]
  namespaces: {selector: {matchLabels: {dossier.dev/mode: %s}}}
  signers:
    - name: release-workflow
      keyless:
        identities: [{issuer: %q, subject: %q}]
  rules:
    - name: signed
      signature: {}
`, mode, mode, host, mode, issuer, releaseIdentity)
	}
	write(t, filepath.Join(policyDir, "release.yaml"), native.String())
	cipFile = filepath.Join(policyDir, "cip.yaml")
	write(t, cipFile, fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: release-workflow-cip}
spec:
  images: [{glob: "%s/cip/**"}]
  authorities:
    - name: github
      keyless:
        trustRootRef: dossier-e2e
        identities: [{issuer: %q, subject: %q}]
`, host, issuer, releaseIdentity))
	exceptionsFile = filepath.Join(dir, "exceptions.yaml")
	unsigned := host + "/team/unsigned@" + images["team/unsigned"].digest
	write(t, exceptionsFile, fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: payments-unsigned-last-week, namespace: payments}
spec:
  owner: payments-team
  imageDigest: %s
  reason: "Unsigned build accepted until the signing job was fixed."
  expiresAt: %q
  waives: {policies: [release-enforce/signed]}
---
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: hotfix-break-glass, namespace: hotfix}
spec:
  owner: sre-oncall
  imageDigest: %s
  reason: "Break-glass hotfix while the signing service is down (INC-4711)."
  expiresAt: %q
  waives: {policies: [release-enforce/signed]}
`, unsigned, now.Add(-24*time.Hour).UTC().Format(time.RFC3339), unsigned, now.Add(2*time.Hour).UTC().Format(time.RFC3339)))
	return policyDir, cipFile, exceptionsFile
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// webhook is dossier's webhook process and how to reach it.
type webhook struct {
	args    []string
	addr    string
	certDir string
	proc    *process
}

func (w *webhook) start(t *testing.T) {
	t.Helper()
	w.proc = start(t, "dossier-webhook", os.Args[0], append(cleanEnv(), "DOSSIER_E2E_RUN_DOSSIER=1"), w.args...)
	ca, err := os.ReadFile(filepath.Join(w.certDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509Pool(t, ca)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("https://" + w.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		if w.proc.exited() || time.Now().After(deadline) {
			t.Fatalf("dossier webhook did not start: %v\n%s", err, w.proc.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startWebhook makes a serving certificate and starts dossier's webhook
// for a cluster with the suite's policies (policyDir, exceptions, the
// offline Sigstore's trusted root), deciding into dataDir; extra flags
// follow.
func startWebhook(t *testing.T, c *cluster, dir, policyDir, exceptionsFile, trustedRoot, dataDir string, extra ...string) *webhook {
	t.Helper()
	certDir := filepath.Join(dir, "webhook-tls")
	if code, _, errOut := runDossier(t, "webhook", "certificate", "--host", "127.0.0.1", "--out-dir", certDir); code != 0 {
		t.Fatalf("webhook certificate: %s", errOut)
	}
	w := &webhook{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), certDir: certDir}
	w.args = append([]string{"webhook", "--policy", policyDir, "--exceptions", exceptionsFile, "--trusted-root", trustedRoot,
		"--tls-cert", filepath.Join(certDir, "tls.crt"), "--tls-key", filepath.Join(certDir, "tls.key"), "--listen", w.addr,
		"--data-dir", dataDir, "--kubernetes-api", c.url, "--kubernetes-ca", c.caFile,
		"--kubernetes-client-cert", c.certFile, "--kubernetes-client-key", c.keyFile, "--client-ca", c.webhookClientCA}, extra...)
	w.start(t)
	return w
}

// install applies the webhook configurations for w with dossier webhook
// install (extra flags follow), as the kubeconfig's current context, and
// returns what it said it did.
func (w *webhook) install(t *testing.T, c *cluster, extra ...string) string {
	t.Helper()
	t.Setenv("KUBECONFIG", c.kubeconfig)
	args := append([]string{"webhook", "install", "--url", "https://" + w.addr, "--ca-bundle", filepath.Join(w.certDir, "ca.crt"), "--apply"}, extra...)
	code, out, errOut := runDossier(t, args...)
	if code != 0 || !strings.Contains(out, "validatingwebhookconfiguration/dossier applied") {
		t.Fatalf("webhook install: exit %d: %s %s", code, out, errOut)
	}
	return out
}
