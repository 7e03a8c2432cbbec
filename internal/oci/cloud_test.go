package oci

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// pushTo pushes a random image to ref through tr with user:password and
// returns its digest.
func pushTo(t *testing.T, tr http.RoundTripper, ref, user, password string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(tr), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func basicAuthIs(user, password string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == user && p == password
	}
}

// resolveWith resolves ref through tr with the clouds' credentials.
func resolveWith(tr http.RoundTripper, ref string, clouds []Cloud) (*Artifact, error) {
	opts := RegistryOptions{Transport: tr, Keychain: authn.NewMultiKeychain()}.WithClouds(clouds)
	return Resolve(context.Background(), Source{Kind: KindRegistry, Input: ref, Reference: ref}, opts)
}

// awsEnvironment points the AWS SDK at endpoint for ECR, with static
// credentials and nothing read from the machine.
func awsEnvironment(t *testing.T, endpoint string) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDOSSIERTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "dossier-secret-access-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ENDPOINT_URL_ECR", endpoint)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "none"))
	t.Setenv("AWS_PROFILE", "")
}

// ecrAPI answers ECR's GetAuthorizationToken as the AWS API does (JSON 1.1
// protocol), for requests signed with the test's access key; refuse makes
// it answer as it does to a principal without the permission.
func ecrAPI(t *testing.T, password string, calls *atomic.Int32, refuse bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" ||
			!strings.Contains(r.Header.Get("Authorization"), "Credential=AKIDDOSSIERTEST/") {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		var in struct {
			RegistryIDs []string `json:"registryIds"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil || len(in.RegistryIDs) != 1 {
			http.Error(w, "registryIds: "+string(body), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if refuse {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"not authorized to perform: ecr:GetAuthorizationToken"}`)
			return
		}
		token := base64.StdEncoding.EncodeToString([]byte("AWS:" + password))
		fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://%s.dkr.ecr.us-east-1.amazonaws.com"}]}`,
			token, time.Now().Add(12*time.Hour).Unix(), in.RegistryIDs[0])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestECRCredentials(t *testing.T) {
	const host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	var calls atomic.Int32
	api := ecrAPI(t, "ecr-issued-password", &calls, false)
	awsEnvironment(t, api.URL)
	tr := testutil.NamedServers(t, map[string]http.Handler{host: testutil.NamedRegistry(host, basicAuthIs("AWS", "ecr-issued-password"))})
	ref := host + "/team/app:1"
	digest := pushTo(t, tr, ref, "AWS", "ecr-issued-password")

	if _, err := resolveWith(tr, ref, nil); err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Fatalf("without ECR credentials the registry must refuse: %v", err)
	}
	keychain := RegistryOptions{Transport: tr, Keychain: authn.NewMultiKeychain()}.WithClouds([]Cloud{CloudECR})
	for range 3 {
		a, err := Resolve(context.Background(), Source{Kind: KindRegistry, Input: ref, Reference: ref}, keychain)
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject.Digest != digest {
			t.Fatalf("resolved %s, pushed %s", a.Subject.Digest, digest)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("ECR was asked for %d tokens for one registry; want 1 (kept for %v)", n, cloudTokenLifetime)
	}
	// as the kubelet does: a Pod's pull secrets first, the cloud's
	// credentials for registries the secrets do not name
	secrets, err := NewPullSecrets([]PullSecret{{Name: "other", Type: SecretDockerConfigJSON,
		Data: map[string][]byte{".dockerconfigjson": dockerConfigJSON(map[string]string{"registry.example.org": "u:p"})}}})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := Resolve(context.Background(), Source{Kind: KindRegistry, Input: ref, Reference: ref}, keychain.WithPullSecrets(secrets)); err != nil || a.Subject.Digest != digest {
		t.Fatalf("with pull secrets for another registry: %v", err)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".ecr")); !os.IsNotExist(err) {
		t.Fatalf("ECR tokens were written under the home directory: %v", err)
	}

	// registries that are not private ECR ones are not ECR's to answer
	for _, other := range []string{"public.ecr.aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com.example.org", "registry.example.org"} {
		auth, err := CloudKeychain([]Cloud{CloudECR}, nil).Resolve(mustRegistry(t, other))
		if err != nil || auth != authn.Anonymous {
			t.Fatalf("%s: %v, %v; want anonymous", other, auth, err)
		}
	}
}

func TestECRRefusalIsVisible(t *testing.T) {
	const host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	var calls atomic.Int32
	api := ecrAPI(t, "unused", &calls, true)
	awsEnvironment(t, api.URL)
	tr := testutil.NamedServers(t, map[string]http.Handler{host: testutil.NamedRegistry(host, basicAuthIs("AWS", "unused"))})
	_, err := resolveWith(tr, host+"/team/app:1", []Cloud{CloudECR})
	if err == nil {
		t.Fatal("resolved without credentials")
	}
	for _, want := range []string{"Amazon ECR credentials for " + host, "AccessDenied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "dossier-secret-access-key") {
		t.Errorf("error carries the secret key: %v", err)
	}
	// a refusal is not kept: the next pull asks again
	before := calls.Load()
	if _, err := resolveWith(tr, host+"/team/app:1", []Cloud{CloudECR}); err == nil || calls.Load() == before {
		t.Fatalf("a refused token was kept (calls %d → %d, %v)", before, calls.Load(), err)
	}
}

func mustRegistry(t *testing.T, host string) name.Registry {
	t.Helper()
	r, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// googleTokenService is an OAuth 2.0 token endpoint for a service account's
// signed assertion (RFC 7523), as Google's is: it checks the assertion's
// RS256 signature with the account's public key and its scope.
func googleTokenService(t *testing.T, pub *rsa.PublicKey, accessToken string, calls *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, "grant_type", http.StatusBadRequest)
			return
		}
		parts := strings.Split(r.Form.Get("assertion"), ".")
		if len(parts) != 3 {
			http.Error(w, "assertion", http.StatusBadRequest)
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
			http.Error(w, "signature", http.StatusUnauthorized)
			return
		}
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if !strings.Contains(string(claims), "https://www.googleapis.com/auth/cloud-platform") {
			http.Error(w, "scope", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, accessToken)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGoogleCredentials(t *testing.T) {
	const host = "europe-docker.pkg.dev"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	tokens := googleTokenService(t, &key.PublicKey, "ya29.dossier-test-token", &calls)
	keyFile := filepath.Join(t.TempDir(), "sa.json")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	account, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "dossier-test", "private_key_id": "k1",
		"private_key": string(pemKey), "client_email": "puller@dossier-test.iam.gserviceaccount.com",
		"client_id": "1", "token_uri": tokens.URL + "/token",
	})
	if err := os.WriteFile(keyFile, account, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", keyFile)
	t.Setenv("HOME", t.TempDir())

	tr := testutil.NamedServers(t, map[string]http.Handler{host: testutil.NamedRegistry(host, basicAuthIs("_token", "ya29.dossier-test-token"))})
	ref := host + "/dossier-test/images/app:1"
	digest := pushTo(t, tr, ref, "_token", "ya29.dossier-test-token")
	if _, err := resolveWith(tr, ref, nil); err == nil {
		t.Fatal("resolved without Google credentials")
	}
	keychain := RegistryOptions{Transport: tr, Keychain: authn.NewMultiKeychain()}.WithClouds([]Cloud{CloudGoogle})
	for range 3 {
		a, err := Resolve(context.Background(), Source{Kind: KindRegistry, Input: ref, Reference: ref}, keychain)
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject.Digest != digest {
			t.Fatalf("resolved %s, pushed %s", a.Subject.Digest, digest)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the token service was asked %d times; want 1 (the token is reused until it expires)", n)
	}
	for _, other := range []string{"pkg.dev.example.org", "gcr.io.example.org", "registry.example.org"} {
		auth, err := CloudKeychain([]Cloud{CloudGoogle}, nil).Resolve(mustRegistry(t, other))
		if err != nil || auth != authn.Anonymous {
			t.Fatalf("%s: %v, %v; want anonymous", other, auth, err)
		}
	}
}

func TestGoogleWithoutCredentialsIsVisible(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
	_, err := CloudKeychain([]Cloud{CloudGoogle}, nil).Resolve(mustRegistry(t, "gcr.io"))
	if err == nil || !strings.Contains(err.Error(), "Google Cloud credentials for gcr.io") {
		t.Fatalf("want an error naming the registry, got %v", err)
	}
}

func TestParseClouds(t *testing.T) {
	got, err := ParseClouds([]string{"ecr", "google", "ecr", " azure"})
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseClouds([]string{"aws"}); err == nil || !strings.Contains(err.Error(), `"aws"`) {
		t.Fatalf("unknown cloud: %v", err)
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := newTokenCache(func() time.Time { return now })
	for i := range maxCloudTokens + 50 {
		if _, err := c.get(context.Background(), fmt.Sprintf("r%d", i), func(context.Context) (authn.AuthConfig, error) { return authn.AuthConfig{Password: "p"}, nil }); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	if len(c.entries) > maxCloudTokens {
		t.Fatalf("%d entries kept; at most %d", len(c.entries), maxCloudTokens)
	}
	// the newest are kept
	fetched := false
	c.get(context.Background(), fmt.Sprintf("r%d", maxCloudTokens+49), func(context.Context) (authn.AuthConfig, error) { fetched = true; return authn.AuthConfig{}, nil })
	if fetched {
		t.Fatal("the newest entry was evicted")
	}
	// an entry past its lifetime is fetched again
	now = now.Add(cloudTokenLifetime)
	c.get(context.Background(), fmt.Sprintf("r%d", maxCloudTokens+49), func(context.Context) (authn.AuthConfig, error) { fetched = true; return authn.AuthConfig{}, nil })
	if !fetched {
		t.Fatal("an expired entry was reused")
	}
}

// entra answers what MSAL asks of Microsoft Entra ID for a service
// principal with a client secret: instance and tenant discovery, then the
// client credentials grant for ACR's audience.
func entra(t *testing.T, authority, accessToken string, calls *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/discovery/instance"):
			fmt.Fprintf(w, `{"tenant_discovery_endpoint":"https://%s/dossier-tenant/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[{"preferred_network":%q,"preferred_cache":%q,"aliases":[%q]}]}`, authority, authority, authority, authority)
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			fmt.Fprintf(w, `{"authorization_endpoint":"https://%[1]s/dossier-tenant/oauth2/v2.0/authorize","token_endpoint":"https://%[1]s/dossier-tenant/oauth2/v2.0/token","issuer":"https://%[1]s/dossier-tenant/v2.0"}`, authority)
		case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
			calls.Add(1)
			if err := r.ParseForm(); err != nil || r.Form.Get("client_id") != "dossier-client" || r.Form.Get("client_secret") != "dossier-client-secret" ||
				!strings.Contains(r.Form.Get("scope"), "https://containerregistry.azure.net/.default") {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
				return
			}
			fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":%q}`, accessToken)
		default:
			http.NotFound(w, r)
		}
	})
}

// acrRegistry is a registry that, as ACR does, exchanges an Entra access
// token for a refresh token at /oauth2/exchange and takes that refresh
// token as the password of the null user.
func acrRegistry(host, accessToken, refreshToken string) http.Handler {
	registry := testutil.NamedRegistry(host, basicAuthIs(acrUsername, refreshToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/exchange" {
			registry.ServeHTTP(w, r)
			return
		}
		if r.ParseForm() != nil || r.Form.Get("grant_type") != "access_token" || r.Form.Get("service") != host || r.Form.Get("access_token") != accessToken {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"refresh_token":%q}`, refreshToken)
	})
}

func azureEnvironment(t *testing.T, authority, secret string) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AZURE_AUTHORITY_HOST", "https://"+authority+"/")
	t.Setenv("AZURE_TENANT_ID", "dossier-tenant")
	t.Setenv("AZURE_CLIENT_ID", "dossier-client")
	t.Setenv("AZURE_CLIENT_SECRET", secret)
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	t.Setenv("AZURE_CLIENT_CERTIFICATE_PATH", "")
}

func TestAzureCredentials(t *testing.T) {
	const host, authority = "dossiertest.azurecr.io", "login.dossier.test"
	var calls atomic.Int32
	tr := testutil.NamedServers(t, map[string]http.Handler{
		host:      acrRegistry(host, "entra-access-token", "acr-refresh-token"),
		authority: entra(t, authority, "entra-access-token", &calls),
		// MSAL asks the public cloud's discovery about a host it does not know
		"login.microsoftonline.com": entra(t, authority, "entra-access-token", &calls),
	})
	azureEnvironment(t, authority, "dossier-client-secret")
	ref := host + "/team/app:1"
	digest := pushTo(t, tr, ref, acrUsername, "acr-refresh-token")
	if _, err := resolveWith(tr, ref, nil); err == nil {
		t.Fatal("resolved without Azure credentials")
	}
	opts := RegistryOptions{Transport: tr, Keychain: authn.NewMultiKeychain()}.WithClouds([]Cloud{CloudAzure})
	for range 3 {
		a, err := Resolve(context.Background(), Source{Kind: KindRegistry, Input: ref, Reference: ref}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject.Digest != digest {
			t.Fatalf("resolved %s, pushed %s", a.Subject.Digest, digest)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("Entra was asked for %d tokens; want 1", n)
	}
	// another cloud's registries, which others operate, get no token of this one
	for _, other := range []string{"azurecr.io", "dossiertest.azurecr.io.example.org", "registry.example.org", "dossiertest.azurecr.cn", "dossiertest.azurecr.us"} {
		auth, err := CloudKeychain([]Cloud{CloudAzure}, tr).Resolve(mustRegistry(t, other))
		if err != nil || auth != authn.Anonymous {
			t.Fatalf("%s: %v, %v; want anonymous", other, auth, err)
		}
	}
}

func TestAzureRefusalIsVisible(t *testing.T) {
	const host, authority = "dossiertest.azurecr.io", "login.dossier.test"
	var calls atomic.Int32
	tr := testutil.NamedServers(t, map[string]http.Handler{
		host:                        acrRegistry(host, "entra-access-token", "acr-refresh-token"),
		authority:                   entra(t, authority, "entra-access-token", &calls),
		"login.microsoftonline.com": entra(t, authority, "entra-access-token", &calls),
	})
	azureEnvironment(t, authority, "a-wrong-secret")
	_, err := resolveWith(tr, host+"/team/app:1", []Cloud{CloudAzure})
	if err == nil || !strings.Contains(err.Error(), "Azure credentials for "+host) || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("want Entra's refusal naming the registry, got %v", err)
	}
	if strings.Contains(err.Error(), "a-wrong-secret") {
		t.Fatalf("the error carries the client secret: %v", err)
	}
}

// The registries of the Entra identity's own cloud are Azure's to answer:
// Azure China's with an Azure China authority, and only those.
func TestAzureSovereignClouds(t *testing.T) {
	for authority, want := range map[string]string{"": "x.azurecr.io", "https://login.chinacloudapi.cn/": "x.azurecr.cn", "https://login.microsoftonline.us/": "x.azurecr.us"} {
		t.Setenv("AZURE_AUTHORITY_HOST", authority)
		for _, host := range []string{"x.azurecr.io", "x.azurecr.cn", "x.azurecr.us"} {
			if got := IsAzureRegistry(host); got != (host == want) {
				t.Errorf("authority %q: IsAzureRegistry(%s) = %v", authority, host, got)
			}
		}
	}
}
