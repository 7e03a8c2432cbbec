package admission

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		InitContainers:      []corev1.Container{{Name: "setup", Image: "registry.example/init:v1"}},
		Containers:          []corev1.Container{{Name: "app", Image: "registry.example/app:v1"}, {Name: "sidecar", Image: "registry.example/proxy@sha256:" + strings.Repeat("a", 64)}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}},
	}
}

func TestImagesOfEveryWorkloadKind(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: podSpec()}
	objects := map[string]any{
		"Pod":                   corev1.Pod{Spec: podSpec()},
		"Deployment":            appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template}},
		"StatefulSet":           appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: template}},
		"DaemonSet":             appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template}},
		"ReplicaSet":            appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: template}},
		"ReplicationController": corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &template}},
		"Job":                   batchv1.Job{Spec: batchv1.JobSpec{Template: template}},
		"CronJob":               batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}}},
	}
	if len(objects) != len(specPaths) {
		t.Fatalf("%d kinds tested, %d judged", len(objects), len(specPaths))
	}
	for kind, obj := range objects {
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		images, _, err := readObject(kind, data)
		if err != nil || len(images) != 4 {
			t.Fatalf("%s: %+v %v", kind, images, err)
		}
		want := map[string]string{"setup": "initContainers", "app": "containers", "sidecar": "containers", "debug": "ephemeralContainers"}
		for _, im := range images {
			if want[im.Container] != im.List {
				t.Errorf("%s: %s listed in %s", kind, im.Container, im.List)
			}
			// the pointer leads to the image in the object as sent
			if got := pointerValue(t, data, im.Path); got != im.Reference {
				t.Errorf("%s: %s points to %q, want %q", kind, im.Path, got, im.Reference)
			}
		}
	}
}

func TestImagesOfOtherKindsAndBadObjects(t *testing.T) {
	if images, _, err := readObject("ConfigMap", []byte(`{"data":{}}`)); err != nil || images != nil {
		t.Errorf("a ConfigMap: %+v %v", images, err)
	}
	for kind, c := range map[string]struct{ bad, want string }{
		"Pod":         {`[]`, "Pod: the object is an array, not an object"},
		"Deployment":  {`{"spec":{"template":"x"}}`, "Deployment: spec.template is a string, not an object"},
		"CronJob":     {`{"spec":{}}`, "CronJob: spec has no jobTemplate"},
		"Job":         {`{"spec":{"template":{"spec":{"containers":{}}}}}`, "Job: spec.template.spec.containers is an object, not a list"},
		"StatefulSet": {`{"spec":{"template":{"spec":{"containers":[{"image":5}]}}}}`, "StatefulSet: spec.template.spec.containers.image is a number, not a string"},
		"DaemonSet":   {`{"spec":{"template":{}}}`, "DaemonSet: spec.template has no spec"},
		"ReplicaSet":  {`{"spec":{"template":{"spec":`, "ReplicaSet: unexpected end of JSON input"},
	} {
		if _, _, err := readObject(kind, []byte(c.bad)); err == nil || err.Error() != c.want {
			t.Errorf("%s %s: %v, want %s", kind, c.bad, err, c.want)
		}
	}
}

// pointerValue reads a JSON pointer's string from a document.
func pointerValue(t *testing.T, data []byte, pointer string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		switch node := v.(type) {
		case map[string]any:
			v = node[part]
		case []any:
			i := 0
			for _, r := range part {
				i = i*10 + int(r-'0')
			}
			v = node[i]
		}
	}
	s, _ := v.(string)
	return s
}
