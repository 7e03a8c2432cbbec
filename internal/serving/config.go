// Package serving is dossier's servers: every setting of dossier serve in
// one typed Config that flags, DOSSIER_* variables and the YAML
// configuration file fill alike (printable as the effective
// configuration), and the wiring that runs them from it — the registry
// with its workers and sweeps, the UI, the metrics and webhook listeners.
package serving

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is every setting of dossier serve. A field's flag tag names the
// command-line flag that sets it (DOSSIER_SERVE_<FLAG> in the environment,
// or DOSSIER_<FLAG> for the shared ones); its json tag is its key in the
// file; path marks a file name, relative to the configuration file when
// given there.
type Config struct {
	Listen             string      `json:"listen" flag:"listen"`
	MetricsListen      string      `json:"metricsListen,omitempty" flag:"metrics-listen"`
	ExternalName       string      `json:"externalName,omitempty" flag:"external-name"`
	DataDir            string      `json:"dataDir" flag:"data-dir" path:"true"`
	Store              string      `json:"store,omitempty" flag:"store"`
	LayerCacheMiB      int64       `json:"layerCacheMiB" flag:"layer-cache-mib"`
	InsecureRegistries []string    `json:"insecureRegistries,omitempty" flag:"insecure-registry"`
	CloudCredentials   []string    `json:"cloudCredentials,omitempty" flag:"cloud-credentials"`
	TLS                TLS         `json:"tls"`
	Storage            Storage     `json:"storage"`
	ScanWorkers        int         `json:"scanWorkers" flag:"scan-workers"`
	JobLease           Duration    `json:"jobLease" flag:"job-lease"`
	AnonymousPull      bool        `json:"anonymousPull" flag:"anonymous-pull"`
	HookHosts          []string    `json:"hookHosts,omitempty" flag:"hook-host"`
	ImmutableTags      []string    `json:"immutableTags,omitempty" flag:"immutable-tags"`
	Quarantine         Quarantines `json:"quarantine,omitempty" flag:"quarantine"`
	Retention          []string    `json:"retention,omitempty" flag:"retention"`
	Keys               []string    `json:"keys,omitempty" flag:"key" path:"true"`
	// SummaryKey signs a verification summary of each digest the
	// quarantine allows (its password from DOSSIER_PASSWORD or
	// COSIGN_PASSWORD), naming SummaryVerifier as the verifier.
	SummaryKey      string `json:"summaryKey,omitempty" flag:"summary-key" path:"true"`
	SummaryVerifier string `json:"summaryVerifier,omitempty" flag:"summary-verifier"`
	// Cluster names the cluster dossier serves: the webhook's decisions
	// are recorded under it, and dossier serve inventories what runs
	// there (reached through Kubeconfig, the webhook's Kubernetes
	// settings, or the Pod's service account).
	Cluster    string `json:"cluster,omitempty" flag:"cluster"`
	Kubeconfig string `json:"kubeconfig,omitempty" flag:"kubeconfig" path:"true"`
	// JudgeEvery is how often what runs in the cluster is judged again
	// with the webhook's policies on recorded evidence (and at once when
	// they change); PolicyReports publishes the decisions.
	JudgeEvery    Duration `json:"judgeEvery" flag:"judge-every"`
	PolicyReports bool     `json:"policyReports" flag:"policy-reports"`
	// Notify names the notification endpoints' file.
	Notify  string  `json:"notify,omitempty" flag:"notify" path:"true"`
	Webhook Webhook `json:"webhook"`
	// PendingPullable are repositories globs of quarantine rules, from
	// the command line, whose images may be pulled while their scan runs;
	// the file says so in each rule.
	PendingPullable []string `json:"-" flag:"pending-pullable"`
}

// TLS is the serving certificate, re-read when renewed.
type TLS struct {
	Cert string `json:"cert,omitempty" flag:"tls-cert" path:"true"`
	Key  string `json:"key,omitempty" flag:"tls-key" path:"true"`
}

// Storage is where blobs and manifests are kept: DataDir/registry unless
// an S3 bucket is named.
type Storage struct {
	S3 S3 `json:"s3"`
}

// S3 is a bucket, its keys from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (never the configuration), else the AWS chain.
type S3 struct {
	Bucket   string `json:"bucket,omitempty" flag:"s3-bucket"`
	Region   string `json:"region,omitempty" flag:"s3-region"`
	Endpoint string `json:"endpoint,omitempty" flag:"s3-endpoint"`
	Prefix   string `json:"prefix,omitempty" flag:"s3-prefix"`
}

// Webhook is the admission webhook's settings, shared by dossier serve and
// dossier webhook.
type Webhook struct {
	Policies       []string `json:"policies,omitempty" flag:"policy" path:"true"`
	Exceptions     []string `json:"exceptions,omitempty" flag:"exceptions" path:"true"`
	TrustedRoot    string   `json:"trustedRoot,omitempty" flag:"trusted-root" path:"true"`
	EvidenceTTL    Duration `json:"evidenceTTL" flag:"evidence-ttl"`
	ReloadInterval Duration `json:"reloadInterval" flag:"reload-interval"`
	FailOpen       bool     `json:"failOpen" flag:"fail-open"`
	Unclaimed      string   `json:"unclaimed" flag:"unclaimed"`
	Listen         string   `json:"listen" flag:"webhook-listen"`
	// ClientCA and ClientTokenFile say how the API server proves it is
	// the caller (its AdmissionConfiguration).
	// PullSecrets resolves and verifies images with the pull secrets of
	// the Pod spec and its service account, read from the API server (RBAC:
	// get on secrets and serviceaccounts).
	PullSecrets     bool   `json:"pullSecrets" flag:"pull-secrets"`
	ClientCA        string `json:"clientCA,omitempty" flag:"client-ca" path:"true"`
	ClientTokenFile string `json:"clientTokenFile,omitempty" flag:"client-token-file" path:"true"`
	// GatekeeperClientCA is the CA of Gatekeeper's client certificate:
	// external data is then served to Gatekeeper only.
	GatekeeperClientCA string `json:"gatekeeperClientCA,omitempty" flag:"gatekeeper-client-ca" path:"true"`
	// GatekeeperNamespacedKeys reads external data keys written
	// [namespace]image as judged in that namespace: only for a template
	// that builds keys from the review's namespace (a key is otherwise an
	// image as a Pod's author wrote it).
	GatekeeperNamespacedKeys bool       `json:"gatekeeperNamespacedKeys,omitempty" flag:"gatekeeper-namespaced-keys"`
	Kubernetes               Kubernetes `json:"kubernetes"`
}

// Kubernetes is the API server the webhook reads namespace labels from
// (default: in a cluster, its own).
type Kubernetes struct {
	API        string `json:"api,omitempty" flag:"kubernetes-api"`
	CA         string `json:"ca,omitempty" flag:"kubernetes-ca" path:"true"`
	TokenFile  string `json:"tokenFile,omitempty" flag:"kubernetes-token-file" path:"true"`
	ClientCert string `json:"clientCert,omitempty" flag:"kubernetes-client-cert" path:"true"`
	ClientKey  string `json:"clientKey,omitempty" flag:"kubernetes-client-key" path:"true"`
}

// Quarantine holds a repositories glob's images from pulls (by all but
// admins) until they pass its policy.
type Quarantine struct {
	Repositories    string `json:"repositories"`
	Policy          string `json:"policy" path:"true"`
	PendingPullable bool   `json:"pendingPullable"`
}

// Quarantines are the quarantine rules; as a flag value each is
// REPOSITORY_GLOB=POLICY_FILE|DIR.
type Quarantines []Quarantine

func (q *Quarantines) String() string {
	texts := make([]string, len(*q))
	for i, r := range *q {
		texts[i] = r.Repositories + "=" + r.Policy
	}
	return "[" + strings.Join(texts, ",") + "]"
}

// Set adds one rule.
func (q *Quarantines) Set(text string) error {
	repos, path, ok := strings.Cut(text, "=")
	if !ok || repos == "" || path == "" {
		return fmt.Errorf("%q: want REPOSITORY_GLOB=POLICY_FILE|DIR", text)
	}
	*q = append(*q, Quarantine{Repositories: repos, Policy: path})
	return nil
}

// Type names the value in help.
func (q *Quarantines) Type() string { return "stringArray" }

// Duration is a time.Duration written as Go writes one ("1m30s").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1m30s\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Merge reads the configuration file at path over defaults (the values
// the flags start from) and takes from it every setting whose flag the
// command line or the environment did not set: those win. Relative paths
// in the file are relative to it; unknown keys are refused.
func (c *Config) Merge(path string, defaults Config, setByFlag func(flag string) bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	file := defaults
	file.Quarantine = nil // the file's rules replace, never extend, the defaults (none)
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	for i, q := range file.Quarantine {
		if q.Repositories == "" || q.Policy == "" {
			return fmt.Errorf("configuration %s: quarantine %d needs repositories and a policy", path, i+1)
		}
	}
	resolve(reflect.ValueOf(&file).Elem(), reflect.ValueOf(defaults), filepath.Dir(path))
	take(reflect.ValueOf(c).Elem(), reflect.ValueOf(file), setByFlag)
	return nil
}

// resolve makes the relative paths of v that are not defaults relative
// to dir.
func resolve(v, defaults reflect.Value, dir string) {
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch {
			case f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				resolve(v.Field(i), defaults.Field(i), dir)
			case f.Tag.Get("path") != "" && !reflect.DeepEqual(v.Field(i).Interface(), defaults.Field(i).Interface()):
				switch f.Type.Kind() {
				case reflect.String:
					v.Field(i).SetString(rel(v.Field(i).String()))
				case reflect.Slice:
					for j := range v.Field(i).Len() {
						v.Field(i).Index(j).SetString(rel(v.Field(i).Index(j).String()))
					}
				}
			}
		}
	case reflect.Slice:
		for j := range v.Len() {
			resolve(v.Index(j), reflect.Zero(v.Type().Elem()), dir)
		}
	}
}

// take copies into dst every field of src whose flag was not set.
func take(dst, src reflect.Value, setByFlag func(string) bool) {
	for i := range dst.NumField() {
		f := dst.Type().Field(i)
		flag := f.Tag.Get("flag")
		switch {
		case flag != "":
			if !setByFlag(flag) {
				dst.Field(i).Set(src.Field(i))
			}
		case f.Type.Kind() == reflect.Struct:
			take(dst.Field(i), src.Field(i), setByFlag)
		}
	}
}

// YAML is the configuration as a file would give it, the store's
// password hidden.
func (c Config) YAML() ([]byte, error) {
	shown := c
	shown.Store = redacted(c.Store)
	return yaml.Marshal(shown)
}

// WebhookYAML is the part of the configuration dossier webhook uses, as
// YAML, the store's password hidden.
func (c Config) WebhookYAML() ([]byte, error) {
	return yaml.Marshal(struct {
		MetricsListen      string   `json:"metricsListen,omitempty"`
		DataDir            string   `json:"dataDir"`
		Store              string   `json:"store,omitempty"`
		InsecureRegistries []string `json:"insecureRegistries,omitempty"`
		CloudCredentials   []string `json:"cloudCredentials,omitempty"`
		TLS                TLS      `json:"tls"`
		Cluster            string   `json:"cluster,omitempty"`
		Webhook            Webhook  `json:"webhook"`
	}{c.MetricsListen, c.DataDir, redacted(c.Store), c.InsecureRegistries, c.CloudCredentials, c.TLS, c.Cluster, c.Webhook})
}

// redacted is a store URL without its password.
func redacted(store string) string {
	if u, err := url.Parse(store); err == nil && u.User != nil {
		return u.Redacted()
	}
	return store
}
