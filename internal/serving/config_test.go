package serving

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conf", "serve.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var defaults = Config{Listen: "127.0.0.1:5000", DataDir: ".dossier", ScanWorkers: 2, JobLease: Duration{time.Minute},
	Storage: Storage{S3: S3{Region: "us-east-1"}},
	Webhook: Webhook{EvidenceTTL: Duration{5 * time.Minute}, ReloadInterval: Duration{2 * time.Second}, Unclaimed: "deny", Listen: "127.0.0.1:8443"}}

// Every setting the file gives is taken unless its flag was set; paths
// are relative to the file, a default path is left as it is; settings the
// file does not give keep their defaults.
func TestMerge(t *testing.T) {
	path := writeConfig(t, `listen: 0.0.0.0:5000
externalName: registry.example
store: postgres://dossier:secret@db/dossier
insecureRegistries: [mirror.internal:5000]
tls: {cert: tls/tls.crt, key: /etc/tls/tls.key}
storage: {s3: {bucket: blobs}}
scanWorkers: 0
jobLease: 90s
quarantine:
  - {repositories: "team/**", policy: policies/release.yaml, pendingPullable: true}
keys: [keys/a.pub, /abs/b.pub]
webhook:
  policies: [policies/]
  evidenceTTL: 1m
  reloadInterval: 10s
  unclaimed: warn
  kubernetes: {api: "https://10.0.0.1:443", ca: k8s/ca.crt, tokenFile: k8s/token}
`)
	dir := filepath.Dir(path)
	cfg := defaults
	cfg.Listen = "127.0.0.1:6000" // set by a flag
	if err := cfg.Merge(path, defaults, func(flag string) bool { return flag == "listen" }); err != nil {
		t.Fatal(err)
	}
	want := defaults
	want.Listen = "127.0.0.1:6000"
	want.ExternalName = "registry.example"
	want.Store = "postgres://dossier:secret@db/dossier"
	want.InsecureRegistries = []string{"mirror.internal:5000"}
	want.TLS = TLS{Cert: filepath.Join(dir, "tls/tls.crt"), Key: "/etc/tls/tls.key"}
	want.Storage.S3.Bucket = "blobs"
	want.ScanWorkers = 0
	want.JobLease = Duration{90 * time.Second}
	want.Quarantine = Quarantines{{Repositories: "team/**", Policy: filepath.Join(dir, "policies/release.yaml"), PendingPullable: true}}
	want.Keys = []string{filepath.Join(dir, "keys/a.pub"), "/abs/b.pub"}
	want.Webhook.Policies = []string{filepath.Join(dir, "policies")}
	want.Webhook.EvidenceTTL = Duration{time.Minute}
	want.Webhook.ReloadInterval = Duration{10 * time.Second}
	want.Webhook.Unclaimed = "warn"
	want.Webhook.Kubernetes = Kubernetes{API: "https://10.0.0.1:443", CA: filepath.Join(dir, "k8s/ca.crt"), TokenFile: filepath.Join(dir, "k8s/token")}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("merged:\n%+v\nwant\n%+v", cfg, want)
	}
	if cfg.DataDir != ".dossier" {
		t.Errorf("a default path was made relative to the file: %s", cfg.DataDir)
	}
}

// What the file cannot mean is refused, naming the file.
func TestMergeRefuses(t *testing.T) {
	for text, want := range map[string]string{
		"listne: x\n":                                 `unknown field "listne"`,
		"jobLease: 60\n":                              `a duration is a string`,
		"webhook: {evidenceTTL: soon}\n":              `invalid duration`,
		"quarantine: [{repositories: \"team/**\"}]\n": "quarantine 1 needs repositories and a policy",
	} {
		path := writeConfig(t, text)
		cfg := defaults
		err := cfg.Merge(path, defaults, func(string) bool { return false })
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v", text, err)
		}
		if !reflect.DeepEqual(cfg, defaults) {
			t.Errorf("%q: a refused file changed the configuration: %+v", text, cfg)
		}
	}
	cfg := defaults
	if err := cfg.Merge(filepath.Join(t.TempDir(), "missing.yaml"), defaults, func(string) bool { return false }); err == nil {
		t.Errorf("a missing file was taken")
	}
}

// The printed configuration hides the store's password and, read back as
// a file, is the same configuration.
func TestYAMLReadsBack(t *testing.T) {
	cfg := defaults
	cfg.Store = "postgres://dossier:secret@db/dossier"
	cfg.Quarantine = Quarantines{{Repositories: "team/**", Policy: "/p/release.yaml"}}
	cfg.Webhook.Policies = []string{"/p"}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret") || !strings.Contains(string(out), "jobLease: 1m0s") {
		t.Fatalf("printed:\n%s", out)
	}
	back := defaults
	if err := back.Merge(writeConfig(t, string(out)), defaults, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	cfg.Store = "postgres://dossier:xxxxx@db/dossier"
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("read back:\n%+v\nwant\n%+v", back, cfg)
	}
}
