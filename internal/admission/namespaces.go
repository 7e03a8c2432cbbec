package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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
	api   *apiClient
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]labelsEntry
}

type labelsEntry struct {
	labels  map[string]string
	expires time.Time
}

// apiClient reads objects from the API server.
type apiClient struct {
	api    APIServer
	client *http.Client
}

// errNotFound is the API server's 404.
var errNotFound = errors.New("the API server answered 404 Not Found")

func newAPIClient(api APIServer) (*apiClient, error) {
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
	return &apiClient{api: api, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}}, nil
}

// get reads the object at path into into.
func (c *apiClient) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.api.URL, "/")+path, nil)
	if err != nil {
		return err
	}
	if c.api.TokenFile != "" {
		token, err := os.ReadFile(c.api.TokenFile)
		if err != nil {
			return fmt.Errorf("Kubernetes API token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// a Secret holds up to 1 MiB, base64 in its JSON
	body, err := io.ReadAll(io.LimitReader(resp.Body, 3<<20))
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return json.Unmarshal(body, into)
	case http.StatusNotFound:
		return errNotFound
	}
	return fmt.Errorf("the API server answered %s", resp.Status)
}

// NamespaceLabelsFrom makes Options.NamespaceLabels from an API server.
func NamespaceLabelsFrom(api APIServer, ttl time.Duration) (func(context.Context, string) (map[string]string, error), error) {
	c, err := newAPIClient(api)
	if err != nil {
		return nil, err
	}
	n := &namespaceLabels{api: c, ttl: ttl, now: time.Now, cache: map[string]labelsEntry{}}
	return n.get, nil
}

func (n *namespaceLabels) get(ctx context.Context, namespace string) (map[string]string, error) {
	n.mu.Lock()
	e, ok := n.cache[namespace]
	n.mu.Unlock()
	if ok && n.now().Before(e.expires) {
		return e.labels, nil
	}
	var ns corev1.Namespace
	if err := n.api.get(ctx, "/api/v1/namespaces/"+url.PathEscape(namespace), &ns); err != nil {
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
