package oci

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Reads under a budget hold their bytes until their scope ends: a read
// waits while others hold the budget, fails with its context, and one
// larger than the whole budget fails at once; without a budget nothing
// waits.
func TestReadBudget(t *testing.T) {
	ctx := context.Background()
	if err := Reserve(ctx, 1<<40); err != nil {
		t.Fatalf("a read with no budget: %v", err)
	}
	budget := NewReadBudget(100)
	first, endFirst := WithReadBudget(ctx, budget)
	if err := Reserve(first, 60); err != nil {
		t.Fatal(err)
	}
	if err := Reserve(first, 50); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a scope reading more than the whole budget: %v", err)
	}
	second, endSecond := WithReadBudget(ctx, budget)
	defer endSecond()
	waiting, cancel := context.WithTimeout(second, 20*time.Millisecond)
	defer cancel()
	if err := Reserve(waiting, 50); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a read while another holds the budget: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- Reserve(second, 50) }()
	endFirst()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("a read once the other ended: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read still waits after the other ended")
	}
}
