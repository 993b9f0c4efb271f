package iface

import (
	"testing"
	"time"
)

// At most refusalLogMax refusals a window are logged; the first logged
// after a burst says how many were left out.
func TestRefusalLimit(t *testing.T) {
	var r refusalLimit
	now := time.Unix(1000, 0)
	for i := range refusalLogMax {
		if ok, n := r.allow(now); !ok || n != 0 {
			t.Fatalf("refusal %d: allow = %v, %d", i, ok, n)
		}
	}
	for range 5 {
		if ok, _ := r.allow(now.Add(time.Millisecond)); ok {
			t.Fatal("a refusal beyond the window's bound was allowed")
		}
	}
	if ok, n := r.allow(now.Add(refusalLogWindow)); !ok || n != 5 {
		t.Fatalf("after the window: allow = %v, %d suppressed, want true, 5", ok, n)
	}
}
