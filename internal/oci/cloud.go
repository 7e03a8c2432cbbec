package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/awslabs/amazon-ecr-credential-helper/ecr-login/api"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Cloud names a cloud whose registries dossier may pull from with the
// process's own cloud identity, as the kubelet's credential providers do.
type Cloud string

const (
	// CloudECR is Amazon ECR (private registries,
	// ACCOUNT.dkr.ecr.REGION.amazonaws.com), with the AWS SDK's default
	// credentials: environment, shared files, web identity (IRSA, Pod
	// Identity), instance metadata.
	CloudECR Cloud = "ecr"
	// CloudGoogle is Artifact Registry (*.pkg.dev) and Container Registry
	// (gcr.io, *.gcr.io), with Application Default Credentials: a key
	// file, gcloud's user credentials, workload identity or the metadata
	// server.
	CloudGoogle Cloud = "google"
	// CloudAzure is Azure Container Registry (*.azurecr.io and the
	// sovereign clouds' suffixes), with a Microsoft Entra identity (see
	// azureKeychain).
	CloudAzure Cloud = "azure"
)

// Clouds are the clouds CloudKeychain knows, in the order it asks them.
var Clouds = []Cloud{CloudECR, CloudGoogle, CloudAzure}

// ParseClouds reads cloud names; an unknown one is an error naming it.
func ParseClouds(names []string) ([]Cloud, error) {
	var clouds []Cloud
	for _, n := range names {
		c := Cloud(strings.TrimSpace(n))
		if !slices.Contains(Clouds, c) {
			return nil, fmt.Errorf("cloud registry credentials %q: want one of ecr, google, azure", n)
		}
		if !slices.Contains(clouds, c) {
			clouds = append(clouds, c)
		}
	}
	return clouds, nil
}

// cloudTimeout bounds each exchange with a cloud's identity and token
// services.
const cloudTimeout = 15 * time.Second

// cloudTokenLifetime is how long a registry credential is reused: well
// inside the shortest lifetime the clouds issue (an hour for Google and
// Azure access tokens, 12 hours for ECR), so a reused one never expires
// mid-pull.
const cloudTokenLifetime = 30 * time.Minute

// maxCloudTokens bounds the registries whose credentials are kept.
const maxCloudTokens = 256

// CloudKeychain resolves credentials for the registries of the named
// clouds from the process's cloud identity, and answers anonymous for every
// other registry, so that it can follow other keychains. A registry of a
// named cloud whose credentials cannot be had is an error naming the
// registry and the cloud's reason, never a silent anonymous pull.
// Exchanges with a registry itself (ACR's) go through transport.
func CloudKeychain(clouds []Cloud, transport http.RoundTripper) authn.Keychain {
	var chain []authn.Keychain
	for _, c := range clouds {
		switch c {
		case CloudECR:
			chain = append(chain, &ecrKeychain{tokens: newTokenCache(time.Now)})
		case CloudGoogle:
			chain = append(chain, &googleKeychain{})
		case CloudAzure:
			chain = append(chain, newAzureKeychain(time.Now, transport))
		}
	}
	return authn.NewMultiKeychain(chain...)
}

// WithClouds is o pulling with its own keychain first, then the clouds'
// credentials for their registries.
func (o RegistryOptions) WithClouds(clouds []Cloud) RegistryOptions {
	if len(clouds) == 0 {
		return o
	}
	first := o.Keychain
	if first == nil {
		first = authn.DefaultKeychain
	}
	transport := o.Transport
	if transport == nil {
		transport = NewTransport(cloudTimeout)
	}
	o.Keychain = authn.NewMultiKeychain(first, CloudKeychain(clouds, transport))
	o.clouds = clouds
	o.shared = nil // shared clients hold another keychain's tokens
	return o
}

// ecrKeychain asks ECR for an authorization token with the AWS SDK's
// default credentials, through the ECR credential helper's client.
type ecrKeychain struct {
	tokens *tokenCache
}

// The helper writes the tokens it gets to a file under the home directory
// unless told not to; dossier keeps them in memory only.
func ecrNoDiskCache() {
	if os.Getenv("AWS_ECR_DISABLE_CACHE") == "" {
		os.Setenv("AWS_ECR_DISABLE_CACHE", "true")
	}
}

func (k *ecrKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), target)
}

func (k *ecrKeychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	registry, err := api.ExtractRegistry(host)
	if err != nil || registry.Service != api.ServiceECR {
		// not a private ECR registry: public.ecr.aws pulls anonymously
		return authn.Anonymous, nil
	}
	// one token serves every registry of a region the identity may read
	key := fmt.Sprintf("%s fips=%t", registry.Region, registry.FIPS)
	return k.tokens.get(ctx, key, func(ctx context.Context) (authn.AuthConfig, error) {
		ecrNoDiskCache()
		factory := api.DefaultClientFactory{}
		var client api.Client
		if registry.FIPS {
			client, err = factory.NewClientWithFipsEndpoint(ctx, registry.Region)
		} else {
			client, err = factory.NewClientFromRegion(ctx, registry.Region)
		}
		if err == nil {
			var auth *api.Auth
			if auth, err = client.GetCredentials(ctx, host); err == nil {
				return authn.AuthConfig{Username: auth.Username, Password: auth.Password}, nil
			}
		}
		return authn.AuthConfig{}, fmt.Errorf("Amazon ECR credentials for %s: %w", host, err)
	})
}

// googleKeychain authenticates to Google's registries with an access token
// from Application Default Credentials (never by running gcloud).
type googleKeychain struct {
	fetching singleflight.Group
	mu       sync.Mutex
	auth     authn.Authenticator
}

// IsGoogleRegistry reports whether host is Artifact Registry or Container
// Registry.
func IsGoogleRegistry(host string) bool {
	return host == "gcr.io" || (strings.HasSuffix(host, ".gcr.io") || strings.HasSuffix(host, ".pkg.dev")) && !strings.HasPrefix(host, ".")
}

func (k *googleKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), target)
}

func (k *googleKeychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	if !IsGoogleRegistry(host) {
		return authn.Anonymous, nil
	}
	k.mu.Lock()
	auth := k.auth
	k.mu.Unlock()
	if auth != nil {
		return auth, nil
	}
	ch := k.fetching.DoChan("", func() (any, error) {
		// the token source outlives this call and refreshes itself: it
		// gets no caller's context, and a client whose every exchange is
		// bounded
		tokens := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: cloudTimeout})
		auth, err := google.NewEnvAuthenticator(tokens)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		k.auth = auth
		k.mu.Unlock()
		return auth, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("Google Cloud credentials for %s: %w", host, r.Err)
		}
		return r.Val.(authn.Authenticator), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("Google Cloud credentials for %s: %w", host, ctx.Err())
	}
}

// tokenCache keeps registry credentials for cloudTokenLifetime, at most
// maxCloudTokens registries; concurrent callers for one registry share one
// fetch, and a failed fetch is not kept.
type tokenCache struct {
	now      func() time.Time
	fetching singleflight.Group
	mu       sync.Mutex
	entries  map[string]cachedToken
}

type cachedToken struct {
	auth  authn.AuthConfig
	err   error
	until time.Time
}

// cloudRefusalLifetime is how long a cloud's refusal is kept.
const cloudRefusalLifetime = 30 * time.Second

func newTokenCache(now func() time.Time) *tokenCache {
	return &tokenCache{now: now, entries: map[string]cachedToken{}}
}

// get returns key's credentials, fetching them when none are kept or they
// are older than their lifetime. The fetch is shared work: it runs on its
// own clock (the first caller's values, none of its cancellation), and each
// caller waits for it only as long as its own context lets it. A refusal is
// kept cloudRefusalLifetime, so that names made up by Pods cost the cloud
// one call each that long.
func (c *tokenCache) get(ctx context.Context, key string, fetch func(context.Context) (authn.AuthConfig, error)) (authn.Authenticator, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && c.now().Before(e.until) {
		if e.err != nil {
			return nil, e.err
		}
		return authn.FromConfig(e.auth), nil
	}
	ch := c.fetching.DoChan(key, func() (any, error) {
		work, cancel := context.WithTimeout(context.WithoutCancel(ctx), cloudTimeout)
		defer cancel()
		auth, err := fetch(work)
		entry := cachedToken{auth: auth, until: c.now().Add(cloudTokenLifetime)}
		if err != nil {
			entry = cachedToken{err: err, until: c.now().Add(cloudRefusalLifetime)}
		}
		c.mu.Lock()
		c.evict()
		c.entries[key] = entry
		c.mu.Unlock()
		return auth, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return authn.FromConfig(r.Val.(authn.AuthConfig)), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evict makes room for one more registry: expired entries go first, then
// the one closest to expiry. Called with mu held.
func (c *tokenCache) evict() {
	if len(c.entries) < maxCloudTokens {
		return
	}
	now := c.now()
	oldest := ""
	for host, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, host)
		} else if oldest == "" || e.until.Before(c.entries[oldest].until) {
			oldest = host
		}
	}
	if len(c.entries) >= maxCloudTokens {
		delete(c.entries, oldest)
	}
}

// acrUsername is the user name ACR takes with a refresh token as password.
const acrUsername = "00000000-0000-0000-0000-000000000000"

// acrScope is the audience of the Entra access tokens ACR exchanges.
const acrScope = "https://containerregistry.azure.net/.default"

// azureKeychain authenticates to ACR as the Azure credential helpers do: a
// Microsoft Entra access token for the process's identity — a service
// principal or workload identity from the environment (AZURE_TENANT_ID,
// AZURE_CLIENT_ID, and AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH
// or AZURE_FEDERATED_TOKEN_FILE), else the managed identity — exchanged at
// the registry for a refresh token.
type azureKeychain struct {
	tokens   *tokenCache
	client   *http.Client
	exchange *http.Client

	mu         sync.Mutex
	credential azcore.TokenCredential
}

func newAzureKeychain(now func() time.Time, transport http.RoundTripper) *azureKeychain {
	return &azureKeychain{tokens: newTokenCache(now), client: &http.Client{Transport: transport, Timeout: cloudTimeout},
		// the Entra token is posted to the registry itself, never where
		// it redirects
		exchange: &http.Client{Transport: transport, Timeout: cloudTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// IsAzureRegistry reports whether host is an Azure Container Registry of
// the cloud dossier's Entra identity belongs to (AZURE_AUTHORITY_HOST:
// the public cloud by default, or Azure China or US Government): an Entra
// token of one cloud never goes to another cloud's registries, which
// others operate.
func IsAzureRegistry(host string) bool {
	suffix := ".azurecr.io"
	switch authority := strings.ToLower(os.Getenv("AZURE_AUTHORITY_HOST")); {
	case strings.Contains(authority, "login.chinacloudapi.cn"):
		suffix = ".azurecr.cn"
	case strings.Contains(authority, "login.microsoftonline.us"):
		suffix = ".azurecr.us"
	}
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}

func (k *azureKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), target)
}

func (k *azureKeychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	if !IsAzureRegistry(host) {
		return authn.Anonymous, nil
	}
	return k.tokens.get(ctx, host, func(ctx context.Context) (authn.AuthConfig, error) {
		refresh, err := k.refreshToken(ctx, host)
		if err != nil {
			return authn.AuthConfig{}, fmt.Errorf("Azure credentials for %s: %w", host, err)
		}
		return authn.AuthConfig{Username: acrUsername, Password: refresh}, nil
	})
}

func (k *azureKeychain) refreshToken(ctx context.Context, host string) (string, error) {
	credential, err := k.identity()
	if err != nil {
		return "", err
	}
	access, err := credential.GetToken(ctx, azpolicy.TokenRequestOptions{Scopes: []string{acrScope}})
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {access.Token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+host+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := k.exchange.Do(req)
	if err != nil {
		return "", fmt.Errorf("exchanging the Entra token at the registry: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("exchanging the Entra token at the registry: %s", resp.Status)
	}
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	// a refresh token is a few KiB: a larger answer is refused, not kept
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&answer); err != nil || answer.RefreshToken == "" {
		return "", fmt.Errorf("exchanging the Entra token at the registry: no refresh token in its answer")
	}
	return answer.RefreshToken, nil
}

// identity is the Entra credential, made once: the environment's service
// principal or workload identity, then the managed identity. Developer
// credentials (the Azure CLI's) are left out: a server pulls as itself.
func (k *azureKeychain) identity() (azcore.TokenCredential, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.credential != nil {
		return k.credential, nil
	}
	options := azcore.ClientOptions{Transport: k.client}
	var chain []azcore.TokenCredential
	if c, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: options}); err == nil {
		chain = append(chain, c)
	}
	if c, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: options}); err == nil {
		chain = append(chain, c)
	}
	if c, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: options}); err == nil {
		chain = append(chain, c)
	}
	credential, err := azidentity.NewChainedTokenCredential(chain, nil)
	if err != nil {
		return nil, err
	}
	k.credential = credential
	return credential, nil
}

// isCloudRegistry says whether host is a registry of cloud c.
func isCloudRegistry(c Cloud, host string) bool {
	switch c {
	case CloudECR:
		r, err := api.ExtractRegistry(host)
		return err == nil && r.Service == api.ServiceECR
	case CloudGoogle:
		return IsGoogleRegistry(host)
	case CloudAzure:
		return IsAzureRegistry(host)
	}
	return false
}

// cloudPingRedirects refuses to follow a cloud registry's /v2/ ping off
// the cloud's registries: the challenge answering the ping names the realm
// the cloud's credentials are sent to, and a host the cloud does not own
// (k8s.gcr.io redirects to registry.k8s.io) must not choose it.
type cloudPingRedirects struct {
	clouds []Cloud
	next   http.RoundTripper
}

func (t cloudPingRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response != nil {
		first := req
		for first.Response != nil && first.Response.Request != nil {
			first = first.Response.Request
		}
		if first.URL.Path == "/v2/" {
			for _, c := range t.clouds {
				if isCloudRegistry(c, first.URL.Host) && !isCloudRegistry(c, req.URL.Host) {
					return nil, fmt.Errorf("%s redirects to %s, which is not %s's: not following it with %s's credentials", first.URL.Host, req.URL.Host, c, c)
				}
			}
		}
	}
	return t.next.RoundTrip(req)
}
