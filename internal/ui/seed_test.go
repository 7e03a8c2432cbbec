package ui

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// The clock of every UI test: the overview's thirty days end on it.
var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const (
	registryHost = "127.0.0.1:5000"
	releaseFlow  = "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main"
	githubIssuer = "https://token.actions.githubusercontent.com"
	webCommit    = "4f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098"
)

var (
	web    = evidence.Subject{Repository: registryHost + "/team/web", Digest: "sha256:" + strings.Repeat("a1", 32)}
	webOld = evidence.Subject{Repository: registryHost + "/team/web", Digest: "sha256:" + strings.Repeat("a0", 32)}
	api    = evidence.Subject{Repository: registryHost + "/payments/api", Digest: "sha256:" + strings.Repeat("b2", 32)}
	legacy = evidence.Subject{Repository: registryHost + "/team/legacy", Digest: "sha256:" + strings.Repeat("c3", 32)}

	lodash   = evidence.Component{Name: "lodash", Version: "4.17.20", Type: "library", PURL: "pkg:npm/lodash@4.17.20", Licenses: []string{"MIT"}}
	minimist = evidence.Component{Name: "minimist", Version: "1.2.5", Type: "library", PURL: "pkg:npm/minimist@1.2.5", Licenses: []string{"MIT"}}
	express  = evidence.Component{Name: "express", Version: "4.17.1", Type: "library", PURL: "pkg:npm/express@4.17.1", Licenses: []string{"MIT"}}
	libc     = evidence.Component{Name: "libc6", Version: "2.36-9+deb12u4", Type: "deb", PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"}
	xz       = evidence.Component{Name: "xz-utils", Version: "5.4.1-0.2", Type: "deb", PURL: "pkg:deb/debian/xz-utils@5.4.1-0.2?arch=amd64&distro=debian-12"}
	xnet     = evidence.Component{Name: "golang.org/x/net", Version: "v0.17.0", Type: "go-module", PURL: "pkg:golang/golang.org/x/net@v0.17.0"}
)

func finding(id string, c evidence.Component, rating string, score float64, fixed ...string) evidence.Finding {
	f := evidence.Finding{ID: id, Advisories: []string{id}, Component: c, Ecosystem: c.Ecosystem(), Severity: evidence.Severity{Rating: rating, Score: score, Source: "CVSS_V3"}, FixState: evidence.FixNotFixed}
	if len(fixed) > 0 {
		f.FixState, f.FixedVersions = evidence.FixFixed, fixed
	}
	return f
}

// seeded is what seed put in the store, counted as it was put there.
type seeded struct {
	admitted, pinned, signed, denied, waived int
	// teamAdmitted and teamDenied count team/**'s decisions only
	teamAdmitted, teamDenied int
	// webToken reaches team/** only (pull); adminToken everything.
	webToken, adminToken string
}

// seed fills a store with a month of a small platform's evidence: three
// images recorded across the month (findings opened and fixed), one
// signed keyless with provenance, tag moves, exceptions expiring soon,
// later and already, and admission decisions every day.
func seed(t *testing.T, st *store.Store) seeded {
	t.Helper()
	ctx := context.Background()
	d := func(days int) time.Time { return now.Add(time.Duration(-days) * 24 * time.Hour) }
	signedAt, started := d(20), d(20).Add(-3*time.Minute)
	keyless := evidence.Verification{Signer: evidence.Signer{Identity: releaseFlow, Issuer: githubIssuer}, SigningTime: &signedAt, StoredAt: "sha256:" + strings.Repeat("5", 64), Layout: evidence.LayoutReferrer}
	lodashHigh := finding("GHSA-35jh-r3h4-6jhm", lodash, evidence.SeverityHigh, 7.2, "4.17.21")
	lodashHigh.Aliases, lodashHigh.Summary = []string{"CVE-2021-23337"}, "Command injection in lodash"
	minimistCritical := finding("GHSA-xvch-5gv4-984h", minimist, evidence.SeverityCritical, 9.8, "1.2.6")
	minimistCritical.Aliases = []string{"CVE-2021-44906"}
	expressVEX := finding("GHSA-rv95-896h-c2vc", express, evidence.SeverityMedium, 6.1, "4.19.2")
	expressVEX.Suppression = &evidence.Suppression{Kind: "vex", Status: "not_affected", Justification: "vulnerable_code_not_in_execute_path"}
	xzMedium := finding("CVE-2025-31115", xz, evidence.SeverityMedium, 5.9)
	netHigh := finding("GO-2023-2102", xnet, evidence.SeverityHigh, 7.5, "v0.17.0")
	libcLow := finding("CVE-2010-4756", libc, evidence.SeverityLow, 3.3)
	decision := &evidence.Decision{Subject: web, Allowed: true, Mode: evidence.ModeEnforce, EvaluatedAt: d(20), Policies: []string{"release"},
		Rules: []evidence.RuleResult{
			{Policy: "release", Rule: "signed-by-release-workflow", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomePass, Reason: "signed by " + releaseFlow},
			{Policy: "release", Rule: "no-critical", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomePass, Reason: "1 critical finding waived by minimist-waiver"},
		}}
	records := []store.Record{
		{Subject: webOld, At: d(29), Tag: "v1.4.1", TagSource: "registry push", Components: []evidence.Component{lodash, minimist, express},
			Findings: &store.Scan{Findings: []evidence.Finding{lodashHigh, minimistCritical}, DatabaseVersion: d(29),
				Coverage: &evidence.Coverage{Checked: 2, NotChecked: []evidence.NotChecked{{Component: express, Reason: "unparseable npm version"}}}}},
		{Subject: api, At: d(25), Tag: "v2.0.0", TagSource: "registry push", Components: []evidence.Component{libc, xz, xnet},
			Findings: &store.Scan{Findings: []evidence.Finding{xzMedium, netHigh, libcLow}, DatabaseVersion: d(25)}},
		{Subject: web, At: d(20), Tag: "v1.4.2", TagSource: "registry push", Components: []evidence.Component{lodash, minimist, express, libc},
			Findings: &store.Scan{Findings: []evidence.Finding{lodashHigh, minimistCritical, expressVEX, libcLow}, DatabaseVersion: d(20),
				Coverage: &evidence.Coverage{Checked: 4, NotChecked: []evidence.NotChecked{}}},
			Signatures: []evidence.VerifiedSignature{{Subject: web, Verification: keyless}},
			Attestations: []evidence.Attestation{{Subject: web, PredicateType: evidence.PredicateSLSA1, Predicate: []byte(`{}`), Verification: keyless,
				Provenance: &evidence.Provenance{BuilderID: releaseFlow, BuildType: "https://actions.github.io/buildtypes/workflow/v1", SourceRepository: "https://github.com/acme/web",
					Commit: webCommit, Ref: "refs/heads/main", Trigger: "push", StartedOn: &started}},
				{Subject: web, PredicateType: evidence.PredicateWorkflowAudit, Verification: keyless, Predicate: []byte(`{"repository":"https://github.com/acme/web","commit":"` + webCommit +
					`","workflow":".github/workflows/release.yml","findings":[{"rule":"container-by-tag","severity":"medium","file":".github/workflows/release.yml","line":14,"column":16,"message":"container image node:20 is referenced by tag","waiver":"node-image"}]}`)}},
			Decision: decision,
			Exceptions: []evidence.Exception{
				{Name: "minimist-waiver", Namespace: "prod", Owner: "team-web@acme.example", Subject: web, Reason: "the parser never sees user input",
					CompensatingControls: []string{"WAF rule 9311 blocks __proto__ payloads", "read-only root filesystem"}, ExpiresAt: now.Add(3 * 24 * time.Hour), Vulnerabilities: []string{"CVE-2021-44906"}},
				{Name: "lodash-until-4.17.21", Owner: "team-web@acme.example", Subject: web, Reason: "template() unused", ExpiresAt: now.Add(40 * 24 * time.Hour), Vulnerabilities: []string{"GHSA-35jh-r3h4-6jhm"}},
				{Name: "express-hotfix", Owner: "sre@acme.example", Subject: web, Reason: "hotfix window", ExpiresAt: d(2), Policies: []string{"release/no-critical"}},
			}},
		{Subject: legacy, At: d(12), Tag: "latest", TagSource: "registry push", Components: []evidence.Component{libc, xz},
			Findings: &store.Scan{Findings: []evidence.Finding{xzMedium, libcLow}, DatabaseVersion: d(12)},
			Rejected: []evidence.RejectedSignature{{PredicateType: evidence.PredicateSignatures, StoredAt: "sha256:" + strings.Repeat("6", 64), Kind: evidence.FailureUntrustedKey, Reason: "signed by a key that is not trusted"}}},
		// the api's x/net finding is fixed by a rescan on day 8
		{Subject: api, At: d(8), Findings: &store.Scan{Findings: []evidence.Finding{xzMedium, libcLow}, DatabaseVersion: d(8)}},
		// latest moves from the old web image to the new one
		{Subject: webOld, At: d(28), Tag: "latest", TagSource: "registry push"},
		{Subject: web, At: d(19), Tag: "latest", TagSource: "registry push"},
	}
	for _, r := range records {
		if err := st.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var s seeded
	var admissions []store.Admission
	for i := 29; i >= 0; i-- {
		at := d(i).Add(-time.Hour)
		n := 3 + i%4
		for j := range n {
			a := store.Admission{At: at.Add(time.Duration(j) * time.Minute), Cluster: "prod-eu", Namespace: "prod", User: "system:serviceaccount:kube-system:replicaset-controller", Deployed: true}
			switch {
			case i < 20 && j%3 == 0:
				a.Image, a.Subject, a.Workload, a.Outcome = web.String(), web, "Pod/web-"+at.Format("0102"), store.AdmissionAllowed
			case i < 20 && j%3 == 1:
				a.Image, a.Subject, a.Workload, a.Outcome, a.Reason = web.Repository+":v1.4.2", web, "Pod/web-b", store.AdmissionWaived, "release/no-critical waived by minimist-waiver"
			case i < 25:
				a.Image, a.Subject, a.Workload, a.Outcome = api.Repository+":v2.0.0", api, "Pod/api", store.AdmissionAllowed
				a.Namespace = "payments"
			default:
				a.Image, a.Subject, a.Workload, a.Outcome, a.Reason, a.Deployed = legacy.Repository+":latest", legacy, "Pod/legacy", store.AdmissionDenied,
					"policy release rule signed-by-release-workflow: no signature by "+releaseFlow+"; fix: dossier sign "+legacy.String()+" --keyless, run by "+releaseFlow, false
			}
			admissions = append(admissions, a)
			team := strings.HasPrefix(a.Subject.Repository, registryHost+"/team/")
			if a.Outcome == store.AdmissionDenied {
				s.denied++
				if team {
					s.teamDenied++
				}
				continue
			}
			s.admitted++
			if team {
				s.teamAdmitted++
			}
			if a.Outcome == store.AdmissionWaived {
				s.waived++
			}
			if strings.Contains(a.Image, "@sha256:") {
				s.pinned++
			}
			if a.Subject == web { // the only one with a verified signature
				s.signed++
			}
		}
	}
	if err := st.Admitted(ctx, admissions); err != nil {
		t.Fatal(err)
	}
	// what runs in prod-eu: web as admitted; web's tag on a node that
	// pulled the old digest (drifted); legacy, which was denied, run by a
	// Pod from before the webhook (unjudged); api in a cluster nobody
	// named to the webhook (unjudged)
	container := func(cluster, namespace, pod, image string, subject evidence.Subject) store.PodState {
		return store.PodState{UID: "uid-" + pod, Containers: []store.RunningContainer{{Cluster: cluster, Namespace: namespace, Pod: pod, PodUID: "uid-" + pod,
			Container: "app", Kind: store.ContainerApp, Workload: "Deployment/" + pod, Node: "node-1", Image: image, Subject: subject,
			DigestFrom: store.DigestFromStatus, Started: d(1)}}}
	}
	if err := st.PodsSeen(ctx, "prod-eu", []store.PodState{container("prod-eu", "prod", "web", web.String(), web),
		container("prod-eu", "prod", "web-canary", web.Repository+":v1.4.2", webOld), container("prod-eu", "prod", "legacy", legacy.Repository+":latest", legacy)}, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.PodsSeen(ctx, "edge", []store.PodState{container("edge", "payments", "api", api.Repository+":v2.0.0", api)}, d(1)); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []struct {
		secret *string
		token  store.Token
	}{
		{&s.webToken, store.Token{Repositories: "team/**", Role: store.RolePull, Description: "team web readers", CreatedAt: d(10)}},
		{&s.adminToken, store.Token{Repositories: "**", Role: store.RoleAdmin, Description: "made on the first start", CreatedAt: d(30)}},
	} {
		secret, hash, err := tokens.New()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateToken(ctx, hash, tk.token); err != nil {
			t.Fatal(err)
		}
		*tk.secret = secret
	}
	return s
}

// startUI serves the UI over a seeded store on a loopback address.
func startUI(t *testing.T) (*httptest.Server, seeded) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := seed(t, st)
	fileException := evidence.Exception{Name: "api-xz", Namespace: "payments", Owner: "payments@acme.example", Subject: api, Reason: "xz backdoor not in this version",
		ExpiresAt: now.Add(6 * 24 * time.Hour), Vulnerabilities: []string{"CVE-2025-31115"}, Source: "exceptions/api.yaml"}
	u, err := New(Options{Store: st, Auth: tokens.NewAuthenticator(st, func() time.Time { return now }), Now: func() time.Time { return now }, Registry: registryHost,
		Exceptions: func() []evidence.Exception { return []evidence.Exception{fileException} }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return srv, s
}
