package cli

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// serveConfig is dossier serve's configuration file: every setting a flag
// has. A flag given on the command line wins over the file.
type serveConfig struct {
	Listen        string   `json:"listen"`
	MetricsListen string   `json:"metricsListen"`
	ExternalName  string   `json:"externalName"`
	DataDir       string   `json:"dataDir"`
	Store         string   `json:"store"`
	TLS           *tlsFile `json:"tls"`
	Storage       *struct {
		S3 *struct {
			Bucket   string `json:"bucket"`
			Region   string `json:"region"`
			Endpoint string `json:"endpoint"`
			Prefix   string `json:"prefix"`
		} `json:"s3"`
	} `json:"storage"`
	ScanWorkers   *int     `json:"scanWorkers"`
	JobLease      string   `json:"jobLease"`
	AnonymousPull bool     `json:"anonymousPull"`
	HookHosts     []string `json:"hookHosts"`
	ImmutableTags []string `json:"immutableTags"`
	Quarantine    []struct {
		Repositories    string `json:"repositories"`
		Policy          string `json:"policy"`
		PendingPullable bool   `json:"pendingPullable"`
	} `json:"quarantine"`
	Retention []string `json:"retention"`
	Keys      []string `json:"keys"`
	Webhook   *struct {
		Policies    []string `json:"policies"`
		Exceptions  []string `json:"exceptions"`
		TrustedRoot string   `json:"trustedRoot"`
		FailOpen    bool     `json:"failOpen"`
		Unclaimed   string   `json:"unclaimed"`
		Listen      string   `json:"listen"`
		// the API server's credentials: its client certificate's CA, a
		// file of its bearer tokens
		ClientCA        string `json:"clientCA"`
		ClientTokenFile string `json:"clientTokenFile"`
	} `json:"webhook"`
}

type tlsFile struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// applyServeConfig reads a configuration file and sets the flags the
// command line left alone; paths in it are relative to the file.
func applyServeConfig(cmd *cobra.Command, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c serveConfig
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return usageError("configuration %s: %v", path, err)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var settings []struct{ flag, value string }
	set := func(flag, value string) {
		if value != "" {
			settings = append(settings, struct{ flag, value string }{flag, value})
		}
	}
	set("listen", c.Listen)
	set("metrics-listen", c.MetricsListen)
	set("external-name", c.ExternalName)
	set("data-dir", rel(c.DataDir))
	set("store", c.Store)
	if c.TLS != nil {
		set("tls-cert", rel(c.TLS.Cert))
		set("tls-key", rel(c.TLS.Key))
	}
	if c.Storage != nil && c.Storage.S3 != nil {
		set("s3-bucket", c.Storage.S3.Bucket)
		set("s3-region", c.Storage.S3.Region)
		set("s3-endpoint", c.Storage.S3.Endpoint)
		set("s3-prefix", c.Storage.S3.Prefix)
	}
	if c.ScanWorkers != nil {
		set("scan-workers", strconv.Itoa(*c.ScanWorkers))
	}
	set("job-lease", c.JobLease)
	if c.AnonymousPull {
		set("anonymous-pull", "true")
	}
	for _, h := range c.HookHosts {
		set("hook-host", h)
	}
	for _, t := range c.ImmutableTags {
		set("immutable-tags", t)
	}
	for i, q := range c.Quarantine {
		if q.Repositories == "" || q.Policy == "" {
			return usageError("configuration %s: quarantine %d needs repositories and a policy", path, i+1)
		}
		set("quarantine", q.Repositories+"="+rel(q.Policy))
		if q.PendingPullable {
			set("pending-pullable", q.Repositories)
		}
	}
	for _, r := range c.Retention {
		set("retention", r)
	}
	for _, k := range c.Keys {
		set("key", rel(k))
	}
	if c.Webhook != nil {
		for _, p := range c.Webhook.Policies {
			set("policy", rel(p))
		}
		for _, e := range c.Webhook.Exceptions {
			set("exceptions", rel(e))
		}
		set("trusted-root", rel(c.Webhook.TrustedRoot))
		if c.Webhook.FailOpen {
			set("fail-open", "true")
		}
		set("unclaimed", c.Webhook.Unclaimed)
		set("webhook-listen", c.Webhook.Listen)
		set("client-ca", rel(c.Webhook.ClientCA))
		set("client-token-file", rel(c.Webhook.ClientTokenFile))
	}
	// Set marks a flag changed too: what the file set is remembered, so
	// that a repeatable flag takes every value of the file
	fromFile := map[string]bool{}
	for _, s := range settings {
		if cmd.Flags().Changed(s.flag) && !fromFile[s.flag] {
			continue // the command line (or the environment) wins
		}
		if err := cmd.Flags().Set(s.flag, s.value); err != nil {
			return usageError("configuration %s: %s: %v", path, s.flag, err)
		}
		fromFile[s.flag] = true
	}
	return nil
}
