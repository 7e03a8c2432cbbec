package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// A policy author's Ratify documents that would verify less than they
// say are refused at load: a trust store filled with a certificate that
// is no CA (a leaf another CA issued: notation would trust nothing it
// signs, or anything chaining to it), and a provider name two namespaces
// define, named without its namespace.
func TestAttackRatifyNotationDocumentsThatVerifyLess(t *testing.T) {
	load := func(t *testing.T, docs string) error {
		t.Helper()
		path := filepath.Join(t.TempDir(), "x.yaml")
		if err := os.WriteFile(path, []byte(docs), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		return err
	}
	ca := testutil.NewNotationCA(t, "Acme Root")
	_, chain := ca.Issue(t, testutil.NotationRelease, time.Now().Add(time.Hour))
	leaf := strings.ReplaceAll(strings.TrimSpace(string(testutil.PEM(chain[0]))), "\n", "\n      ")
	base := ratifyNotationDocs(t, "      certs: [inline-cert]\n", ratifyStrictStatement)
	start := strings.Index(base, "-----BEGIN CERTIFICATE-----")
	end := strings.Index(base, "-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
	withLeaf := base[:start] + leaf + base[end:]

	// the same provider in another namespace, holding another CA
	other := testutil.NewNotationCA(t, "Acme Root")
	otherPEM := strings.ReplaceAll(strings.TrimSpace(string(testutil.PEM(other.Cert))), "\n", "\n      ")
	twin := `apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: inline-cert, namespace: tenant}
spec:
  type: inline
  parameters:
    contentType: certificate
    value: |
      ` + otherPEM + "\n---\n"
	clusterTwin := strings.Replace(twin, "metadata: {name: inline-cert, namespace: tenant}", "metadata: {name: inline-cert}", 1)

	for name, docs := range map[string]string{
		"a leaf certificate as the CA":              withLeaf,
		"a provider name in two namespaces, bare":   twin + base,
		"a namespaced and a cluster provider, bare": clusterTwin + base,
	} {
		err := load(t, docs)
		t.Logf("%s: %v", name, err)
		if err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}
