package inventory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/dossier-dev/dossier/internal/policy"
)

// judger judges what runs in the background and publishes the decisions.
type judger struct {
	w          *watcher
	st         Store
	namespaces cache.SharedIndexInformer
	publisher  *Publisher
	every      time.Duration

	last        time.Time
	lastVersion string
	// notified is when the last events were queued
	notified time.Time
}

// judge starts what background decisions need: the namespaces' labels
// (policies select namespaces by label) and, for reports, a client.
func (w *watcher) judge(ctx context.Context, cfg *rest.Config, meta metadata.Interface) (*judger, error) {
	st, ok := w.o.Store.(Store)
	if !ok {
		return nil, errors.New("background decisions need the evidence store")
	}
	j := &judger{w: w, st: st, every: w.o.JudgeEvery}
	if j.every <= 0 {
		j.every = 5 * time.Minute
	}
	j.namespaces = metadataInformer(meta, schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	w.watchErrors(j.namespaces)
	go j.namespaces.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), j.namespaces.HasSynced) {
		return nil, fmt.Errorf("watching cluster %s: namespaces never listed: %w", w.o.Cluster, context.Cause(ctx))
	}
	if w.o.Notify != nil {
		go w.o.Notify.Deliver(ctx, st, &http.Client{Timeout: 30 * time.Second}, w.o.Now, w.o.Log)
	}
	if w.o.Reports {
		client, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		j.publisher = NewPublisher(client, w.o.Cluster)
	}
	return j, nil
}

// labels are a namespace's labels, and whether the namespace is known.
func (j *judger) labels(namespace string) (map[string]string, bool) {
	obj, ok, err := j.namespaces.GetStore().GetByKey(namespace)
	if err != nil || !ok {
		return nil, false
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, false
	}
	return m.Labels, true
}

// run judges at once, then whenever the rules change, the inventory
// changed, or a period passed.
func (j *judger) run(ctx context.Context) {
	j.pass(ctx)
	tick := time.NewTicker(min(10*time.Second, j.every))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, version := j.w.o.Rules()
			if version != j.lastVersion || j.w.changed.Swap(false) || j.w.o.Now().Sub(j.last) >= j.every {
				j.pass(ctx)
			}
		}
	}
}

func (j *judger) pass(ctx context.Context) {
	o := j.w.o
	set, version := o.Rules()
	now := o.Now()
	p, err := JudgeRunning(ctx, o.Cluster, j.st, set, version, o.Unclaimed, j.labels, now)
	// each stage is tried whatever the others did: one namespace's report
	// the API server refuses stops neither the others nor the notifications
	var problems []error
	if err != nil {
		problems = append(problems, err)
	} else {
		if j.publisher != nil {
			built, err := Reports(ctx, o.Cluster, j.st)
			if err == nil {
				err = j.publisher.Publish(ctx, built)
			}
			if err != nil {
				problems = append(problems, err)
			}
		}
		if o.Notify != nil {
			if err := j.notify(ctx, p, set, now); err != nil {
				problems = append(problems, err)
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	j.last, j.lastVersion = now, version
	err = errors.Join(problems...)
	if err != nil {
		o.Log.Error("background decisions", "cluster", o.Cluster, "err", err)
	} else {
		o.Log.Info(p.summary(o.Cluster), "cluster", o.Cluster, "policyVersion", version)
	}
	if o.Judged != nil {
		o.Judged(p, err)
	}
}

// deliveredKept is how long delivered notifications are kept: an event
// seen again within it is not sent again.
const deliveredKept = 30 * 24 * time.Hour

// notify queues what a pass has to tell. Denials are read from the last
// time they were queued (a minute's overlap, the same denial queued once;
// a day back at the start), so that none made while passes failed is
// lost.
func (j *judger) notify(ctx context.Context, p Pass, set *policy.Set, now time.Time) error {
	o := j.w.o
	since := j.notified.Add(-time.Minute)
	if j.notified.IsZero() {
		since = now.Add(-24 * time.Hour)
	}
	minSeverity := o.Notify.MinFindingSeverity()
	if minSeverity == "" {
		p.recorded = nil // no endpoint takes findings
	}
	evs, err := events(ctx, o.Cluster, j.st, p, set, now, since, o.Notify.ExpiringWithinDuration(), minSeverity)
	if err != nil {
		return err
	}
	if _, err := o.Notify.Queue(ctx, j.st, evs, now); err != nil {
		return err
	}
	j.notified = now
	_, err = j.st.PruneOutbox(ctx, now.Add(-deliveredKept))
	return err
}
