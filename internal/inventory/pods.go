// Package inventory is what runs now, in each named cluster: a watch of
// every Pod (client-go informers: one list, then a watch) records per
// container the owning workload, the node, the image as written and the
// digest that actually runs, opened while it runs and closed when it
// stops or its Pod goes.
package inventory

import (
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Owners finds the controller of a namespace's object (a ReplicaSet's
// Deployment, a Job's CronJob): nil when it has none or is not known.
type Owners func(namespace string, ref metav1.OwnerReference) *metav1.OwnerReference

// PodState is what a Pod runs now, as its cluster reports it: every
// container that has started, open while it runs (or restarts), closed
// when it finished. now stands in for times the Pod does not give.
func PodState(cluster string, pod *corev1.Pod, owners Owners, now time.Time) store.PodState {
	state := store.PodState{UID: string(pod.UID), Containers: []store.RunningContainer{}}
	workload := Workload(pod, owners)
	finished := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	add := func(kind string, name, image string, statuses []corev1.ContainerStatus) {
		status := statusOf(name, statuses)
		if status == nil {
			return // not started
		}
		started, stopped, ok := span(status, finished, now)
		if !ok {
			return
		}
		if started.IsZero() {
			started = now
			if pod.Status.StartTime != nil {
				started = pod.Status.StartTime.Time
			}
		}
		c := store.RunningContainer{Cluster: cluster, Namespace: pod.Namespace, Pod: pod.Name, PodUID: string(pod.UID),
			Container: name, Kind: kind, Workload: workload, Node: pod.Spec.NodeName, Image: image, Started: started.UTC(), Stopped: stopped}
		c.Subject, c.DigestFrom = RunningDigest(image, status.ImageID)
		state.Containers = append(state.Containers, c)
	}
	for _, c := range pod.Spec.InitContainers {
		add(store.ContainerInit, c.Name, c.Image, pod.Status.InitContainerStatuses)
	}
	for _, c := range pod.Spec.Containers {
		add(store.ContainerApp, c.Name, c.Image, pod.Status.ContainerStatuses)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		add(store.ContainerEphemeral, c.Name, c.Image, pod.Status.EphemeralContainerStatuses)
	}
	return state
}

func statusOf(name string, statuses []corev1.ContainerStatus) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// span is when a container started and, once it finished, stopped; ok is
// false for one that never ran. One that waits to restart after it ran
// still counts as running: its digest is on the node and will run again.
func span(s *corev1.ContainerStatus, podFinished bool, now time.Time) (started time.Time, stopped *time.Time, ok bool) {
	switch {
	case s.State.Running != nil:
		started, ok = s.State.Running.StartedAt.Time, true
	case s.State.Terminated != nil:
		t := s.State.Terminated.FinishedAt.Time
		if t.IsZero() {
			t = now
		}
		t = t.UTC()
		return s.State.Terminated.StartedAt.Time, &t, true
	case s.LastTerminationState.Terminated != nil:
		started, ok = s.LastTerminationState.Terminated.StartedAt.Time, true
	}
	if ok && podFinished {
		t := now.UTC()
		stopped = &t
	}
	return started, stopped, ok
}

// RunningDigest is the digest a container runs: the status's imageID
// when it names one of a repository ("repo@sha256:…", with or without a
// runtime's "docker-pullable://" prefix), else the digest the image as
// written pins; nothing when neither says. A bare "sha256:…" imageID is
// a runtime's local image ID, not a manifest digest, and is not used.
func RunningDigest(image, imageID string) (evidence.Subject, string) {
	if _, id, ok := strings.Cut(imageID, "://"); ok {
		imageID = id
	}
	if repository, digest, ok := strings.Cut(imageID, "@"); ok && repository != "" && evidence.ValidDigest(digest) {
		return evidence.Subject{Repository: evidence.ImageRepository(repository), Digest: digest}, store.DigestFromStatus
	}
	if i := strings.LastIndex(image, "@"); i > 0 && evidence.ValidDigest(image[i+1:]) {
		return evidence.Subject{Repository: evidence.ImageRepository(image[:i]), Digest: image[i+1:]}, store.DigestFromReference
	}
	return evidence.Subject{}, ""
}

// Workload is "Kind/name" of the top of a Pod's controller chain: a
// ReplicaSet's Deployment, a Job's CronJob, else the Pod's controller,
// else the Pod itself. A kind of another API group than Kubernetes' own
// is named with its group ("Rollout.argoproj.io/web").
func Workload(pod *corev1.Pod, owners Owners) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return "Pod/" + pod.Name
	}
	// two levels are all the built-in controllers use; a loop guards
	// against owner cycles a client could write
	for range 4 {
		if owners == nil {
			break
		}
		up := owners(pod.Namespace, *ref)
		if up == nil {
			break
		}
		ref = up
	}
	return qualifiedKind(ref) + "/" + ref.Name
}

// builtinGroups are the API groups of the controllers Kubernetes ships.
var builtinGroups = map[string]string{"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps",
	"Job": "batch", "CronJob": "batch", "ReplicationController": "", "Node": ""}

// qualifiedKind is a controller's kind, with its API group unless it is
// the one Kubernetes' own controller of that kind has ("Rollout.argoproj.io",
// "Deployment.apps.example.com"): a Pod cannot pass as another team's
// Deployment by naming a look-alike kind of another group.
func qualifiedKind(ref *metav1.OwnerReference) string {
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	if !strings.Contains(ref.APIVersion, "/") {
		group = "" // the core group: "v1"
	}
	if builtin, ok := builtinGroups[ref.Kind]; (ok && builtin == group) || (!ok && group == "") {
		return ref.Kind
	}
	return ref.Kind + "." + group
}
