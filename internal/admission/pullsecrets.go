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
// of a Pod spec (those it names, then its service account's) as one
// keychain; what it could not read or use is the error, beside the
// keychain of the rest.
type PullSecretsReader func(ctx context.Context, namespace string, names []string, serviceAccount string) (*oci.PullSecrets, error)

// Bounds on what one review's pull secrets may cost: the names read (a
// Pod naming more is judged with the first ones, and told so), the reads
// at once, their time, and the bytes of parsed secrets kept.
const (
	maxPullSecretNames = 64
	pullSecretReads    = 8
	pullSecretsTimeout = 3 * time.Second
	maxCachedBytes     = 64 << 20
)

// pullSecrets reads secrets and service accounts, keeping each, parsed,
// for ttl.
type pullSecrets struct {
	api *apiClient
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedObject
	bytes int
}

type cachedObject struct {
	keychain *oci.PullSecrets // a secret's, parsed once
	names    []string         // a service account's pull secrets
	problem  string           // why a secret cannot be used
	size     int
	expires  time.Time
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

func (p *pullSecrets) read(ctx context.Context, namespace string, names []string, serviceAccount string) (*oci.PullSecrets, error) {
	ctx, cancel := context.WithTimeout(ctx, pullSecretsTimeout)
	defer cancel()
	var problems []string
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	sa, err := p.object(ctx, "serviceaccounts", namespace, serviceAccount)
	if err != nil {
		problems = append(problems, err.Error())
	}
	var distinct []string
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, names...), sa.names...) {
		if name != "" && !seen[name] {
			seen[name] = true
			distinct = append(distinct, name)
		}
	}
	if len(distinct) > maxPullSecretNames {
		problems = append(problems, fmt.Sprintf("%d pull secrets named: the first %d read", len(distinct), maxPullSecretNames))
		distinct = distinct[:maxPullSecretNames]
	}
	keychains := make([]*oci.PullSecrets, len(distinct))
	errs := make([]string, len(distinct))
	slots := make(chan struct{}, pullSecretReads)
	var reading sync.WaitGroup
	for i, name := range distinct {
		slots <- struct{}{}
		reading.Go(func() {
			defer func() { <-slots }()
			s, err := p.object(ctx, "secrets", namespace, name)
			switch {
			case err != nil:
				errs[i] = err.Error()
			case s.problem != "":
				errs[i] = s.problem
			default:
				keychains[i] = s.keychain
			}
		})
	}
	reading.Wait()
	for _, e := range errs {
		if e != "" {
			problems = append(problems, e)
		}
	}
	k := oci.MergePullSecrets(keychains...)
	if len(problems) == 0 {
		return k, nil
	}
	// a bounded account: the first few, and how many more
	if len(problems) > 3 {
		problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
	}
	return k, errors.New(strings.Join(problems, "; "))
}

// object reads a secret (parsed) or a service account, from the cache
// when fresh. A secret that does not exist is no secret, as for the
// kubelet.
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
			o.keychain, err = oci.NewPullSecrets([]oci.PullSecret{{Name: namespace + "/" + name, Type: string(s.Type), Data: s.Data}})
			if err != nil {
				o.problem, err = err.Error(), nil
			} else {
				o.size = o.keychain.Size()
			}
		}
	} else {
		var sa corev1.ServiceAccount
		if err = p.api.get(ctx, path, &sa); err == nil {
			for _, ref := range sa.ImagePullSecrets {
				o.names = append(o.names, ref.Name)
				o.size += len(ref.Name)
			}
		}
	}
	switch {
	case errors.Is(err, errNotFound):
	case err != nil:
		return cachedObject{}, fmt.Errorf("reading %s %s/%s: %w", strings.TrimSuffix(resource, "s"), namespace, name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.cache[key]; ok {
		p.bytes -= old.size
	}
	p.cache[key] = o
	p.bytes += o.size
	// bounded by count and by bytes: expired entries go first, then any
	for _, expiredOnly := range []bool{true, false} {
		for k, v := range p.cache {
			if len(p.cache) <= maxCachedSecrets && p.bytes <= maxCachedBytes {
				return o, nil
			}
			if k != key && (!expiredOnly || !p.now().Before(v.expires)) {
				delete(p.cache, k)
				p.bytes -= v.size
			}
		}
	}
	return o, nil
}

// maxCachedSecrets bounds the secrets and service accounts kept.
const maxCachedSecrets = 4096
