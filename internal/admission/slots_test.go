package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/oci"
)

// A registry that holds every manifest read (helper-11: an attacker's,
// serving 2 GiB manifests slowly, drove the webhook to many GB and past
// the API server's time-out) holds at most maxWorkPerRegistry reads of the
// webhook: images of another registry are judged at once meanwhile.
func TestHostileRegistryHoldsItsOwnSlots(t *testing.T) {
	f := newFixture(t, signedPolicy)
	release := make(chan struct{})
	var mu sync.Mutex
	holding := 0
	host, rules := behindProxy(t, f, func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			mu.Lock()
			holding++
			mu.Unlock()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		next.ServeHTTP(rw, r)
	})
	defer close(release)
	w := New(func() *Rules { return &rules }, Options{FailOpen: true})
	hostile := signedTags(t, f, host, 2*maxWorkPerRegistry)
	for _, images := range [][]string{hostile[:maxWorkPerRegistry], hostile[maxWorkPerRegistry:]} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		j, _ := w.Judge(ctx, podReview(t, "prod", containers(images...)).Request)
		cancel()
		for _, v := range j.Verdicts {
			if v.Decision != nil {
				t.Errorf("an image of the holding registry was decided: %+v", v)
			}
		}
	}
	mu.Lock()
	if holding > maxWorkPerRegistry {
		t.Errorf("the holding registry was sent %d manifest reads at once, more than %d", holding, maxWorkPerRegistry)
	}
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	j, err := w.Judge(ctx, podReview(t, "prod", containers(f.host+"/team/signed:v1", f.host+"/team/unsigned:v1")).Request)
	if err != nil || len(j.Verdicts) != 2 || j.Verdicts[0].denies() || !j.Verdicts[1].denies() || j.Verdicts[1].Failure != "" || time.Since(start) > 3*time.Second {
		t.Errorf("images of another registry while one holds its slots: %+v %v after %s", j, err, time.Since(start))
	}
}

// Slots are per registry and in all; a wait ends with its context, and a
// registry no one uses is forgotten.
func TestWorkSlots(t *testing.T) {
	s := newWorkSlots(3, 2)
	ctx := context.Background()
	var wait slotWait
	var releases []func()
	for _, host := range []string{"a", "a", "b"} {
		release, err := s.acquire(ctx, host, &wait)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.acquire(short, "a", &wait); err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "registry a is busy") {
		t.Errorf("a third slot of registry a: %v", err)
	}
	short, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.acquire(short, "c", &wait); !errors.Is(err, errWebhookBusy) || unavailable(err) || wait.busy() {
		t.Errorf("a fourth slot in all: %v (an outage: %v; still waiting: %v)", err, unavailable(err), wait.busy())
	}
	releases[0]()
	release, err := s.acquire(ctx, "c", &wait)
	if err != nil {
		t.Fatal(err)
	}
	release()
	releases[1]()
	releases[2]()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hosts) != 0 || len(s.all) != 0 {
		t.Errorf("after every release: hosts %v, %d slots held", s.hosts, len(s.all))
	}
}

// Images of many slow registries (helper-12: eight ports of one host,
// each its own registry) that take every slot of the webhook's keep an
// unsigned image of a healthy registry from being read: it is denied as
// not read, never admitted by --fail-open as an outage of its registry.
func TestBusyWebhookNeverFailsOpen(t *testing.T) {
	f, w, first, second := behindTwoHoldingRegistries(t)
	hostile := append(signedTags(t, f, first, 2), signedTags(t, f, second, 2)...)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	w.Judge(ctx, podReview(t, "prod", containers(hostile...)).Request)
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	j, err := w.Judge(ctx, podReview(t, "prod", containers(f.host+"/team/unsigned:v1")).Request)
	if err != nil || len(j.Verdicts) != 1 {
		t.Fatalf("%+v %v", j, err)
	}
	if v := j.Verdicts[0]; !v.denies() || v.FailedOpen || !strings.Contains(v.Failure, "as many images as it may") {
		t.Errorf("an unsigned image of a healthy registry while the webhook's slots are taken, under --fail-open: %+v", v)
	}
}

// The bundles gatherings hold at once are bounded (helper-12: 252 MiB of
// bundles per image took the webhook past 1 GiB for one image): a
// signature whose bundle does not fit the budget is not read, and the
// image is denied, never admitted by --fail-open; one that fits is read.
func TestBundlesReadWithinABudget(t *testing.T) {
	f := newFixture(t, signedPolicy)
	for _, budget := range []struct {
		bytes   int64
		allowed bool
	}{{64, false}, {1 << 20, true}} {
		w := New(func() *Rules { return f.rules }, Options{FailOpen: true})
		w.judge.bundles = oci.NewReadBudget(budget.bytes)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		j, err := w.Judge(ctx, podReview(t, "prod", containers(f.host+"/team/signed:v1")).Request)
		cancel()
		if err != nil || len(j.Verdicts) != 1 {
			t.Fatalf("%+v %v", j, err)
		}
		v := j.Verdicts[0]
		if v.FailedOpen || v.denies() == budget.allowed {
			t.Errorf("the signed image with a budget of %d bytes: %+v", budget.bytes, v)
		}
		if !budget.allowed && (v.Decision == nil || !strings.Contains(fmt.Sprint(v.Decision), "read at once")) {
			t.Errorf("the denial does not say the bundle did not fit: %+v", v.Decision)
		}
	}
}

// A healthy registry's slots held by its own images that wait for a slot
// of the webhook's (helper-13: sixteen nonexistent tags of it named behind
// eight slow registries) make the wait of its next image a wait on other
// registries: that image is denied as not read, never failed open.
func TestBusyRegistrySlotsNeverFailOpen(t *testing.T) {
	f, w, first, second := behindTwoHoldingRegistries(t)
	judge := func(images ...string) Judgement {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		j, _ := w.Judge(ctx, podReview(t, "prod", containers(images...)).Request)
		return j
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	go judge(append(signedTags(t, f, first, 2), signedTags(t, f, second, 2)...)...)
	until("the slow registries hold every slot of the webhook's", func() bool { return len(w.judge.resolving.all) == 4 })
	go judge(f.host+"/team/unsigned:nothing0", f.host+"/team/unsigned:nothing1")
	until("the healthy registry's two slots wait for the webhook's", func() bool {
		s := w.judge.resolving
		s.mu.Lock()
		defer s.mu.Unlock()
		h := s.hosts[f.host]
		return h != nil && h.queued.Load() == 2
	})
	j := judge(f.host + "/team/unsigned:v1")
	if len(j.Verdicts) != 1 {
		t.Fatalf("%+v", j)
	}
	if v := j.Verdicts[0]; !v.denies() || v.FailedOpen || !strings.Contains(v.Failure, "as many images as it may") {
		t.Errorf("an unsigned image of a healthy registry whose slots wait on the webhook's, under --fail-open: %+v", v)
	}
}

// behindTwoHoldingRegistries is the fixture's registry behind two proxies
// (two registries to the webhook) that hold every manifest read until the
// test ends, and a failing-open webhook whose policies claim all three,
// with four resolving slots in all, two per registry.
func behindTwoHoldingRegistries(t *testing.T) (f *fixture, w *Webhook, first, second string) {
	t.Helper()
	f = newFixture(t, signedPolicy)
	release := make(chan struct{})
	holding := func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		next.ServeHTTP(rw, r)
	}
	first, rules := behindProxy(t, f, holding)
	second, secondRules := behindProxy(t, f, holding)
	rules.Set.Policies = append(rules.Set.Policies, secondRules.Set.Policies...)
	t.Cleanup(func() { close(release) }) // before the proxies close: cleanups run last first
	w = New(func() *Rules { return &rules }, Options{FailOpen: true})
	w.judge.resolving = newWorkSlots(4, 2)
	return f, w, first, second
}
