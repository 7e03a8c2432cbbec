package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/dossier-dev/dossier/internal/kube"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// process is a program the suite started; its output goes to a log file
// whose end is shown when the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func start(t *testing.T, name, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = env
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log (end):\n%s", name, p.tail(25))
		}
	})
	return p
}

// stop asks the process to end (SIGTERM), and kills it after 15 s.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) tail(lines int) string {
	data, _ := os.ReadFile(p.log)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// freePort is a loopback port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// cleanEnv is the environment without variables the cluster's programs
// would read as configuration (etcd reads every ETCD_*).
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			out = append(out, kv)
		}
	}
	return out
}

// pki is a throwaway certificate authority and the certificates the
// cluster needs, written as PEM files.
type pki struct {
	dir    string
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dossier e2e cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: dir, caKey: key, caCert: cert}
	p.write(t, "ca.crt", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaf issues a certificate and writes NAME.crt and NAME.key.
func (p *pki) leaf(t *testing.T, name string, subject pkix.Name, usage x509.ExtKeyUsage, ips ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost", "kubernetes.default.svc"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".crt", "CERTIFICATE", der), p.write(t, name+".key", "EC PRIVATE KEY", keyDER)
}

// cluster is a real etcd, kube-apiserver and kube-controller-manager on
// 127.0.0.1, and an admin client for it.
type cluster struct {
	url                       string
	caFile, certFile, keyFile string
	kubeconfig                string
	// webhookClientCA is the CA of the client certificate the API server
	// presents to every admission webhook (its AdmissionConfiguration)
	webhookClientCA              string
	client                       *http.Client
	etcd, apiserver, controllers *process
	// how the API server was started, to start it again
	apiserverBin  string
	apiserverEnv  []string
	apiserverArgs []string
}

// restartAPIServer stops the API server and starts it again on the same
// address and etcd, waiting until it is ready.
func (c *cluster) restartAPIServer(t *testing.T, down time.Duration) {
	t.Helper()
	c.apiserver.stop()
	time.Sleep(down)
	c.apiserver = start(t, "kube-apiserver-again", c.apiserverBin, c.apiserverEnv, c.apiserverArgs...)
	c.waitFor(t, "kube-apiserver /readyz after its restart", 90*time.Second, func() bool {
		return c.do(t, http.MethodGet, "/readyz", "", nil).code == http.StatusOK
	}, c.etcd, c.apiserver)
}

// startCluster starts the control plane of a cluster with no nodes: Pods
// are admitted and stored, never run, which is all admission needs.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	etcdBin, apiserverBin, kcmBin := testutil.Peer(t, "etcd"), testutil.Peer(t, "kube-apiserver"), testutil.Peer(t, "kube-controller-manager")
	dir := t.TempDir()
	p := newPKI(t, dir)
	c := &cluster{caFile: filepath.Join(dir, "ca.crt")}
	serverCert, serverKey := p.leaf(t, "apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth, "127.0.0.1")
	c.certFile, c.keyFile = p.leaf(t, "admin", pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth)
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	saDER, _ := x509.MarshalECPrivateKey(saKey)
	saPubDER, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	saKeyFile, saPubFile := p.write(t, "sa.key", "EC PRIVATE KEY", saDER), p.write(t, "sa.pub", "PUBLIC KEY", saPubDER)
	admissionConfig := c.webhookCredentials(t, filepath.Join(dir, "webhook-client"))

	env := cleanEnv()
	etcdClient, etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	c.etcd = start(t, "etcd", etcdBin, env, "--name", "e2e", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdClient, "--advertise-client-urls", etcdClient,
		"--listen-peer-urls", etcdPeer, "--initial-advertise-peer-urls", etcdPeer, "--initial-cluster", "e2e="+etcdPeer,
		"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	port := freePort(t)
	c.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	c.apiserverBin, c.apiserverEnv = apiserverBin, env
	c.apiserverArgs = []string{"--etcd-servers", etcdClient,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--endpoint-reconciler-type=none", "--tls-cert-file", serverCert, "--tls-private-key-file", serverKey,
		"--client-ca-file", c.caFile, "--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saPubFile, "--service-account-signing-key-file", saKeyFile,
		"--service-cluster-ip-range", "10.0.0.0/24", "--authorization-mode", "RBAC,Node", "--cert-dir", filepath.Join(dir, "certs"),
		"--admission-control-config-file", admissionConfig,
		// watch-list streams need etcd's watch progress requests, which the
		// suite's etcd (3.4) lacks: clients list, then watch
		"--feature-gates=WatchList=false"}
	c.apiserver = start(t, "kube-apiserver", apiserverBin, env, c.apiserverArgs...)

	ca, _ := os.ReadFile(c.caFile)
	pool := x509Pool(t, ca)
	admin, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c.client = &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}}}}
	c.waitFor(t, "kube-apiserver /readyz", 90*time.Second, func() bool {
		return c.do(t, http.MethodGet, "/readyz", "", nil).code == http.StatusOK
	}, c.etcd, c.apiserver)

	c.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	kubeconfig := map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "e2e",
		"clusters": []any{map[string]any{"name": "e2e", "cluster": map[string]any{"server": c.url, "certificate-authority": c.caFile}}},
		"users":    []any{map[string]any{"name": "admin", "user": map[string]any{"client-certificate": c.certFile, "client-key": c.keyFile}}},
		"contexts": []any{map[string]any{"name": "e2e", "context": map[string]any{"cluster": "e2e", "user": "admin"}}},
	}
	data, _ := json.Marshal(kubeconfig) // YAML is a superset of JSON
	if err := os.WriteFile(c.kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// the controller-manager creates every namespace's default
	// ServiceAccount (Pods need it) and runs the workload controllers,
	// each with its own service account, so that the webhook sees who
	// created a Pod
	c.controllers = start(t, "kube-controller-manager", kcmBin, env, "--kubeconfig", c.kubeconfig,
		"--authentication-kubeconfig", c.kubeconfig, "--authorization-kubeconfig", c.kubeconfig,
		"--bind-address", "127.0.0.1", fmt.Sprintf("--secure-port=%d", freePort(t)), "--leader-elect=false",
		"--service-account-private-key-file", saKeyFile, "--root-ca-file", c.caFile, "--use-service-account-credentials=true",
		"--concurrent-deployment-syncs=2", "--concurrent-replicaset-syncs=2")
	c.waitServiceAccount(t, "default")
	return c
}

// webhookCredentials gives the API server a client certificate for every
// admission webhook it calls, from a CA of its own (dossier's webhooks are
// started with --client-ca of it), and returns the AdmissionConfiguration
// file that says so.
func (c *cluster) webhookCredentials(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := newPKI(t, dir)
	c.webhookClientCA = filepath.Join(dir, "ca.crt")
	cert, key := p.leaf(t, "apiserver-webhook-client", pkix.Name{CommonName: "kube-apiserver-webhook-client"}, x509.ExtKeyUsageClientAuth)
	kubeconfig, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Config",
		"users": []any{map[string]any{"name": "*", "user": map[string]any{"client-certificate": cert, "client-key": key}}}})
	kubeconfigFile := filepath.Join(dir, "webhooks.kubeconfig")
	if err := os.WriteFile(kubeconfigFile, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	plugin := func(name string) map[string]any {
		return map[string]any{"name": name, "configuration": map[string]any{"apiVersion": "apiserver.config.k8s.io/v1",
			"kind": "WebhookAdmissionConfiguration", "kubeConfigFile": kubeconfigFile}}
	}
	config, _ := json.Marshal(map[string]any{"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
		"plugins": []any{plugin("ValidatingAdmissionWebhook"), plugin("MutatingAdmissionWebhook")}})
	configFile := filepath.Join(dir, "admission.json")
	if err := os.WriteFile(configFile, config, 0o600); err != nil {
		t.Fatal(err)
	}
	return configFile
}

// waitFor polls until ok, failing after timeout or when one of the
// processes exits.
func (c *cluster) waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool, watched ...*process) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		for _, p := range watched {
			if p.exited() {
				t.Fatalf("waiting for %s: %s exited (%v):\n%s", what, p.name, p.err, p.tail(20))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// answer is the API server's response: status, body and the warnings
// admission returned.
type answer struct {
	code     int
	body     []byte
	warnings []string
}

// message is a refusal's message, or the body.
func (a answer) message() string {
	var s struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(a.body, &s) == nil && s.Message != "" {
		return s.Message
	}
	return string(a.body)
}

// do sends a request to the API server as the admin; body is marshalled
// to JSON unless it is a string or nil.
func (c *cluster) do(t *testing.T, method, path, contentType string, body any) answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return answer{body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: data}
	// Warning: 299 - "quoted text"
	for _, w := range resp.Header.Values("Warning") {
		if _, quoted, ok := strings.Cut(w, " - "); ok {
			text, err := strconv.Unquote(quoted)
			if err != nil {
				t.Fatalf("warning header %q: %v", w, err)
			}
			a.warnings = append(a.warnings, text)
		}
	}
	return a
}

// create posts obj to a collection.
func (c *cluster) create(t *testing.T, path string, obj any) answer {
	t.Helper()
	return c.do(t, http.MethodPost, path, "", obj)
}

// namespace creates a namespace with labels and waits for its default
// ServiceAccount.
func (c *cluster) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}}
	if a := c.create(t, "/api/v1/namespaces", ns); a.code != http.StatusCreated {
		t.Fatalf("namespace %s: %d %s", name, a.code, a.body)
	}
	c.waitServiceAccount(t, name)
}

func (c *cluster) waitServiceAccount(t *testing.T, namespace string) {
	t.Helper()
	c.waitFor(t, "the default ServiceAccount of "+namespace, 90*time.Second, func() bool {
		return c.do(t, http.MethodGet, "/api/v1/namespaces/"+namespace+"/serviceaccounts/default", "", nil).code == http.StatusOK
	}, c.apiserver, c.controllers)
}

// label replaces a namespace's labels.
func (c *cluster) label(t *testing.T, namespace string, labels map[string]string) {
	t.Helper()
	patch := map[string]any{"metadata": map[string]any{"labels": labels}}
	if a := c.do(t, http.MethodPatch, "/api/v1/namespaces/"+namespace, "application/merge-patch+json", patch); a.code != http.StatusOK {
		t.Fatalf("label namespace %s: %d %s", namespace, a.code, a.body)
	}
}

// apply applies every object of a multi-document YAML stream by
// server-side apply, as kubectl apply --server-side does: each kind's
// resource found by discovery, namespaced objects without a namespace in
// "default".
func (c *cluster) apply(t *testing.T, manifests []byte) error {
	t.Helper()
	cfg, err := kube.Config(c.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	discoveryClient, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoveryClient))
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	ctx := context.Background()
	for {
		var obj unstructured.Unstructured
		if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(obj.Object) == 0 {
			continue // an empty document
		}
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		resource := client.Resource(mapping.Resource)
		var target dynamic.ResourceInterface = resource
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace("default")
			}
			target = resource.Namespace(obj.GetNamespace())
		}
		if _, err := target.Apply(ctx, obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: "e2e", Force: true}); err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	}
}

// get reads an object (or a list) from the API server into into.
func (c *cluster) get(t *testing.T, path string, into any) {
	t.Helper()
	a := c.do(t, http.MethodGet, path, "", nil)
	if a.code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, a.code, a.body)
	}
	if err := json.Unmarshal(a.body, into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func x509Pool(t *testing.T, pemData []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in the CA file")
	}
	return pool
}
