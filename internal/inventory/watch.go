package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Recorder is where the inventory goes (the evidence store).
type Recorder interface {
	PodsSeen(ctx context.Context, cluster string, pods []store.PodState, at time.Time) error
	PodsGone(ctx context.Context, cluster string, uids []string, at time.Time) error
	ClusterListed(ctx context.Context, cluster string, uids []string, at time.Time) error
	ClusterSeen(ctx context.Context, cluster string, at time.Time) error
}

// Options configure a watch of one cluster.
type Options struct {
	// Cluster is the name the cluster's inventory is kept under.
	Cluster string
	// Config reaches its API server.
	Config *rest.Config
	// Store records the inventory; with Rules it must be a Store.
	Store Recorder
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
	// Batch is how long changes gather before they are written (default
	// 250ms); Reconcile how often the whole cache is compared with the
	// store and the watch says it is alive (default 1m).
	Batch, Reconcile time.Duration
	// Listed, when set, is called once the first full list is recorded.
	Listed func(pods int)
	// Rules, when set, are the policies what runs is judged with again in
	// the background: after the first inventory, when the rules change,
	// soon after new images start, and every JudgeEvery (default 5m) —
	// exceptions expire and rescans change findings. Reports publishes
	// the decisions as PolicyReports.
	Rules      Rules
	JudgeEvery time.Duration
	Reports    bool
	// Unclaimed is the answer for images no policy claims, the webhook's
	// (deny when unset).
	Unclaimed policy.Unclaimed
	// Judged, when set, hears of each background pass.
	Judged func(Pass, error)
	// Notify, with Rules, tells its endpoints what each pass finds.
	Notify *notify.Config
}

// Store is what a watch with background decisions writes to and reads.
type Store interface {
	Recorder
	JudgeStore
	ReportStore
	EventStore
	notify.Outbox
	PruneOutbox(ctx context.Context, before time.Time) (int, error)
}

// listTimeout bounds each list request (a page of a paginated list). The
// client's own timeout is lifted for the watch: it would cut every watch
// stream, which the API server ends itself after a few minutes.
const listTimeout = time.Minute

// writeChunk bounds the Pods in one write, so that a first inventory of
// a large cluster goes in transactions of bounded size.
const writeChunk = 2000

// owned are the controllers whose own controller names a Pod's workload:
// a ReplicaSet's Deployment, a Job's CronJob.
var owned = map[schema.GroupKind]schema.GroupVersionResource{
	{Group: "apps", Kind: "ReplicaSet"}: {Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "batch", Kind: "Job"}:       {Group: "batch", Version: "v1", Resource: "jobs"},
}

// Watch keeps a cluster's inventory current until ctx ends: it lists
// every Pod, records what runs and closes what the store holds open but
// the cluster no longer has, then follows the watch. When the API server
// goes away the informers list again on its return; nothing is lost or
// counted twice.
func Watch(ctx context.Context, o Options) error {
	if o.Cluster == "" {
		return errors.New("watching a cluster: the cluster has no name")
	}
	if o.Config == nil || o.Store == nil {
		return fmt.Errorf("watching cluster %s: no API server or no store", o.Cluster)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Batch <= 0 {
		o.Batch = 250 * time.Millisecond
	}
	if o.Reconcile <= 0 {
		o.Reconcile = time.Minute
	}
	cfg := rest.CopyConfig(o.Config)
	cfg.Timeout = 0
	// Pods in protobuf: a large cluster's first list decodes into far less
	// garbage than from JSON
	protobuf := rest.CopyConfig(cfg)
	protobuf.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	protobuf.ContentType = "application/vnd.kubernetes.protobuf"
	core, err := newPodsClient(protobuf)
	if err != nil {
		return fmt.Errorf("watching cluster %s: %w", o.Cluster, err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("watching cluster %s: %w", o.Cluster, err)
	}
	w := &watcher{o: o, seen: map[types.UID]*corev1.Pod{}, gone: map[types.UID]bool{}}
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	controllers := map[schema.GroupKind]cache.SharedIndexInformer{}
	for kind, resource := range owned {
		inf := metadataInformer(meta, resource)
		w.watchErrors(inf)
		controllers[kind] = inf
		go inf.RunWithContext(ctx)
	}
	w.owners = func(namespace string, ref metav1.OwnerReference) *metav1.OwnerReference {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil
		}
		inf, ok := controllers[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
		if !ok {
			return nil
		}
		obj, ok, err := inf.GetStore().GetByKey(namespace + "/" + ref.Name)
		if err != nil || !ok {
			return nil
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok || m.UID != ref.UID {
			return nil // another object of that name
		}
		return metav1.GetControllerOfNoCopy(m)
	}
	pods := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			ctx, cancel := context.WithTimeout(ctx, listTimeout)
			defer cancel()
			list, err := core.list(ctx, opts)
			if err != nil {
				return nil, err
			}
			// trimmed at once: the informer holds the whole list until it is
			// stored, and a large cluster's full Pods are most of the
			// watch's memory
			for i := range list.Items {
				lean, _ := leanPod(&list.Items[i])
				list.Items[i] = *lean.(*corev1.Pod)
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return core.watch(ctx, opts)
		},
	}, &corev1.Pod{}, 0, cache.Indexers{})
	if err := pods.SetTransform(leanPod); err != nil {
		return err
	}
	w.watchErrors(pods)
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.podSeen,
		UpdateFunc: func(_, obj any) { w.podSeen(obj) },
		DeleteFunc: w.podGone,
	}); err != nil {
		return err
	}
	// Pods are resolved to workloads once their controllers are known
	for kind, inf := range controllers {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return fmt.Errorf("watching cluster %s: %s never listed: %w", o.Cluster, kind.Kind, context.Cause(ctx))
		}
	}
	go pods.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		return fmt.Errorf("watching cluster %s: Pods never listed: %w", o.Cluster, context.Cause(ctx))
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.reconcile(ctx, pods.GetStore()); err != nil {
		return err
	}
	o.Log.Info("cluster inventoried", "cluster", o.Cluster, "pods", len(pods.GetStore().ListKeys()))
	if o.Listed != nil {
		o.Listed(len(pods.GetStore().ListKeys()))
	}
	if o.Rules != nil {
		j, err := w.judge(ctx, cfg, meta)
		if err != nil {
			return err
		}
		go j.run(ctx)
	}
	batch := time.NewTicker(o.Batch)
	defer batch.Stop()
	reconcile := time.NewTicker(o.Reconcile)
	defer reconcile.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-batch.C:
			if err := w.flush(ctx); err != nil && ctx.Err() == nil {
				o.Log.Error("recording the inventory", "cluster", o.Cluster, "err", err)
			}
		case <-reconcile.C:
			if err := w.reconcile(ctx, pods.GetStore()); err != nil && ctx.Err() == nil {
				o.Log.Error("reconciling the inventory", "cluster", o.Cluster, "err", err)
			}
		}
	}
}

// watcher gathers Pod changes between writes: the latest state of each
// Pod seen, and the Pods gone.
type watcher struct {
	o      Options
	owners Owners

	mu        sync.Mutex
	seen      map[types.UID]*corev1.Pod
	gone      map[types.UID]bool
	lastError time.Time
	// changed is set when a flush wrote something, so that new images are
	// judged soon
	changed atomic.Bool
}

func (w *watcher) podSeen(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[pod.UID] = pod
	delete(w.gone, pod.UID)
}

func (w *watcher) podGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.seen, pod.UID)
	w.gone[pod.UID] = true
}

// watchErrors notes when an informer's watch fails, so that the store is
// not told the inventory is current while it is not.
func (w *watcher) watchErrors(inf cache.SharedIndexInformer) {
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		w.mu.Lock()
		w.lastError = w.o.Now()
		w.mu.Unlock()
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
}

// flush writes what changed since the last flush; what could not be
// written is kept for the next one unless a newer change replaced it.
func (w *watcher) flush(ctx context.Context) error {
	w.mu.Lock()
	seen, gone := w.seen, w.gone
	w.seen, w.gone = map[types.UID]*corev1.Pod{}, map[types.UID]bool{}
	w.mu.Unlock()
	if len(seen) == 0 && len(gone) == 0 {
		return nil
	}
	now := w.o.Now()
	var states []store.PodState
	for _, pod := range seen {
		state := PodState(w.o.Cluster, pod, w.owners, now)
		if err := check(w.o.Cluster, state); err != nil {
			// one odd Pod must not hold up the rest
			w.o.Log.Warn("a Pod left out of the inventory", "cluster", w.o.Cluster, "namespace", pod.Namespace, "pod", pod.Name, "err", err)
			continue
		}
		states = append(states, state)
	}
	var uids []string
	for uid := range gone {
		uids = append(uids, string(uid))
	}
	var err error
	for start := 0; start < len(states) && err == nil; start += writeChunk {
		err = w.podsSeen(ctx, states[start:min(start+writeChunk, len(states))], now)
	}
	if err == nil && len(uids) > 0 {
		err = w.o.Store.PodsGone(ctx, w.o.Cluster, uids, now)
	}
	if err == nil {
		w.changed.Store(true)
	}
	if err != nil {
		w.mu.Lock()
		for uid, pod := range seen {
			if _, newer := w.seen[uid]; !newer && !w.gone[uid] {
				w.seen[uid] = pod
			}
		}
		for uid := range gone {
			if _, newer := w.seen[uid]; !newer {
				w.gone[uid] = true
			}
		}
		w.mu.Unlock()
	}
	return err
}

// podsSeen writes Pods' states; when the store refuses a batch, each Pod
// is written alone, so that a Pod the store cannot take is left out
// (logged) and holds up no other. An error that is not about one Pod (the
// store is down) is returned.
func (w *watcher) podsSeen(ctx context.Context, states []store.PodState, now time.Time) error {
	err := w.o.Store.PodsSeen(ctx, w.o.Cluster, states, now)
	if err == nil || len(states) == 1 || ctx.Err() != nil {
		return err
	}
	refused := 0
	for _, state := range states {
		if err := w.o.Store.PodsSeen(ctx, w.o.Cluster, []store.PodState{state}, now); err != nil {
			if ctx.Err() != nil {
				return err
			}
			refused++
			w.o.Log.Warn("a Pod left out of the inventory", "cluster", w.o.Cluster, "uid", state.UID, "err", err)
		}
	}
	if refused == len(states) {
		return err // nothing went in: not one Pod's fault
	}
	return nil
}

// reconcile closes in the store what the informer's cache no longer
// holds, and says the inventory is current, unless a watch failed since
// the last time (the cache may be stale: the store's last-seen time then
// ages, and readers are told).
func (w *watcher) reconcile(ctx context.Context, pods cache.Store) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	now := w.o.Now()
	w.mu.Lock()
	failing := !w.lastError.IsZero() && now.Sub(w.lastError) < w.o.Reconcile
	w.mu.Unlock()
	if failing {
		return nil
	}
	var uids []string
	for _, obj := range pods.List() {
		if pod, ok := obj.(*corev1.Pod); ok {
			uids = append(uids, string(pod.UID))
		}
	}
	return w.o.Store.ClusterListed(ctx, w.o.Cluster, uids, now)
}

// metadataInformer lists and watches only the metadata of a resource (its
// owner references are all the inventory reads).
func metadataInformer(client metadata.Interface, resource schema.GroupVersionResource) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			ctx, cancel := context.WithTimeout(ctx, listTimeout)
			defer cancel()
			return client.Resource(resource).Namespace(metav1.NamespaceAll).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return client.Resource(resource).Namespace(metav1.NamespaceAll).Watch(ctx, opts)
		},
	}, &metav1.PartialObjectMetadata{}, 0, cache.Indexers{})
	_ = inf.SetTransform(leanMetadata(resource.Resource == "namespaces"))
	return inf
}

// leanMetadata keeps of an object's metadata what the inventory reads (its
// labels only when asked): annotations and managed fields, which users
// write at will, are not held in the cache.
func leanMetadata(keepLabels bool) cache.TransformFunc {
	return func(obj any) (any, error) {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return obj, nil
		}
		lean := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, OwnerReferences: m.OwnerReferences}}
		if keepLabels {
			lean.Labels = m.Labels
		}
		return lean, nil
	}
}

// leanPod keeps of a Pod what the inventory reads, so that the cache of a
// large cluster stays small.
func leanPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	lean := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			OwnerReferences: pod.OwnerReferences, DeletionTimestamp: pod.DeletionTimestamp},
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{Phase: pod.Status.Phase, StartTime: pod.Status.StartTime,
			InitContainerStatuses: leanStatuses(pod.Status.InitContainerStatuses), ContainerStatuses: leanStatuses(pod.Status.ContainerStatuses),
			EphemeralContainerStatuses: leanStatuses(pod.Status.EphemeralContainerStatuses)},
	}
	for _, c := range pod.Spec.InitContainers {
		lean.Spec.InitContainers = append(lean.Spec.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range pod.Spec.Containers {
		lean.Spec.Containers = append(lean.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		lean.Spec.EphemeralContainers = append(lean.Spec.EphemeralContainers,
			corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
	}
	return lean, nil
}

func leanStatuses(statuses []corev1.ContainerStatus) []corev1.ContainerStatus {
	if statuses == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(statuses))
	for i, s := range statuses {
		out[i] = corev1.ContainerStatus{Name: s.Name, Image: s.Image, ImageID: s.ImageID, State: s.State, LastTerminationState: s.LastTerminationState}
	}
	return out
}

// check says why the store would refuse a Pod's state.
func check(cluster string, state store.PodState) error {
	if state.UID == "" {
		return errors.New("the Pod has no UID")
	}
	for _, c := range state.Containers {
		if err := c.Check(cluster, state.UID); err != nil {
			return err
		}
	}
	return nil
}
