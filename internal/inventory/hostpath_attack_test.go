package inventory

// Attacks on adb2aa0 beyond key files: the other files of dossier's host a
// decision is read from (exception files) in what the background tells —
// PolicyReports and notification payloads. A test that fails shows a
// path that still reaches them.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// hostPolicies writes, under a directory named like a host's
// configuration, a policy whose key is a file and an exception file
// waiving one of its rules for digestB, and loads them as serve does.
func hostPolicies(t *testing.T) (dir string, set *policy.Set) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "etc", "dossier-secret-config")
	keys := testKeyDir(t)
	for path, text := range map[string]string{
		"policies/release.yaml": `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: release}
spec:
  mode: enforce
  images: ["registry.example/team/**"]
  signers: [{name: release-key, key: {file: ` + filepath.Join(keys, "k.pub") + `}}]
  rules:
    - name: signed
      signature: {}
    - name: scanned
      vulnerabilities: {failOn: high}
`,
		"exceptions/payments.yaml": `apiVersion: dossier.dev/v1alpha1
kind: SupplyChainException
metadata: {name: payments-scan-pending, namespace: payments}
spec:
  owner: payments-team
  imageDigest: registry.example/team/app@` + digestB + `
  reason: scanner backlog
  expiresAt: ` + now.Add(48*time.Hour).Format(time.RFC3339) + `
  waives: {policies: [release/scanned]}
`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := policy.Load(filepath.Join(dir, "policies"), filepath.Join(dir, "exceptions"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, &policy.Set{Policies: docs.Policies, Exceptions: docs.Exceptions}
}

// Notification payloads carry whole objects as data: the expiring
// exception (evidence.Exception, whose "source" is the file it was read
// from) and the denied admission (its decision's waived rules carry
// "waiver.source", the same file). A CloudEvents endpoint — often another
// team's service or a SaaS inbox — reads where dossier's configuration
// lives on its host, in every such event.
func TestNotificationsNeverNameHostFiles(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir, set := hostPolicies(t)
	ev := &evidence.Collected{Subject: evidence.Subject{Repository: "registry.example/team/app", Digest: digestB}, Reference: "registry.example/team/app:v1",
		Namespace: "payments", Signatures: []evidence.VerifiedSignature{}, Attestations: []evidence.Attestation{}}
	d := policy.Evaluate(set, ev, now)
	if d.Allowed || !strings.Contains(strings.Join(ruleTexts(d), ";"), "release/scanned waived") {
		t.Fatalf("want a denial with a waived rule: %v", ruleTexts(d))
	}
	if err := st.Admitted(ctx, []store.Admission{{At: now, Image: "registry.example/team/app:v1", Cluster: "prod", Namespace: "payments",
		Workload: "Deployment/api", Outcome: store.AdmissionDenied, Reason: strings.Join(d.Refusals(), "; "), Decision: &d}}); err != nil {
		t.Fatal(err)
	}
	evs, err := events(ctx, "prod", st, Pass{}, set, now.Add(time.Second), now.Add(-time.Hour), 7*24*time.Hour, "high")
	if err != nil {
		t.Fatal(err)
	}
	out := &captured{bodies: map[string]string{}}
	c := loadNotify(t, "endpoints: [{name: security, url: 'https://hooks.example/dossier'}]")
	if _, err := c.Queue(ctx, out, evs, now); err != nil {
		t.Fatal(err)
	}
	if len(out.bodies) < 2 {
		t.Fatalf("want the expiring exception and the denial told: %d events", len(out.bodies))
	}
	for id, body := range out.bodies {
		if strings.Contains(body, dir) {
			i := strings.Index(body, dir)
			t.Errorf("event %s names a file of dossier's host: …%s…", id, body[max(0, i-40):min(len(body), i+len(dir)+40)])
		}
	}
}

// Regression: the PolicyReport's messages about the same decision (a
// failed rule naming a key given by file, a rule waived by an exception
// file) name the key by signer and fingerprint and the exception by name
// and owner, never a file.
func TestReportsNeverNameHostFiles(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir, set := hostPolicies(t)
	c := container("prod", "payments", "api-1", "app", "Deployment/api", "registry.example/team/app:v1", "registry.example/team/app@"+digestB)
	if err := st.PodsSeen(ctx, "prod", []store.PodState{{UID: c.PodUID, Containers: []store.RunningContainer{c}}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := JudgeRunning(ctx, "prod", st, set, "v1", policy.UnclaimedDeny, func(string) (map[string]string, bool) { return nil, true }, now); err != nil {
		t.Fatal(err)
	}
	reports, err := Reports(ctx, "prod", st)
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Join(reportResults(reports["payments"]), "\n")
	if !strings.Contains(data, "fail release/signed") || !strings.Contains(data, "skip release/scanned") {
		t.Fatalf("payments' report: %s", data)
	}
	body, err := reports["payments"].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), dir) || strings.Contains(string(body), "k.pub") {
		t.Errorf("payments' report names a file of dossier's host:\n%s", body)
	}
}
