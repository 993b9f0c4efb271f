package iface

import (
	"sync/atomic"
	"time"
)

// Connection ids are never reused, not even by another run of the server
// on the same address (spec/PROTOCOL.md §4.5.1): an id is the time it was
// handed out, in milliseconds since idEpoch, times idsPerMilli, plus a
// count, and never less than the previous id plus one. A restarted server
// starts from its clock, above every id its previous run gave out as long
// as that run gave out fewer than idsPerMilli ids per millisecond of its
// life on average and the clock did not go back. Every id stays below
// 2^53, so a JSON number or a JavaScript Number holds it exactly, until
// the year 2304.
const (
	idsPerMilli = 1 << 10
	maxSafeID   = 1<<53 - 1
)

// idEpoch is where the ids' clock starts: 2026-01-01T00:00:00Z.
var idEpoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// idSource hands out a server's connection ids.
type idSource struct {
	last atomic.Uint64
	now  func() time.Time // the clock; time.Now unless a test sets it
}

// next returns a new id, greater than every id this source gave before and
// not less than the clock's floor.
func (s *idSource) next() uint64 {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	floor := idFloor(now())
	for {
		last := s.last.Load()
		id := max(last+1, floor)
		if s.last.CompareAndSwap(last, id) {
			return id
		}
	}
}

// idFloor is the smallest id a server may hand out at t.
func idFloor(t time.Time) uint64 {
	ms := t.Sub(idEpoch).Milliseconds()
	if ms < 0 {
		ms = 0 // a clock before 2026: ids count from 1
	}
	return min(uint64(ms)*idsPerMilli+1, maxSafeID)
}
