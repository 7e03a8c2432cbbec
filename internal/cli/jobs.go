package cli

import (
	"context"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/jobs"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// jobFlags pace a job over every stored digest.
type jobFlags struct {
	throttle jobs.Throttle
	lease    time.Duration
}

func (f *jobFlags) register(cmd *cobra.Command, concurrency bool) {
	cmd.Flags().Float64Var(&f.throttle.Rate, "rate", 0, "at most this many digests a second, so that a registry or server sharing the store keeps its latency (0: as fast as it goes)")
	cmd.Flags().IntVar(&f.throttle.Batch, "batch", 0, "digests per batch, committed with the job's progress (0: 100 for rescan, twice --concurrency for catalogue)")
	cmd.Flags().DurationVar(&f.lease, "job-lease", jobs.DefaultLease, "how long the job stays this process's without a renewal: a job whose process was killed is continued by another run after it")
	if concurrency {
		cmd.Flags().IntVar(&f.throttle.Concurrency, "concurrency", 1, "digests pulled and catalogued at once")
	}
}

func (f *jobFlags) check() error {
	switch {
	case f.throttle.Rate < 0:
		return usageError("--rate %g: want a number of digests a second, 0 or more", f.throttle.Rate)
	case f.throttle.Batch < 0:
		return usageError("--batch %d: want 0 or more", f.throttle.Batch)
	case f.throttle.Concurrency < 0 || f.throttle.Concurrency > jobs.MaxConcurrency:
		return usageError("--concurrency %d: want 1 to %d", f.throttle.Concurrency, jobs.MaxConcurrency)
	case f.throttle.Batch > jobs.MaxBatch:
		return usageError("--batch %d: want at most %d", f.throttle.Batch, jobs.MaxBatch)
	case f.lease < time.Second:
		return usageError("--job-lease %s: want a second or more", f.lease)
	}
	return nil
}

// runJob starts (or continues) the job of kind and runs it to its end,
// its progress on stderr.
func (a *app) runJob(ctx context.Context, r *jobs.Runner, kind string, force bool) (*jobs.Ran, error) {
	job, created, err := r.Start(ctx, kind, force)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(a.stderr, "job %d (%s): %d digests\n", job.ID, job.Kind, job.Total)
	} else {
		fmt.Fprintf(a.stderr, "job %d (%s): continuing from %d of %d digests\n", job.ID, job.Kind, job.Done+job.Failed, job.Total)
	}
	r.Progress = func(j store.MaintenanceJob) {
		fmt.Fprintf(a.stderr, "job %d: %d of %d digests done, %d failed\n", j.ID, j.Done, j.Total, j.Failed)
	}
	ran, err := r.Run(ctx, job)
	if ran != nil {
		ran.Created = created
	}
	return ran, err
}

// printJobEnd says how the job ended, and where its failures are.
func (a *app) printJobEnd(j store.MaintenanceJob, verb string, took time.Duration) {
	fmt.Fprintf(a.stdout, "job %d (%s) %s: %d of %d digests %s, %d failed, in %s\n", j.ID, j.Kind, j.State, j.Done, j.Total, verb, j.Failed, took.Round(time.Millisecond))
	if j.Failed > 0 {
		fmt.Fprintf(a.stdout, "the failed digests and why: dossier jobs %d\n", j.ID)
	}
}

func (a *app) catalogueCommand() *cobra.Command {
	var sf storeFlags
	var jf jobFlags
	var all, force bool
	var exceptions []string
	var output string
	cmd := &cobra.Command{
		Use:   "catalogue --all [--force] [--rate N] [--concurrency N]",
		Short: "Catalogue every stored digest again after a cataloguer upgrade (admin): pull it, record its new SBOM and findings",
		Long: `Re-catalogue the digests of the evidence store whose stored SBOM another cataloguer made (another syft or
stereoscope version, other settings; SBOMs stored before dossier recorded its cataloguer count as another's),
or every catalogued digest with --force: each is pulled from its repository@digest with this command's
registry options and credentials (the Docker configuration, --insecure-registry, --cloud-credentials),
catalogued as dossier record does, scanned against the local advisory database and recorded (its
signatures and decisions stay as they are). A digest that cannot be pulled or catalogued is counted as
failed with why (dossier jobs ID lists them) and the job goes on.

The job is durable, in the evidence store: each batch is recorded with the job's progress, so that a
job interrupted anyhow (Ctrl-C, kill -9) continues where it stopped when dossier catalogue --all is run
again; one process runs it at a time (a lease, renewed while it runs).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if !all {
				return usageError("catalogue needs --all (to catalogue one image and record it: dossier record REF)")
			}
			if err := jf.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			set, warnings, err := policy.LoadSet(exceptions...)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				a.warnf("warning: %s", w)
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			db, err := recordDatabase(sf.dataDir, a.warnf)
			if err != nil {
				return err
			}
			r := &jobs.Runner{Store: st, Exceptions: set.Exceptions, Now: time.Now, Lease: jf.lease, Throttle: jf.throttle, Reach: jobs.ReachEverywhere(a.registry)}
			if db != nil {
				defer db.Close()
				r.DB = db
			}
			started := time.Now()
			ran, err := a.runJob(ctx, r, store.JobCatalogueAll, force)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, ran.Job)
			}
			a.printJobEnd(ran.Job, "catalogued", time.Since(started))
			return nil
		},
	}
	sf.register(cmd)
	jf.register(cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "every stored digest another cataloguer made (required)")
	cmd.Flags().BoolVar(&force, "force", false, "every catalogued digest, whatever catalogued it (for a new job; an unfinished one continues as it was started)")
	cmd.Flags().StringSliceVar(&exceptions, "exceptions", nil, "exception file or directory the new findings are judged with")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (a *app) jobsCommand() *cobra.Command {
	var sf storeFlags
	var output string
	var limit int
	cmd := &cobra.Command{
		Use:   "jobs [ID]",
		Short: "The jobs over every stored digest (rescan --all, catalogue --all), newest first, with their progress; given an ID, that job and its failed digests",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if len(args) == 1 {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil {
					return usageError("job %q: want a job's number (dossier jobs lists them)", args[0])
				}
				job, err := jobs.Show(ctx, st, id, limit)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(a.stdout, job)
				}
				t := newTable(a.stdout)
				printJobRows(t, []store.MaintenanceJob{job.MaintenanceJob})
				t.Flush()
				if len(job.Failures) > 0 {
					fmt.Fprintln(a.stdout)
					t = newTable(a.stdout)
					fmt.Fprintln(t, "FAILED DIGEST\tAT\tREASON")
					for _, f := range job.Failures {
						row(t, f.Subject.String(), f.At.Format(time.RFC3339), f.Reason)
					}
					t.Flush()
				}
				return nil
			}
			list, err := st.MaintenanceJobs(ctx, limit)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, list)
			}
			t := newTable(a.stdout)
			printJobRows(t, list)
			return t.Flush()
		},
	}
	sf.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many jobs, or failed digests of a job (0 for all)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(a.jobsCancelCommand())
	return cmd
}

func (a *app) jobsCancelCommand() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "End an unfinished job as failed: the process running it stops at its next batch, and the next start of its kind makes a new job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageError("job %q: want a job's number (dossier jobs lists them)", args[0])
			}
			ctx := cmd.Context()
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			job, err := jobs.Cancel(ctx, st, id, time.Now(), operator()+" (dossier jobs cancel)")
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "job %d (%s) cancelled after %d of %d digests\n", job.ID, job.Kind, job.Done+job.Failed, job.Total)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

// operator names the user running this command, for the records it
// leaves.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown user"
}

func printJobRows(t interface{ Write([]byte) (int, error) }, list []store.MaintenanceJob) {
	fmt.Fprintln(t, "ID\tKIND\tSTATE\tDONE\tFAILED\tTOTAL\tCREATED\tFINISHED\tERROR")
	for _, j := range list {
		finished := "-"
		if j.FinishedAt != nil {
			finished = j.FinishedAt.Format(time.RFC3339)
		}
		row(t, j.ID, j.Kind, j.State, j.Done, j.Failed, j.Total, j.CreatedAt.Format(time.RFC3339), finished, dash(j.Error))
	}
}

// printNewFindings lists a rescan's new findings.
func (a *app) printNewFindings(hits []store.FindingHit) error {
	if len(hits) == 0 {
		return nil
	}
	t := newTable(a.stdout)
	fmt.Fprintln(t, "DIGEST\tTAGS\tDEPLOYED\tSEVERITY\tADVISORY\tPACKAGE\tVERSION")
	for _, h := range hits {
		f := h.Finding
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Subject, dash(strings.Join(h.Tags, ",")), deployed(h.Placement), f.Severity.Rating, f.ID, f.Component.Name, f.Component.Version)
	}
	return t.Flush()
}

// rescanAll runs the rescan-all job.
func (a *app) rescanAll(ctx context.Context, sf *storeFlags, jf *jobFlags, threshold, output string) error {
	if err := jf.check(); err != nil {
		return err
	}
	db, st, closeAll, err := sf.openWithDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	started := time.Now()
	ran, err := a.runJob(ctx, &jobs.Runner{Store: st, DB: db, Now: time.Now, Lease: jf.lease, Throttle: jf.throttle}, store.JobRescanAll, false)
	if err != nil {
		return err
	}
	ran.New = pipeline.NewFindings(ran.New, threshold)
	if output == "json" {
		return writeJSON(a.stdout, ran)
	}
	a.printJobEnd(ran.Job, "re-matched", time.Since(started))
	fmt.Fprintf(a.stdout, "%d new findings\n", len(ran.New))
	return a.printNewFindings(ran.New)
}
