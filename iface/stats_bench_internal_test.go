package iface

import (
	"context"
	"testing"
)

// BenchmarkHandlerStats is the cost the per-type counters add to one
// handler call: an atomic add (one-way types), or two clock reads and three
// atomic adds (requests), against the bare handler.
func BenchmarkHandlerStats(b *testing.B) {
	h := Handler(func(context.Context, *Message) error { return nil })
	ctx := context.Background()
	var m Message
	b.Run("bare", func(b *testing.B) {
		for range b.N {
			h(ctx, &m)
		}
	})
	b.Run("counted", func(b *testing.B) {
		w := (&typeStats{}).wrap(h)
		for range b.N {
			w(ctx, &m)
		}
	})
	b.Run("counted-and-timed", func(b *testing.B) {
		w := (&typeStats{timed: true}).wrap(h)
		for range b.N {
			w(ctx, &m)
		}
	})
}
