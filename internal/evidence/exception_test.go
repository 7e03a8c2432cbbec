package evidence

import (
	"testing"
	"time"
)

// An exception is expiring from a week before its expiry until it
// expires, and then expired, not expiring.
func TestExceptionExpiring(t *testing.T) {
	expires := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	e := Exception{ExpiresAt: expires}
	for _, c := range []struct {
		now               time.Time
		expiring, expired bool
	}{
		{expires.Add(-ExpiringWithin - time.Second), false, false},
		{expires.Add(-ExpiringWithin), true, false},
		{expires.Add(-time.Second), true, false},
		{expires, false, true},
	} {
		if e.Expiring(c.now) != c.expiring || e.Expired(c.now) != c.expired {
			t.Errorf("at %s: expiring %v expired %v, want %v %v", c.now, e.Expiring(c.now), e.Expired(c.now), c.expiring, c.expired)
		}
	}
}
