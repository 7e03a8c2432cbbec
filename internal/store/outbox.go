package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OutboxEvent is a notification to deliver: its ID names the event (the
// same event is queued once per endpoint, however often it is seen), its
// body is what is sent.
type OutboxEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Body string `json:"body"`
}

// Delivery is an event leased for delivery to an endpoint.
type Delivery struct {
	ID       int64
	Endpoint string
	Event    OutboxEvent
	Attempts int
	Created  time.Time
}

// Notify queues each event for each endpoint, unless it was queued there
// before (delivered or not); it says how many were new.
func (s *Store) Notify(ctx context.Context, endpoints []string, events []OutboxEvent, at time.Time) (int, error) {
	defer s.timed("notify")()
	var rows [][]any
	for _, e := range endpoints {
		for _, ev := range events {
			if ev.ID == "" || ev.Type == "" {
				return 0, fmt.Errorf("notification %q: an event needs an ID and a type", ev.ID)
			}
			// an event's ID may hold what a Pod chose (an owner's name): kept
			// bounded for the index, as images are
			rows = append(rows, []any{e, imageKey(storable(ev.ID)), ev.Type, storable(ev.Body), micros(at), micros(at), 0})
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	added := 0
	if err := inBatches(rows, 7, func(_ [][]any, values string, args []any) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO outbox (endpoint, event_id, event_type, event, created_at, next_attempt, attempts)
			VALUES `+values+` ON CONFLICT (endpoint, event_id) DO NOTHING`), args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added += int(n)
		return err
	}); err != nil {
		return 0, fmt.Errorf("notifications: %w", err)
	}
	return added, tx.Commit()
}

// ClaimDelivery leases an endpoint's oldest due delivery until leaseUntil
// (nil when none is due): one not delivered whose next attempt has come
// and that no live lease holds.
func (s *Store) ClaimDelivery(ctx context.Context, endpoint string, now, leaseUntil time.Time) (*Delivery, error) {
	defer s.timed("claim_delivery")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, s.q(`SELECT id FROM outbox WHERE endpoint = ? AND delivered_at IS NULL AND next_attempt <= ? AND (lease_until IS NULL OR lease_until < ?)
		ORDER BY next_attempt, id LIMIT 1`+s.skipLocked()), endpoint, micros(now), micros(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &Delivery{}
	var created int64
	if err := tx.QueryRowContext(ctx, s.q(`UPDATE outbox SET lease_until = ?, attempts = attempts + 1 WHERE id = ?
		RETURNING id, endpoint, event_id, event_type, event, attempts, created_at`), micros(leaseUntil), id).
		Scan(&d.ID, &d.Endpoint, &d.Event.ID, &d.Event.Type, &d.Event.Body, &d.Attempts, &created); err != nil {
		return nil, err
	}
	d.Created = fromMicros(created)
	return d, tx.Commit()
}

// Delivered records that an endpoint took a delivery: it is never sent
// again.
func (s *Store) Delivered(ctx context.Context, id int64, at time.Time) error {
	defer s.timed("delivered")()
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE outbox SET delivered_at = ?, lease_until = NULL, last_error = '' WHERE id = ?`), micros(at), id)
	return err
}

// DeliveryFailed releases a delivery for another attempt at next.
func (s *Store) DeliveryFailed(ctx context.Context, id int64, next time.Time, reason string) error {
	defer s.timed("delivery_failed")()
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE outbox SET lease_until = NULL, next_attempt = ?, last_error = ? WHERE id = ? AND delivered_at IS NULL`),
		micros(next), storable(reason), id)
	return err
}

// OutboxState counts the deliveries not yet made, and the oldest of them.
func (s *Store) OutboxState(ctx context.Context) (pending int, oldest time.Time, err error) {
	defer s.timed("outbox_state")()
	var first sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM outbox WHERE delivered_at IS NULL`).Scan(&pending, &first)
	if first.Valid {
		oldest = fromMicros(first.Int64)
	}
	return pending, oldest, err
}

// PruneOutbox deletes the deliveries made before a time: the outbox keeps
// what is pending, and what was delivered for a while (so that an event
// seen again is not sent again).
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	defer s.timed("prune_outbox")()
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?`), micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
