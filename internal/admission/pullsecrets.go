package admission

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dossier-dev/dossier/internal/oci"
)

// PullSecretsReader reads, as the kubelet would use them, the pull secrets
// of a Pod spec: those it names and those of its service account.
type PullSecretsReader func(ctx context.Context, namespace string, names []string, serviceAccount string) ([]oci.PullSecret, error)

// maxCachedSecrets bounds the secrets and service accounts kept.
const maxCachedSecrets = 4096

// pullSecrets reads secrets and service accounts, keeping each for ttl.
type pullSecrets struct {
	api *apiClient
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedObject
}

type cachedObject struct {
	secret  *oci.PullSecret
	names   []string // a service account's pull secrets
	missing bool
	expires time.Time
}

// PullSecretsFrom makes Options.PullSecrets from an API server (RBAC: get
// on secrets and serviceaccounts).
func PullSecretsFrom(api APIServer, ttl time.Duration) (PullSecretsReader, error) {
	c, err := newAPIClient(api)
	if err != nil {
		return nil, err
	}
	p := &pullSecrets{api: c, ttl: ttl, now: time.Now, cache: map[string]cachedObject{}}
	return p.read, nil
}

// read returns the secrets it could read; what it could not (other than
// secrets that do not exist, which the kubelet skips too) is the error,
// alongside them.
func (p *pullSecrets) read(ctx context.Context, namespace string, names []string, serviceAccount string) ([]oci.PullSecret, error) {
	var problems []string
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	sa, err := p.object(ctx, "serviceaccounts", namespace, serviceAccount)
	if err != nil {
		problems = append(problems, err.Error())
	}
	seen := map[string]bool{}
	var out []oci.PullSecret
	for _, name := range append(append([]string{}, names...), sa.names...) {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		s, err := p.object(ctx, "secrets", namespace, name)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case s.secret != nil:
			out = append(out, *s.secret)
		}
	}
	if len(problems) > 0 {
		return out, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// object reads a secret or a service account, from the cache when fresh.
func (p *pullSecrets) object(ctx context.Context, resource, namespace, name string) (cachedObject, error) {
	key := resource + "/" + namespace + "/" + name
	p.mu.Lock()
	o, ok := p.cache[key]
	p.mu.Unlock()
	if ok && p.now().Before(o.expires) {
		return o, nil
	}
	path := "/api/v1/namespaces/" + url.PathEscape(namespace) + "/" + resource + "/" + url.PathEscape(name)
	o = cachedObject{expires: p.now().Add(p.ttl)}
	var err error
	if resource == "secrets" {
		var s corev1.Secret
		if err = p.api.get(ctx, path, &s); err == nil {
			o.secret = &oci.PullSecret{Name: namespace + "/" + name, Type: string(s.Type), Data: s.Data}
		}
	} else {
		var sa corev1.ServiceAccount
		if err = p.api.get(ctx, path, &sa); err == nil {
			for _, ref := range sa.ImagePullSecrets {
				o.names = append(o.names, ref.Name)
			}
		}
	}
	switch {
	case errors.Is(err, errNotFound):
		o.missing = true
	case err != nil:
		return cachedObject{}, fmt.Errorf("reading %s %s/%s: %w", strings.TrimSuffix(resource, "s"), namespace, name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cache) >= maxCachedSecrets {
		now := p.now()
		for k, v := range p.cache {
			if !now.Before(v.expires) || len(p.cache) >= maxCachedSecrets {
				delete(p.cache, k)
			}
		}
	}
	p.cache[key] = o
	return o, nil
}
