package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/kube"
	"github.com/dossier-dev/dossier/internal/serving"
	"github.com/dossier-dev/dossier/internal/store"
)

// registerWebhookFlags binds the admission webhook's settings, shared by
// dossier webhook and dossier serve.
func registerWebhookFlags(cmd *cobra.Command, f *serving.Webhook) {
	cmd.Flags().StringSliceVar(&f.Policies, "policy", nil, "policy file or directory (repeatable; SupplyChainPolicy or ClusterImagePolicy)")
	cmd.Flags().StringSliceVar(&f.Exceptions, "exceptions", nil, "exception file or directory (repeatable)")
	cmd.Flags().StringVar(&f.TrustedRoot, "trusted-root", "", "Sigstore trusted root (JSON) for keyless signers")
	cmd.Flags().DurationVar(&f.EvidenceTTL.Duration, "evidence-ttl", 5*time.Minute, "how long evidence gathered about a digest is reused")
	cmd.Flags().DurationVar(&f.ReloadInterval.Duration, "reload-interval", 2*time.Second, "how often the policy files are re-read")
	cmd.Flags().BoolVar(&f.FailOpen, "fail-open", false, "admit, with a warning and a failed-open record, images whose evidence cannot be had (default: deny under enforce)")
	cmd.Flags().StringVar(&f.Unclaimed, "unclaimed", "deny", "what images no policy claims get: deny, warn (admit with a warning, recorded) or allow (admit unjudged)")
	cmd.Flags().StringVar(&f.Kubernetes.API, "kubernetes-api", "", "API server to read namespace labels from, https://host:port (default: in a cluster, its own)")
	cmd.Flags().StringVar(&f.Kubernetes.CA, "kubernetes-ca", "", "CA of the API server's certificate")
	cmd.Flags().StringVar(&f.Kubernetes.TokenFile, "kubernetes-token-file", "", "bearer token for the API server")
	cmd.Flags().StringVar(&f.Kubernetes.ClientCert, "kubernetes-client-cert", "", "client certificate for the API server")
	cmd.Flags().StringVar(&f.Kubernetes.ClientKey, "kubernetes-client-key", "", "client certificate's key")
	cmd.Flags().BoolVar(&f.PullSecrets, "pull-secrets", false, "resolve and verify images with the pull secrets of the Pod spec and its service account, as the kubelet pulls (RBAC: get on secrets and serviceaccounts)")
	cmd.Flags().StringVar(&f.ClientCA, "client-ca", "", "CA (PEM) of the client certificate the API server presents to the webhook (its AdmissionConfiguration): reviews without one are refused")
	cmd.Flags().StringVar(&f.GatekeeperClientCA, "gatekeeper-client-ca", "", "CA (PEM) of Gatekeeper's client certificate: /gatekeeper/ (external data) is served only to a caller presenting one (default: the API server's credentials, when given)")
	cmd.Flags().BoolVar(&f.GatekeeperNamespacedKeys, "gatekeeper-namespaced-keys", false, "read Gatekeeper keys written [namespace]image as judged in that namespace: only when the ConstraintTemplate builds keys from the review's namespace (default: a key is the image as the Pod wrote it)")
	cmd.Flags().StringVar(&f.ClientTokenFile, "client-token-file", "", "file of bearer tokens (one per line, 32+ characters) the API server presents to the webhook (its AdmissionConfiguration): reviews without one are refused")
}

func registerMetricsListen(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "metrics-listen", "", "address to serve Prometheus /metrics on, plain HTTP (default: not served)")
}

func (a *app) webhookCommand() *cobra.Command {
	var cfg, defaults serving.Config
	var configPath string
	var printConfig, noStore bool
	cmd := &cobra.Command{
		Use:   "webhook --policy FILE|DIR --tls-cert F --tls-key F [--listen ADDR]",
		Short: "Serve the Kubernetes admission webhook (/admission/validate, /admission/mutate) and Gatekeeper's external data (/gatekeeper/verify, /gatekeeper/mutate)",
		Long: `Judge every container image of the workloads the API server sends (Pods, Deployments, StatefulSets,
DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs; init and ephemeral containers included)
with the policies and exceptions given, re-read when the files change. The validating review denies what
an enforcing policy refuses, with the image, digest, policy, rule, what is wrong and the command that
fixes it; audit policies admit and warn. The mutating review pins each image a policy matches to the
digest judged. Gatekeeper's external data provider protocol is served beside them: /gatekeeper/verify
answers each image with the same decision in Ratify's result shape, /gatekeeper/mutate with its digest.
Reviews' decisions go to the evidence store (and admitted Pods mark their digests deployed) unless
--no-store. SIGINT or SIGTERM stops it gracefully. dossier serve serves the same webhook next to its
registry, and both read the same --config file: this command takes its webhook, tls, dataDir, store,
metricsListen, insecureRegistries and cloudCredentials settings (--listen is its webhook.listen).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.InsecureRegistries = a.registry.InsecureRegistries // flags of every command
			cfg.CloudCredentials = a.clouds
			if configPath != "" {
				// --listen is this command's webhook.listen; the registry's
				// listen is not its to take
				setByFlag := func(flag string) bool {
					switch flag {
					case "webhook-listen":
						return cmd.Flags().Changed("listen")
					case "listen":
						return true
					}
					return cmd.Flags().Changed(flag)
				}
				if err := cfg.Merge(configPath, defaults, setByFlag); err != nil {
					return usageError("%v", err)
				}
				a.registry.InsecureRegistries = cfg.InsecureRegistries
				if err := a.useClouds(cfg.CloudCredentials); err != nil {
					return err
				}
			}
			if printConfig {
				out, err := cfg.WebhookYAML()
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(out)
				return err
			}
			if len(cfg.Webhook.Policies) == 0 {
				return usageError("give at least one --policy FILE|DIR")
			}
			if cfg.TLS.Cert == "" || cfg.TLS.Key == "" {
				return usageError("give --tls-cert and --tls-key (dossier webhook certificate makes a pair)")
			}
			a.serving = true
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			certs, err := admission.LoadCertificateFiles(cfg.TLS.Cert, cfg.TLS.Key)
			if err != nil {
				return err
			}
			var st *store.Store
			if !noStore {
				if st, err = store.Open(ctx, cfg.DataDir, cfg.Store); err != nil {
					return err
				}
				defer st.Close()
			}
			m := serving.Metrics(st, cfg.DataDir, cfg.Webhook.Exceptions, a.log)
			if st != nil {
				st.Observe(m.StoreQuery)
			}
			handler, closeWebhook, err := serving.StartWebhook(ctx, &cfg.Webhook, cfg.Cluster, cfg.DataDir, a.registry, st, m, a.log)
			if err != nil {
				return err
			}
			defer closeWebhook()
			hook, err := serving.WebhookListener(&cfg.Webhook, cfg.Webhook.Listen, handler, certs, a.log)
			if err != nil {
				return err
			}
			return serving.Run(ctx, m, append(serving.MetricsListener(cfg.MetricsListen, m, a.log), hook)...)
		},
	}
	addDataDirFlag(cmd, &cfg.DataDir)
	addStoreFlag(cmd, &cfg.Store)
	registerWebhookFlags(cmd, &cfg.Webhook)
	registerMetricsListen(cmd, &cfg.MetricsListen)
	cmd.Flags().StringVar(&cfg.TLS.Cert, "tls-cert", "", "serving certificate (PEM), re-read when renewed")
	cmd.Flags().StringVar(&cfg.TLS.Key, "tls-key", "", "serving certificate's private key (PEM)")
	cmd.Flags().StringVar(&cfg.Webhook.Listen, "listen", "127.0.0.1:8443", "address to listen on")
	cmd.Flags().BoolVar(&noStore, "no-store", false, "do not record decisions in the evidence store")
	cmd.Flags().StringVar(&cfg.Cluster, "cluster", "", "name of the cluster the webhook admits to: decisions are recorded under it, and what dossier cluster watch --cluster NAME finds running there is judged against them")
	cmd.Flags().StringVar(&configPath, "config", "", "YAML configuration file, as dossier serve reads it: its webhook, tls, dataDir, store, metricsListen and insecureRegistries settings (flags and DOSSIER_* variables win)")
	cmd.Flags().BoolVar(&printConfig, "print-config", false, "print the effective configuration of these settings as YAML, and exit")
	defaults = cfg
	cmd.AddCommand(a.webhookInstallCommand(), a.webhookCertificateCommand())
	return cmd
}

func (a *app) webhookInstallCommand() *cobra.Command {
	var o admission.InstallOptions
	var caFile string
	var port, timeout int32
	var apply, policyReportCRDs bool
	var kubeconfig, kubeContext string
	cmd := &cobra.Command{
		Use:   "install (--namespace NS --service NAME | --url https://…) --ca-bundle FILE [--policy-report-crds] [--apply [--kubeconfig FILE] [--context NAME]]",
		Short: "Print (or apply to a cluster) the Mutating- and ValidatingWebhookConfiguration that send every workload kind to dossier, and on request the PolicyReport CRDs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caFile == "" {
				return usageError("give --ca-bundle FILE: the CA that signed the webhook's serving certificate")
			}
			ca, err := os.ReadFile(caFile)
			if err != nil {
				return err
			}
			o.CABundle, o.Port, o.TimeoutSeconds = ca, port, timeout
			install, err := serving.NewWebhookInstallation(o, policyReportCRDs)
			if err != nil {
				return usageError("%v", err)
			}
			if !apply {
				data, err := install.Manifests()
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(data)
				return err
			}
			cluster, err := kube.Config(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			applied, err := install.Apply(ctx, cluster)
			for _, line := range applied {
				fmt.Fprintln(a.stdout, line)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.Namespace, "namespace", "", "namespace of dossier's Service (never sent to the webhook)")
	cmd.Flags().StringVar(&o.Service, "service", "", "name of dossier's Service")
	cmd.Flags().Int32Var(&port, "port", 443, "port of dossier's Service")
	cmd.Flags().StringVar(&o.URL, "url", "", "https:// address of a webhook outside the cluster")
	cmd.Flags().StringVar(&caFile, "ca-bundle", "", "PEM of the CA that signed the serving certificate")
	cmd.Flags().BoolVar(&o.FailOpen, "fail-open", false, "admit when dossier cannot be reached (failurePolicy Ignore); the default refuses")
	cmd.Flags().Int32Var(&timeout, "timeout", 10, "seconds the API server waits for an answer (1-30)")
	cmd.Flags().StringArrayVar(&o.ExcludeNamespaces, "exclude-namespace", nil, "namespace never sent to the webhook (repeatable)")
	cmd.Flags().BoolVar(&policyReportCRDs, "policy-report-crds", false, "also the wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport CRDs, where neither Kyverno nor Policy Reporter installed them (--apply leaves definitions another tool installed as they are)")
	cmd.Flags().BoolVar(&apply, "apply", false, "apply them to the cluster (server-side apply, field manager dossier) instead of printing them")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: KUBECONFIG, ~/.kube/config, or the Pod's service account)")
	cmd.Flags().StringVar(&kubeContext, "context", "", "context of the kubeconfig (default: its current context)")
	return cmd
}

func (a *app) webhookCertificateCommand() *cobra.Command {
	var hosts []string
	var dir string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "certificate --host NAME|IP... [--out-dir DIR]",
		Short: "Make a CA and a serving certificate for the webhook: ca.crt, tls.crt, tls.key (0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(hosts) == 0 {
				return usageError("give --host: the service's DNS name (name.namespace.svc) or the address the API server calls")
			}
			ca, cert, key, err := admission.ServingCertificate(hosts, validity, time.Now())
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for name, f := range map[string]struct {
				data []byte
				mode os.FileMode
			}{"ca.crt": {ca, 0o644}, "tls.crt": {cert, 0o644}, "tls.key": {key, 0o600}} {
				if err := os.WriteFile(filepath.Join(dir, name), f.data, f.mode); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "wrote %s, %s and %s (valid %s)\n", filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), validity)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "DNS name or IP address the certificate is for (repeatable)")
	cmd.Flags().StringVar(&dir, "out-dir", ".", "directory to write the files to")
	cmd.Flags().DurationVar(&validity, "validity", 365*24*time.Hour, "how long the certificates are valid")
	return cmd
}
