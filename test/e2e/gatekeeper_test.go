package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// gatekeeperCertificate issues the certificate Gatekeeper serves its
// webhooks with and, external data being on, presents to providers: it
// needs both usages. It writes tls.crt and tls.key, the names Gatekeeper
// reads from --cert-dir.
func gatekeeperCertificate(t *testing.T, p *pki) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gatekeeper-webhook-service.gatekeeper-system.svc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "tls.crt", "CERTIFICATE", der)
	p.write(t, "tls.key", "EC PRIVATE KEY", keyDER)
}

// startGatekeeper runs Gatekeeper's manager as a process against the
// cluster, serving its validating and mutating webhooks on 127.0.0.1
// with the certificate in certDir, and waits until it is ready.
func startGatekeeper(t *testing.T, c *cluster, bin, certDir string) (*process, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, port, _ := net.SplitHostPort(addr)
	env := append(cleanEnv(), "KUBECONFIG="+c.kubeconfig, "POD_NAMESPACE=gatekeeper-system")
	p := start(t, "gatekeeper", bin, env, "--host", "127.0.0.1", "--port", port, "--cert-dir", certDir, "--disable-cert-rotation",
		// out of a Pod: its own Pod is a fake one; the webhooks run, and
		// generate makes the constraint kinds from the templates (no audit
		// or status)
		"--debug-use-fake-pod", "--operation", "webhook", "--operation", "mutation-webhook", "--operation", "generate",
		"--enable-k8s-native-validation=false", "--external-data-provider-response-cache-ttl", "0s",
		"--health-addr", health, "--metrics-addr", "0", "--prometheus-port", strconv.Itoa(freePort(t)))
	c.waitFor(t, "Gatekeeper /readyz", 90*time.Second, func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, c.apiserver, p)
	return p, addr
}

// dossierReasonsTemplate shows dossier's reasons where Ratify's template
// shows only a trace ID: each failed report's rule and message.
const dossierReasonsTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: dossierreasons}
spec:
  crd: {spec: {names: {kind: DossierReasons}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package dossierreasons

        violation[{"msg": msg}] {
          images := [img | img = input.review.object.spec.containers[_].image]
          response := external_data({"provider": "ratify-provider", "keys": images})
          result := response.responses[_]
          result[1].isSuccess == false
          report := result[1].verifierReports[_]
          report.isSuccess == false
          msg := sprintf("%s: %s: %s", [result[0], report.name, report.message])
        }
`

// TestGatekeeperExternalData runs a real OPA Gatekeeper against the
// suite's API server with dossier as its external data provider: Ratify's
// published ConstraintTemplate, unchanged, denies an unsigned Pod (and a
// template showing the reports gives dossier's reason), admits a signed
// one, and an Assign mutator pins the admitted Pod's image to the digest
// dossier judged.
func TestGatekeeperExternalData(t *testing.T) {
	if testing.Short() {
		testutil.Missing(t, "the end-to-end suite starts a control plane (skipped with -short)")
	}
	gatekeeperBin := testutil.Peer(t, "gatekeeper")
	crdDir := testutil.Peer(t, "gatekeeper-crds")
	ratifyTemplate, err := os.ReadFile(testutil.Peer(t, "ratify-template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t)
	reg := startRegistry(t)
	host := reg.host
	dir := t.TempDir()
	images, policyDir, _, exceptionsFile, trustedRoot := suite(t, dir, host)

	gatekeeperDir := filepath.Join(dir, "gatekeeper-tls")
	if err := os.MkdirAll(gatekeeperDir, 0o700); err != nil {
		t.Fatal(err)
	}
	gatekeeperPKI := newPKI(t, gatekeeperDir)
	gatekeeperCertificate(t, gatekeeperPKI)
	// external data is answered to Gatekeeper's certificate only
	w := startWebhook(t, c, dir, policyDir, exceptionsFile, trustedRoot, filepath.Join(dir, "data"),
		"--gatekeeper-client-ca", filepath.Join(gatekeeperDir, "ca.crt"))

	c.namespace(t, "gatekeeper-system", nil)
	c.namespace(t, "shop", nil)
	crds, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in %s: %v", crdDir, err)
	}
	for _, f := range crds {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.apply(t, data); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
	}
	// Gatekeeper watches its kinds from the start: they must be served
	applied := func(what string, manifests []byte) {
		t.Helper()
		var err error
		defer func() {
			if err != nil { // waitFor gave up: say why, and what Gatekeeper made of the templates
				templates := c.do(t, http.MethodGet, "/apis/templates.gatekeeper.sh/v1/constrainttemplates", "", nil)
				t.Logf("applying %s: %v\nconstraint templates: %s", what, err, templates.body)
			}
		}()
		c.waitFor(t, what, 60*time.Second, func() bool {
			err = c.apply(t, manifests)
			return err == nil
		}, c.apiserver)
	}
	applied("the Provider kind", []byte("apiVersion: externaldata.gatekeeper.sh/v1beta1\nkind: Provider\nmetadata: {name: probe}\nspec: {url: https://127.0.0.1/, timeout: 1}\n"))
	if a := c.do(t, http.MethodDelete, "/apis/externaldata.gatekeeper.sh/v1beta1/providers/probe", "", nil); a.code != http.StatusOK {
		t.Fatalf("delete the probe Provider: %d %s", a.code, a.body)
	}
	gatekeeper, gatekeeperAddr := startGatekeeper(t, c, gatekeeperBin, gatekeeperDir)

	caBundle := base64.StdEncoding.EncodeToString(readFile(t, filepath.Join(w.certDir, "ca.crt")))
	applied("the Providers", []byte(fmt.Sprintf(`apiVersion: externaldata.gatekeeper.sh/v1beta1
kind: Provider
metadata: {name: ratify-provider}
spec: {url: "https://%[1]s/gatekeeper/verify?timeout=5s", timeout: 5, caBundle: %[2]s}
---
apiVersion: externaldata.gatekeeper.sh/v1beta1
kind: Provider
metadata: {name: dossier-mutate}
spec: {url: "https://%[1]s/gatekeeper/mutate?timeout=5s", timeout: 5, caBundle: %[2]s}
`, w.addr, caBundle)))
	applied("Ratify's ConstraintTemplate", ratifyTemplate)
	applied("dossier's reasons template", []byte(dossierReasonsTemplate))
	// the constraints' kinds exist once Gatekeeper has compiled the templates
	applied("the constraints", []byte(`apiVersion: constraints.gatekeeper.sh/v1beta1
kind: RatifyVerification
metadata: {name: ratify-constraint}
spec:
  enforcementAction: deny
  match: {kinds: [{apiGroups: [""], kinds: ["Pod"]}], namespaces: ["shop"]}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: DossierReasons
metadata: {name: dossier-reasons}
spec:
  enforcementAction: deny
  match: {kinds: [{apiGroups: [""], kinds: ["Pod"]}], namespaces: ["shop"]}
`))
	gatekeeperCA := base64.StdEncoding.EncodeToString(readFile(t, filepath.Join(gatekeeperDir, "ca.crt")))
	webhook := func(name, path string) string {
		return fmt.Sprintf(`  - name: %s
    clientConfig: {url: "https://%s%s", caBundle: %s}
    rules: [{apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods"]}]
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
    failurePolicy: Fail
    sideEffects: None
    timeoutSeconds: 15
    admissionReviewVersions: ["v1"]
`, name, gatekeeperAddr, path, gatekeeperCA)
	}
	applied("Gatekeeper's webhook configurations", []byte(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: gatekeeper-validating-webhook-configuration}
webhooks:
`+webhook("validation.gatekeeper.sh", "/v1/admit")+`---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: gatekeeper-mutating-webhook-configuration}
webhooks:
`+webhook("mutation.gatekeeper.sh", "/v1/mutate")))

	unsigned, signed := images["team/unsigned"], images["team/signed"]
	var last answer
	defer func() {
		if t.Failed() {
			t.Logf("the last dry run's answer: %d %s", last.code, last.body)
		}
	}()
	c.waitFor(t, "Gatekeeper to enforce the constraints", 90*time.Second, func() bool {
		last = c.create(t, "/api/v1/namespaces/shop/pods?dryRun=All", pod("probe", nil, unsigned.ref))
		return last.code == http.StatusForbidden
	}, c.apiserver, gatekeeper, w.proc)

	denied := func(t *testing.T, name, image, key string) {
		t.Helper()
		a := c.create(t, "/api/v1/namespaces/shop/pods", pod(name, nil, image))
		msg := a.message()
		if a.code != http.StatusForbidden || !strings.Contains(msg, `admission webhook "validation.gatekeeper.sh" denied the request`) {
			t.Fatalf("want a denial by Gatekeeper, got %d: %s", a.code, msg)
		}
		// Ratify's template: the image and the trace ID of dossier's answer
		m := regexp.MustCompile(`\[ratify-constraint\] Time=\S+, failed to verify the artifact: (\S+), trace-id: (\S+)`).FindStringSubmatch(msg)
		if m == nil || m[1] != key {
			t.Fatalf("Ratify's template's message for %s is missing: %s", key, msg)
		}
		// dossier's reason, through the reports
		for _, want := range []string{"[dossier-reasons] " + key + ": release-enforce/signed: ", "no signature by"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the denial does not say %q: %s", want, msg)
			}
		}
		c.waitFor(t, "dossier's log of request "+m[2], 10*time.Second, func() bool {
			return strings.Contains(string(readFile(t, w.proc.log)), m[2])
		})
		t.Logf("%s: %s", name, msg)
	}

	t.Run("Ratify's template: unsigned denied with dossier's reason, signed admitted as written", func(t *testing.T) {
		// the unsigned image has break-glass exceptions in payments and
		// hotfix: a key naming no namespace is judged for every namespace
		// and takes neither
		denied(t, "unsigned", unsigned.ref, unsigned.ref)
		a := c.create(t, "/api/v1/namespaces/shop/pods", pod("signed", nil, signed.ref))
		if a.code != http.StatusCreated {
			t.Fatalf("signed: %d: %s", a.code, a.message())
		}
		if got := decode[corev1.Pod](t, a).Spec.Containers[0].Image; got != signed.ref {
			t.Errorf("without a mutator the image is %s, want %s", got, signed.ref)
		}
	})

	t.Run("Assign with external data: the admitted image pinned to the digest dossier judged", func(t *testing.T) {
		applied("the Assign mutator", []byte(`apiVersion: mutations.gatekeeper.sh/v1
kind: Assign
metadata: {name: dossier-pin-digests}
spec:
  applyTo: [{groups: [""], kinds: ["Pod"], versions: ["v1"]}]
  match: {scope: Namespaced, kinds: [{apiGroups: [""], kinds: ["Pod"]}], namespaces: ["shop"]}
  location: "spec.containers[name:*].image"
  parameters:
    assign:
      externalData: {provider: dossier-mutate, dataSource: ValueAtLocation, failurePolicy: Fail}
`))
		want := pinned(host, "team/signed", signed)
		c.waitFor(t, "Gatekeeper to mutate", 60*time.Second, func() bool {
			last = c.create(t, "/api/v1/namespaces/shop/pods?dryRun=All", pod("probe", nil, signed.ref))
			return last.code == http.StatusCreated && decode[corev1.Pod](t, last).Spec.Containers[0].Image == want
		}, c.apiserver, gatekeeper, w.proc)
		a := c.create(t, "/api/v1/namespaces/shop/pods", pod("signed-pinned", nil, signed.ref))
		if a.code != http.StatusCreated {
			t.Fatalf("signed: %d: %s", a.code, a.message())
		}
		if got := decode[corev1.Pod](t, a).Spec.Containers[0].Image; got != want {
			t.Errorf("image %s, want it pinned to %s", got, want)
		}
		// the validating webhook judges the pinned image
		denied(t, "unsigned-pinned", unsigned.ref, pinned(host, "team/unsigned", unsigned))
	})
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
