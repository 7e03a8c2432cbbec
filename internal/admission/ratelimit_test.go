package admission

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A Pod author who spends the webhook's quota at a healthy registry that
// rate-limits its clients (as Docker Hub and most public registries do)
// gets the registry's 429 for the next image, never a --fail-open
// admission of it: the kubelet pulls on its own quota, so a rate limit is
// no outage.
func TestRateLimitIsNotAnOutage(t *testing.T) {
	f := newFixture(t, signedPolicy)
	const quota = 20 // manifest requests the registry answers one client
	var served atomic.Int64
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/manifests/") && served.Add(1) > quota {
			rw.Header().Set("Retry-After", "21600")
			http.Error(rw, `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}`, http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(rw, r)
	})
	// first Pod: signed images under many tags, allowed; they spend the quota
	images := signedTags(t, f, host, quota)
	w := New(func() *Rules { return &rules }, Options{FailOpen: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := w.Validate(ctx, podReview(t, "prod", containers(images...)))
	t.Logf("first Pod (signed images) allowed: %v; registry answered %d manifest requests", out.Response.Allowed, served.Load())

	// second Pod: the unsigned image, from the same, healthy registry
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, j := w.Validate(ctx, podReview(t, "prod", containers(host+"/team/unsigned:v1")))
	if out.Response.Allowed || j.Verdicts[0].FailedOpen || served.Load() <= quota {
		t.Errorf("the unsigned image under --fail-open after the Pod author spent the registry's quota (%d requests): %+v warnings %v", served.Load(), j.Verdicts[0], out.Response.Warnings)
	}
}
