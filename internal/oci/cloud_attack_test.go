package oci

// Attacks on the cloud registry credentials (--cloud-credentials), run
// against servers on 127.0.0.1 that answer as the clouds do (see
// cloud_test.go). A test named TestAttack… that fails shows a weakness of
// the current code; one that passes is an attack that did not work, kept as
// a regression test.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/awslabs/amazon-ecr-credential-helper/ecr-login/api"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// cloudDomains are the domains each cloud owns, under which its
// credentials may go.
var cloudDomains = map[Cloud][]string{
	CloudECR: {"amazonaws.com", "amazonaws.com.cn", "amazonaws.eu", "on.aws", "on.amazonwebservices.com.cn",
		"sc2s.sgov.gov", "c2s.ic.gov", "cloud.adc-e.uk", "csp.hci.ic.gov"},
	CloudGoogle: {"gcr.io", "pkg.dev"},
	CloudAzure:  {"azurecr.io", "azurecr.cn", "azurecr.us"},
}

// cloudMatches says which clouds' keychains hand their credentials to host.
func cloudMatches(host string) []Cloud {
	var clouds []Cloud
	if r, err := api.ExtractRegistry(host); err == nil && r.Service == api.ServiceECR {
		clouds = append(clouds, CloudECR)
	}
	if IsGoogleRegistry(host) {
		clouds = append(clouds, CloudGoogle)
	}
	if IsAzureRegistry(host) {
		clouds = append(clouds, CloudAzure)
	}
	return clouds
}

// dialedHost is the host net/http connects to (and verifies the
// certificate of) for a request to the registry named host, as its
// transport spells it (IDNA-mapped), lower case, without a trailing dot.
func dialedHost(host string) (string, bool) {
	var dialed string
	tr := &http.Transport{DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
		dialed = addr
		return nil, errors.New("not dialled")
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return "", false
	}
	tr.RoundTrip(req)
	if dialed == "" {
		return "", false
	}
	h := dialed[:strings.LastIndex(dialed, ":")] // the transport always adds the port
	return strings.TrimSuffix(strings.ToLower(h), "."), true
}

func ownedBy(c Cloud, host string) bool {
	for _, d := range cloudDomains[c] {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// Host spellings: case, trailing dots, ports, userinfo, percent-encoding,
// IDN separators and full-width letters, IPv6 brackets, odd separators.
// Every spelling the name library accepts and a cloud's matcher takes must
// be dialled at a host under that cloud's domains.
func TestAttackHostSpellingsStayWithTheCloud(t *testing.T) {
	bases := []string{
		"gcr.io", "eu.gcr.io", "europe-docker.pkg.dev",
		"dossiertest.azurecr.io", "dossiertest.azurecr.cn", "dossiertest.azurecr.us",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr-ecr.us-east-1.on.aws",
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
	}
	seps := []string{".", "@", "#", "?", "/", "\\", ";", ",", ":", ":443", "%2f", "%2e", "%40", "%00", "\x00", " ", "\t",
		"\u3002", "\uff0e", "\uff61", "\uff20", "\uff03", "\uff0f", "\uff1a", "\u2024", "\u00ad", "\u200b", "!", "$", "&", "'", "(", ")", "*", "+", "=", "<", ">", "\"", "[", "]"}
	var spellings []string
	for _, b := range bases {
		spellings = append(spellings, b, b+".", strings.ToUpper(b), b+":443", b+":8443", b+":0", b+":99999",
			"user@"+b, "user:pass@"+b, "["+b+"]", "[::1]."+b, "."+b, "xn--"+b, "ｅｖｉｌ."+b, "evil."+strings.ToUpper(b))
		for _, s := range seps {
			spellings = append(spellings, "evil.example.org"+s+b, b+s+"evil.example.org", "evil.example.org"+s+"."+b, b+"."+s+"evil.example.org")
		}
	}
	spellings = append(spellings, "pkg.dev", ".pkg.dev", "gcr.io.evil.example.org", "azurecr.io", ".azurecr.io",
		"evil.example.org:1.pkg.dev", "evil.example.org:443.gcr.io", "[::ffff:1.2.3.4].gcr.io")
	accepted, matched := 0, 0
	for _, s := range spellings {
		reg, err := name.NewRegistry(s)
		if err != nil {
			continue
		}
		accepted++
		host := reg.RegistryStr()
		for _, c := range cloudMatches(host) {
			matched++
			dialed, ok := dialedHost(host)
			if !ok {
				continue // no request can be made to it
			}
			if !ownedBy(c, dialed) {
				t.Errorf("%q: %s's credentials are handed to it, and the request goes to %q", s, c, dialed)
			}
		}
	}
	t.Logf("%d spellings, %d accepted by the name library, %d matched by a cloud", len(spellings), accepted, matched)
}

// ecrAPIWith answers as ECR's API does (see ecrAPI), running before
// first and answer to write the answer.
func ecrAPIWith(t *testing.T, before func(id string), answer func(w http.ResponseWriter, id string)) string {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			RegistryIDs []string `json:"registryIds"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		id := ""
		if len(in.RegistryIDs) == 1 {
			id = in.RegistryIDs[0]
		}
		if before != nil {
			before(id)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		answer(w, id)
	})
	return newLocalServer(t, h)
}

func newLocalServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func ecrToken(w http.ResponseWriter, id, password string) {
	token := base64.StdEncoding.EncodeToString([]byte("AWS:" + password))
	fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://%s.dkr.ecr.us-east-1.amazonaws.com"}]}`,
		token, time.Now().Add(12*time.Hour).Unix(), id)
}

// A Pod naming many ECR registries (any twelve digits make one) makes
// dossier ask ECR for a token per registry, though one token serves every
// registry of a region the identity may read ("specifying a registry ID
// doesn't change the permissions scope of the authorization token"), and
// the 257th evicts the registries the cluster really pulls from.
func TestAttackDistinctECRRegistriesEachCostATokenCall(t *testing.T) {
	var calls atomic.Int32
	endpoint := ecrAPIWith(t, func(string) { calls.Add(1) }, func(w http.ResponseWriter, id string) { ecrToken(w, id, "p") })
	awsEnvironment(t, endpoint)
	k := &ecrKeychain{tokens: newTokenCache(time.Now)}
	const legit = "111111111111.dkr.ecr.us-east-1.amazonaws.com"
	if _, err := k.Resolve(mustRegistry(t, legit)); err != nil {
		t.Fatal(err)
	}
	const pod = maxCloudTokens + 44
	for i := range pod {
		if _, err := k.Resolve(mustRegistry(t, fmt.Sprintf("%012d.dkr.ecr.us-east-1.amazonaws.com", 200000000000+i))); err != nil {
			t.Fatal(err)
		}
	}
	before := calls.Load()
	if _, err := k.Resolve(mustRegistry(t, legit)); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before {
		t.Errorf("the registry the cluster pulls from was evicted by %d made-up ones: ECR asked again", pod)
	}
	if n := calls.Load(); n > 2 {
		t.Errorf("ECR was asked for %d tokens for %d registries of one region; one token serves them all", n, pod+1)
	}
}

// A refusal is not kept, so a Pod naming ECR registries of a region where
// dossier's identity is refused (or throttled) makes one GetAuthorizationToken
// call per image, every time: the rate ECR counts against the account and
// region, which the nodes' own credential provider shares. (Answered
// ThrottlingException instead, the SDK retries each call twice with
// back-off: 40 images made 120 calls and took 67 s.)
func TestAttackRefusedECRRegistriesAskOnEveryResolution(t *testing.T) {
	var calls atomic.Int32
	endpoint := ecrAPIWith(t, func(string) { calls.Add(1) }, func(w http.ResponseWriter, _ string) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"AccessDeniedException","message":"not authorized to perform: ecr:GetAuthorizationToken"}`)
	})
	awsEnvironment(t, endpoint)
	k := &ecrKeychain{tokens: newTokenCache(time.Now)}
	const images = 40
	for i := range images {
		if _, err := k.Resolve(mustRegistry(t, fmt.Sprintf("%012d.dkr.ecr.eu-west-1.amazonaws.com", 400000000000+i%4))); err == nil {
			t.Fatal("credentials from a refusal")
		}
	}
	if n := calls.Load(); n > 4 {
		t.Errorf("%d images of a refused region in a row: ECR's API was called %d times", images, n)
	}
}

// One caller's cancellation (its review ended, its client went away) fails
// every other caller waiting on the same shared fetch.
func TestAttackOneCallersCancellationFailsTheOthers(t *testing.T) {
	endpoint := ecrAPIWith(t, func(string) { time.Sleep(600 * time.Millisecond) }, func(w http.ResponseWriter, id string) { ecrToken(w, id, "p") })
	awsEnvironment(t, endpoint)
	k := &ecrKeychain{tokens: newTokenCache(time.Now)}
	reg := mustRegistry(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com")
	first, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.ResolveContext(first, reg)
	}()
	time.Sleep(100 * time.Millisecond)
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := k.ResolveContext(context.Background(), reg)
	wg.Wait()
	if err != nil {
		t.Errorf("a caller with all the time it needs failed because another gave up: %v", err)
	}
}

// A region whose token exchange hangs holds back no other region.
func TestAttackHangingECRFetchHoldsBackOnlyItsRegistry(t *testing.T) {
	const slow = "222222222222"
	endpoint := ecrAPIWith(t, func(id string) {
		if id == slow {
			time.Sleep(3 * time.Second)
		}
	}, func(w http.ResponseWriter, id string) { ecrToken(w, id, "p") })
	awsEnvironment(t, endpoint)
	k := &ecrKeychain{tokens: newTokenCache(time.Now)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go k.ResolveContext(ctx, mustRegistry(t, slow+".dkr.ecr.us-east-1.amazonaws.com"))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := k.ResolveContext(ctx, mustRegistry(t, "333333333333.dkr.ecr.eu-west-1.amazonaws.com")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("another registry waited %v behind the hanging one", d)
	}
}

// Answers ECR's API should never give: no panic, no token, an error.
func TestAttackMalformedECRAnswers(t *testing.T) {
	answers := map[string]string{
		"empty":            `{}`,
		"no data":          `{"authorizationData":[]}`,
		"null":             `null`,
		"not JSON":         `<html>`,
		"bad base64":       `{"authorizationData":[{"authorizationToken":"!!!","proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}`,
		"no colon":         fmt.Sprintf(`{"authorizationData":[{"authorizationToken":%q,"proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}`, base64.StdEncoding.EncodeToString([]byte("AWS"))),
		"foreign endpoint": fmt.Sprintf(`{"authorizationData":[{"authorizationToken":%q,"proxyEndpoint":"https://evil.example.org"}]}`, base64.StdEncoding.EncodeToString([]byte("AWS:p"))),
		"no endpoint":      fmt.Sprintf(`{"authorizationData":[{"authorizationToken":%q}]}`, base64.StdEncoding.EncodeToString([]byte("AWS:p"))),
	}
	for label, body := range answers {
		t.Run(label, func(t *testing.T) {
			endpoint := ecrAPIWith(t, nil, func(w http.ResponseWriter, _ string) { io.WriteString(w, body) })
			awsEnvironment(t, endpoint)
			k := &ecrKeychain{tokens: newTokenCache(time.Now)}
			auth, err := k.Resolve(mustRegistry(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com"))
			if err == nil {
				t.Fatalf("answer %s gave credentials %v", body, auth)
			}
		})
	}
}

// AWS_ECR_DISABLE_CACHE set but empty (an env entry with no value, a
// chart value left blank) counts as "set" to dossier and as "unset" to the
// helper: ECR tokens are written to disk.
func TestAttackECRTokensOnDiskWithAnEmptyDisableVariable(t *testing.T) {
	endpoint := ecrAPIWith(t, nil, func(w http.ResponseWriter, id string) { ecrToken(w, id, "ecr-disk-secret") })
	awsEnvironment(t, endpoint)
	dir := filepath.Join(t.TempDir(), "ecr-cache")
	t.Setenv("AWS_ECR_CACHE_DIR", dir)
	t.Setenv("AWS_ECR_DISABLE_CACHE", "")
	k := &ecrKeychain{tokens: newTokenCache(time.Now)}
	if _, err := k.Resolve(mustRegistry(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com")); err != nil {
		t.Fatal(err)
	}
	var written []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			written = append(written, p)
		}
		return nil
	})
	if len(written) > 0 {
		data, _ := os.ReadFile(written[0])
		t.Errorf("ECR's token was written to %v (%d bytes, holding the token: %v)", written, len(data),
			strings.Contains(string(data), base64.StdEncoding.EncodeToString([]byte("AWS:ecr-disk-secret"))))
	}
}

// googleEnvironment makes Application Default Credentials a service
// account whose token endpoint is handler.
func googleEnvironment(t *testing.T, handler http.Handler) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tokens := newLocalServer(t, handler)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	account, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "dossier-test", "private_key_id": "k1",
		"private_key": string(pemKey), "client_email": "puller@dossier-test.iam.gserviceaccount.com",
		"client_id": "1", "token_uri": tokens + "/token",
	})
	keyFile := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(keyFile, account, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", keyFile)
	t.Setenv("HOME", t.TempDir())
}

// While Google's token endpoint is slow (and failing, so that nothing is
// kept), every resolution of every Google registry queues on one mutex,
// each past its own deadline: the keychain ignores the caller's context.
func TestAttackSlowGoogleTokenEndpointQueuesEveryCaller(t *testing.T) {
	googleEnvironment(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
	}))
	k := CloudKeychain([]Cloud{CloudGoogle}, nil).(authn.ContextKeychain)
	hosts := []string{"gcr.io", "europe-docker.pkg.dev", "us-docker.pkg.dev"}
	var wg sync.WaitGroup
	took := make([]time.Duration, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			k.ResolveContext(ctx, mustRegistry(t, h))
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, d := range took {
		if d > 800*time.Millisecond {
			t.Errorf("%s: a caller with a 300ms deadline returned after %v", hosts[i], d.Round(time.Millisecond))
		}
	}
}

// A Google registry host redirects its /v2/ ping to another host (as
// k8s.gcr.io redirects to registry.k8s.io, run by the Kubernetes project,
// not Google), whose Bearer challenge names a realm there: the
// go-containerregistry ping follows the redirect and sends the cloud
// credential (for Google, a cloud-platform access token) to that realm.
func TestAttackCloudTokenFollowsARedirectedChallenge(t *testing.T) {
	for _, c := range []struct {
		cloud    Cloud
		host     string
		setup    func(t *testing.T)
		password string
	}{
		{CloudGoogle, "k8s.gcr.io", func(t *testing.T) {
			googleEnvironment(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":"ya29.cloud-platform-token","token_type":"Bearer","expires_in":3600}`)
			}))
		}, "ya29.cloud-platform-token"},
		{CloudECR, "123456789012.dkr.ecr.us-east-1.amazonaws.com", func(t *testing.T) {
			awsEnvironment(t, ecrAPIWith(t, nil, func(w http.ResponseWriter, id string) { ecrToken(w, id, "ecr-issued-password") }))
		}, "ecr-issued-password"},
	} {
		t.Run(string(c.cloud), func(t *testing.T) {
			c.setup(t)
			const elsewhere = "registry.example.org"
			var leaked atomic.Value
			tr := testutil.NamedServers(t, map[string]http.Handler{
				c.host: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "https://"+elsewhere+r.URL.RequestURI(), http.StatusFound)
				}),
				elsewhere: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/token" {
						if _, p, ok := r.BasicAuth(); ok {
							leaked.Store(p)
						}
						fmt.Fprint(w, `{"token":"t"}`)
						return
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+elsewhere+`/token",service="`+elsewhere+`"`)
					http.Error(w, "unauthorized", http.StatusUnauthorized)
				}),
			})
			resolveWith(tr, c.host+"/pause:3.9", []Cloud{c.cloud})
			if p, _ := leaked.Load().(string); p == c.password {
				t.Errorf("%s's credential for %s went to %s's token realm", c.cloud, c.host, elsewhere)
			}
		})
	}
}

// acrServers serves the handlers' hosts, with Entra beside them, and
// points the Azure identity at it.
func acrServers(t *testing.T, entraCalls *atomic.Int32, handlers map[string]http.Handler) http.RoundTripper {
	const authority = "login.dossier.test"
	handlers[authority] = entra(t, authority, "entra-access-token", entraCalls)
	handlers["login.microsoftonline.com"] = entra(t, authority, "entra-access-token", entraCalls)
	azureEnvironment(t, authority, "dossier-client-secret")
	return testutil.NamedServers(t, handlers)
}

// plainHTTP answers every plain-HTTP request itself, recording its body,
// and passes HTTPS on: a host on the network path.
type plainHTTP struct {
	next http.RoundTripper
	mu   sync.Mutex
	got  []string
}

func (p *plainHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "http" {
		return p.next.RoundTrip(r)
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	p.mu.Lock()
	p.got = append(p.got, r.URL.String()+" "+string(body))
	p.mu.Unlock()
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"refresh_token":"chosen-by-the-network"}`)), Request: r}, nil
}

// The registry answers the exchange with a redirect: http.Client follows
// 307/308 with the body, so the Entra access token (good at every registry
// the identity may read) is posted to wherever the redirect points, plain
// HTTP included, and what answers there becomes the registry's credential.
func TestAttackACRExchangeFollowsRedirects(t *testing.T) {
	for _, target := range []string{"https://collector.example.org/exchange", "http://collector.example.org/exchange"} {
		for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			t.Run(fmt.Sprintf("%d %s", code, target), func(t *testing.T) {
				const host = "dossiertest.azurecr.io"
				var entraCalls atomic.Int32
				var collected atomic.Value
				tr := &plainHTTP{next: acrServers(t, &entraCalls, map[string]http.Handler{
					host: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, target, code)
					}),
					"collector.example.org": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						r.ParseForm()
						collected.Store(r.Form.Get("access_token"))
						fmt.Fprint(w, `{"refresh_token":"chosen-by-the-collector"}`)
					}),
				})}
				auth, err := CloudKeychain([]Cloud{CloudAzure}, tr).Resolve(mustRegistry(t, host))
				if got, _ := collected.Load().(string); got == "entra-access-token" {
					t.Errorf("the Entra access token was posted to the redirect's host (%v, %v)", auth, err)
				}
				for _, g := range tr.got {
					if strings.Contains(g, "entra-access-token") {
						t.Errorf("the Entra access token went over plain HTTP: %s", g)
					}
				}
				if err == nil {
					cfg, _ := auth.Authorization()
					t.Errorf("the credential kept for %s is what the redirect's host chose: %q", host, cfg.Password)
				}
			})
		}
	}
}

// The exchange's answer, malformed, oversized or endless: an error in
// bounded time, no panic, and never the access token in the error.
func TestAttackMalformedACRExchangeAnswers(t *testing.T) {
	endless := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"refresh_token":"`)
		for stop := time.Now().Add(3 * time.Second); time.Now().Before(stop); {
			if _, err := io.WriteString(w, "a"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	answers := map[string]http.Handler{
		"not-json": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }),
		"number":   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"refresh_token":12}`) }),
		"empty":    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"refresh_token":""}`) }),
		"null":     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `null`) }),
		"huge": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"refresh_token":"`+strings.Repeat("a", 2<<20)+`"}`)
		}),
		"echo": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			http.Error(w, "refused "+r.Form.Get("access_token"), http.StatusUnauthorized)
		}),
		"endless": endless,
	}
	handlers := map[string]http.Handler{}
	for label, h := range answers {
		handlers[label+".azurecr.io"] = h
	}
	var entraCalls atomic.Int32
	tr := acrServers(t, &entraCalls, handlers)
	k := CloudKeychain([]Cloud{CloudAzure}, tr).(authn.ContextKeychain)
	for label := range answers {
		t.Run(label, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			auth, err := k.ResolveContext(ctx, mustRegistry(t, label+".azurecr.io"))
			if err == nil {
				t.Fatalf("credentials %v from a malformed answer", auth)
			}
			if strings.Contains(err.Error(), "entra-access-token") {
				t.Fatalf("the error carries the access token: %v", err)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// Many ACR registries, one Entra token: the identity's token is cached by
// the Azure SDK, and each registry's refresh token is its own.
func TestAttackManyACRRegistriesOneEntraTokenAndNoCrossTalk(t *testing.T) {
	handlers := map[string]http.Handler{}
	var hosts []string
	for i := range 24 {
		h := fmt.Sprintf("r%d.azurecr.io", i)
		hosts = append(hosts, h)
		handlers[h] = acrRegistry(h, "entra-access-token", "refresh-for-"+h)
	}
	var entraCalls atomic.Int32
	tr := acrServers(t, &entraCalls, handlers)
	k := CloudKeychain([]Cloud{CloudAzure}, tr)
	var wg sync.WaitGroup
	for _, h := range hosts {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				auth, err := k.Resolve(mustRegistry(t, h))
				if err != nil {
					t.Error(err)
					return
				}
				cfg, _ := auth.Authorization()
				if cfg.Password != "refresh-for-"+h {
					t.Errorf("%s was given %q", h, cfg.Password)
				}
			}()
		}
	}
	wg.Wait()
	if n := entraCalls.Load(); n != 1 {
		t.Errorf("Entra was asked %d times for %d registries", n, len(hosts))
	}
}
