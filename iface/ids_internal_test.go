package iface

import (
	"testing"
	"time"
)

// TestIDsAcrossRestarts: a second run of a server, started after the first
// stopped, hands out only ids above every id the first run gave, even when
// the first ran ahead of its clock in a burst (here 100 ids in one
// millisecond, well under idsPerMilli) and even a millisecond later.
func TestIDsAcrossRestarts(t *testing.T) {
	clock := time.Date(2026, time.December, 1, 12, 0, 0, 0, time.UTC)
	first := &idSource{now: func() time.Time { return clock }}
	var last uint64
	for i := 0; i < 10_000; i++ {
		if i%100 == 0 {
			clock = clock.Add(time.Millisecond)
		}
		id := first.next()
		if id <= last {
			t.Fatalf("id %d after %d: not increasing", id, last)
		}
		last = id
	}
	clock = clock.Add(time.Millisecond) // the restart takes a millisecond
	second := &idSource{now: func() time.Time { return clock }}
	if id := second.next(); id <= last {
		t.Fatalf("the restarted server's first id %d is not above the first run's last %d", id, last)
	}
	if last > maxSafeID {
		t.Fatalf("id %d is beyond 2^53: a JavaScript Number cannot hold it exactly", last)
	}
}

// TestIDFloor: the clock's floor before the epoch, at it, and in 2304,
// where ids would leave the range a JSON number holds exactly.
func TestIDFloor(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want uint64
	}{
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), 1},
		{idEpoch, 1},
		{idEpoch.Add(time.Millisecond), idsPerMilli + 1},
		{time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), maxSafeID},
	} {
		if got := idFloor(c.at); got != c.want {
			t.Errorf("idFloor(%v) = %d, want %d", c.at, got, c.want)
		}
	}
}
