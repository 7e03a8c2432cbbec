package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

func (a *app) webhookCommand() *cobra.Command {
	var sf storeFlags
	var policies, exceptions []string
	var trustedRoot, certFile, keyFile, listen string
	var evidenceTTL, reload time.Duration
	var noStore, failOpen bool
	var api admission.APIServer
	cmd := &cobra.Command{
		Use:   "webhook --policy FILE|DIR --tls-cert F --tls-key F [--listen ADDR]",
		Short: "Serve the Kubernetes admission webhook: /admission/validate and /admission/mutate",
		Long: `Judge every container image of the workloads the API server sends (Pods, Deployments, StatefulSets,
DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs; init and ephemeral containers included)
with the policies and exceptions given, re-read when the files change. The validating review denies what
an enforcing policy refuses, with the image, digest, policy, rule, what is wrong and the command that
fixes it; audit policies admit and warn. The mutating review pins each image a policy matches to the
digest judged. Decisions go to the evidence store (and admitted Pods mark their digests deployed) unless
--no-store. SIGINT or SIGTERM stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(policies) == 0 {
				return usageError("give at least one --policy FILE|DIR")
			}
			if certFile == "" || keyFile == "" {
				return usageError("give --tls-cert and --tls-key (dossier webhook certificate makes a pair)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			certs, err := admission.LoadCertificateFiles(certFile, keyFile)
			if err != nil {
				return err
			}
			opts := collect.Options{Timeout: 8 * time.Second}
			db, err := vulndb.Open(sf.dataDir)
			switch {
			case errors.Is(err, vulndb.ErrNoDatabase):
				opts.NoScanner = fmt.Sprintf("no advisory database in %s (dossier db import or dossier db update makes one)", sf.dataDir)
			case err != nil:
				return err
			default:
				defer db.Close()
				opts.Scanner = localScanner{db: db}
			}
			rules, err := admission.LoadFileRules(append(append([]string{}, policies...), exceptions...), trustedRoot, opts)
			if err != nil {
				return err
			}
			if len(rules.Rules().Set.Policies) == 0 {
				return usageError("%v holds no policies", policies)
			}
			wopts := admission.Options{Registry: a.registry, EvidenceTTL: evidenceTTL, FailOpen: failOpen}
			if api.URL == "" {
				api, _ = admission.InCluster()
			}
			if api.URL != "" {
				if wopts.NamespaceLabels, err = admission.NamespaceLabelsFrom(api, 30*time.Second); err != nil {
					return err
				}
			}
			if !noStore {
				st, err := sf.open(ctx)
				if err != nil {
					return err
				}
				defer st.Close()
				wopts.Store = st
				wopts.OnStoreError = func(err error) { a.logf("decisions not recorded: %v", err) }
			}
			w := admission.New(rules.Rules, wopts)
			defer w.Close()
			go rules.Watch(ctx, reload, func(changed bool, err error) {
				if err != nil {
					a.logf("policies not reloaded, the previous ones stay in force: %v", err)
				} else if changed {
					a.logf("policies reloaded (version %.12s)", rules.Rules().Version)
				}
			})
			mux := http.NewServeMux()
			mux.Handle("/admission/", w.Handler())
			mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusNoContent) })
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 35 * time.Second,
				TLSConfig: &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}}
			a.logf("admission webhook on https://%s (policies version %.12s)", ln.Addr(), rules.Rules().Version)
			served := make(chan error, 1)
			go func() { served <- srv.ServeTLS(ln, "", "") }()
			select {
			case err := <-served:
				return err
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringArrayVar(&policies, "policy", nil, "policy file or directory (repeatable; SupplyChainPolicy or ClusterImagePolicy)")
	cmd.Flags().StringArrayVar(&exceptions, "exceptions", nil, "exception file or directory (repeatable)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root (JSON) for keyless signers")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "serving certificate (PEM), re-read when renewed")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "serving certificate's private key (PEM)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on")
	cmd.Flags().DurationVar(&evidenceTTL, "evidence-ttl", 5*time.Minute, "how long evidence gathered about a digest is reused")
	cmd.Flags().DurationVar(&reload, "reload-interval", 2*time.Second, "how often the policy files are re-read")
	cmd.Flags().BoolVar(&noStore, "no-store", false, "do not record decisions in the evidence store")
	cmd.Flags().BoolVar(&failOpen, "fail-open", false, "admit, with a warning and a failed-open record, images whose evidence cannot be had (default: deny under enforce)")
	cmd.Flags().StringVar(&api.URL, "kubernetes-api", "", "API server to read namespace labels from, https://host:port (default: in a cluster, its own)")
	cmd.Flags().StringVar(&api.CAFile, "kubernetes-ca", "", "CA of the API server's certificate")
	cmd.Flags().StringVar(&api.TokenFile, "kubernetes-token-file", "", "bearer token for the API server")
	cmd.Flags().StringVar(&api.CertFile, "kubernetes-client-cert", "", "client certificate for the API server")
	cmd.Flags().StringVar(&api.KeyFile, "kubernetes-client-key", "", "client certificate's key")
	cmd.AddCommand(a.webhookInstallCommand(), a.webhookCertificateCommand())
	return cmd
}

func (a *app) webhookInstallCommand() *cobra.Command {
	var o admission.InstallOptions
	var caFile string
	var port, timeout int32
	var apply bool
	cmd := &cobra.Command{
		Use:   "install (--namespace NS --service NAME | --url https://…) --ca-bundle FILE [--apply]",
		Short: "Print (or apply with kubectl) the Mutating- and ValidatingWebhookConfiguration that send every workload kind to dossier",
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
			data, err := admission.Configurations(o)
			if err != nil {
				return usageError("%v", err)
			}
			if !apply {
				_, err = a.stdout.Write(data)
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			kubectl := exec.CommandContext(ctx, "kubectl", "apply", "-f", "-")
			kubectl.Stdin, kubectl.Stdout, kubectl.Stderr = bytes.NewReader(data), a.stdout, a.stderr
			if err := kubectl.Run(); err != nil {
				return fmt.Errorf("kubectl apply of the webhook configurations: %w", err)
			}
			return nil
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
	cmd.Flags().BoolVar(&apply, "apply", false, "apply them with kubectl apply (its KUBECONFIG and context) instead of printing them")
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
