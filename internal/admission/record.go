package admission

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
)

// recorder writes admission decisions to the store off the request path:
// a review never waits for the store, and a store that is down loses
// records (counted and reported), never admissions.
type recorder struct {
	st      DecisionStore
	queue   chan store.Admission
	onError func(error)
	dropped atomic.Int64
	wg      sync.WaitGroup
}

// recordQueue bounds the decisions waiting for the store.
const recordQueue = 4096

// DecisionStore is what the webhook asks of the evidence store: to keep
// admission decisions.
type DecisionStore interface {
	Admitted(ctx context.Context, admissions []store.Admission) error
}

func newRecorder(st DecisionStore, onError func(error)) *recorder {
	r := &recorder{st: st, queue: make(chan store.Admission, recordQueue), onError: onError}
	r.wg.Add(1)
	go r.run()
	return r
}

func (r *recorder) add(admissions []store.Admission) {
	for _, a := range admissions {
		select {
		case r.queue <- a:
		default:
			r.dropped.Add(1)
		}
	}
}

// recordLinger is how long the first decision of a batch waits for
// others: under load a transaction then carries hundreds of decisions,
// and the store's work per review (the commit above all) shrinks.
const recordLinger = 50 * time.Millisecond

// run writes what is queued, many decisions to a transaction.
func (r *recorder) run() {
	defer r.wg.Done()
	linger := time.NewTimer(recordLinger)
	for first := range r.queue {
		batch := []store.Admission{first}
		linger.Reset(recordLinger)
	more:
		for len(batch) < 500 {
			select {
			case a, ok := <-r.queue:
				if !ok {
					break more
				}
				batch = append(batch, a)
			case <-linger.C:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r.write(ctx, batch)
		cancel()
	}
}

// write stores a batch; when the store refuses it, each decision is
// written alone, so that one it cannot take loses no other.
func (r *recorder) write(ctx context.Context, batch []store.Admission) {
	err := r.st.Admitted(ctx, batch)
	if err != nil && len(batch) > 1 && ctx.Err() == nil {
		lost := 0
		for _, a := range batch {
			if one := r.st.Admitted(ctx, []store.Admission{a}); one != nil {
				lost++
				err = one
			}
		}
		if lost == 0 {
			return
		}
		r.dropped.Add(int64(lost))
	} else if err != nil {
		r.dropped.Add(int64(len(batch)))
	}
	if err != nil && r.onError != nil {
		r.onError(err)
	}
}

// close writes what is queued and stops.
func (r *recorder) close() {
	close(r.queue)
	r.wg.Wait()
}

// admissions turns a validating judgement into the decisions to keep.
func admissions(cluster string, req *admissionv1.AdmissionRequest, j Judgement, at time.Time) []store.Admission {
	workload := j.Workload
	// a Pod (or a container added to one) runs what was admitted
	deployed := req.Kind.Kind == "Pod" && (req.Operation == admissionv1.Create || req.SubResource == "ephemeralcontainers")
	seen := map[string]bool{}
	var out []store.Admission
	for _, v := range j.Verdicts {
		if !v.Matched || seen[v.Image.Reference] {
			continue
		}
		seen[v.Image.Reference] = true
		a := store.Admission{At: at, Image: v.Image.Reference, Subject: v.Subject, Cluster: cluster, Namespace: req.Namespace, Workload: workload,
			User: req.UserInfo.Username, Decision: v.Decision, Deployed: deployed}
		a.Outcome, a.Reason = outcome(v)
		out = append(out, a)
	}
	return out
}

// outcome names what happened to an image, and why.
func outcome(v Verdict) (string, string) {
	if v.denies() {
		return store.AdmissionDenied, denial(v)
	}
	if v.FailedOpen {
		return store.AdmissionFailedOpen, v.Failure
	}
	if v.Failure != "" {
		return store.AdmissionAudited, v.Failure
	}
	var waived []string
	for _, r := range v.Decision.Rules {
		if r.Outcome == evidence.OutcomeWaived && r.Waiver != nil {
			waived = append(waived, r.Policy+"/"+r.Rule+" by "+r.Waiver.Exception+" (owner "+r.Waiver.Owner+")")
		}
	}
	switch {
	case v.Decision.Violations > 0:
		return store.AdmissionAudited, strings.Join(warnings(v), "; ")
	case len(waived) > 0:
		return store.AdmissionWaived, "waived: " + strings.Join(waived, ", ")
	}
	return store.AdmissionAllowed, ""
}

// workloadOf names the reviewed object, or the controller that owns it
// ("ReplicaSet/web-7d4b9", "Pod/debug").
func workloadOf(req *admissionv1.AdmissionRequest, o *workloadObject) string {
	for _, owner := range o.Metadata.OwnerReferences {
		if owner.Controller != nil && *owner.Controller {
			return owner.Kind + "/" + owner.Name
		}
	}
	name := req.Name
	if name == "" {
		name = o.Metadata.Name
	}
	if name == "" && o.Metadata.GenerateName != "" {
		name = o.Metadata.GenerateName + "*"
	}
	return req.Kind.Kind + "/" + name
}
