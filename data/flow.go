package data

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ifkit/ifkit/manifest"
)

// outMsg is one queued outgoing item: a MESSAGE (which needs a credit) or
// the END of a reply stream (which does not, but must keep its place after
// the replies it ends).
type outMsg struct {
	typeID uint32
	corr   uint64
	flags  uint8
	body   []byte
	// buf is body's buffer when it was encoded by Send: body, or
	// msgHeadroom bytes of room for its frame's head then body (when buf's
	// capacity is at least writeAlone). The pool reuses it.
	buf []byte
	end bool
}

// outMsgs recycles outgoing messages and their body buffers: the writer
// returns each one once it is written, so a steady stream of sends
// allocates nothing. Bodies above maxPooledBody are left to the collector.
var outMsgs = sync.Pool{New: func() any { return new(outMsg) }}

const maxPooledBody = 256 << 10

func getOutMsg() *outMsg { return outMsgs.Get().(*outMsg) }

func putOutMsg(m *outMsg) {
	if cap(m.buf) > maxPooledBody {
		m.buf = nil
	}
	*m = outMsg{buf: m.buf[:0]}
	outMsgs.Put(m)
}

// Each outbox keeps the messages its writer wrote for its next sends
// (outbox.free): a steady stream of small messages then costs one short
// lock per send instead of a trip through sync.Pool each way. What the
// free list keeps is bounded: at most maxFreeMsgs messages, none with a
// buffer over maxFreeBody, maxFreeBytes of buffers in all (with 64-byte
// messages about 40 KiB a connection that has sent, until it ends).
// Others go back to the pool.
const (
	maxFreeMsgs  = 256
	maxFreeBody  = 4 << 10
	maxFreeBytes = 32 << 10
)

// outbox holds a connection's outgoing items until the peer has granted
// credit for them, under the manifest's flow policy, plus urgent control
// frames (CREDIT, ERROR) that need no credit and a final CLOSE frame. One
// mechanism serves every policy: a message is admitted while the messages
// queued are below a limit; the writer takes messages only while it holds
// credit.
//
//   - block, error, drop_newest: the limit is the credit held, so every
//     queued message already has a credit and "no credit" is exact;
//   - drop_oldest: the limit is the manifest's credits; when full, the
//     oldest queued message is dropped to admit the new one.
//
// Memory is bounded by the limit × the largest message.
type outbox struct {
	mu       sync.Mutex
	policy   manifest.OnExhausted
	capacity int       // the queue bound under drop_oldest
	credits  int64     // granted by the peer and not yet used by the writer
	queue    []*outMsg // oldest first
	messages int       // MESSAGE items in queue (END items need no credit)
	urgent   [][]byte  // encoded ERROR frames, sent before queued items; at most maxUrgent
	credit   int64     // credit granted and not yet written: one CREDIT frame, however many grants
	consumed uint64    // the consumed count the next CREDIT frame carries
	final    []byte    // the CLOSE frame, sent last
	paused   bool      // the writer holds messages (control: pause)
	dropped  uint64
	stalls   uint64        // sends that found no room: counted where they wait, fail or drop, never on the path with credit
	err      error         // set once when the connection ends
	changed  chan struct{} // closed on a change while a sender waits on it; nil when none does
	// The writer waits on wake (one slot, made once) rather than on
	// changed, so that waking it allocates nothing.
	wake          chan struct{}
	writerWaiting bool
	// writing says who holds the right to write frames: nobody, the writer
	// goroutine (from take until its next take), or a sender writing its
	// own request or reply while the writer is idle (putDirect until
	// doneDirect).
	writing int
	// run starts the writer the first time there is something to write
	// (nil before the connection starts and once the writer runs): an
	// idle connection has no writer goroutine.
	run func()
	// free holds written messages for senders to reuse, freeBytes their
	// buffers' capacity (bounded: maxFreeMsgs, maxFreeBytes).
	free      []*outMsg
	freeBytes int
	// granted counts every credit granted to the peer, the initial ones
	// included (a resume tells the peer, resume.go).
	granted uint64
	// A resumable connection's: acks is the count of reliable frames
	// received, which every CREDIT frame carries; ackPending asks for a
	// CREDIT frame that carries it even without credit. detached: the
	// transport is gone, the writer stops and nobody writes; kick: the
	// writer has frames to write again after a resume.
	acks       *atomic.Uint64
	ackPending bool
	detached   bool
	kick       bool
}

func newOutbox(policy manifest.OnExhausted, capacity int, initialCredits int64) *outbox {
	return &outbox{policy: policy, capacity: capacity, credits: initialCredits, wake: make(chan struct{}, 1)}
}

// notify wakes every waiter, and starts the writer if it has not started;
// o.mu must be held. Without waiters it costs nothing, which keeps the
// per-message path free of allocations.
func (o *outbox) notify() {
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	if o.writerWaiting {
		o.writerWaiting = false
		select {
		case o.wake <- struct{}{}:
		default: // a wake-up the writer did not take is still there
		}
	} else if o.run != nil {
		run := o.run
		o.run = nil
		run()
	}
}

// newMsg returns a message to encode into: one the writer wrote, if the
// free list has one, else one from the pool.
func (o *outbox) newMsg() *outMsg {
	o.mu.Lock()
	if n := len(o.free); n > 0 {
		m := o.free[n-1]
		o.free[n-1] = nil
		o.free = o.free[:n-1]
		o.freeBytes -= cap(m.buf)
		o.mu.Unlock()
		return m
	}
	o.mu.Unlock()
	return getOutMsg()
}

// recycleLocked takes back messages that were written (or will never be),
// onto the free list as far as its bounds allow, into the pool otherwise;
// o.mu must be held.
func (o *outbox) recycleLocked(ms []*outMsg) {
	for _, m := range ms {
		c := cap(m.buf)
		if c > maxFreeBody || len(o.free) >= maxFreeMsgs || o.freeBytes+c > maxFreeBytes {
			putOutMsg(m)
			continue
		}
		*m = outMsg{buf: m.buf[:0]}
		o.free = append(o.free, m)
		o.freeBytes += c
	}
}

// recycle is recycleLocked for a caller without o.mu.
func (o *outbox) recycle(ms ...*outMsg) {
	o.mu.Lock()
	o.recycleLocked(ms)
	o.mu.Unlock()
}

// startWriter arranges for run to start the writer on the first change,
// at once if something already waits to be written.
func (o *outbox) startWriter(run func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.run = run
	if len(o.queue) > 0 || len(o.urgent) > 0 || o.credit > 0 || o.err != nil {
		o.notify()
	}
}

// waitChan returns the channel the next notify closes; o.mu must be held.
func (o *outbox) waitChan() chan struct{} {
	if o.changed == nil {
		o.changed = make(chan struct{})
	}
	return o.changed
}

func (o *outbox) limit() int64 {
	if o.policy == manifest.DropOldest {
		return int64(o.capacity)
	}
	return o.credits
}

// put queues a message, waiting for credit under the block policy until ctx
// is done.
func (o *outbox) put(ctx context.Context, m *outMsg) error { return o.enqueue(ctx, m, false) }

// enqueue is put; with noWait, where put would wait it fails with
// errWouldWait instead.
func (o *outbox) enqueue(ctx context.Context, m *outMsg, noWait bool) error {
	o.mu.Lock()
	for stalled := false; ; stalled = true {
		if o.err != nil {
			o.mu.Unlock()
			return o.err
		}
		if int64(o.messages) < o.limit() {
			o.push(m)
			o.mu.Unlock()
			return nil
		}
		if !stalled {
			o.stalls++
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
			if o.dropOldest() {
				o.push(m)
				o.mu.Unlock()
				return nil
			}
			if m.flags&FlagReply == 0 {
				// Every queued message is a reply, which a caller waits
				// for: the oldest message that may go is this one.
				o.dropped++
				o.mu.Unlock()
				return nil
			}
		}
		if noWait {
			o.mu.Unlock()
			return errWouldWait
		}
		wait := o.waitChan()
		o.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.mu.Lock()
	}
}

// putBatch queues ms in order under as few locks as credit allows: all of
// them at once when there is room, otherwise as many as there is room for,
// then (block) waiting for more until ctx is done. It returns how many were
// queued; the caller keeps the rest. Under drop_oldest and drop_newest it
// applies put's rule to each message in turn.
func (o *outbox) putBatch(ctx context.Context, ms []*outMsg) (int, error) {
	if o.policy != manifest.Block {
		for i, m := range ms {
			if err := o.put(ctx, m); err != nil {
				return i, err
			}
		}
		return len(ms), nil
	}
	done := 0
	o.mu.Lock()
	for stalled := false; ; stalled = true {
		if o.err != nil {
			o.mu.Unlock()
			return done, o.err
		}
		room := int(o.limit()) - o.messages
		if room > 0 {
			n := min(room, len(ms)-done)
			o.queue = append(o.queue, ms[done:done+n]...)
			o.messages += n
			done += n
			o.notify()
			if done == len(ms) {
				o.mu.Unlock()
				return done, nil
			}
		}
		if !stalled {
			o.stalls++
		}
		wait := o.waitChan()
		o.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return done, ctx.Err()
		}
		o.mu.Lock()
	}
}

// push appends m; o.mu must be held.
func (o *outbox) push(m *outMsg) {
	o.queue = append(o.queue, m)
	if !m.end {
		o.messages++
	}
	o.notify()
}

// dropOldest removes the oldest queued message that is not a reply (replies
// are owed to a caller); o.mu must be held.
func (o *outbox) dropOldest() bool {
	for i, m := range o.queue {
		if !m.end && m.flags&FlagReply == 0 {
			last := len(o.queue) - 1
			o.queue = append(o.queue[:i], o.queue[i+1:]...)
			o.queue[:last+1][last] = nil // no stale reference past the end
			o.messages--
			o.dropped++
			return true
		}
	}
	return false
}

// putEnd queues the END of a reply stream, after the replies queued so far.
func (o *outbox) putEnd(m *outMsg) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	m.end = true
	o.push(m)
	return nil
}

// errWouldWait is what a send from the connection's reader (an inline
// handler, a RecvFunc function) gets where it would wait for credit: the
// credit could only come through the reader it holds up.
var errWouldWait = fmt.Errorf("%w, and this send runs on the connection's reader (an inline handler or a RecvFunc function), which cannot wait for credit: the grant could only arrive through that reader; Clone the message and send from another goroutine", ErrNoCredit)

// errDetached stops the writer of a transport that is gone.
var errDetached = fmt.Errorf("ifkit: the transport was let go of")

// maxUrgent bounds the ERROR frames waiting to be written. A peer that
// keeps sending messages that are refused and never reads its stream would
// otherwise make the queue grow without end (each refusal returns its
// credit, so the peer may go on sending).
const maxUrgent = 64

// putUrgent queues an encoded ERROR frame to go before queued items; false
// if maxUrgent are already waiting: the peer does not read what it is sent.
func (o *outbox) putUrgent(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return true // ending: nothing more is written
	}
	if len(o.urgent) >= maxUrgent {
		return false
	}
	o.urgent = append(o.urgent, frame)
	o.notify()
	return true
}

// putCredit adds a grant of n credits, with the count of messages consumed
// so far, to the CREDIT frame the writer sends next: grants that the writer
// has not written yet are merged into one frame, so they take no memory
// whatever the peer does.
func (o *outbox) putCredit(n int64, consumed uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.credit += n
		o.granted += uint64(n)
		o.consumed = max(o.consumed, consumed)
		o.notify()
	}
}

// putAck asks for a CREDIT frame that acknowledges the reliable frames
// received so far, with or without credit (a resumable connection's).
func (o *outbox) putAck() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.ackPending = true
		o.notify()
	}
}

// detach stops the writer and direct writes: the transport is gone.
// Sends still queue as the flow policy allows.
func (o *outbox) detach() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.detached = true
	o.run = nil // no writer starts on a transport that is gone
	o.notify()
}

// waitIdle waits until no sender writes directly, once the writer
// goroutine has exited, and takes the right to write back from it.
func (o *outbox) waitIdle() {
	o.mu.Lock()
	for o.writing == writingDirect {
		wait := o.waitChan()
		o.mu.Unlock()
		<-wait
		o.mu.Lock()
	}
	o.writing = writingNobody
	o.mu.Unlock()
}

// takeGranted returns the credits granted in all, and forgets the grants
// not yet written: the peer learns of them from that total.
func (o *outbox) takeGranted() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.credit, o.ackPending = 0, false
	return o.granted
}

// resume attaches the outbox to a new transport: credits is what the peer
// has left granted, run starts the writer, which first writes again what
// the peer did not receive.
func (o *outbox) resume(credits int64, run func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.credits, o.detached, o.kick, o.run = credits, false, true, run
	o.notify()
}

// Who holds the right to write (outbox.writing).
const (
	writingNobody = iota
	writingWriter
	writingDirect
)

// putDirect gives a sender the right to write m itself, with the urgent
// frames that wait, when nobody writes and m may go at once (credit, no
// pause, nothing queued before it): it returns batch with m, the urgent
// frames, and true; the caller writes them and then calls doneDirect.
func (o *outbox) putDirect(m *outMsg, batch []*outMsg) ([]*outMsg, [][]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.writing != writingNobody || o.err != nil || o.paused || o.detached || o.kick || len(o.queue) > 0 || o.credits == 0 || int64(o.messages) >= o.limit() {
		return nil, nil, false
	}
	o.writing = writingDirect
	o.credits--
	return append(batch, m), o.takeUrgent(), true
}

// doneDirect ends a sender's direct write, waking the writer if something
// came meanwhile.
func (o *outbox) doneDirect(written []*outMsg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recycleLocked(written)
	o.writing = writingNobody
	if len(o.queue) > 0 || len(o.urgent) > 0 || o.credit > 0 || o.err != nil || o.detached {
		o.notify()
	}
}

// takeUrgent returns the urgent frames, the CREDIT frame of the grants
// not yet written among them; o.mu must be held.
func (o *outbox) takeUrgent() [][]byte {
	urgent := o.urgent
	o.urgent = nil
	if o.credit > 0 || o.ackPending {
		f := frame{kind: FrameCredit, credits: uint64(o.credit), seq: o.consumed}
		if o.acks != nil {
			f.received, f.hasReceived = o.acks.Load(), true
		}
		urgent = append(urgent, appendFrame(nil, &f))
		o.credit, o.ackPending = 0, false
	}
	return urgent
}

// take recycles the items of batch, which the writer has written, then
// appends to batch[:0] the items the writer may send now, at most max,
// using their credit, and returns the urgent frames too. It waits until there
// is something, or ctx is done. Once the outbox is closed it returns what
// remains sendable, the final frame, and the closing error. The writer
// holds the right to write from take's return until it calls take again;
// take waits while a sender writes directly.
func (o *outbox) take(ctx context.Context, batch []*outMsg, max int) (items []*outMsg, urgent [][]byte, final []byte, err error) {
	o.mu.Lock()
	o.recycleLocked(batch)
	clear(batch)
	batch = batch[:0]
	if o.writing == writingWriter {
		o.writing = writingNobody // the writer is done with what it took
	}
	for {
		if o.detached {
			o.mu.Unlock()
			return batch, nil, nil, errDetached
		}
		if o.writing != writingNobody {
			if err := o.waitWriter(ctx); err != nil {
				return batch, nil, nil, err
			}
			continue
		}
		urgent = o.takeUrgent()
		n := 0
		for n < len(o.queue) && n < max && !o.paused {
			m := o.queue[n]
			if !m.end {
				if o.credits == 0 {
					break
				}
				o.credits--
				o.messages--
			}
			batch = append(batch, m)
			n++
		}
		if n > 0 {
			// Move what remains to the front rather than reslicing past
			// it: the queue keeps its array, and a steady stream of puts
			// and takes allocates nothing.
			rest := copy(o.queue, o.queue[n:])
			clear(o.queue[rest:])
			o.queue = o.queue[:rest]
			o.notify()
		}
		if o.err != nil {
			final, o.final = o.final, nil
			err = o.err
			o.writing = writingWriter
			o.mu.Unlock()
			return batch, urgent, final, err
		}
		if n > 0 || len(urgent) > 0 || o.kick {
			o.kick = false
			o.writing = writingWriter
			o.mu.Unlock()
			return batch, urgent, nil, nil
		}
		if err := o.waitWriter(ctx); err != nil {
			return batch, nil, nil, err
		}
	}
}

// waitWriter parks the writer until a change, with o.mu held on entry and,
// unless it returns ctx's error, on return. Once the outbox is closed
// ctx's end does not stop the wait: the final frame is still to come.
func (o *outbox) waitWriter(ctx context.Context) error {
	o.writerWaiting = true
	o.mu.Unlock()
	select {
	case <-o.wake:
		o.mu.Lock()
	case <-ctx.Done():
		o.mu.Lock()
		if o.err == nil {
			o.mu.Unlock()
			return ctx.Err()
		}
		if o.writing != writingNobody {
			// A sender writes: wait for its doneDirect, which wakes us.
			o.writerWaiting = true
			o.mu.Unlock()
			<-o.wake
			o.mu.Lock()
		}
	}
	return nil
}

// grant adds credit from the peer; false if that would hold more than max
// (the manifest's flow.credits, which a peer that grants only for what its
// application consumed never exceeds).
func (o *outbox) grant(n, max int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n > max-o.credits {
		return false
	}
	o.credits += n
	o.notify()
	return true
}

// pause holds (true) or releases (false) queued messages.
func (o *outbox) pause(p bool) {
	o.mu.Lock()
	o.paused = p
	o.notify()
	o.mu.Unlock()
}

// close ends the outbox: waiting and later puts fail with err; take returns
// what is still sendable, then final (may be nil) and err. Only the first
// close counts.
func (o *outbox) close(err error, final []byte) {
	o.mu.Lock()
	if o.err == nil {
		o.err = err
		o.final = final
		o.notify()
	}
	o.mu.Unlock()
}

// snapshot reports the messages queued, the credit held, the drop count
// and the stall count.
func (o *outbox) snapshot() (queued int, credits int64, dropped, stalls uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.messages, o.credits, o.dropped, o.stalls
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
	paused  bool  // no credit is granted (control: pause)
	asked   int64 // pull mode: credit requested while paused
	// taken counts the messages the application consumed (or that were
	// refused), which CREDIT frames carry.
	taken uint64
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
// back once half the window is free (spec/PROTOCOL.md §7.3, and its
// conformance vectors). That cannot stall a sender for good: the messages
// held are deliverable, and consuming them frees the window.
func (l *ledger) consume() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held--
	l.taken++
	return l.autoGrantLocked()
}

// autoGrantLocked grants the free window if automatic grants are due;
// l.mu must be held.
func (l *ledger) autoGrantLocked() int64 {
	if !l.auto || l.paused {
		return 0
	}
	room := l.window - l.granted - l.held
	if room*2 >= l.window {
		l.granted += room
		return room
	}
	return 0
}

// A run is the reader's batch of messages that arrive and are consumed on
// the reader (lent to RecvFunc or an inline handler, or refused there),
// accounted for with one lock at its start and one at its end instead of
// two per message. During a run the ledger still counts the run's
// messages' credit as granted: anyone else reading it meanwhile sees less
// free window than there is, never more, so nothing is granted beyond the
// window.

// startRun begins a run: it returns the credit the reader may use without
// asking again (budget), and after how many messages consumed in the run
// an automatic grant is due (grantAt), at which point the reader settles.
// ok is false in pull mode and while paused: then the reader accounts for
// each message on its own (arrive, consume).
func (l *ledger) startRun() (budget, grantAt int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.auto || l.paused {
		return 0, 0, false
	}
	// Each message that arrives and is consumed frees one place: the grant
	// is due once room*2 >= window (consume's rule).
	room := l.window - l.granted - l.held
	return l.granted, max((l.window+1)/2-room, 1), true
}

// settleRun ends a run in which arrived messages arrived, consumed of them
// were consumed and the rest are held, and returns the credit to grant now.
func (l *ledger) settleRun(arrived, consumed int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.granted -= arrived
	l.held += arrived - consumed
	l.taken += uint64(consumed)
	return l.autoGrantLocked()
}

// consumedCount is how many messages the application consumed or were
// refused (not those of a run in progress).
func (l *ledger) consumedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.taken
}

// request grants up to n more credits (pull mode), as far as the window
// allows, and returns the amount granted.
func (l *ledger) request(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused {
		l.asked += n
		return 0
	}
	g := min(n, l.window-l.granted-l.held)
	if g < 0 {
		g = 0
	}
	l.granted += g
	return g
}

// pause stops (true) or restarts (false) granting credit. Credit counts as
// granted only once it is granted, so a paused receiver enforces credit as
// ever: a sender that goes on without it is in violation. Restarting
// returns the credit to grant now: the free window (automatic grants) or
// what was requested meanwhile, as far as the window allows.
func (l *ledger) pause(p bool) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.paused
	l.paused = p
	if p || !was {
		return 0
	}
	g := l.window - l.granted - l.held
	if !l.auto {
		g, l.asked = min(g, l.asked), 0
	}
	g = max(g, 0)
	l.granted += g
	return g
}

// outstanding reports the credit granted and unused, and the messages held.
func (l *ledger) outstanding() (granted, held int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.granted, l.held
}
