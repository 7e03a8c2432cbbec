package inventory

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// podsClient lists and watches the Pods of every namespace, as client-go's
// typed core/v1 client does, through a REST client that knows core/v1
// alone: the typed clients register every API group's types in one scheme
// when they are linked, at every start of dossier, whatever it runs.
type podsClient struct {
	rest   *rest.RESTClient
	params runtime.ParameterCodec
}

func newPodsClient(cfg *rest.Config) (*podsClient, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, err
	}
	return &podsClient{rest: client, params: runtime.NewParameterCodec(scheme)}, nil
}

func (p *podsClient) list(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	list := &corev1.PodList{}
	err := p.rest.Get().Resource("pods").VersionedParams(&opts, p.params).Timeout(timeout).Do(ctx).Into(list)
	return list, err
}

func (p *podsClient) watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	opts.Watch = true
	return p.rest.Get().Resource("pods").VersionedParams(&opts, p.params).Timeout(timeout).Watch(ctx)
}
