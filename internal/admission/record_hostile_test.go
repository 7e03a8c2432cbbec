package admission

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Any Pod author, in any namespace, sends a Pod whose image has a long tag
// (the API server takes it; it does not parse, so the webhook denies it
// and records the denial) in the same batch as someone's signed Pod in
// prod: both decisions are recorded, on both backends, so the signed
// Pod runs admitted.
func TestLongImagesLoseNoDecisions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, signedPolicy)
	for name, url := range map[string]string{"sqlite": "", "postgres": testutil.PostgresDatabase(t)} {
		t.Run(name, func(t *testing.T) {
			st, err := store.Open(ctx, t.TempDir(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var lost []error
			w := New(func() *Rules { return f.rules }, Options{Store: st, Cluster: "prod-eu", OnStoreError: func(err error) { lost = append(lost, err) }})
			// the judge's cache warm (as for any busy webhook), then the
			// attacker's denied Pod and someone's signed Pod together
			warm := New(func() *Rules { return f.rules }, Options{})
			warm.Validate(ctx, podReview(t, "prod", containers(f.host+"/team/signed:v1")))
			w.judge = warm.judge
			bad, _ := w.Validate(ctx, podReview(t, "sandbox", containers(f.host+"/team/x:"+randomHex(4000))))
			good, _ := w.Validate(ctx, podReview(t, "prod", containers(f.host+"/team/signed:v1")))
			w.Close()
			if !good.Response.Allowed || bad.Response.Allowed || len(lost) != 0 {
				t.Errorf("good allowed %v, bad allowed %v, store errors %v", good.Response.Allowed, bad.Response.Allowed, lost)
			}
			recorded, err := st.Admissions(ctx, time.Time{}, "", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			allowed := 0
			for _, a := range recorded {
				if a.Outcome == store.AdmissionAllowed {
					allowed++
				}
			}
			if allowed != 1 || len(recorded) != 2 {
				t.Errorf("the signed image's admission in prod was not recorded (%d decisions recorded)", len(recorded))
			}
		})
	}
}

// randomHex is n incompressible hex characters (a repeated string would be
// compressed below the index's limit).
func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// refusing is the evidence store refusing any batch that holds a decision
// about one image: whatever a store cannot take.
type refusing struct {
	*store.Store
	image string
}

func (r refusing) Admitted(ctx context.Context, admissions []store.Admission) error {
	for _, a := range admissions {
		if a.Image == r.image {
			return errors.New("refused")
		}
	}
	return r.Store.Admitted(ctx, admissions)
}

// A decision the store refuses loses only itself: the recorder writes the
// rest of its batch one by one, and counts the one it lost.
func TestRecorderLosesOnlyWhatTheStoreRefuses(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lost []error
	r := newRecorder(refusing{st, "registry.example/poison:1"}, func(err error) { lost = append(lost, err) })
	now := time.Now()
	var batch []store.Admission
	for _, image := range []string{"registry.example/a:1", "registry.example/poison:1", "registry.example/b:1"} {
		batch = append(batch, store.Admission{At: now, Image: image, Namespace: "prod", Outcome: store.AdmissionDenied, Reason: "r"})
	}
	r.add(batch)
	r.close()
	recorded, err := st.Admissions(ctx, time.Time{}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 2 || r.dropped.Load() != 1 || len(lost) != 1 {
		t.Errorf("recorded %d decisions, dropped %d, errors %v; want 2, 1 and one error", len(recorded), r.dropped.Load(), lost)
	}
}
