package admission

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The work the webhook shares between reviews (resolving a tag, gathering
// a digest's evidence) runs in at most maxWork slots at once, and at most
// maxWorkPerRegistry of them for one registry: a registry that answers
// slowly or hugely — an attacker's, named by Pods anyone may create —
// holds its own slots only, and the webhook's memory stays bounded while
// images of other registries are judged.
const (
	maxWork            = 128
	maxWorkPerRegistry = 16
)

// Gathering an image's evidence holds its signature and attestation
// bundles in memory, up to oci.MaxAttachedBytes (256 MiB) per subject and
// kind, so fewer gatherings run at once than resolutions — at most
// maxGathering, as many of one registry as the images of one review judged
// side by side — and the bundles they hold together are bounded by
// maxBundleBytesHeld: one subject's signatures and one kind of its
// attestations at their bounds fit. Bundles are kilobytes in practice; a
// gathering that cannot have its bytes in time is denied as unreadable.
const (
	maxGathering            = 32
	maxGatheringPerRegistry = judgeConcurrency
	maxBundleBytesHeld      = 512 << 20
)

// workSlots hands out the slots.
type workSlots struct {
	all     chan struct{}
	perHost int
	mu      sync.Mutex
	hosts   map[string]*hostSlots
}

type hostSlots struct {
	slots chan struct{}
	// users counts the holders and the waiters: a host none uses is
	// forgotten, so hosts named once do not pile up
	users int
	// queued counts the holders of its slots waiting for one of the
	// webhook's: while any does, a wait for its slots is a wait on other
	// registries (helper-13)
	queued atomic.Int32
}

// slotWait is what a piece of work waits on, so that the reviews waiting
// for it can tell a busy webhook from a slow registry.
type slotWait struct {
	all  atomic.Bool
	host atomic.Pointer[hostSlots]
}

// busy says the work waits, now, on other registries' work: for a slot of
// the webhook's, or for its registry's slots held by work that does.
func (w *slotWait) busy() bool {
	if w.all.Load() {
		return true
	}
	h := w.host.Load()
	return h != nil && h.queued.Load() > 0
}

func newWorkSlots(all, perHost int) *workSlots {
	return &workSlots{all: make(chan struct{}, all), perHost: perHost, hosts: map[string]*hostSlots{}}
}

// errWebhookBusy says an image was not read because the webhook was
// reading as many images as it may, most of them of other registries: not
// an outage of this image's registry, so never admitted by --fail-open
// (helper-12: Pods naming images of eight slow ports took every slot, and
// an unsigned image of a healthy registry failed open).
var errWebhookBusy = errors.New("the webhook is reading as many images as it may at once, of other registries: this one was not read")

// acquire waits for a slot for work on host until ctx ends; release
// gives it back. wait says, meanwhile, what the work waits on.
func (s *workSlots) acquire(ctx context.Context, host string, wait *slotWait) (release func(), err error) {
	s.mu.Lock()
	h := s.hosts[host]
	if h == nil {
		h = &hostSlots{slots: make(chan struct{}, s.perHost)}
		s.hosts[host] = h
	}
	h.users++
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		if h.users--; h.users == 0 {
			delete(s.hosts, host)
		}
		s.mu.Unlock()
	}
	wait.host.Store(h)
	select {
	case h.slots <- struct{}{}:
		wait.host.Store(nil)
	case <-ctx.Done():
		busy := wait.busy()
		wait.host.Store(nil)
		leave()
		if busy {
			return nil, errWebhookBusy
		}
		return nil, fmt.Errorf("registry %s is busy: %d of its images are being read: %w", host, s.perHost, ctx.Err())
	}
	h.queued.Add(1)
	wait.all.Store(true)
	defer func() {
		wait.all.Store(false)
		h.queued.Add(-1)
	}()
	select {
	case s.all <- struct{}{}:
	case <-ctx.Done():
		<-h.slots
		leave()
		return nil, errWebhookBusy
	}
	return func() {
		<-s.all
		<-h.slots
		leave()
	}, nil
}
