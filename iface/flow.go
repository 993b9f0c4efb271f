package iface

import (
	"context"
	"errors"
	"sync"

	"github.com/ifkit/ifkit/manifest"
)

// Errors a Send reports under the interface's flow policy.
var (
	// ErrNoCredit is returned by Send on an interface whose flow policy is
	// "error" when the peer has granted no credit for another message.
	ErrNoCredit = errors.New("ifkit: no credit: the receiver has not granted room for another message (flow policy: error)")
	// ErrDropped is returned by Send on an interface whose flow policy is
	// "drop_newest" when the message was dropped for lack of credit.
	ErrDropped = errors.New("ifkit: message dropped: no credit (flow policy: drop_newest)")
)

// outbox holds a connection's encoded outgoing messages until the peer has
// granted credit for them, under the manifest's flow policy. One mechanism
// serves every policy: a message is admitted while the queue is below its
// limit; the writer takes messages only while it holds credit.
//
//   - block, error, drop_newest: the limit is the credit held, so every
//     queued message already has a credit and "no credit" is exact;
//   - drop_oldest: the limit is a fixed capacity; when full, the oldest
//     queued message is dropped to admit the new one.
//
// Memory is bounded by the limit × the largest message.
type outbox struct {
	mu       sync.Mutex
	policy   manifest.OnExhausted
	capacity int      // the queue bound under drop_oldest
	credits  int64    // granted by the peer and not yet used by the writer
	queue    [][]byte // encoded messages, oldest first
	dropped  uint64
	err      error         // set once when the connection ends
	changed  chan struct{} // closed and replaced on every change, to wake waiters
}

func newOutbox(policy manifest.OnExhausted, capacity int, initialCredits int64) *outbox {
	return &outbox{policy: policy, capacity: capacity, credits: initialCredits, changed: make(chan struct{})}
}

// notify wakes every waiter; o.mu must be held.
func (o *outbox) notify() {
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *outbox) limit() int64 {
	if o.policy == manifest.DropOldest {
		return int64(o.capacity)
	}
	return o.credits
}

// put queues msg, waiting for credit under the block policy until ctx is done.
func (o *outbox) put(ctx context.Context, msg []byte) error {
	o.mu.Lock()
	for {
		if o.err != nil {
			o.mu.Unlock()
			return o.err
		}
		if int64(len(o.queue)) < o.limit() {
			o.queue = append(o.queue, msg)
			o.notify()
			o.mu.Unlock()
			return nil
		}
		switch o.policy {
		case manifest.FailFast:
			o.mu.Unlock()
			return ErrNoCredit
		case manifest.DropNewest:
			o.dropped++
			o.mu.Unlock()
			return ErrDropped
		case manifest.DropOldest:
			o.queue[0] = nil
			o.queue = append(o.queue[1:], msg)
			o.dropped++
			o.notify()
			o.mu.Unlock()
			return nil
		}
		wait := o.changed
		o.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.mu.Lock()
	}
}

// take appends to batch the queued messages the writer may send now (those
// with credit), at most max, and uses their credit. It waits until there is
// one, or ctx is done, or the outbox is closed (then it returns what remains
// sendable and the closing error).
func (o *outbox) take(ctx context.Context, batch [][]byte, max int) ([][]byte, error) {
	o.mu.Lock()
	for {
		n := min(int64(len(o.queue)), o.credits, int64(max))
		if n > 0 {
			batch = append(batch, o.queue[:n]...)
			clear(o.queue[:n])
			o.queue = o.queue[n:]
			o.credits -= n
			o.notify()
			o.mu.Unlock()
			return batch, nil
		}
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return batch, err
		}
		wait := o.changed
		o.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return batch, ctx.Err()
		}
		o.mu.Lock()
	}
}

// grant adds credit the peer granted.
func (o *outbox) grant(n int64) {
	o.mu.Lock()
	o.credits += n
	o.notify()
	o.mu.Unlock()
}

// close ends the outbox: waiting and later puts fail with err; take returns
// err once the queue has nothing sendable.
func (o *outbox) close(err error) {
	o.mu.Lock()
	if o.err == nil {
		o.err = err
		o.notify()
	}
	o.mu.Unlock()
}

// snapshot reports the queue length, the credit held and the drop count.
func (o *outbox) snapshot() (queued int, credits int64, dropped uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue), o.credits, o.dropped
}

// ledger is a receiver's credit account. It keeps the invariant
// granted + held <= window: credit not yet used by the sender plus messages
// arrived but not yet consumed never exceed the window (the manifest's
// credits), which bounds the receiver's memory.
type ledger struct {
	mu      sync.Mutex
	window  int64 // the most credit outstanding plus messages held
	granted int64 // granted and not yet used by an arriving message
	held    int64 // arrived and not yet consumed by the application
	auto    bool  // grant back automatically as the application consumes
}

// newLedger starts an account that has granted initial credits.
func newLedger(window, initial int64, auto bool) *ledger {
	return &ledger{window: window, granted: min(initial, window), auto: auto}
}

// arrive records an arriving message; false means the sender had no credit
// for it, a credit violation.
func (l *ledger) arrive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.granted <= 0 {
		return false
	}
	l.granted--
	l.held++
	return true
}

// consume records that the application took one message and returns the
// credit to grant now (0: not yet). Automatic grants are batched: credit goes
// back once half the window is free. That cannot stall a sender for good:
// the messages held are deliverable, and consuming them frees the window.
func (l *ledger) consume() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held--
	if !l.auto {
		return 0
	}
	room := l.window - l.granted - l.held
	if room*2 >= l.window {
		l.granted += room
		return room
	}
	return 0
}

// request grants up to n more credits (pull mode), as far as the window
// allows, and returns the amount granted.
func (l *ledger) request(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := min(n, l.window-l.granted-l.held)
	if g < 0 {
		g = 0
	}
	l.granted += g
	return g
}

// outstanding reports the credit granted and unused, and the messages held.
func (l *ledger) outstanding() (granted, held int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.granted, l.held
}
