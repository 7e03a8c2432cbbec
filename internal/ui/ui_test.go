package ui

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// client does not follow redirects, so that tests see them.
var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, base, path, token string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestLogin(t *testing.T) {
	srv, s := startUI(t)
	code, _, h := get(t, srv.URL, "/ui/exceptions?x=1", "")
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/exceptions?x=1") {
		t.Fatalf("no token: %d %s", code, h.Get("Location"))
	}
	if code, body, _ := get(t, srv.URL, "/ui/", "dsr_wrong"); code != http.StatusUnauthorized || !strings.Contains(body, "not a valid dossier token") {
		t.Errorf("a wrong token: %d", code)
	}
	login := func(token, next string) *http.Response {
		resp, err := client.PostForm(srv.URL+"/ui/login", url.Values{"token": {token}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := login(s.webToken, "/ui/exceptions?x=1")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/exceptions?x=1" || cookie == nil ||
		!cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/ui/" {
		t.Fatalf("login: %d %s %+v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/exceptions", nil)
	req.AddCookie(cookie)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("with the login cookie: %v %v", resp, err)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/v2/_catalog", "/ui/\r\nSet-Cookie: x"} {
		if resp := login(s.webToken, next); resp.Header.Get("Location") != "/ui/" {
			t.Errorf("login sent to %q for next=%q", resp.Header.Get("Location"), next)
		}
	}
	if resp := login("dsr_nope", "/ui/"); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong token logged in: %d", resp.StatusCode)
	}
	// the cookie holds a session, not the token: it is no token anywhere else
	if cookie.Value == s.webToken {
		t.Errorf("the cookie holds the token itself")
	}
	if code, _, _ := get(t, srv.URL, "/ui/", cookie.Value); code != http.StatusUnauthorized {
		t.Errorf("the session's secret used as a token: %d", code)
	}
	// a form another site submits neither logs in nor out (login CSRF)
	for _, path := range []string{"/ui/login", "/ui/logout"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(url.Values{"token": {s.webToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.AddCookie(cookie)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("a cross-site POST %s: %d %v", path, resp.StatusCode, resp.Cookies())
		}
	}
	// logging out ends the session on the server, not only in the browser
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/ui/logout", nil)
	req.AddCookie(cookie)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/ui/exceptions", nil)
	req.AddCookie(cookie)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the cookie kept after logout: %v %v", resp, err)
	}
}

// Every page is self-contained and read-only: no script, nothing fetched
// from elsewhere, the security headers set.
func TestPagesAreSelfContained(t *testing.T) {
	srv, s := startUI(t)
	external := regexp.MustCompile(`(?i)(src|href|action)="(https?:)?//`)
	for _, path := range []string{"/ui/", "/ui/artifact?ref=" + url.QueryEscape(web.String()), "/ui/search?q=lodash", "/ui/exceptions", "/ui/tokens", "/ui/login"} {
		code, body, h := get(t, srv.URL, path, s.adminToken)
		if code != http.StatusOK {
			t.Errorf("%s: %d", path, code)
		}
		if strings.Contains(strings.ToLower(body), "<script") || external.MatchString(strings.ReplaceAll(body, `href="https://github.com/acme/web`, "")) {
			t.Errorf("%s loads or runs something from elsewhere", path)
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	if code, body, _ := get(t, srv.URL, "/ui/static/style.css", ""); code != http.StatusOK || !strings.Contains(body, ".skip") {
		t.Errorf("the style sheet: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ui/", nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a page: %v %v", resp, err)
	}
}

func TestOverview(t *testing.T) {
	srv, s := startUI(t)
	_, body, _ := get(t, srv.URL, "/ui/", s.adminToken)
	for _, want := range []string{
		fmt.Sprintf("<strong>%d</strong> images admitted", s.admitted),
		fmt.Sprintf("<strong>%s</strong> of them written by digest", share(s.pinned, s.admitted)),
		fmt.Sprintf("<strong>%s</strong> of them signed (verified)", share(s.signed, s.admitted)),
		fmt.Sprintf("<strong>%d</strong> denials", s.denied),
		fmt.Sprintf("<strong>%d</strong> admitted under a waiver", s.waived),
		// minimist-waiver (3 days) and the file's api-xz (6 days)
		"<strong>2</strong> exceptions expiring within 7 days",
		// now: critical and high in web and in the old web image (never
		// rescanned), web's VEX-suppressed medium not counted, x/net fixed
		// in api; medium and low in api and legacy, low in web
		`2 critical</span>, <span class="sev sev-high">2 high</span>, <span class="sev sev-medium">2 medium</span>, <span class="sev sev-low">3 low</span>`,
		`aria-label="Admission decisions per day"`, `<path class="l-pinned"`, "team/legacy:latest",
		// what runs: web admitted; the canary drifted; legacy and the edge
		// cluster's api unjudged; edge's watch silent for a day
		`In edge, prod-eu:`, `1 admitted</span>`, `2 unjudged</span>`, `1 drifted</span>`, `0 unresolved</span>`,
		"prod-eu/prod Deployment/web-canary", "(admitted as " + web.Digest + ")", "edge/payments Deployment/api",
		"The inventory of edge was last reported",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if n := strings.Count(body, `<rect class="s-denied"`); n != 5 { // the first five days
		t.Errorf("%d days of denials drawn, want 5", n)
	}
	if s.pinned == 0 || s.pinned == s.admitted || s.signed == 0 {
		t.Fatalf("the seed does not exercise the shares: %+v", s)
	}
}

func TestArtifact(t *testing.T) {
	srv, s := startUI(t)
	ref := "/ui/artifact?ref=" + url.QueryEscape(web.String())
	code, body, _ := get(t, srv.URL, ref, s.webToken)
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, want := range []string{
		"Now: latest, v1.4.2.", "4 components: 3 npm, 1 deb.",
		"GHSA-xvch-5gv4-984h", "CVE-2021-44906", "fixed: 1.2.6", "vex not_affected (vulnerable_code_not_in_execute_path)",
		releaseFlow, "issuer " + githubIssuer,
		`<a href="https://github.com/acme/web/commit/` + webCommit + `"><code>` + webCommit + `</code></a>`, "<dd>push</dd>",
		"minimist-waiver", "WAF rule 9311 blocks __proto__ payloads", "(in 3 days)", "Expired 2026-11-24",
		"release/signed-by-release-workflow", "prod Pod/web-",
		"Workflow audit: .github/workflows/release.yml at commit <code>" + webCommit, "container-by-tag</strong> at .github/workflows/release.yml:14:16", "(waived by node-image)",
		"Every component was checked (4).",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("artifact page lacks %q", want)
		}
	}
	// the old image: latest moved away, only v1.4.1 is still its own
	_, body, _ = get(t, srv.URL, "/ui/artifact?ref="+url.QueryEscape(webOld.String()), s.webToken)
	if !strings.Contains(body, "Now: v1.4.1.") {
		t.Error("a tag that moved away is shown as the old digest's")
	}
	if !strings.Contains(body, "1 components were not checked") || !strings.Contains(body, "<td>express</td><td>4.17.1</td><td>unparseable npm version</td>") {
		t.Error("the old image's page does not say which component was not checked")
	}
	_, body, _ = get(t, srv.URL, ref+"&component=MINI", s.webToken)
	if !strings.Contains(body, "<td>minimist</td>") || strings.Contains(body, "<td>lodash</td>") {
		t.Error("the component filter did not narrow the table")
	}
	for path, want := range map[string]int{
		"/ui/artifact?ref=" + url.QueryEscape(api.String()):                                      http.StatusNotFound, // payments/** is out of the token's reach
		"/ui/artifact?ref=" + url.QueryEscape(web.Repository+":v1"):                              http.StatusBadRequest,
		"/ui/artifact?ref=" + url.QueryEscape(web.Repository+"@sha256:"+strings.Repeat("e", 64)): http.StatusNotFound,
		"/ui/nowhere": http.StatusNotFound,
		"/ui/tokens":  http.StatusForbidden,
	} {
		if code, _, _ := get(t, srv.URL, path, s.webToken); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	if code, _, _ := get(t, srv.URL, "/ui/artifact?ref="+url.QueryEscape(api.String()), s.adminToken); code != http.StatusOK {
		t.Errorf("an admin cannot see payments/api: %d", code)
	}
}

func TestSearch(t *testing.T) {
	srv, s := startUI(t)
	section := func(body, heading string) string {
		i := strings.Index(body, `id="h-`+heading+`"`)
		if i < 0 {
			return ""
		}
		rest := body[i:]
		if j := strings.Index(rest[1:], `id="h-`); j >= 0 {
			rest = rest[:j+1]
		}
		return rest
	}
	_, body, _ := get(t, srv.URL, "/ui/search?q="+url.QueryEscape("pkg:npm/lodash"), s.adminToken)
	deployed, others := section(body, "deployed"), section(body, "others")
	if !strings.Contains(deployed, "team/web@sha256:a1a1") || strings.Contains(deployed, "sha256:a0a0") || !strings.Contains(others, "team/web@sha256:a0a0") {
		t.Errorf("lodash: the deployed digest first, the old one after:\n%s", body)
	}
	_, body, _ = get(t, srv.URL, "/ui/search?q="+url.QueryEscape("CVE-2025-31115"), s.adminToken)
	if !strings.Contains(section(body, "deployed"), "payments/api") || !strings.Contains(section(body, "deployed"), `sev-medium`) || !strings.Contains(section(body, "others"), "team/legacy") {
		t.Errorf("an advisory by alias: the deployed api first, the denied legacy image after:\n%s", body)
	}
	// the reader of team/** does not learn of payments/api
	_, body, _ = get(t, srv.URL, "/ui/search?q=xz-utils", s.webToken)
	if strings.Contains(body, "payments/api") || !strings.Contains(body, "team/legacy") || !strings.Contains(body, `<p id="result-count">1 components matching xz-utils`) {
		t.Errorf("a name search beyond the token's reach (counted within it):\n%s", body)
	}
	_, body, _ = get(t, srv.URL, "/ui/search?q="+url.QueryEscape("CVE-2025-31115"), s.webToken)
	if strings.Contains(body, "payments/api") || !strings.Contains(body, `<p id="result-count">1 open findings of CVE-2025-31115`) {
		t.Errorf("an advisory search beyond the token's reach (counted within it):\n%s", body)
	}
	_, body, _ = get(t, srv.URL, "/ui/search?q="+url.QueryEscape("lodash@<4.17.21"), s.adminToken)
	if !strings.Contains(body, "team/web@sha256:a1a1") {
		t.Error("a range search found nothing")
	}
	if code, body, _ := get(t, srv.URL, "/ui/search?q="+url.QueryEscape("lodash@<"), s.adminToken); code != http.StatusBadRequest || !strings.Contains(body, "empty version") {
		t.Errorf("a bad range: %d", code)
	}
}

func TestExceptions(t *testing.T) {
	srv, s := startUI(t)
	_, body, _ := get(t, srv.URL, "/ui/exceptions", s.adminToken)
	active, expired, ok := strings.Cut(body, `id="h-expired"`)
	if !ok {
		t.Fatal("no expired section")
	}
	// soonest first; within 7 days highlighted
	order := []string{`class="expiring" data-exception="minimist-waiver"`, `class="expiring" data-exception="api-xz"`, `class="" data-exception="lodash-until-4.17.21"`}
	last := -1
	for _, o := range order {
		i := strings.Index(active, o)
		if i <= last {
			t.Errorf("active exceptions: %q missing or out of order", o)
		}
		last = i
	}
	for _, want := range []string{"expires in 3 days", "from exceptions/api.yaml", "from evidence store"} {
		if !strings.Contains(active, want) {
			t.Errorf("active exceptions lack %q", want)
		}
	}
	if !strings.Contains(expired, `data-exception="express-hotfix"`) || !strings.Contains(expired, "expired 2 days ago") || strings.Contains(active, "express-hotfix") {
		t.Error("the expired exception is not with the expired ones")
	}
	_, body, _ = get(t, srv.URL, "/ui/exceptions", s.webToken)
	if strings.Contains(body, "api-xz") {
		t.Error("a team/** reader sees payments' exception")
	}
}

// The token list is the admin's, and never holds a secret or its hash.
func TestTokens(t *testing.T) {
	srv, s := startUI(t)
	_, body, _ := get(t, srv.URL, "/ui/tokens", s.adminToken)
	if !strings.Contains(body, "team web readers") || !strings.Contains(body, "<code>team/**</code>") {
		t.Errorf("token list:\n%s", body)
	}
	for _, secret := range []string{s.adminToken, s.webToken} {
		if strings.Contains(body, secret) || strings.Contains(body, hashOf(secret)) {
			t.Error("a token's secret or hash is on the page")
		}
	}
}

func hashOf(secret string) string { return tokens.Hash(secret) }

// A token's globs name its own registry's repositories: team/** sees
// team/web here and nothing of another registry's team; a notify token
// sees nothing; only an admin of every repository lists tokens.
func TestScopes(t *testing.T) {
	actor := func(glob, role string) *tokens.Actor {
		g, err := policy.CompileGlob(glob)
		if err != nil {
			t.Fatal(err)
		}
		return &tokens.Actor{Name: "t", Role: role, Repositories: g}
	}
	for _, c := range []struct {
		glob, role, repository string
		sees                   bool
	}{
		{"team/**", store.RolePull, registryHost + "/team/web", true},
		{"team/**", store.RolePull, "other.example/team/web", false},
		{"team/**", store.RolePull, "localhost:5000/team/web", false},
		{"team/**", store.RolePull, registryHost + "/payments/api", false},
		{"other.example/team/**", store.RolePull, "other.example/team/web", true},
		{"**", store.RoleNotify, registryHost + "/team/web", false},
		{"**", store.RoleAdmin, "other.example/team/web", true},
	} {
		v := &viewer{actor: actor(c.glob, c.role), registry: registryHost}
		if got := v.Sees(c.repository); got != c.sees {
			t.Errorf("%s %s sees %s: %v, want %v", c.role, c.glob, c.repository, got, c.sees)
		}
	}
	if (&viewer{actor: actor("team/**", store.RoleAdmin)}).Admin() || !(&viewer{actor: actor("**", store.RoleAdmin)}).Admin() {
		t.Error("the token list is for admins of every repository only")
	}
}

// The overview's totals and charts are made of what the token sees: a
// token scoped to some repositories gets their counts, and learns nothing
// of the others' volume.
func TestOverviewCountsWhatTheTokenSees(t *testing.T) {
	srv, s := startUI(t)
	code, body, _ := get(t, srv.URL, "/ui/", s.adminToken)
	if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf("<strong>%d</strong> images admitted", s.admitted)) || !strings.Contains(body, "<svg") {
		t.Fatalf("an admin of every repository: %d, totals and charts missing", code)
	}
	if s.teamAdmitted == 0 || s.teamAdmitted == s.admitted || s.teamDenied == 0 {
		t.Fatalf("the seed does not tell team/** from the rest: %+v", s)
	}
	code, body, _ = get(t, srv.URL, "/ui/", s.webToken)
	for _, want := range []string{
		fmt.Sprintf("<strong>%d</strong> images admitted", s.teamAdmitted),
		fmt.Sprintf("<strong>%d</strong> denials", s.teamDenied),
		"the repositories this token reaches", "<svg",
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("a team/** token: %d, %q missing", code, want)
		}
	}
	if !strings.Contains(body, `1 unjudged</span>`) || !strings.Contains(body, "prod-eu/prod Deployment/legacy") {
		t.Errorf("a team/** token does not see what of team/** runs")
	}
	if strings.Contains(body, "In edge") || strings.Contains(body, "inventory of edge") {
		t.Errorf("a team/** token learns of the edge cluster, where nothing of team/** runs")
	}
	if strings.Contains(body, "payments/api") || strings.Contains(body, "edge/payments") || strings.Contains(body, fmt.Sprintf("<strong>%d</strong> images admitted", s.admitted)) {
		t.Errorf("a team/** token sees payments' decisions or the store-wide total")
	}
}
