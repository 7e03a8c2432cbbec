package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// TestRecordAndQuery records signed and keyless-attested sample images,
// moves a tag, and asks each responder question, against the SQLite store
// and a PostgreSQL one.
func TestRecordAndQuery(t *testing.T) {
	t.Setenv("DOSSIER_PASSWORD", "pw")
	data := importedDataDir(t)
	dir := t.TempDir()
	key := generateKey(t, dir, "release")
	s := testutil.NewSigstore(t)
	rootFile := writeFile(t, filepath.Join(dir, "root.json"), string(s.TrustedRootJSON(t)))
	const identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	const issuer = "https://token.actions.githubusercontent.com"
	host := testutil.Registry(t)
	stores := map[string][]string{"sqlite": {"--data-dir", data}}
	if url := os.Getenv("DOSSIER_TEST_POSTGRES"); url != "" || os.Getenv("CI") != "" {
		stores["postgres"] = []string{"--data-dir", data, "--store", testutil.PostgresDatabase(t)}
	}
	for name, where := range stores {
		t.Run(name, func(t *testing.T) {
			npm := testutil.PushSample(t, "npm-app", host+"/"+name+"/app:v1")
			if r := dossier(t, "", "sign", host+"/"+name+"/app:v1", "--key", key+".key"); r.code != 0 {
				t.Fatal(r)
			}
			goApp := testutil.PushSample(t, "go-app", host+"/"+name+"/go:v1")
			repo, _ := oci.OpenRegistry(host+"/"+name+"/go", oci.RegistryOptions{})
			desc, _ := repo.Resolve(context.Background(), "v1")
			prov, _ := attest.Provenance(map[string]string{}, attest.ProvenanceOptions{BuilderID: identity, SourceURI: "git+https://github.com/acme/app@refs/tags/v1", SourceDigest: "0123456789abcdef0123456789abcdef01234567"})
			for pt, predicate := range map[string]json.RawMessage{evidence.PredicateSignatures: json.RawMessage(`{}`), evidence.PredicateSLSA1: prov} {
				st, _ := attest.Statement(desc.Digest, pt, predicate, nil)
				if _, err := sign.StoreBundle(context.Background(), repo, desc, s.KeylessBundle(t, st, identity, issuer, true), pt, time.Now()); err != nil {
					t.Fatal(err)
				}
			}

			before := time.Now().UTC()
			r := dossier(t, "", append([]string{"record", host + "/" + name + "/app:v1", host + "/" + name + "/go:v1", "--key", key + ".pub", "--trusted-root", rootFile}, where...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "recorded "+host+"/"+name+"/app@"+npm+": ") || !strings.Contains(r.stdout, "1 signatures") ||
				!strings.Contains(r.stdout, "recorded "+host+"/"+name+"/go@"+goApp+": ") {
				t.Fatalf("record: %+v", r)
			}
			q := func(args ...string) run {
				return dossier(t, "", append(append([]string{"query"}, args...), where...)...)
			}
			if r := q("component", "pkg:npm/lodash"); r.code != 0 || !strings.Contains(r.stdout, host+"/"+name+"/app@"+npm) || !strings.Contains(r.stdout, "v1") {
				t.Errorf("component: %+v", r)
			}
			var page store.ComponentPage
			if r := q("component", "pkg:npm/lodash", "--offset", "1", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || page.Total != 1 || page.Offset != 1 || len(page.Hits) != 0 {
				t.Errorf("a page past the only hit: %+v", r)
			}
			if r := q("component", "pkg:npm/lodash", "--offset", "1"); r.code != 0 || !strings.Contains(r.stderr, "no components from 2 on: there are 1") {
				t.Errorf("a page past the only hit, as a table: %+v", r)
			}
			if r := q("component", "pkg:npm/lodash@<4.17.21"); r.code != 0 || !strings.Contains(r.stdout, "4.17.20") {
				t.Errorf("component in range: %+v", r)
			}
			if r := q("component", "pkg:npm/lodash@<4.17.20"); r.code != ExitGateFailed {
				t.Errorf("component out of range: %+v", r)
			}
			if r := q("component", "golang.org/x/text@>=0.3.0,<0.3.7", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, goApp) {
				t.Errorf("component by name and range: %+v", r)
			}
			if r := q("advisory", "CVE-2021-23337"); r.code != 0 || !strings.Contains(r.stdout, npm) || !strings.Contains(r.stdout, "lodash") {
				t.Errorf("advisory: %+v", r)
			}
			if r := q("signed", "--key", key+".pub", "--from", "2020-01-01", "--to", "2100-01-01"); r.code != 0 || !strings.Contains(r.stdout, npm) || strings.Contains(r.stdout, goApp) {
				t.Errorf("signed by key: %+v", r)
			}
			if r := q("signed", "--identity-regexp", `^https://github\.com/acme/`, "--from", "2020-01-01", "--to", "2100-01-01"); r.code != 0 || !strings.Contains(r.stdout, goApp) || !strings.Contains(r.stdout, "slsaprovenance") {
				t.Errorf("signed by identity: %+v", r)
			}
			if r := q("signed", "--identity", "https://github.com/acme-evil/x", "--from", "2020-01-01", "--to", "2100-01-01"); r.code != ExitGateFailed {
				t.Errorf("a look-alike signed nothing: %+v", r)
			}
			r = q("digest", host+"/"+name+"/go:v1", "-o", "json")
			var d store.Dossier
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || d.Subject.Digest != goApp || len(d.Signatures) != 1 || len(d.Attestations) != 1 ||
				d.Attestations[0].Provenance == nil || d.Attestations[0].Provenance.SourceRepository != "https://github.com/acme/app" || len(d.Components) == 0 || len(d.Findings) == 0 {
				t.Errorf("digest: %.500s %s", r.stdout, r.stderr)
			}

			// the tag is overwritten with other content, then recorded again
			moved := testutil.PushSample(t, "debian", host+"/"+name+"/app:v1")
			between := time.Now().UTC()
			if r := dossier(t, "", append([]string{"record", host + "/" + name + "/app:v1", "--trusted-root", rootFile}, where...)...); r.code != 0 {
				t.Fatalf("record after the move: %+v", r)
			}
			r = q("tag", host+"/"+name+"/app:v1")
			if r.code != 0 || strings.Index(r.stdout, npm) < 0 || strings.Index(r.stdout, moved) < strings.Index(r.stdout, npm) {
				t.Errorf("tag history: %+v", r)
			}
			if r := q("tag", host+"/"+name+"/app:v1", "--at", before.Add(-time.Hour).Format(time.RFC3339)); r.code != ExitGateFailed {
				t.Errorf("before the first record: %+v", r)
			}
			if r := q("tag", host+"/"+name+"/app:v1", "--at", between.Format(time.RFC3339)); r.code != 0 || !strings.Contains(r.stdout, npm) || strings.Contains(r.stdout, moved) {
				t.Errorf("tag at a time: %+v", r)
			}
			// bad questions are usage errors naming the problem
			for _, bad := range [][]string{{"component", ""}, {"tag", "no-tag"}, {"signed", "--identity-regexp", "(", "--from", "2020-01-01", "--to", "2021-01-01"},
				{"signed", "--identity", "x", "--from", "yesterday", "--to", "2021-01-01"}, {"digest", "repo@latest"}, {"advisory", "CVE-2021-23337", "--limit", "-1"}} {
				if r := q(bad...); r.code != ExitError {
					t.Errorf("%v: %+v", bad, r)
				}
			}
		})
	}
}
