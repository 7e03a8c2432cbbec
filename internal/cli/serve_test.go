package cli

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// dossier serve end to end: the first start prints an admin token; the
// registry, the admission webhook (for the API server's token only) and
// the metrics each have a listener of their own; tokens made
// with dossier token create while it runs work at once; immutable tags
// hold; SIGTERM stops it cleanly.
func TestServeCommand(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if r := dossier(t, "", "webhook", "certificate", "--host", "127.0.0.1", "--out-dir", certs); r.code != 0 {
		t.Fatal(r)
	}
	// the webhook judges images of another registry, signed with a key
	key := generateKey(t, dir, "release")
	other := testutil.Registry(t)
	testutil.PushSample(t, "npm-app", other+"/team/app:v1")
	if r := dossier(t, "", "sign", other+"/team/app:v1", "--key", key+".key"); r.code != 0 {
		t.Fatal(r)
	}
	policyFile := writeFile(t, filepath.Join(dir, "policy.yaml"), fmt.Sprintf(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  mode: enforce
  images: ["%s/team/**"]
  signers: [{name: release, key: {file: release.pub}}]
  rules: [{name: signed, signature: {}}]
`, other))
	if r := dossier(t, "", "serve", "--policy", policyFile); r.code != ExitError || !strings.Contains(r.stderr, "needs a certificate and its key") || !strings.Contains(r.stderr, "(--tls-cert)") {
		t.Errorf("a webhook without TLS: %+v", r)
	}
	if r := dossier(t, "", "serve", "--immutable-tags", "team/**"); r.code != ExitError || !strings.Contains(r.stderr, "want REPOSITORY_GLOB:TAG_GLOB") {
		t.Errorf("a malformed immutable-tag rule: %+v", r)
	}

	held := writeFile(t, filepath.Join(dir, "held.yaml"), `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: held-signed}
spec:
  images: ["**"]
  signers: [{name: release, key: {file: release.pub}}]
  rules: [{name: signed, signature: {}}]
`)
	data, addr, hookAddr, metricsAddr := filepath.Join(dir, "data"), freeAddress(t), freeAddress(t), freeAddress(t)
	apiServerToken := "api-server-" + strings.Repeat("7f", 16)
	callerTokens := writeFile(t, filepath.Join(dir, "callers"), apiServerToken+"\n")
	served := startServe(t, "--listen", addr, "--data-dir", data, "--tls-cert", filepath.Join(certs, "tls.crt"), "--tls-key", filepath.Join(certs, "tls.key"),
		"--immutable-tags", "team/**:v*", "--policy", policyFile, "--quarantine", "held/**="+held,
		"--webhook-listen", hookAddr, "--client-token-file", callerTokens, "--metrics-listen", metricsAddr)
	admin := served.admin
	if admin == "" {
		t.Fatalf("no first admin token:\n%s", strings.Join(served.log(), "\n"))
	}
	if strings.Contains(strings.Join(served.log(), "\n"), admin) {
		t.Fatalf("the admin token is in the log:\n%s", strings.Join(served.log(), "\n"))
	}

	ca, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	push := func(ref, token string) error {
		r, err := name.ParseReference(addr + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		return remote.Write(r, img, remote.WithTransport(transport), remote.WithAuth(&authn.Basic{Username: "me", Password: token}))
	}
	defer func() {
		if t.Failed() {
			t.Logf("dossier serve:\n%s", strings.Join(served.log(), "\n"))
		}
	}()
	if err := push("team/app:v1", admin); err != nil {
		t.Fatalf("push with the first admin token: %v", err)
	}
	if err := push("team/app:v1", admin); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("overwriting an immutable tag: %v", err)
	}
	// a pushed image is catalogued and recorded by the workers
	idx, desc := testutil.SampleTagged(t, "npm-app")
	sample, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	web, err := name.ParseReference(addr + "/team/web:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(web, sample, remote.WithTransport(transport), remote.WithAuth(&authn.Basic{Username: "me", Password: admin})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := dossier(t, "", "query", "jobs", addr+"/team/web@"+desc.Digest.String(), "--data-dir", data, "-o", "json")
		var jobs []store.Job
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &jobs) == nil && len(jobs) == 1 && jobs[0].State == store.JobDone && jobs[0].Kind == "scan" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pushed image was not scanned: %+v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := dossier(t, "", "query", "component", "pkg:npm/lodash", "--data-dir", data, "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, desc.Digest.String()) {
		t.Errorf("the pushed image's components: %+v", r)
	}
	// a quarantined repository: an unsigned image is not pulled by a
	// reader, whatever the scan's progress, and is by an admin
	heldRef, err := name.ParseReference(addr + "/held/web:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(heldRef, sample, remote.WithTransport(transport), remote.WithAuth(&authn.Basic{Username: "me", Password: admin})); err != nil {
		t.Fatal(err)
	}
	reader := dossier(t, "", "token", "create", "--repo", "held/**", "--role", "pull", "--data-dir", data)
	if _, err := remote.Image(heldRef, remote.WithTransport(transport), remote.WithAuth(&authn.Basic{Username: "me", Password: strings.TrimSpace(reader.stdout)})); err == nil ||
		!strings.Contains(err.Error(), "is quarantined (rule held/**="+held+")") {
		t.Errorf("a reader's pull of an unsigned quarantined image: %v", err)
	}
	if _, err := remote.Image(heldRef, remote.WithTransport(transport), remote.WithAuth(&authn.Basic{Username: "me", Password: admin})); err != nil {
		t.Errorf("an admin's pull of a quarantined image: %v", err)
	}
	// a token made while the server runs
	r := dossier(t, "", "token", "create", "--repo", "team/**", "--role", "pull", "--expires", "1h", "--data-dir", data)
	pull := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(pull, "dsr_") || !strings.Contains(r.stderr, "token 3: pull on team/**, expires ") {
		t.Fatalf("token create: %+v", r)
	}
	if err := push("team/app:v2", pull); err == nil || !strings.Contains(err.Error(), "may not push to repository team/app") {
		t.Errorf("push with a pull token: %v", err)
	}
	tagList, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v2/team/app/tags/list", nil)
	tagList.SetBasicAuth("me", pull)
	if resp, err := (&http.Client{Transport: transport}).Do(tagList); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("tags with a pull token: %v %v", resp, err)
	}
	r = dossier(t, "", "token", "list", "--data-dir", data, "-o", "json")
	var tokens []store.Token
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tokens) != nil || len(tokens) != 3 || strings.Contains(r.stdout, "dsr_") {
		t.Errorf("token list: %+v", r)
	}
	if r := dossier(t, "", "token", "create", "--repo", "**", "--role", "owner", "--data-dir", data); r.code != ExitError || !strings.Contains(r.stderr, "want pull, push, admin or notify") {
		t.Errorf("a token of an unknown role: %+v", r)
	}
	if r := dossier(t, "", "token", "create", "--repo", "gone/**", "--role", "pull", "--data-dir", data); r.code != 0 {
		t.Errorf("a token to revoke: %+v", r)
	} else if r := dossier(t, "", "token", "revoke", "4", "--data-dir", data); r.code != 0 || !strings.Contains(r.stderr, "token 4 revoked") {
		t.Errorf("token revoke: %+v", r)
	}
	if r := dossier(t, "", "token", "revoke", "4", "--data-dir", data); r.code != ExitError || !strings.Contains(r.stderr, "no token 4") {
		t.Errorf("revoking a revoked token: %+v", r)
	}
	if r := dossier(t, "", "token", "revoke", "four", "--data-dir", data); r.code != ExitError || !strings.Contains(r.stderr, "want the number") {
		t.Errorf("token revoke four: %+v", r)
	}

	// the admission webhook on a listener of its own, for the API server
	// only; the registry's listener has none of it
	body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE",
		"kind":{"version":"v1","kind":"Pod"},"namespace":"prod","name":"web","object":{"metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":%q}]}}}}`, other+"/team/app:v1")
	send := func(at, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, "https://"+at+"/admission/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Transport: transport}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, c := range []struct{ at, token string }{{addr, apiServerToken}, {hookAddr, ""}, {hookAddr, admin}, {hookAddr, apiServerToken + "x"}} {
		resp := send(c.at, c.token)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a review at %s with token %.12q…: HTTP %d", c.at, c.token, resp.StatusCode)
		}
	}
	resp := send(hookAddr, apiServerToken)
	var review struct {
		Response struct {
			Allowed bool `json:"allowed"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || !review.Response.Allowed {
		t.Errorf("admission of the signed image: %+v %v", review, err)
	}
	resp.Body.Close()

	// the UI: a browser logs in with a token and gets a cookie; a reader's
	// token opens the dossier of what it reaches
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.PostForm("https://"+addr+"/ui/login", url.Values{"token": {admin}, "next": {"/ui/"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("UI login: %v %v", resp, err)
	}
	overview, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/ui/", nil)
	overview.AddCookie(resp.Cookies()[0])
	// the webhook records its decisions within a moment
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page := fetch(t, client, overview)
		if strings.Contains(page, "<strong>1</strong> images admitted") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UI overview:\n%s", page)
		}
	}
	artifact, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/ui/artifact?ref="+url.QueryEscape(addr+"/team/web@"+desc.Digest.String()), nil)
	artifact.Header.Set("Authorization", "Bearer "+pull)
	if page := fetch(t, client, artifact); !strings.Contains(page, "pkg:npm/lodash@4.17.20") {
		t.Errorf("UI artifact page for a reader:\n%s", page)
	}

	// a job over every stored digest, started from the UI's jobs page by
	// an admin's session (catalogue-all, forced: every catalogued digest
	// pulled from the registry in process and catalogued again), seen
	// ending through the jobs API; a reader and another site's page may
	// start none
	session := resp.Cookies()[0]
	// every pushed image's scan has ended: the three catalogued digests
	// are the job's
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := dossier(t, "", "query", "jobs", "--data-dir", data, "-o", "json")
		var queued []store.Job
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &queued) == nil && len(queued) > 0 &&
			!slices.ContainsFunc(queued, func(j store.Job) bool { return j.Kind == "scan" && j.State != store.JobDone }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pushed images were not all scanned: %+v", r)
		}
	}
	jobsPage, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/ui/jobs", nil)
	jobsPage.AddCookie(session)
	if page := fetch(t, client, jobsPage); !strings.Contains(page, "Catalogue again") || !strings.Contains(page, "No job has run.") {
		t.Errorf("UI jobs page:\n%s", page)
	}
	startJob := func(header, value string, cookie *http.Cookie) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/ui/jobs", strings.NewReader(url.Values{"action": {"start"}, "kind": {"catalogue-all"}, "force": {"true"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if header != "" {
			req.Header.Set(header, value)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := startJob("Authorization", "Bearer "+pull, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a reader starts a job from the UI: %d", resp.StatusCode)
	}
	if resp := startJob("Sec-Fetch-Site", "cross-site", session); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another site's page starts a job with the admin's session: %d", resp.StatusCode)
	}
	started := startJob("", "", session)
	jobPath, _ := strings.CutPrefix(started.Header.Get("Location"), "/ui/jobs?id=")
	if started.StatusCode != http.StatusSeeOther || jobPath == "" {
		t.Fatalf("the admin starts catalogue-all from the UI: %d %s", started.StatusCode, started.Header.Get("Location"))
	}
	var job store.MaintenanceJob
	for deadline := time.Now().Add(2 * time.Minute); job.State != store.JobDone; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/api/jobs/"+jobPath, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		if err := json.Unmarshal([]byte(fetch(t, client, req)), &job); err != nil || time.Now().After(deadline) || job.State == store.JobFailed {
			t.Fatalf("the catalogue-all job: %+v %v", job, err)
		}
	}
	// the sample (in two repositories) and the random image
	if job.Kind != store.JobCatalogueAll || job.Total != 3 || job.Done != 3 || job.Failed != 0 {
		t.Errorf("the catalogue-all job ended: %+v", job)
	}
	shown, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/ui/jobs?id="+jobPath, nil)
	shown.AddCookie(session)
	if page := fetch(t, client, shown); !strings.Contains(page, "<td>catalogue-all</td><td>done</td>") || !strings.Contains(page, "3 of 3") {
		t.Errorf("UI jobs page after the job:\n%s", page)
	}
	cancel, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/api/jobs/"+jobPath+"/cancel", nil)
	cancel.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := client.Do(cancel); err != nil || resp.StatusCode != http.StatusConflict {
		t.Errorf("cancelling a finished job: %v %v", resp, err)
	}
	// the command line shows the jobs the server ran, and cancels one it
	// runs: at a digest every 100 seconds, the server's run stops at its
	// next batch
	if r := dossier(t, "", "jobs", "--data-dir", data); r.code != 0 || !strings.Contains(r.stdout, "catalogue-all") || !strings.Contains(r.stdout, "done") {
		t.Errorf("dossier jobs: %+v", r)
	}
	if r := dossier(t, "", "jobs", "cancel", jobPath, "--data-dir", data); r.code != ExitError || !strings.Contains(r.stderr, "the job has ended (done)") {
		t.Errorf("dossier jobs cancel of a finished job: %+v", r)
	}
	slow, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/api/jobs/catalogue-all", strings.NewReader(`{"force": true, "rate": 0.01}`))
	slow.Header.Set("Authorization", "Bearer "+admin)
	slowResp, err := client.Do(slow)
	if err != nil || slowResp.StatusCode != http.StatusAccepted {
		t.Fatalf("a slow catalogue-all: %v %v", slowResp, err)
	}
	json.NewDecoder(slowResp.Body).Decode(&job)
	slowResp.Body.Close()
	if r := dossier(t, "", "jobs", "cancel", strconv.FormatInt(job.ID, 10), "--data-dir", data); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("job %d (catalogue-all) cancelled after", job.ID)) {
		t.Errorf("dossier jobs cancel of a running job: %+v", r)
	}
	for deadline := time.Now().Add(30 * time.Second); !slices.ContainsFunc(served.log(), func(l string) bool { return strings.Contains(l, "it was ended (failed): cancelled by ") }); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server's run of the cancelled job did not stop")
		}
	}

	// the metrics of what happened, on their own listener only
	if resp, err := client.Get("https://" + addr + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the registry's listener: %v %v", resp, err)
	}
	scrape, _ := http.NewRequest(http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
	exposed := fetch(t, client, scrape)
	for _, want := range []string{
		`dossier_registry_request_duration_seconds_count{code="201",method="PUT",route="manifests"}`,
		`dossier_registry_request_duration_seconds_count{code="403",method="PUT",route="manifests"}`, // the immutable tag's refusal
		`dossier_admission_request_duration_seconds_count{operation="validate"} 1`,
		`dossier_admission_decisions_total{namespace="prod",policy="require-signed",result="allowed"} 1`,
		`dossier_verification_cache_requests_total{result="miss"} 1`,
		`dossier_verification_duration_seconds_count 1`,
		`dossier_scan_duration_seconds_count{kind="scan",result="done"}`,
		"dossier_scan_queue_depth ", `dossier_exceptions{state="active"} 0`,
		`dossier_store_query_duration_seconds_count{operation="dossier"}`,
		`dossier_store_query_duration_seconds_count{operation="token_by_hash"}`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(exposed, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	stopErr := served.stop()
	// every log line is JSON; requests carry IDs; no token is ever logged
	requests := 0
	for _, l := range served.log() {
		var entry map[string]any
		if err := json.Unmarshal([]byte(l), &entry); err != nil {
			t.Errorf("a log line that is not JSON: %s", l)
			continue
		}
		if entry["msg"] == "request" && entry["request_id"] != "" && entry["path"] != nil {
			requests++
		}
		for _, secret := range []string{admin, pull, strings.TrimSpace(reader.stdout)} {
			if strings.Contains(l, secret) {
				t.Errorf("a token is in the log: %s", l)
			}
		}
		if strings.Contains(l, "PRIVATE KEY") || strings.Contains(l, "dsr_") {
			t.Errorf("a secret is in the log: %s", l)
		}
	}
	if requests < 10 {
		t.Errorf("%d requests logged", requests)
	}
	if stopErr != nil {
		t.Fatalf("dossier serve did not stop cleanly: %v", stopErr)
	}
	// the refusals and the tag are in the store
	r = dossier(t, "", "query", "events", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "push    refused") || !strings.Contains(r.stdout, "pull    refused") {
		t.Errorf("the registry's audit trail: %+v", r)
	}
	r = dossier(t, "", "query", "tag", addr+"/team/app:v1", "--data-dir", data, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "push by token 1") {
		t.Errorf("tag history: %+v", r)
	}
}

// kill -9 of dossier serve during a scan and during a push: what was
// pushed is there after a restart, the upload cut short left nothing and
// can be pushed again, and the scan cut short is done by the next process
// once its lease has ended.
func TestServeSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	data, addr := filepath.Join(dir, "data"), freeAddress(t)
	// a short lease, so that the job of the killed process is taken over soon
	start := func() *served { return startServe(t, "--listen", addr, "--data-dir", data, "--job-lease", "3s") }
	jobs := func() []store.Job {
		r := dossier(t, "", "query", "jobs", "--data-dir", data, "-o", "json")
		var list []store.Job
		json.Unmarshal([]byte(r.stdout), &list)
		return list
	}
	first := start()
	admin := first.admin
	idx, desc := testutil.SampleTagged(t, "debian")
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(addr+"/team/web:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "me", Password: admin})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if j := jobs(); len(j) == 1 && j[0].State == store.JobRunning {
			break // the scan is under way
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scan never ran: %+v", jobs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// a large push under way too
	big, err := random.Image(64<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	bigRef, err := name.ParseReference(addr+"/team/big:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- remote.Write(bigRef, big, auth) }()
	time.Sleep(200 * time.Millisecond)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	first.cmd.Wait()
	if err := <-pushed; err == nil {
		t.Log("the large push finished before the kill")
	}
	start()
	if _, err := remote.Image(ref, auth); err != nil {
		t.Errorf("the image pushed before the kill: %v", err)
	}
	if err := remote.Write(bigRef, big, auth); err != nil {
		t.Errorf("pushing again what the kill cut short: %v", err)
	}
	// the scan's lease ends, and the next process does it
	for deadline := time.Now().Add(120 * time.Second); ; {
		j := jobs()
		done := len(j) > 0
		for _, job := range j {
			done = done && job.State == store.JobDone
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scan cut short was not done: %+v", j)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dossier serve --config: the file's settings apply (paths relative to
// it), a flag wins over the file, and an unknown setting is refused.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddress(t)
	config := writeFile(t, filepath.Join(dir, "serve.yaml"), `listen: 127.0.0.1:1
dataDir: state
scanWorkers: 0
immutableTags: ["team/**:v*"]
`)
	if r := dossier(t, "", "serve", "--config", writeFile(t, filepath.Join(dir, "bad.yaml"), "listen: x\nlistne: y\n")); r.code != ExitError || !strings.Contains(r.stderr, `unknown field "listne"`) {
		t.Errorf("an unknown setting: %+v", r)
	}
	token := startServe(t, "--config", config, "--listen", addr).admin // the flag wins over the file's listen
	if token == "" {
		t.Fatal("dossier serve did not start with the configuration file")
	}
	ref, err := name.ParseReference(addr+"/team/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "me", Password: token})
	for i := range 2 {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = remote.Write(ref, img, auth)
		if (i == 0) != (err == nil) || (i == 1 && !strings.Contains(err.Error(), "immutable (rule team/**:v*)")) {
			t.Errorf("push %d under the file's immutable-tag rule: %v", i+1, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "registry")); err != nil {
		t.Errorf("the data directory is not the file's: %v", err)
	}
}

// serve --print-config prints the effective configuration: the file's
// settings (paths relative to it), the environment and flags over them,
// --pending-pullable applied to the file's rule; the store's password
// hidden.
func TestServePrintConfig(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, filepath.Join(dir, "serve.yaml"), `listen: 127.0.0.1:1
store: postgres://dossier:hunter2@db/dossier
quarantine: [{repositories: "team/**", policy: release.yaml}]
webhook: {reloadInterval: 10s, kubernetes: {tokenFile: token}}
`)
	t.Setenv("DOSSIER_SERVE_SCAN_WORKERS", "5")
	r := dossier(t, "", "serve", "--config", config, "--listen", "127.0.0.1:7000", "--pending-pullable", "team/**", "--print-config")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"listen: 127.0.0.1:7000", "scanWorkers: 5", "reloadInterval: 10s", "tokenFile: " + filepath.Join(dir, "token"),
		"policy: " + filepath.Join(dir, "release.yaml"), "pendingPullable: true", "store: postgres://dossier:xxxxx@db/dossier"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the effective configuration has no %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "hunter2") {
		t.Errorf("the store's password was printed")
	}
	if r := dossier(t, "", "serve", "--pending-pullable", "team/**", "--print-config"); r.code != ExitError || !strings.Contains(r.stderr, "names no quarantine rule") || !strings.Contains(r.stderr, "(--pending-pullable)") {
		t.Errorf("--pending-pullable without its rule: %+v", r)
	}
}

// fetch returns a page that must answer 200.
func fetch(t *testing.T, client *http.Client, req *http.Request) string {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s: %d\n%s", req.URL, resp.StatusCode, b)
	}
	return string(b)
}

// served is dossier serve running as its own process until the test
// ends, with what it has logged.
type served struct {
	cmd *exec.Cmd
	// admin is the admin token a first start writes ("" on later starts).
	admin string
	mu    sync.Mutex
	lines []string
	// done is closed when its stderr ends.
	done chan struct{}
}

// log is every line logged so far.
func (s *served) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

// stop sends SIGTERM and returns how the process ended, once it has.
func (s *served) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	<-s.done
	return s.cmd.Wait()
}

// startServe runs dossier serve and waits until it listens (on the
// --listen address, when one is given: the webhook's and the metrics'
// listeners may come up first).
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	main := ""
	if i := slices.Index(args, "--listen"); i >= 0 && i+1 < len(args) {
		main = args[i+1]
	}
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "DOSSIER_CLI_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan struct{})}
	listening := make(chan struct{})
	go func() {
		defer close(s.done)
		heard := false
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, scanner.Text())
			s.mu.Unlock()
			if !heard && strings.Contains(scanner.Text(), "listening on") && strings.Contains(scanner.Text(), main) {
				heard = true
				close(listening)
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
		cmd.Wait()
		// under -race the process is race-built too: what it reports fails the test
		if log := strings.Join(s.log(), "\n"); strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("dossier serve %v raced:\n%s", args, log)
		}
	})
	select {
	case <-listening:
	case <-s.done:
		t.Fatalf("dossier serve %v exited:\n%s", args, strings.Join(s.log(), "\n"))
	case <-time.After(30 * time.Second):
		t.Fatalf("dossier serve %v did not start:\n%s", args, strings.Join(s.log(), "\n"))
	}
	for _, l := range s.log() {
		if secret := firstAdminToken(t, l); secret != "" {
			s.admin = secret
		}
	}
	return s
}

// firstAdminToken reads the admin token a first start's log line names
// the file of ("" for other lines).
func firstAdminToken(t *testing.T, line string) string {
	t.Helper()
	var entry struct {
		Msg, File string
		Token     int
	}
	if json.Unmarshal([]byte(line), &entry) != nil || !strings.HasPrefix(entry.Msg, "first start: admin token") {
		return ""
	}
	info, err := os.Stat(entry.File)
	if err != nil {
		t.Fatalf("the first admin token's file: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", entry.File, info.Mode().Perm())
	}
	b, err := os.ReadFile(entry.File)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
