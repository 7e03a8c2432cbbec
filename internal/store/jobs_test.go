package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A job whose worker stops before finishing it (its process ends, say on
// what the job reads) is claimed again when the lease runs out, but only
// until it was tried maxAttempts times: then it fails, with why, instead
// of ending every process that claims it in turn.
func TestAbandonedJobsAreGivenUp(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, _, _ := open(t)
			if err := s.Enqueue(ctx, JobScan, "registry.example/team/app", app1.Digest, t0); err != nil {
				t.Fatal(err)
			}
			at := t0
			for attempt := 1; attempt <= 3; attempt++ {
				job, err := s.ClaimJob(ctx, at, at.Add(time.Minute), 3)
				if err != nil || job == nil || job.Attempts != attempt {
					t.Fatalf("claim %d: %+v, %v", attempt, job, err)
				}
				at = at.Add(2 * time.Minute) // the worker died: its lease runs out
			}
			job, err := s.ClaimJob(ctx, at, at.Add(time.Minute), 3)
			if err != nil || job != nil {
				t.Fatalf("a job abandoned three times was claimed again: %+v, %v", job, err)
			}
			jobs, err := s.Jobs(ctx, "", "", 0)
			if err != nil || len(jobs) != 1 {
				t.Fatal(jobs, err)
			}
			if jobs[0].State != JobFailed || !strings.Contains(jobs[0].Error, "stopped before finishing it 3 times") {
				t.Errorf("the abandoned job: %+v", jobs[0])
			}
		})
	}
}
