package oci

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Kubernetes' pull secret types and the keys they keep their Docker
// configuration under.
const (
	SecretDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	SecretDockerConfig     = "kubernetes.io/dockercfg"
)

// MaxPullSecretEntries bounds the registries one pull secret names (a
// Docker configuration names a handful).
const MaxPullSecretEntries = 256

// PullSecret is a Kubernetes image pull secret: its name (for errors), type
// and data.
type PullSecret struct {
	Name string
	Type string
	Data map[string][]byte
}

// PullSecrets is the keychain the kubelet would pull with from a Pod's
// pull secrets: each entry of their Docker configurations, matched to an
// image as the kubelet matches them — the registry host (a "*" matching
// one label of it), the port, and a path prefix of the repository; the most
// specific entry wins, and the first secret among equals. It resolves
// nothing (anonymous) for registries none of them names.
type PullSecrets struct {
	entries []pullEntry
}

type pullEntry struct {
	host, port, path string
	auth             authn.AuthConfig
	order            int
}

// NewPullSecrets reads pull secrets; a secret that is not a Docker
// configuration, or does not parse, is an error naming it.
func NewPullSecrets(secrets []PullSecret) (*PullSecrets, error) {
	k := &PullSecrets{}
	for _, s := range secrets {
		var auths map[string]dockerAuth
		switch s.Type {
		case SecretDockerConfigJSON:
			var cfg struct {
				Auths map[string]dockerAuth `json:"auths"`
			}
			if err := json.Unmarshal(s.Data[".dockerconfigjson"], &cfg); err != nil {
				return nil, fmt.Errorf("pull secret %s: .dockerconfigjson is not a Docker configuration", s.Name)
			}
			auths = cfg.Auths
		case SecretDockerConfig:
			if err := json.Unmarshal(s.Data[".dockercfg"], &auths); err != nil {
				return nil, fmt.Errorf("pull secret %s: .dockercfg is not a Docker configuration", s.Name)
			}
		default:
			return nil, fmt.Errorf("pull secret %s: type %q is not %s or %s", s.Name, s.Type, SecretDockerConfigJSON, SecretDockerConfig)
		}
		if len(auths) > MaxPullSecretEntries {
			return nil, fmt.Errorf("pull secret %s: %d registries, more than the %d dossier reads", s.Name, len(auths), MaxPullSecretEntries)
		}
		keys := make([]string, 0, len(auths))
		for key := range auths {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			a := auths[key]
			cfg := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
			if a.Auth != "" {
				decoded, err := base64.StdEncoding.DecodeString(a.Auth)
				user, password, ok := strings.Cut(string(decoded), ":")
				if err != nil || !ok {
					return nil, fmt.Errorf("pull secret %s: an auth is not base64 of user:password", s.Name)
				}
				cfg.Username, cfg.Password = user, password
			}
			host, port, p, err := entryLocation(key)
			if err != nil {
				// never the key: a malformed one may hold a password
				return nil, fmt.Errorf("pull secret %s: a registry key is not a registry location", s.Name)
			}
			k.entries = append(k.entries, pullEntry{host: host, port: port, path: p, auth: cfg, order: len(k.entries)})
		}
	}
	k.sort()
	return k, nil
}

// sort puts the most specific entries first: longer paths, then hosts
// without globs, then the earlier.
func (k *PullSecrets) sort() {
	sort.SliceStable(k.entries, func(i, j int) bool {
		a, b := k.entries[i], k.entries[j]
		if len(a.path) != len(b.path) {
			return len(a.path) > len(b.path)
		}
		if ga, gb := strings.Count(a.host, "*"), strings.Count(b.host, "*"); ga != gb {
			return ga < gb
		}
		return a.order < b.order
	})
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// entryLocation reads a Docker configuration's key ("host", "host:port",
// "host/path", "https://host/v1/") as host, port and path.
func entryLocation(key string) (host, port, p string, err error) {
	if !strings.Contains(key, "://") {
		key = "https://" + key
	}
	u, err := url.Parse(key)
	if err != nil || u.Host == "" {
		return "", "", "", fmt.Errorf("not a registry location")
	}
	host, port = u.Host, ""
	if h, p, err := net.SplitHostPort(u.Host); err == nil {
		host, port = h, p
	}
	p = strings.Trim(path.Clean("/"+u.Path), "/")
	if p == "v1" || p == "v2" { // Docker's own index URLs name the registry, not a path
		p = ""
	}
	return strings.ToLower(host), port, p, nil
}

// matches says whether an entry covers a repository of a registry.
func (e pullEntry) matches(registry, repository string) bool {
	host, port := registry, ""
	if h, p, err := net.SplitHostPort(registry); err == nil {
		host, port = h, p
	}
	if port != e.port {
		return false
	}
	want, got := strings.Split(e.host, "."), strings.Split(strings.ToLower(host), ".")
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if ok, _ := path.Match(want[i], got[i]); !ok {
			return false
		}
	}
	return e.path == "" || repository == e.path || strings.HasPrefix(repository, e.path+"/")
}

// MergePullSecrets is one keychain of several secrets' entries, the
// earlier secrets first among equals.
func MergePullSecrets(keychains ...*PullSecrets) *PullSecrets {
	out := &PullSecrets{}
	for _, k := range keychains {
		if k == nil {
			continue
		}
		for _, e := range k.entries {
			e.order = len(out.entries)
			out.entries = append(out.entries, e)
		}
	}
	out.sort()
	return out
}

// Size is roughly what the keychain holds in memory, in bytes.
func (k *PullSecrets) Size() int {
	n := 0
	for _, e := range k.entries {
		n += 64 + len(e.host) + len(e.port) + len(e.path) + len(e.auth.Username) + len(e.auth.Password) + len(e.auth.IdentityToken) + len(e.auth.RegistryToken)
	}
	return n
}

// Resolve is the credential of the most specific entry covering the
// target; anonymous when none does.
func (k *PullSecrets) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if e, ok := k.entry(target); ok {
		return authn.FromConfig(e.auth), nil
	}
	return authn.Anonymous, nil
}

func (k *PullSecrets) entry(target authn.Resource) (pullEntry, bool) {
	if k == nil {
		return pullEntry{}, false
	}
	registry := target.RegistryStr()
	repository := strings.TrimPrefix(strings.TrimPrefix(target.String(), registry), "/")
	for _, e := range k.entries {
		if e.matches(registry, repository) {
			return e, true
		}
	}
	return pullEntry{}, false
}

// Fingerprint names the credential the secrets give for a target ("" when
// none): what answers about the target are kept under, so that what one
// namespace's secret let dossier read is never handed to a namespace
// without it.
func (k *PullSecrets) Fingerprint(target authn.Resource) string {
	e, ok := k.entry(target)
	if !ok {
		return ""
	}
	data, _ := json.Marshal(e.auth)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// WithPullSecrets is o pulling with the secrets first, then o's own
// keychain for registries they do not name.
func (o RegistryOptions) WithPullSecrets(k *PullSecrets) RegistryOptions {
	if k == nil || len(k.entries) == 0 {
		return o
	}
	fallback := o.Keychain
	if fallback == nil {
		fallback = authn.DefaultKeychain
	}
	o.Keychain = authn.NewMultiKeychain(secretsFirst{k}, fallback)
	o.shared = nil // shared clients hold another keychain's tokens
	return o
}

// secretsFirst resolves through the secrets, and lets the next keychain
// answer where they name nothing (the multi-keychain moves on from an
// anonymous answer).
type secretsFirst struct{ k *PullSecrets }

func (s secretsFirst) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return s.k.Resolve(target)
}
