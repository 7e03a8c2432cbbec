package inventory

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dossier-dev/dossier/internal/store"
)

// refusing is the evidence store refusing any write that holds one Pod.
type refusing struct {
	*store.Store
	uid string
}

func (r refusing) PodsSeen(ctx context.Context, cluster string, pods []store.PodState, at time.Time) error {
	for _, p := range pods {
		if p.UID == r.uid {
			return errors.New("refused")
		}
	}
	return r.Store.PodsSeen(ctx, cluster, pods, at)
}

// A Pod the store refuses is left out; the others of its batch go in, and
// the watch carries on.
func TestARefusedPodHoldsUpNoOther(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	w := &watcher{o: Options{Cluster: "prod", Store: refusing{st, "uid-bad"}, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler)},
		seen: map[types.UID]*corev1.Pod{}, gone: map[types.UID]bool{}}
	for _, name := range []string{"good", "bad", "other"} {
		p := pod(name, nil)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ImageID: "registry.example/team/app@" + digestA,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		w.podSeen(p)
	}
	if err := w.flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := st.Running(ctx, store.RunningQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || len(w.seen) != 0 {
		t.Errorf("%d containers recorded, %d Pods kept for later; want 2 and none", page.Total, len(w.seen))
	}
}

// The controllers' metadata is cached without what users write at will: a
// ReplicaSet with a 250 kB annotation costs the watch its name, UID and
// owners only.
func TestControllersAreCachedLean(t *testing.T) {
	big := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f", Namespace: "shop", UID: "u", ResourceVersion: "9",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"x": strings.Repeat("a", 250_000)},
		OwnerReferences: []metav1.OwnerReference{*controller("apps/v1", "Deployment", "web")},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	for _, keepLabels := range []bool{false, true} {
		obj, err := leanMetadata(keepLabels)(big)
		if err != nil {
			t.Fatal(err)
		}
		lean := obj.(*metav1.PartialObjectMetadata)
		if lean.Annotations != nil || lean.ManagedFields != nil || (lean.Labels != nil) != keepLabels ||
			lean.UID != "u" || lean.Name != "web-7d9f" || len(lean.OwnerReferences) != 1 {
			t.Errorf("kept (labels %v): %+v", keepLabels, lean.ObjectMeta)
		}
	}
}
