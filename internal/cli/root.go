// Package cli is dossier's command line: flags become options, options go
// to the domain packages, results are rendered. It is the only package that
// prints, reads flags or decides exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/serving"
)

// Exit codes.
const (
	ExitOK         = 0
	ExitGateFailed = 1
	ExitError      = 2
)

// gateError marks a failed gate (policy, vulnerability threshold): exit 1.
type gateError struct{ msg string }

func (e gateError) Error() string { return e.msg }

// app carries what every command shares.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	registry       oci.RegistryOptions
	// clouds names the clouds whose registries are pulled from with the
	// process's own cloud identity
	clouds []string
	// log is what long-running commands report through: JSON lines on
	// stderr, which log collectors parse
	log *slog.Logger
	// serving marks a long-running server: warnings become log lines
	serving bool
}

// Main runs dossier with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// several references are resolved and decided concurrently: every
	// line a command prints goes through one lock per stream
	a := &app{stdin: stdin, stdout: &lockedWriter{w: stdout}, stderr: &lockedWriter{w: stderr}}
	a.log = slog.New(slog.NewJSONHandler(a.stderr, nil))
	// one transport for the whole run, so connections are reused
	a.registry.Transport = oci.NewTransport(60 * time.Second)
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "dossier:", err.Error()+advice(err))
	var g gateError
	if errors.As(err, &g) {
		return ExitGateFailed
	}
	return ExitError
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "dossier",
		Short: "Evidence for every artifact, bound to its digest: SBOMs, findings, signatures, decisions",
		Long: `dossier names every artifact by digest and attaches evidence to it.

Sources: a registry reference (host/repo:tag, host/repo@sha256:…), oci-layout:DIR[:tag|@digest],
docker-archive:FILE.tar, dir:PATH or file:PATH; without a scheme the kind is detected when that
is unambiguous. A command given a tag resolves it first and says which digest it acted on.

Flags can also be set in the environment; flags win. The flags that mean the same on every command
(--insecure-registry, --cloud-credentials, --data-dir, --store, --platform, --trusted-root,
--layer-cache-mib) are DOSSIER_<FLAG>
(DOSSIER_DATA_DIR); every other is scoped by its command, DOSSIER_<COMMAND>_<FLAG>
(DOSSIER_WEBHOOK_INSTALL_TIMEOUT, DOSSIER_SERVE_LISTEN), so that one command's setting never
reaches another.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnvironment(cmd); err != nil {
				return err
			}
			return a.useClouds(a.clouds)
		},
	}
	root.PersistentFlags().StringSliceVar(&a.registry.InsecureRegistries, "insecure-registry", nil,
		"registry host[:port] that may be reached over plain HTTP (loopback registries always may)")
	root.PersistentFlags().StringSliceVar(&a.clouds, "cloud-credentials", nil,
		"pull from these clouds' registries with this process's cloud identity, as the kubelet's credential providers do: ecr (AWS SDK credentials), google (Application Default Credentials), azure (Entra service principal, workload or managed identity)")
	root.AddCommand(a.versionCommand(), a.resolveCommand(), a.sbomCommand(), a.scanCommand(), a.dbCommand(),
		a.keyCommand(), a.signCommand(), a.verifyCommand(), a.attestCommand(), a.verifyAttestationCommand(), a.treeCommand(), a.provenanceCommand(), a.policyCommand(), a.recordCommand(), a.queryCommand(), a.pipelineCommand(), a.rescanCommand(), a.catalogueCommand(), a.jobsCommand(), a.demoCommand(), a.webhookCommand(), a.serveCommand(), a.tokenCommand(), a.promoteCommand(), a.watchCommand(), a.auditCommand(), a.clusterCommand())
	return root
}

// sharedFlags mean the same on every command that has them, so one
// variable, DOSSIER_<FLAG>, sets them everywhere.
var sharedFlags = map[string]bool{"insecure-registry": true, "cloud-credentials": true, "data-dir": true, "store": true, "platform": true, "trusted-root": true, "layer-cache-mib": true}

// useClouds makes registry requests authenticate to the named clouds'
// registries with the process's cloud identity, after the Docker
// configuration's credentials (and, in the webhook, a Pod's pull secrets).
func (a *app) useClouds(names []string) error {
	clouds, err := oci.ParseClouds(names)
	if err != nil {
		return usageError("%v", err)
	}
	a.clouds = names
	a.registry.Keychain = nil
	a.registry = a.registry.WithClouds(clouds)
	return nil
}

// environmentKey is the variable that sets a command's flag:
// DOSSIER_<FLAG> for the shared flags, DOSSIER_<COMMAND>_<FLAG> for the
// others ("webhook install" --timeout is DOSSIER_WEBHOOK_INSTALL_TIMEOUT).
func environmentKey(cmd *cobra.Command, flag string) string {
	name := flag
	if !sharedFlags[flag] {
		name = strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name())) + " " + flag
	}
	return "DOSSIER_" + strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(name))
}

// flagsFromEnvironment fills flags the user did not set from DOSSIER_*
// variables, so that configuration is flags first, then environment.
func flagsFromEnvironment(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		key := environmentKey(cmd, f.Name)
		if v, ok := os.LookupEnv(key); ok {
			if serr := cmd.Flags().Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment %s=%q: %w", key, v, serr)
			}
		}
	})
	return err
}

// advice names the flag that addresses a domain error, which itself names
// only what is missing or wrong.
func advice(err error) string {
	switch {
	case errors.Is(err, oci.ErrPlainHTTPRefused):
		return " (allow a host with --insecure-registry HOST:PORT)"
	case errors.Is(err, oci.ErrNoSuchPlatform):
		return " (choose one with --platform)"
	}
	var setting *serving.ConfigError
	if errors.As(err, &setting) && setting.Flag != "" {
		return " (--" + setting.Flag + ")"
	}
	return ""
}

// warnf prints a line to stderr, as the one-shot commands warn; a server
// logs it as a warning instead, so that every line it writes is JSON.
func (a *app) warnf(format string, args ...any) {
	if a.serving {
		a.log.Warn(strings.TrimPrefix(fmt.Sprintf(format, args...), "warning: "))
		return
	}
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

// logf reports what a long-running command is doing: one JSON log line.
func (a *app) logf(format string, args ...any) {
	a.log.Info(fmt.Sprintf(format, args...))
}

// lockedWriter serialises writes from concurrent goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// usageError wraps argument problems so they read as such.
func usageError(format string, args ...any) error {
	return fmt.Errorf("usage: "+format, args...)
}
