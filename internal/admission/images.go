// Package admission decides Kubernetes admission requests with dossier's
// policies: it finds every container image an object brings to the API
// server, pins matched images to the digest the policies judged, and
// answers AdmissionReviews.
package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// workloadObject is what admission reads of an object, in one decode:
// who owns it and the containers of its Pod spec wherever its kind keeps
// it (absent parts stay nil, to be named in errors).
type workloadObject struct {
	Metadata struct {
		Name            string                  `json:"name"`
		GenerateName    string                  `json:"generateName"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec *struct {
		podSpecImages
		Template    *podTemplate `json:"template"`
		JobTemplate *struct {
			Spec *struct {
				Template *podTemplate `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

type podTemplate struct {
	Spec *podSpecImages `json:"spec"`
}

type podSpecImages struct {
	InitContainers      []container `json:"initContainers"`
	Containers          []container `json:"containers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
	// what the kubelet pulls with: the spec's pull secrets and its service
	// account's
	ImagePullSecrets []struct {
		Name string `json:"name"`
	} `json:"imagePullSecrets"`
	ServiceAccountName string `json:"serviceAccountName"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// podSpec finds the object's Pod spec where kind keeps it.
func (o *workloadObject) podSpec(kind string) (*podSpecImages, error) {
	path := specPaths[kind]
	missing := func(depth int) error {
		return fmt.Errorf("%s: %s has no %s", kind, dotted(path[:depth]), path[depth])
	}
	if o.Spec == nil {
		return nil, missing(0)
	}
	var tmpl *podTemplate
	switch len(path) {
	case 1:
		return &o.Spec.podSpecImages, nil
	case 3:
		tmpl = o.Spec.Template
		if tmpl == nil {
			return nil, missing(1)
		}
	default: // CronJob
		if o.Spec.JobTemplate == nil {
			return nil, missing(1)
		}
		if o.Spec.JobTemplate.Spec == nil {
			return nil, missing(2)
		}
		if tmpl = o.Spec.JobTemplate.Spec.Template; tmpl == nil {
			return nil, missing(3)
		}
	}
	if tmpl.Spec == nil {
		return nil, missing(len(path) - 1)
	}
	return tmpl.Spec, nil
}

// pullCredentials names the pull secrets of an object's Pod spec and its
// service account.
func (o *workloadObject) pullCredentials(kind string) (secrets []string, serviceAccount string) {
	spec, err := o.podSpec(kind)
	if err != nil {
		return nil, ""
	}
	for _, s := range spec.ImagePullSecrets {
		secrets = append(secrets, s.Name)
	}
	return secrets, spec.ServiceAccountName
}

// readObject lists every container image of an object of a workload
// kind — init, regular and ephemeral containers — and returns the object
// (its owner, for workloadOf). An object of another kind has none; a
// malformed one is an error naming where.
func readObject(kind string, object []byte) ([]Image, *workloadObject, error) {
	path, ok := specPaths[kind]
	if !ok {
		return nil, nil, nil
	}
	var o workloadObject
	if err := json.Unmarshal(object, &o); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := typeErr.Field
			if field == "" {
				field = "the object"
			}
			return nil, nil, fmt.Errorf("%s: %s is %s, not %s", kind, field, article(typeErr.Value), jsonKind(typeErr.Type))
		}
		return nil, nil, fmt.Errorf("%s: %w", kind, err)
	}
	spec, err := o.podSpec(kind)
	if err != nil {
		return nil, nil, err
	}
	pointer := "/" + strings.Join(path, "/")
	var out []Image
	for _, list := range []struct {
		name       string
		containers []container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}, {"ephemeralContainers", spec.EphemeralContainers}} {
		for i, c := range list.containers {
			out = append(out, Image{Reference: c.Image, Container: c.Name, List: list.name, Path: pointer + "/" + list.name + "/" + strconv.Itoa(i) + "/image"})
		}
	}
	return out, &o, nil
}

// jsonKind names what JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	}
	return "a number"
}

// article puts "a" or "an" before a JSON value's kind ("string", "array").
func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func dotted(path []string) string {
	if len(path) == 0 {
		return "the object"
	}
	return strings.Join(path, ".")
}
