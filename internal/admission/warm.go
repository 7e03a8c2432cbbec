package admission

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// warmGoroutines runs functions on goroutines kept once they finish. A
// new goroutine starts with a small stack that is copied each time the
// work outgrows it; a review (decoding, judging, encoding) and each image
// judged outgrow it several times, and HTTP/2 starts a goroutine per
// request: at thousands of reviews a second that copying was a tenth of
// the webhook's CPU. A kept goroutine keeps the stack it grew.
type warmGoroutines struct {
	work chan func()
	// idle counts the goroutines waiting for work, at most maxIdle;
	// each waits linger before it ends
	idle    atomic.Int32
	maxIdle int32
	linger  time.Duration
}

func newWarmGoroutines(maxIdle int32, linger time.Duration) *warmGoroutines {
	return &warmGoroutines{work: make(chan func()), maxIdle: maxIdle, linger: linger}
}

// Go runs f on a waiting goroutine, or on a new one when none waits: it
// never queues f behind other work.
func (p *warmGoroutines) Go(f func()) {
	select {
	case p.work <- f:
	default:
		go p.run(f)
	}
}

func (p *warmGoroutines) run(f func()) {
	var wait *time.Timer
	for {
		f()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		if wait == nil {
			wait = time.NewTimer(p.linger)
		} else {
			wait.Reset(p.linger)
		}
		select {
		case f = <-p.work:
			p.idle.Add(-1)
		case <-wait.C:
			p.idle.Add(-1)
			return
		}
	}
}

// serve runs h on a warm goroutine and waits for it. A panic in h is
// raised again on the request's goroutine, where net/http handles it, with
// the stack where it happened.
func (p *warmGoroutines) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		done := make(chan any, 1)
		p.Go(func() {
			defer func() {
				v := recover()
				if v != nil && v != http.ErrAbortHandler {
					v = fmt.Sprintf("%v\n%s", v, debug.Stack())
				}
				done <- v
			}()
			h.ServeHTTP(rw, r)
		})
		if v := <-done; v != nil {
			panic(v)
		}
	})
}
