package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryOptions controls how registries are reached.
type RegistryOptions struct {
	// InsecureRegistries are hosts ("host" or "host:port") that may be
	// reached over plain HTTP. Loopback registries always may.
	InsecureRegistries []string
	// Keychain resolves credentials; the Docker config keychain by default.
	Keychain authn.Keychain
	// Timeout bounds each registry request (default 60s).
	Timeout time.Duration
	// Retries is how many times a failed request is retried (default 2).
	Retries int
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper

	shared *sharedClients
	// clouds are the clouds whose credentials the keychain holds
	clouds []Cloud
}

// sharedClients reuse token exchanges and transports across the requests
// of one run (go-containerregistry's Puller and Pusher).
type sharedClients struct {
	once   sync.Once
	puller *remote.Puller
	pusher *remote.Pusher
}

// ShareClients makes every request of these options (and their copies)
// reuse one authenticated client per registry, for runs that touch many
// artifacts. Each call still runs under its own context.
func (o *RegistryOptions) ShareClients() { o.shared = &sharedClients{} }

// IsLoopbackHost reports whether host ("name" or "name:port") is a loopback
// address or localhost.
func IsLoopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (o RegistryOptions) allowsHTTP(host string) bool {
	return IsLoopbackHost(host) || slices.Contains(o.InsecureRegistries, host)
}

// nameOptions makes references to loopback and explicitly insecure
// registries use plain HTTP; every other host must speak TLS.
func (o RegistryOptions) nameOptions(ref string) []name.Option {
	r, err := name.ParseReference(ref)
	if err == nil && o.allowsHTTP(r.Context().RegistryStr()) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference parses ref with plain HTTP allowed only where the options
// allow it.
func (o RegistryOptions) ParseReference(ref string) (name.Reference, error) {
	return name.ParseReference(ref, o.nameOptions(ref)...)
}

// Remote returns go-containerregistry options for ctx: credentials, the
// transport policy, bounded retries, and the referrers tag fallback for
// registries without the referrers API.
func (o RegistryOptions) Remote(ctx context.Context) []remote.Option {
	opts := append(o.remoteOptions(), remote.WithReferrersTagFallback(true))
	if o.shared != nil {
		// the shared clients outlive any one call: they get no caller's
		// context; each call passes its own below
		o.shared.once.Do(func() {
			o.shared.puller, _ = remote.NewPuller(opts...)
			o.shared.pusher, _ = remote.NewPusher(opts...)
		})
	}
	opts = append(opts, remote.WithContext(ctx))
	if o.shared == nil {
		return opts
	}
	if o.shared.puller != nil && o.shared.pusher != nil {
		opts = append(opts, remote.Reuse(o.shared.puller), remote.Reuse(o.shared.pusher))
	}
	return opts
}

func (o RegistryOptions) remoteOptions() []remote.Option {
	keychain := o.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	retries := o.Retries
	if retries <= 0 {
		retries = 2
	}
	base := o.Transport
	if base == nil {
		base = NewTransport(timeout)
	}
	if len(o.clouds) > 0 {
		base = cloudPingRedirects{clouds: o.clouds, next: base}
	}
	return []remote.Option{
		remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(boundedManifests{next: httpsOnly{allowed: o.allowsHTTP, next: base}}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: retries + 1, Cap: 5 * time.Second}),
		remote.WithUserAgent("dossier"),
	}
}

// NewTransport is the HTTP transport registry requests use: bounded
// header and TLS handshake waits. Share one to reuse connections.
func NewTransport(timeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.TLSHandshakeTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 16
	return t
}

// ErrPlainHTTPRefused says a registry was to be reached without TLS.
var ErrPlainHTTPRefused = errors.New("refusing plain HTTP")

// httpsOnly refuses plain-HTTP requests to hosts that are neither loopback
// nor listed as insecure. go-containerregistry itself falls back to HTTP
// for private address ranges; dossier does not.
type httpsOnly struct {
	allowed func(host string) bool
	next    http.RoundTripper
}

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.allowed(req.URL.Host) {
		return nil, fmt.Errorf("%w to %s: only loopback registries and hosts listed as insecure may use it", ErrPlainHTTPRefused, req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

// MaxManifestBytes bounds a manifest, an index or a referrers list read
// from a registry, as distribution bounds what it accepts: a registry
// serving more (hostile, or broken) costs the reader no more memory than
// this.
const MaxManifestBytes = 4 << 20

// ErrManifestTooLarge says a registry answered with a manifest past
// MaxManifestBytes.
var ErrManifestTooLarge = fmt.Errorf("manifest larger than the %d MiB registries accept", MaxManifestBytes>>20)

// boundedManifests cuts manifest and referrers answers at
// MaxManifestBytes; go-containerregistry would buffer up to 100 MiB of
// each.
type boundedManifests struct{ next http.RoundTripper }

func (t boundedManifests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method == http.MethodHead || !strings.HasPrefix(req.URL.Path, "/v2/") ||
		!strings.Contains(req.URL.Path, "/manifests/") && !strings.Contains(req.URL.Path, "/referrers/") {
		return resp, err
	}
	if resp.ContentLength > MaxManifestBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w (it declares %d bytes)", req.URL.Redacted(), ErrManifestTooLarge, resp.ContentLength)
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: MaxManifestBytes, url: req.URL.Redacted()}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left int64
	url  string
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// one byte more says whether the body ends exactly at the bound
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%s: %w", b.url, ErrManifestTooLarge)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
