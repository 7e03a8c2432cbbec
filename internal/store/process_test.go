package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// TestMain lets the test binary run as a recording process for the tests
// below (separate processes, as concurrent `dossier record` runs are).
func TestMain(m *testing.M) {
	switch {
	case os.Getenv("DOSSIER_STORE_RECORDER") != "":
		os.Exit(recorder())
	case os.Getenv("DOSSIER_STORE_RESCANNER") != "":
		os.Exit(rescanner())
	}
	os.Exit(m.Run())
}

const componentsPerRecord = 300

// bigRecord is a record with many components, so that a kill lands inside
// a transaction often.
func bigRecord(worker, i int, at time.Time) Record {
	subject := evidence.Subject{Repository: "registry.example/team/app", Digest: fmt.Sprintf("sha256:%032d%032d", worker, i)}
	r := Record{Subject: subject, At: at, Tag: fmt.Sprintf("w%d", worker)}
	for c := range componentsPerRecord {
		r.Components = append(r.Components, evidence.Component{Name: fmt.Sprintf("pkg%d", c), Version: "1.0." + strconv.Itoa(c), PURL: fmt.Sprintf("pkg:npm/pkg%d@1.0.%d", c, c)})
	}
	r.Findings = &Scan{Findings: []evidence.Finding{lodashFinding()}, DatabaseVersion: at}
	return r
}

// recorder records DOSSIER_STORE_COUNT records (0: until killed) as worker
// DOSSIER_STORE_WORKER, printing each committed index.
func recorder() int {
	worker, _ := strconv.Atoi(os.Getenv("DOSSIER_STORE_WORKER"))
	count, _ := strconv.Atoi(os.Getenv("DOSSIER_STORE_COUNT"))
	s, err := Open(context.Background(), os.Getenv("DOSSIER_STORE_DIR"), os.Getenv("DOSSIER_STORE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	for i := 0; count == 0 || i < count; i++ {
		if err := s.Record(context.Background(), bigRecord(worker, i%50, time.Now())); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(i)
	}
	return 0
}

func recorderCmd(t *testing.T, dir, url string, worker, count int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DOSSIER_STORE_RECORDER=1", "DOSSIER_STORE_DIR="+dir, "DOSSIER_STORE_URL="+url,
		fmt.Sprintf("DOSSIER_STORE_WORKER=%d", worker), fmt.Sprintf("DOSSIER_STORE_COUNT=%d", count))
	return cmd
}

// checkWhole asserts every recorded digest has all of its record: no
// transaction was half-written.
func checkWhole(t *testing.T, s *Store) int {
	t.Helper()
	db := s
	rows, err := db.db.Query(`SELECT s.digest, (SELECT COUNT(*) FROM components c WHERE c.subject_id = s.id), (SELECT COUNT(*) FROM subject_findings f WHERE f.subject_id = s.id) FROM subjects s`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var digest string
		var components, findings int
		if err := rows.Scan(&digest, &components, &findings); err != nil {
			t.Fatal(err)
		}
		if components != componentsPerRecord || findings != 1 {
			t.Errorf("%s: %d components and %d findings: a partial record", digest, components, findings)
		}
		n++
	}
	return n
}

// Eight processes record the same and different digests at once: none
// fails, nothing is lost.
func TestRecordFromProcesses(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, dir, url := open(t)
			var cmds []*exec.Cmd
			for w := range 8 {
				cmd := recorderCmd(t, dir, url, w%4, 10) // workers 0-3 twice: the same digests concurrently
				var errOut strings.Builder
				cmd.Stderr = &errOut
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, cmd)
				t.Cleanup(func() {
					if errOut.Len() > 0 {
						t.Logf("worker stderr: %s", errOut.String())
					}
				})
			}
			for _, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Errorf("a recording process failed: %v", err)
				}
			}
			if n := checkWhole(t, s); n != 4*10 {
				t.Errorf("%d digests recorded, want 40", n)
			}
		})
	}
}

// A recording process killed with SIGKILL, at several moments so that some
// kills land inside a transaction, leaves a store that opens and holds
// whole records only.
func TestKillDuringRecord(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			_, dir, url := open(t)
			committed := 0
			for round, delay := range []time.Duration{0, 3 * time.Millisecond, 7 * time.Millisecond, 13 * time.Millisecond} {
				cmd := recorderCmd(t, dir, url, round, 0)
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := bufio.NewScanner(out)
				for i := 0; i < 3 && lines.Scan(); i++ {
					committed++
				}
				time.Sleep(delay)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				cmd.Wait()
			}
			again, err := Open(context.Background(), dir, url)
			if err != nil {
				t.Fatalf("the store does not open after the kills: %v", err)
			}
			defer again.Close()
			if n := checkWhole(t, again); n < committed {
				t.Errorf("%d digests after the kills, %d were committed", n, committed)
			}
			if err := again.Record(context.Background(), fullRecord(app1, t0)); err != nil {
				t.Errorf("recording after the kills: %v", err)
			}
		})
	}
}

// rescanDigests are the digests of the rescan kill test, many, so that a
// kill lands inside the rescan's transaction.
const rescanDigests = 2000

func rescanSubject(i int) evidence.Subject {
	return evidence.Subject{Repository: "registry.example/team/app", Digest: fmt.Sprintf("sha256:%064d", i)}
}

// withdrawnAndAdded: the rescan's change — the lodash advisory withdrawn,
// another added that every digest matches.
func withdrawnAndAdded() (evidence.Finding, []string, map[string]AdvisoryFingerprint) {
	added := lodashFinding()
	added.ID, added.Aliases, added.Advisories = "GHSA-added", nil, []string{"GHSA-added"}
	return added, []string{"GHSA-35jh-r3h4-6jhm", "GHSA-added"}, map[string]AdvisoryFingerprint{"GHSA-added": {Hash: "h", Packages: []string{"npm/lodash"}}}
}

// rescanner writes the rescan of every digest, once.
func rescanner() int {
	s, err := Open(context.Background(), os.Getenv("DOSSIER_STORE_DIR"), os.Getenv("DOSSIER_STORE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	added, changed, state := withdrawnAndAdded()
	results := make([]RescanResult, rescanDigests)
	for i := range results {
		results[i] = RescanResult{Subject: rescanSubject(i), Findings: []evidence.Finding{added}}
	}
	if _, err := s.Rescanned(context.Background(), time.Now(), time.Now(), changed, results, state); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A rescanning process killed with SIGKILL leaves either the whole rescan
// (new findings, withdrawn ones resolved, the new advisory state) or none
// of it.
func TestKillDuringRescan(t *testing.T) {
	ctx := context.Background()
	outcomes := map[bool]int{}
	for name, open := range backends(t) {
		for _, delay := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond, time.Minute} {
			t.Run(fmt.Sprintf("%s killed after %s", name, delay), func(t *testing.T) {
				s, dir, url := open(t)
				records := make([]Record, rescanDigests)
				for i := range records {
					records[i] = Record{Subject: rescanSubject(i), At: t0, Components: []evidence.Component{lodash}, PackageKeys: []string{"npm/lodash"},
						Findings: &Scan{Findings: []evidence.Finding{lodashFinding()}, DatabaseVersion: t0}}
				}
				if err := s.Record(ctx, records...); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "DOSSIER_STORE_RESCANNER=1", "DOSSIER_STORE_DIR="+dir, "DOSSIER_STORE_URL="+url)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("the rescan failed: %v", err)
					}
				case <-time.After(delay):
					cmd.Process.Signal(syscall.SIGKILL)
					<-done
				}
				again, err := Open(ctx, dir, url)
				if err != nil {
					t.Fatalf("the store does not open after the kill: %v", err)
				}
				defer again.Close()
				state, err := again.AdvisoryState(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, rescanned := state["GHSA-added"]
				outcomes[rescanned]++
				added, err := again.Affected(ctx, "GHSA-added", Page{Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				withdrawn, err := again.Affected(ctx, "GHSA-35jh-r3h4-6jhm", Page{Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				want := map[bool][2]int{true: {rescanDigests, 0}, false: {0, rescanDigests}}[rescanned]
				if added.Total != want[0] || withdrawn.Total != want[1] {
					t.Errorf("rescan state saved: %v, but %d digests have the added finding and %d the withdrawn one", rescanned, added.Total, withdrawn.Total)
				}
			})
		}
	}
	t.Logf("rescans kept whole: %d, rolled back: %d", outcomes[true], outcomes[false])
	if outcomes[true] == 0 {
		t.Error("no rescan completed: the test did not see a committed rescan")
	}
}
