package inventory

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var (
	now     = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
)

func TestRunningDigest(t *testing.T) {
	for _, c := range []struct {
		image, imageID, want, from string
	}{
		// what the kubelet reports wins over what the Pod pins
		{"registry.example/team/app:v1", "registry.example/team/app@" + digestA, "registry.example/team/app@" + digestA, store.DigestFromStatus},
		{"registry.example/team/app@" + digestB, "docker-pullable://registry.example/team/app@" + digestA, "registry.example/team/app@" + digestA, store.DigestFromStatus},
		// Docker Hub spelled as runtimes do, read canonically
		{"nginx:1.27", "docker.io/library/nginx@" + digestA, evidence.DockerHub + "/library/nginx@" + digestA, store.DigestFromStatus},
		// a runtime's local image ID is not a manifest digest
		{"registry.example/team/app:v1", digestA, "", ""},
		{"registry.example/team/app@" + digestB, digestA, "registry.example/team/app@" + digestB, store.DigestFromReference},
		{"registry.example/team/app:v1", "", "", ""},
		{"registry.example/team/app:v1", "registry.example/team/app@sha256:short", "", ""},
		{"registry.example/team/app@sha256:short", "", "", ""},
		{"", "@" + digestA, "", ""},
	} {
		subject, from := RunningDigest(c.image, c.imageID)
		if subject.String() != c.want || from != c.from {
			t.Errorf("RunningDigest(%q, %q) = %s from %q, want %s from %q", c.image, c.imageID, subject, from, c.want, c.from)
		}
	}
}

func pod(name string, owner *metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "registry.example/team/app:v1"}}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func controller(apiVersion, kind, name string) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: &yes}
}

func TestWorkload(t *testing.T) {
	owners := func(namespace string, ref metav1.OwnerReference) *metav1.OwnerReference {
		switch ref.Kind + "/" + ref.Name {
		case "ReplicaSet/web-7d9f":
			return controller("apps/v1", "Deployment", "web")
		case "Job/report-29100":
			return controller("batch/v1", "CronJob", "report")
		case "ReplicaSet/loop":
			return controller("apps/v1", "ReplicaSet", "loop") // a cycle a client wrote
		}
		return nil
	}
	notController := controller("apps/v1", "ReplicaSet", "web-7d9f")
	notController.Controller = nil
	for name, c := range map[string]struct {
		owner *metav1.OwnerReference
		want  string
	}{
		"deployment":      {controller("apps/v1", "ReplicaSet", "web-7d9f"), "Deployment/web"},
		"cronjob":         {controller("batch/v1", "Job", "report-29100"), "CronJob/report"},
		"statefulset":     {controller("apps/v1", "StatefulSet", "db"), "StatefulSet/db"},
		"orphaned rs":     {controller("apps/v1", "ReplicaSet", "gone"), "ReplicaSet/gone"},
		"bare pod":        {nil, "Pod/p"},
		"owner, no ctrl":  {notController, "Pod/p"},
		"cycle":           {controller("apps/v1", "ReplicaSet", "loop"), "ReplicaSet/loop"},
		"static (mirror)": {controller("v1", "Node", "node-1"), "Node/node-1"},
		// a look-alike kind of another group is named with its group
		"look-alike":   {controller("apps.evil.example/v1", "Deployment", "payments"), "Deployment.apps.evil.example/payments"},
		"argo rollout": {controller("argoproj.io/v1alpha1", "Rollout", "web"), "Rollout.argoproj.io/web"},
		"core kind":    {controller("v1", "ReplicationController", "rc"), "ReplicationController/rc"},
	} {
		if got := Workload(pod("p", c.owner), owners); got != c.want {
			t.Errorf("%s: workload %s, want %s", name, got, c.want)
		}
	}
}

func TestPodState(t *testing.T) {
	started := metav1.NewTime(now.Add(-time.Hour))
	finished := metav1.NewTime(now.Add(-30 * time.Minute))
	p := pod("web-1", controller("apps/v1", "StatefulSet", "web"))
	p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example/team/migrate@" + digestB}}
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "proxy", Image: "registry.example/team/proxy:1"},
		corev1.Container{Name: "pending", Image: "registry.example/team/pending:1"}, corev1.Container{Name: "crashing", Image: "registry.example/team/crash:1"})
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:1.37"}}}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: started, FinishedAt: finished}}}},
		ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ImageID: "registry.example/team/app@" + digestA, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: finished}}},
			{Name: "proxy", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			{Name: "pending", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
			{Name: "crashing", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: finished, FinishedAt: finished}}},
		},
		EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "debug", ImageID: "docker.io/library/busybox@" + digestB, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: finished}}}},
	}
	state := PodState("prod", p, nil, now)
	got := map[string]store.RunningContainer{}
	for _, c := range state.Containers {
		if err := c.Check("prod", "uid-web-1"); err != nil {
			t.Errorf("%s: %v", c.Container, err)
		}
		got[c.Container] = c
	}
	if len(got) != 5 {
		t.Fatalf("containers %v, want migrate, app, proxy, crashing, debug (pending never started)", state.Containers)
	}
	if m := got["migrate"]; m.Kind != store.ContainerInit || m.Stopped == nil || !m.Stopped.Equal(finished.Time) || m.Subject.Digest != digestB || m.DigestFrom != store.DigestFromReference {
		t.Errorf("the finished init container: %+v", m)
	}
	if a := got["app"]; a.Stopped != nil || a.Subject.Digest != digestA || a.DigestFrom != store.DigestFromStatus || !a.Started.Equal(finished.Time) ||
		a.Workload != "StatefulSet/web" || a.Node != "node-1" || a.Namespace != "shop" {
		t.Errorf("app: %+v", a)
	}
	// no start time in its state: the Pod's stands in; no digest known
	if x := got["proxy"]; !x.Started.Equal(started.Time) || x.Subject.Digest != "" || x.DigestFrom != "" {
		t.Errorf("proxy: %+v", x)
	}
	if c := got["crashing"]; c.Stopped != nil {
		t.Errorf("a container waiting to restart still runs there: %+v", c)
	}
	if d := got["debug"]; d.Kind != store.ContainerEphemeral || d.Subject.Repository != evidence.DockerHub+"/library/busybox" {
		t.Errorf("debug: %+v", d)
	}
	// the Pod finished: whatever still ran stopped
	p.Status.Phase = corev1.PodSucceeded
	for _, c := range PodState("prod", p, nil, now).Containers {
		if c.Stopped == nil {
			t.Errorf("%s of a finished Pod still runs", c.Container)
		}
	}
}

// FuzzPodState: whatever a Pod's JSON says, reading it never panics, and
// every container it reports is one the store accepts, or one the watch
// leaves out with a reason.
func FuzzPodState(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"p","namespace":"n","uid":"u"},"spec":{"containers":[{"name":"a","image":"i@` + digestA + `"}]},
		"status":{"containerStatuses":[{"name":"a","imageID":"x@` + digestB + `","state":{"running":{}}}]}}`))
	f.Add([]byte(`{"metadata":{"name":"p","namespace":"n","uid":"u","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","controller":true}]},
		"spec":{"initContainers":[{"name":"i"}],"containers":[{"name":"a","image":"i:1"},{"name":"a","image":"j:1"}]},
		"status":{"phase":"Failed","initContainerStatuses":[{"name":"i","state":{"terminated":{}}}],"containerStatuses":[{"name":"a","imageID":"docker://sha256:x","lastState":{"terminated":{}},"state":{"waiting":{}}}]}}`))
	f.Add([]byte(`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":""}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p corev1.Pod
		if json.Unmarshal(data, &p) != nil {
			return
		}
		state := PodState("prod", &p, nil, now)
		if err := check("prod", state); err == nil {
			for _, c := range state.Containers {
				if c.Started.IsZero() || (c.Subject.Digest != "" && !evidence.ValidDigest(c.Subject.Digest)) {
					t.Fatalf("accepted a container the store refuses: %+v", c)
				}
			}
		}
	})
}

// openStore is an embedded evidence store of the test's own.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
