package admission

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// goroutineID is the running goroutine's number, read from its stack
// header ("goroutine 42 [running]:").
func goroutineID(t *testing.T) uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	field := bytes.Fields(buf)[1]
	id, err := strconv.ParseUint(string(field), 10, 64)
	if err != nil {
		t.Errorf("goroutine header %q: %v", buf, err)
	}
	return id
}

func TestWarmGoroutinesReuse(t *testing.T) {
	p := newWarmGoroutines(4, time.Minute)
	ids := map[uint64]bool{}
	for range 50 {
		done := make(chan uint64)
		p.Go(func() { done <- goroutineID(t) })
		ids[<-done] = true
		// the goroutine counts itself idle just before it waits
		for deadline := time.Now().Add(time.Second); p.idle.Load() == 0 && time.Now().Before(deadline); {
			runtime.Gosched()
		}
		time.Sleep(time.Millisecond)
	}
	// one kept goroutine runs them all; a scheduler slow to let it reach
	// its wait may make a few more
	if len(ids) > 5 {
		t.Errorf("50 functions one after another ran on %d goroutines, want one kept", len(ids))
	}
}

func TestWarmGoroutinesBounded(t *testing.T) {
	p := newWarmGoroutines(3, 50*time.Millisecond)
	var ran sync.WaitGroup
	release := make(chan struct{})
	for range 20 {
		ran.Add(1)
		p.Go(func() { <-release; ran.Done() })
	}
	close(release)
	ran.Wait()
	// at most three stay waiting, and only for the linger
	deadline := time.Now().Add(2 * time.Second)
	for p.idle.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := p.idle.Load(); n != 3 {
		t.Errorf("%d goroutines waiting after 20 finished, want the 3 kept", n)
	}
	for p.idle.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := p.idle.Load(); n != 0 {
		t.Errorf("%d goroutines still waiting long after the linger", n)
	}
}

func TestWarmServePanics(t *testing.T) {
	p := newWarmGoroutines(4, time.Minute)
	recovered := func(h http.HandlerFunc) (v any) {
		defer func() { v = recover() }()
		p.serve(h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
		return nil
	}
	if v := recovered(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }); v != http.ErrAbortHandler {
		t.Errorf("an aborted handler came back as %v, want http.ErrAbortHandler for net/http", v)
	}
	v := recovered(func(http.ResponseWriter, *http.Request) { panic("broken review") })
	if s, _ := v.(string); !strings.HasPrefix(s, "broken review\n") || !strings.Contains(s, "warm_test.go") {
		t.Errorf("a panic came back as %q, want its value and the stack where it happened", v)
	}
	rec := httptest.NewRecorder()
	p.serve(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusTeapot) })).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Errorf("status %d, want the handler's", rec.Code)
	}
}
