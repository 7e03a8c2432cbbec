package jobs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// TestMain lets the test binary run as a separate rescan --all process,
// for the test that kills it.
func TestMain(m *testing.M) {
	if os.Getenv("DOSSIER_JOBS_RESCANNER") != "" {
		os.Exit(rescanner())
	}
	os.Exit(m.Run())
}

// rescanner runs the rescan-all job of the store in DOSSIER_JOBS_STORE
// with the database in DOSSIER_JOBS_DB, slowly, printing the digests done
// after each batch.
func rescanner() int {
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv("DOSSIER_JOBS_STORE"), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	db, err := vulndb.Open(os.Getenv("DOSSIER_JOBS_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	r := &Runner{Store: st, DB: db, Now: time.Now, Throttle: Throttle{Batch: 3, Rate: 30}, Progress: func(j store.MaintenanceJob) { fmt.Println(j.Done) }}
	job, _, err := r.Start(ctx, store.JobRescanAll, false)
	if err == nil {
		_, err = r.Run(ctx, job)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A rescan --all process killed with SIGKILL mid-run leaves its job with
// the batches it committed; once its lease has run out, a run continues
// from there: the digests the killed process did are not done again, the
// others are done once.
func TestRescanAllContinuesAfterSIGKILL(t *testing.T) {
	ctx := context.Background()
	dir, dbDir := t.TempDir(), t.TempDir()
	st := openStore(t, dir, "")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	const digests = 60
	for i := range digests {
		recordComponents(t, st, subject(i), t0, nil, lodashPURL)
	}
	db := database(t, dbDir, lodashRecord)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DOSSIER_JOBS_RESCANNER=1", "DOSSIER_JOBS_STORE="+dir, "DOSSIER_JOBS_DB="+dbDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if n, _ := strconv.Atoi(lines.Text()); n >= 9 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	jobs, err := st.MaintenanceJobs(ctx, 0)
	if err != nil || len(jobs) != 1 || jobs[0].State != store.JobRunning || jobs[0].Done < 9 || jobs[0].Done >= digests {
		t.Fatalf("the killed process's job: %+v, %v", jobs, err)
	}
	killedDid := jobs[0].Done
	// later than the killed process's lease
	resumed := time.Now().Add(2 * DefaultLease).UTC().Truncate(time.Microsecond)
	r := &Runner{Store: st, DB: db, Now: func() time.Time { return resumed }}
	job, created, err := r.Start(ctx, store.JobRescanAll, false)
	if err != nil || created {
		t.Fatalf("run again: %+v created %v: %v", job, created, err)
	}
	ran, err := r.Run(ctx, job)
	if err != nil || ran.Job.Done != digests || ran.Job.State != store.JobDone {
		t.Fatalf("the resumed run: %+v, %v", ran, err)
	}
	byKilled, byResumed := 0, 0
	for i := range digests {
		_, last, n := lastSeen(t, st, subject(i), "GHSA-35jh-r3h4-6jhm")
		switch {
		case n != 1:
			t.Errorf("%s: %d open findings", subject(i), n)
		case last.Equal(resumed):
			byResumed++
		case last.After(t0) && last.Before(resumed):
			byKilled++
		default:
			t.Errorf("%s: last seen %s, by neither run", subject(i), last)
		}
	}
	if int64(byKilled) != killedDid || byResumed != digests-int(killedDid) {
		t.Errorf("the killed process committed %d digests; re-matched by it %d, by the resumed run %d", killedDid, byKilled, byResumed)
	}
}
