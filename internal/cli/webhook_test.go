package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestMain lets the test binary run as dossier itself, for the commands
// that serve until stopped.
func TestMain(m *testing.M) {
	if os.Getenv("DOSSIER_CLI_TEST_MAIN") != "" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	if imported.dir != "" {
		os.RemoveAll(imported.dir)
	}
	os.Exit(code)
}

// freeAddress is a loopback address nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The webhook command end to end over HTTPS: a certificate made by
// dossier, its configuration rendered, signed images admitted and pinned,
// unsigned ones denied with the fix, decisions in the store, and a
// graceful stop on SIGTERM.
func TestWebhookCommand(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if r := dossier(t, "", "webhook", "certificate", "--host", "127.0.0.1", "--out-dir", certs); r.code != 0 {
		t.Fatal(r)
	}
	if info, err := os.Stat(filepath.Join(certs, "tls.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the private key file: %v %v", info, err)
	}
	addr := freeAddress(t)
	r := dossier(t, "", "webhook", "install", "--url", "https://"+addr, "--ca-bundle", filepath.Join(certs, "ca.crt"))
	if r.code != 0 || !strings.Contains(r.stdout, "kind: ValidatingWebhookConfiguration") || !strings.Contains(r.stdout, "url: https://"+addr+"/admission/mutate") {
		t.Fatalf("install: %+v", r)
	}
	withCRDs := dossier(t, "", "webhook", "install", "--url", "https://"+addr, "--ca-bundle", filepath.Join(certs, "ca.crt"), "--policy-report-crds")
	if withCRDs.code != 0 || !strings.HasPrefix(withCRDs.stdout, r.stdout+"---\n") || !strings.Contains(withCRDs.stdout, "name: policyreports.wgpolicyk8s.io") ||
		!strings.Contains(withCRDs.stdout, "name: clusterpolicyreports.wgpolicyk8s.io") {
		t.Errorf("install --policy-report-crds: %+v", withCRDs)
	}
	if r := dossier(t, "", "webhook", "install", "--url", "https://"+addr); r.code != ExitError || !strings.Contains(r.stderr, "--ca-bundle") {
		t.Errorf("install without a CA: %+v", r)
	}
	missing := filepath.Join(dir, "no-such.kubeconfig")
	if r := dossier(t, "", "webhook", "install", "--url", "https://"+addr, "--ca-bundle", filepath.Join(certs, "ca.crt"), "--apply", "--kubeconfig", missing); r.code == 0 || !strings.Contains(r.stderr, "no cluster to reach from "+missing) {
		t.Errorf("install --apply without a cluster: %+v", r)
	}

	key := generateKey(t, dir, "release")
	host := testutil.Registry(t)
	signed := testutil.PushSample(t, "npm-app", host+"/team/app:v1")
	unsigned := testutil.PushSample(t, "go-app", host+"/team/tool:v1")
	if r := dossier(t, "", "sign", host+"/team/app:v1", "--key", key+".key"); r.code != 0 {
		t.Fatal(r)
	}
	policyFile := writeFile(t, filepath.Join(dir, "policy.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  mode: enforce
  images: ["%s/team/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
`, host))
	data := filepath.Join(dir, "data")
	cmd := exec.Command(os.Args[0], "webhook", "--policy", policyFile, "--tls-cert", filepath.Join(certs, "tls.crt"), "--tls-key", filepath.Join(certs, "tls.key"),
		"--listen", addr, "--data-dir", data)
	cmd.Env = append(os.Environ(), "DOSSIER_CLI_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	ca, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	review := func(path, image string) map[string]any {
		t.Helper()
		body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE",
			"kind":{"version":"v1","kind":"Pod"},"namespace":"prod","name":"web","userInfo":{"username":"dev@example.com"},
			"object":{"metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
		resp, err := client.Post("https://"+addr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Response map[string]any `json:"response"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: HTTP %d %v", path, image, resp.StatusCode, err)
		}
		return out.Response
	}
	if resp := review("/admission/validate", host+"/team/app:v1"); resp["allowed"] != true {
		t.Errorf("signed image: %v", resp)
	}
	if resp := review("/admission/mutate", host+"/team/app:v1"); resp["patchType"] != "JSONPatch" {
		t.Errorf("mutation of the signed image: %v", resp)
	}
	resp := review("/admission/validate", host+"/team/tool:v1")
	status, _ := resp["status"].(map[string]any)
	if resp["allowed"] != false || status == nil || !strings.Contains(fmt.Sprint(status["message"]), host+"/team/tool@"+unsigned) ||
		!strings.Contains(fmt.Sprint(status["message"]), "fix: dossier sign") {
		t.Errorf("unsigned image: %v", resp)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the webhook did not stop cleanly: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "listening on https://"+addr) || !strings.Contains(stderr.String(), "admission webhook at /admission/validate") {
		t.Errorf("log: %s", stderr.String())
	}
	r = dossier(t, "", "query", "digest", host+"/team/app@"+signed, "--data-dir", data, "-o", "json")
	var d store.Dossier
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || len(d.Admissions) != 1 || d.Admissions[0].Outcome != store.AdmissionAllowed ||
		len(d.Deployments) != 1 || d.Deployments[0].Namespace != "prod" {
		t.Errorf("the signed image's dossier: %.600s %s", r.stdout, r.stderr)
	}
	r = dossier(t, "", "query", "admissions", "--outcome", "denied", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "denied") || !strings.Contains(r.stdout, host+"/team/tool:v1") || strings.Contains(r.stdout, "team/app") {
		t.Errorf("denials: %+v", r)
	}
	if r := dossier(t, "", "query", "admissions", "--outcome", "maybe", "--data-dir", data); r.code != ExitError {
		t.Errorf("a bad outcome: %+v", r)
	}
}

// dossier webhook reads dossier serve's configuration file: its webhook,
// TLS, data directory, store and metrics settings, with --listen for
// webhook.listen; flags win, relative paths are the file's, the store's
// password is never printed.
func TestWebhookConfig(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, filepath.Join(dir, "dossier.yaml"), `listen: 127.0.0.1:1
scanWorkers: 4
store: postgres://u:secret@127.0.0.1:5/x
tls: {cert: certs/tls.crt, key: certs/tls.key}
webhook:
  policies: [policy.yaml]
  listen: 127.0.0.1:9443
  unclaimed: warn
`)
	r := dossier(t, "", "webhook", "--config", config, "--unclaimed", "allow", "--print-config")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"cert: " + filepath.Join(dir, "certs/tls.crt"), "- " + filepath.Join(dir, "policy.yaml"), "listen: 127.0.0.1:9443", "unclaimed: allow", "u:xxxxx@"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the effective configuration lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, unwanted := range []string{"secret", "scanWorkers", "127.0.0.1:1"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("the effective configuration shows %q:\n%s", unwanted, r.stdout)
		}
	}
	if r := dossier(t, "", "webhook", "--config", config, "--listen", "127.0.0.1:7443", "--print-config"); !strings.Contains(r.stdout, "listen: 127.0.0.1:7443") {
		t.Errorf("--listen did not win over webhook.listen:\n%s", r.stdout)
	}
	if r := dossier(t, "", "webhook", "--config", writeFile(t, filepath.Join(dir, "bad.yaml"), "webhook: {polices: [p]}\n")); r.code != ExitError || !strings.Contains(r.stderr, `unknown field "polices"`) {
		t.Errorf("an unknown setting: %+v", r)
	}
}
