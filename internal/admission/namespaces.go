package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// APIServer is how the webhook reaches the Kubernetes API server to read
// namespace labels: in a cluster, its service account.
type APIServer struct {
	// URL is https://host:port; CAFile the CA that signed its certificate.
	URL, CAFile string
	// TokenFile holds a bearer token (re-read on each request, as tokens
	// rotate); or CertFile and KeyFile are a client certificate.
	TokenFile, CertFile, KeyFile string
}

// InCluster is the API server as seen from a Pod, when it runs in one.
func InCluster() (APIServer, bool) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount/"
	if host == "" || port == "" {
		return APIServer{}, false
	}
	if _, err := os.Stat(dir + "token"); err != nil {
		return APIServer{}, false
	}
	return APIServer{URL: "https://" + net.JoinHostPort(host, port), CAFile: dir + "ca.crt", TokenFile: dir + "token"}, true
}

// namespaceLabels reads namespaces' labels from the API server, keeping
// each for ttl.
type namespaceLabels struct {
	api    APIServer
	client *http.Client
	ttl    time.Duration
	now    func() time.Time
	mu     sync.Mutex
	cache  map[string]labelsEntry
}

type labelsEntry struct {
	labels  map[string]string
	expires time.Time
}

// NamespaceLabelsFrom makes Options.NamespaceLabels from an API server.
func NamespaceLabelsFrom(api APIServer, ttl time.Duration) (func(context.Context, string) (map[string]string, error), error) {
	u, err := url.Parse(api.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("Kubernetes API server %q: want https://host:port", api.URL)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if api.CAFile != "" {
		ca, err := os.ReadFile(api.CAFile)
		if err != nil {
			return nil, fmt.Errorf("Kubernetes API server CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("Kubernetes API server CA %s: no certificate in it", api.CAFile)
		}
	}
	if api.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(api.CertFile, api.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("Kubernetes API client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	} else if api.TokenFile == "" {
		return nil, fmt.Errorf("Kubernetes API server %s: give a token file or a client certificate", api.URL)
	}
	n := &namespaceLabels{api: api, ttl: ttl, now: time.Now, cache: map[string]labelsEntry{},
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}}
	return n.get, nil
}

func (n *namespaceLabels) get(ctx context.Context, namespace string) (map[string]string, error) {
	n.mu.Lock()
	e, ok := n.cache[namespace]
	n.mu.Unlock()
	if ok && n.now().Before(e.expires) {
		return e.labels, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(n.api.URL, "/")+"/api/v1/namespaces/"+url.PathEscape(namespace), nil)
	if err != nil {
		return nil, err
	}
	if n.api.TokenFile != "" {
		token, err := os.ReadFile(n.api.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("Kubernetes API token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading namespace %s: the API server answered %s", namespace, resp.Status)
	}
	var ns corev1.Namespace
	if err := json.Unmarshal(body, &ns); err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	labels := ns.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	n.mu.Lock()
	n.cache[namespace] = labelsEntry{labels: labels, expires: n.now().Add(n.ttl)}
	n.mu.Unlock()
	return labels, nil
}
