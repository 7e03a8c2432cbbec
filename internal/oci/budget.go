package oci

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"
)

// ReadBudget bounds the bytes of signatures and attestations a process
// holds at once, across everything it verifies side by side (the
// webhook's gatherings): the bounds per subject (MaxAttachedBytes) say
// nothing of how many subjects are read at once.
type ReadBudget struct {
	bytes int64
	sem   *semaphore.Weighted
}

// NewReadBudget is a budget of bytes.
func NewReadBudget(bytes int64) *ReadBudget {
	return &ReadBudget{bytes: bytes, sem: semaphore.NewWeighted(bytes)}
}

type readScopeKey struct{}

// readScope is what one verification holds of a budget until it ends.
type readScope struct {
	budget *ReadBudget
	mu     sync.Mutex
	held   int64
}

// WithReadBudget makes the reads of signatures and attestations under
// ctx hold their bytes from budget until end is called (when what was
// read is verified and let go).
func WithReadBudget(ctx context.Context, budget *ReadBudget) (_ context.Context, end func()) {
	s := &readScope{budget: budget}
	return context.WithValue(ctx, readScopeKey{}, s), func() {
		s.mu.Lock()
		n := s.held
		s.held = 0
		s.mu.Unlock()
		if n > 0 {
			budget.sem.Release(n)
		}
	}
}

// Reserve waits until n bytes of the budget ctx carries are free and
// holds them until its scope ends; without a budget it returns at once.
func Reserve(ctx context.Context, n int64) error {
	s, _ := ctx.Value(readScopeKey{}).(*readScope)
	if s == nil || n <= 0 {
		return nil
	}
	s.mu.Lock()
	total := s.held + n
	s.mu.Unlock()
	if total > s.budget.bytes {
		return fmt.Errorf("signatures and attestations of %d MiB to read, more than the %d MiB read at once", total>>20, s.budget.bytes>>20)
	}
	if err := s.budget.sem.Acquire(ctx, n); err != nil {
		return fmt.Errorf("waiting for %d MiB of the bytes read at once, held by other reads: %w", max(n>>20, 1), err)
	}
	s.mu.Lock()
	s.held += n
	s.mu.Unlock()
	return nil
}
