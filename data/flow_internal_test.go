package data

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ifkit/ifkit/manifest"
)

func msg(s string) *outMsg { return &outMsg{body: []byte(s)} }

func bodies(items []*outMsg) (out []string) {
	for _, m := range items {
		out = append(out, string(m.body))
	}
	return out
}

// blocked reports whether f is still running after the scheduler had a fair
// chance to run it; it is used only to check that a call waits.
func blocked(done <-chan error) bool {
	select {
	case <-done:
		return false
	case <-time.After(20 * time.Millisecond):
		return true
	}
}

func TestOutboxBlockWaitsForCredit(t *testing.T) {
	o := newOutbox(manifest.Block, 0, 2)
	ctx := context.Background()
	for _, m := range []string{"a", "b"} {
		if err := o.put(ctx, msg(m)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- o.put(ctx, msg("c")) }()
	if !blocked(done) {
		t.Fatal("put without credit returned instead of waiting")
	}
	batch, _, _, err := o.take(ctx, nil, 10)
	if err != nil || len(batch) != 2 {
		t.Fatalf("take = %q, %v; want the two credited messages", bodies(batch), err)
	}
	if !blocked(done) {
		t.Fatal("sending the queued messages must not admit more: no new credit came")
	}
	o.grant(1, 1<<40)
	if err := <-done; err != nil {
		t.Fatalf("put after grant: %v", err)
	}
	batch, _, _, _ = o.take(ctx, batch[:0], 10)
	if len(batch) != 1 || string(batch[0].body) != "c" {
		t.Fatalf("take = %q, want [c]", bodies(batch))
	}
}

func TestOutboxBlockHonoursContext(t *testing.T) {
	o := newOutbox(manifest.Block, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.put(ctx, msg("a")) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("put = %v, want context.Canceled", err)
	}
	if q, _, _, stalls := o.snapshot(); q != 0 || stalls != 1 {
		t.Fatalf("a cancelled put left %d messages queued and counted %d stalls, want 0 and 1", q, stalls)
	}
}

func TestOutboxFailFastAndDropNewest(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(manifest.FailFast, 0, 1)
	if err := o.put(ctx, msg("a")); err != nil {
		t.Fatal(err)
	}
	if err := o.put(ctx, msg("b")); !errors.Is(err, ErrNoCredit) {
		t.Fatalf("put = %v, want ErrNoCredit", err)
	}
	o = newOutbox(manifest.DropNewest, 0, 1)
	o.put(ctx, msg("a"))
	if err := o.put(ctx, msg("b")); !errors.Is(err, ErrDropped) {
		t.Fatalf("put = %v, want ErrDropped", err)
	}
	if q, _, d, stalls := o.snapshot(); q != 1 || d != 1 || stalls != 1 {
		t.Fatalf("queued %d dropped %d stalls %d, want 1, 1 and 1", q, d, stalls)
	}
}

func TestOutboxDropOldestNeverDropsReplies(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(manifest.DropOldest, 2, 0)
	for _, r := range []string{"r1", "r2"} {
		m := msg(r)
		m.flags = FlagReply
		if err := o.put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// A plain message finds only replies queued: it is the one dropped,
	// at once, rather than waiting as under block.
	if err := o.put(ctx, msg("plain")); err != nil {
		t.Fatal(err)
	}
	if q, _, d, _ := o.snapshot(); q != 2 || d != 1 {
		t.Fatalf("queued %d dropped %d, want 2 and 1", q, d)
	}
	// A reply waits for room.
	r3 := msg("r3")
	r3.flags = FlagReply
	done := make(chan error, 1)
	go func() { done <- o.put(ctx, r3) }()
	if !blocked(done) {
		t.Fatal("a reply was dropped or queued beyond the bound")
	}
	o.grant(1, 1<<40)
	if batch, _, _, _ := o.take(ctx, nil, 1); len(batch) != 1 || string(batch[0].body) != "r1" {
		t.Fatalf("take = %q, want [r1]", bodies(batch))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The plain message and the waiting reply each found no room once,
	// however often the reply looked again.
	if _, _, _, stalls := o.snapshot(); stalls != 2 {
		t.Fatalf("stalls = %d, want 2", stalls)
	}
}

func TestOutboxDropOldestKeepsTheNewest(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(manifest.DropOldest, 3, 0)
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		if err := o.put(ctx, msg(m)); err != nil {
			t.Fatal(err)
		}
	}
	if q, _, d, _ := o.snapshot(); q != 3 || d != 2 {
		t.Fatalf("queued %d dropped %d, want 3 and 2", q, d)
	}
	o.grant(2, 1<<40)
	batch, _, _, _ := o.take(ctx, nil, 10)
	if got := bodies(batch); len(got) != 2 || got[0] != "c" || got[1] != "d" {
		t.Fatalf("take = %q, want [c d]", got)
	}
}

func TestOutboxClose(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(manifest.Block, 0, 1)
	o.put(ctx, msg("a"))
	waiting := make(chan error, 1)
	go func() { waiting <- o.put(ctx, msg("b")) }()
	end := errors.New("ended")
	o.close(end, []byte("CLOSE"))
	if err := <-waiting; !errors.Is(err, end) {
		t.Fatalf("blocked put = %v, want the closing error", err)
	}
	batch, _, final, err := o.take(ctx, nil, 10)
	if len(batch) != 1 || string(final) != "CLOSE" || !errors.Is(err, end) {
		t.Fatalf("take after close = %q, %q, %v; want the credited message, the final frame and the error", bodies(batch), final, err)
	}
	if _, _, final, err := o.take(ctx, nil, 10); final != nil || !errors.Is(err, end) {
		t.Fatalf("take = %q, %v; want only the closing error", final, err)
	}
}

func TestOutboxEndKeepsItsPlaceWithoutCredit(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(manifest.Block, 0, 1)
	o.put(ctx, &outMsg{body: []byte("r1"), flags: FlagReply, corr: 7})
	o.putEnd(&outMsg{corr: 7})
	o.putUrgent([]byte("CREDIT"))
	batch, urgent, _, err := o.take(ctx, nil, 10)
	if err != nil || len(batch) != 2 || !batch[1].end || len(urgent) != 1 {
		t.Fatalf("take = %v %q %v; want the reply, then its END, and the urgent frame", batch, urgent, err)
	}
}

func TestOutboxPauseHoldsMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o := newOutbox(manifest.Block, 0, 5)
	o.put(ctx, msg("a"))
	o.pause(true)
	if batch, _, _, err := o.take(ctx, nil, 10); len(batch) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take while paused = %q, %v; want nothing until the deadline", bodies(batch), err)
	}
	o.pause(false)
	if batch, _, _, _ := o.take(context.Background(), nil, 10); len(batch) != 1 {
		t.Fatalf("take after resume = %q", bodies(batch))
	}
}

func TestLedgerAutoGrantsInBatches(t *testing.T) {
	l := newLedger(4, 4, true)
	for i := 0; i < 4; i++ {
		if !l.arrive() {
			t.Fatalf("arrival %d refused within the window", i+1)
		}
	}
	if l.arrive() {
		t.Fatal("a fifth arrival in a window of 4 was accepted: credit violation missed")
	}
	if g := l.consume(); g != 0 {
		t.Fatalf("grant after 1 of 4 consumed = %d, want 0 (batched)", g)
	}
	if g := l.consume(); g != 2 {
		t.Fatalf("grant after half the window = %d, want 2", g)
	}
	if granted, held := l.outstanding(); granted+held > 4 {
		t.Fatalf("granted %d + held %d exceed the window", granted, held)
	}
}

func TestLedgerPullMode(t *testing.T) {
	l := newLedger(3, 0, false)
	if l.arrive() {
		t.Fatal("arrival accepted before any request")
	}
	if g := l.request(10); g != 3 {
		t.Fatalf("request(10) granted %d, want the window, 3", g)
	}
	l.arrive()
	l.arrive()
	if g := l.request(5); g != 0 {
		t.Fatalf("request with the window full granted %d", g)
	}
	if g := l.consume(); g != 0 {
		t.Fatal("pull mode granted by itself")
	}
	if g := l.request(5); g != 1 {
		t.Fatalf("request after one consumed granted %d, want 1", g)
	}
}
