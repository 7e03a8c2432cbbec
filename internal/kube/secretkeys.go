package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// secretKeyTimeout bounds reading one Secret's key.
const secretKeyTimeout = 5 * time.Second

var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// noKey says a Secret holds no key (fs.ErrNotExist): the policy's key is
// then revoked, where an error reading it leaves the rules in force.
type noKey string

func (e noKey) Error() string        { return string(e) }
func (e noKey) Is(target error) bool { return target == fs.ErrNotExist }

// SecretKeys reads the public keys policies keep in Kubernetes Secrets
// (Kyverno's k8s://NAMESPACE/NAME): a Secret's cosign.pub, as cosign and
// Kyverno read it (RBAC: get on those Secrets). Nothing is cached: a key
// rotated in its Secret is read at the next load of the policies.
func SecretKeys(cluster *rest.Config) (func(namespace, name string) ([]byte, error), error) {
	api, err := dynamic.NewForConfig(cluster)
	if err != nil {
		return nil, fmt.Errorf("a client for %s: %w", cluster.Host, err)
	}
	return func(namespace, name string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), secretKeyTimeout)
		defer cancel()
		s, err := api.Resource(secrets).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, noKey("no such Secret")
		case err != nil:
			return nil, fmt.Errorf("reading it: %w", err)
		}
		encoded, found, err := unstructured.NestedString(s.Object, "data", "cosign.pub")
		if err != nil || !found {
			return nil, noKey("it has no cosign.pub")
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("its cosign.pub: %w", err)
		}
		return key, nil
	}, nil
}
