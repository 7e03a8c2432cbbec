// Package admission decides Kubernetes admission requests with dossier's
// policies: it finds every container image an object brings to the API
// server, pins matched images to the digest the policies judged, and
// answers AdmissionReviews.
package admission

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// specPaths is where each workload kind keeps its Pod spec.
var specPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Image is one container image reference in an admitted object.
type Image struct {
	Reference string `json:"reference"`
	// Container is the container's name; List is where it is declared:
	// initContainers, containers or ephemeralContainers.
	Container string `json:"container"`
	List      string `json:"list"`
	// Path is the JSON pointer of the image field, for a patch.
	Path string `json:"path"`
}

// Images lists every container image of an object of a workload kind:
// init, regular and ephemeral containers. An object of another kind has
// none; a malformed one is an error naming where.
func Images(kind string, object []byte) ([]Image, error) {
	path, ok := specPaths[kind]
	if !ok {
		return nil, nil
	}
	raw := json.RawMessage(object)
	for i, field := range path {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, fmt.Errorf("%s: %s is not an object: %w", kind, dotted(path[:i]), err)
		}
		if raw, ok = fields[field]; !ok {
			return nil, fmt.Errorf("%s: %s has no %s", kind, dotted(path[:i]), field)
		}
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", kind, dotted(path), err)
	}
	pointer := "/" + strings.Join(path, "/")
	var out []Image
	add := func(list string, i int, name, image string) {
		out = append(out, Image{Reference: image, Container: name, List: list, Path: fmt.Sprintf("%s/%s/%d/image", pointer, list, i)})
	}
	for i, c := range spec.InitContainers {
		add("initContainers", i, c.Name, c.Image)
	}
	for i, c := range spec.Containers {
		add("containers", i, c.Name, c.Image)
	}
	for i, c := range spec.EphemeralContainers {
		add("ephemeralContainers", i, c.Name, c.Image)
	}
	return out, nil
}

func dotted(path []string) string {
	if len(path) == 0 {
		return "the object"
	}
	return strings.Join(path, ".")
}
