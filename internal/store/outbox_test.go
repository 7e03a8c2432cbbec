package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestOutbox(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, _, _ := open(t)
			ctx := context.Background()
			events := []OutboxEvent{{ID: "unjudged/prod/shop/Pod/a/app/sha256:1", Type: "dev.dossier.workload.unjudged", Body: `{"a":1}`},
				{ID: "finding/prod/sha256:1/CVE-1", Type: "dev.dossier.running.finding", Body: `{"b":2}`}}
			if n, err := s.Notify(ctx, []string{"ops", "slack"}, events, t0); err != nil || n != 4 {
				t.Fatalf("notify: %d new, %v", n, err)
			}
			// seen again by the next pass, or by another replica: not again
			if n, err := s.Notify(ctx, []string{"ops", "slack"}, events, t0.Add(time.Minute)); err != nil || n != 0 {
				t.Fatalf("notify again: %d new, %v", n, err)
			}
			if n, _, err := s.OutboxState(ctx); err != nil || n != 4 {
				t.Fatalf("pending %d, %v", n, err)
			}
			lease := t0.Add(30 * time.Second)
			d, err := s.ClaimDelivery(ctx, "ops", t0, lease)
			if err != nil || d == nil || d.Attempts != 1 {
				t.Fatalf("claim: %+v, %v", d, err)
			}
			// leased: the next claim takes another one
			other, err := s.ClaimDelivery(ctx, "ops", t0, lease)
			if err != nil || other == nil || other.ID == d.ID {
				t.Fatalf("second claim: %+v, %v", other, err)
			}
			if err := s.Delivered(ctx, d.ID, t0); err != nil {
				t.Fatal(err)
			}
			// the other's deliverer died (its lease runs out): claimed again
			// after the lease, never the delivered one
			if err := s.DeliveryFailed(ctx, other.ID, t0.Add(time.Hour), "connection refused"); err != nil {
				t.Fatal(err)
			}
			seen := map[int64]int{}
			for at := t0.Add(time.Minute); ; at = at.Add(time.Second) {
				c, err := s.ClaimDelivery(ctx, "ops", at, at.Add(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				if c == nil {
					c, err = s.ClaimDelivery(ctx, "slack", at, at.Add(time.Second))
				}
				if err != nil {
					t.Fatal(err)
				}
				if c == nil {
					break
				}
				seen[c.ID]++
				if err := s.Delivered(ctx, c.ID, at); err != nil {
					t.Fatal(err)
				}
			}
			if len(seen) != 2 || seen[d.ID] != 0 || seen[other.ID] != 0 {
				t.Errorf("claimed %v before the failed one's next attempt; want the 2 others once each", seen)
			}
			if c, err := s.ClaimDelivery(ctx, "ops", t0.Add(2*time.Hour), t0.Add(2*time.Hour+time.Second)); err != nil || c == nil || c.ID != other.ID || c.Attempts != 2 {
				t.Errorf("the failed delivery at its next attempt: %+v, %v", c, err)
			}
			// delivered long ago: pruned; pending ones stay
			if n, err := s.PruneOutbox(ctx, t0.Add(24*time.Hour)); err != nil || n != 3 {
				t.Errorf("pruned %d, %v; want the 3 delivered", n, err)
			}
			// an event ID of any length (a Pod's owner name in it) is queued once
			long := OutboxEvent{ID: "unjudged/prod/shop/Thing/" + strings.Repeat("x", 8000), Type: "dev.dossier.workload.unjudged", Body: "{}"}
			for range 2 {
				if _, err := s.Notify(ctx, []string{"ops"}, []OutboxEvent{long}, t0); err != nil {
					t.Fatal(err)
				}
			}
			if n, _, err := s.OutboxState(ctx); err != nil || n != 2 {
				t.Errorf("pending %d, %v; want the failed one (leased again) and the long one", n, err)
			}
		})
	}
}
