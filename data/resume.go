package data

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ifkit/ifkit/codes"
)

// This file is what makes a connection resumable (spec/PROTOCOL.md §4.10):
// a connection that outlives its transport. Each end numbers the reliable
// frames it writes (MESSAGE, ERROR, END) and keeps them until the peer has
// acknowledged receiving them; when the transport breaks, the connection
// detaches instead of ending, and once its owner has a new stream and the
// peer's ResumeState, Resume writes again what the peer did not receive
// and carries on. Nothing is lost, nothing delivered twice, order is kept.

// ErrReconnecting is what Err returns (wrapped, with the cause) while a
// resumable connection's transport is down and its owner reconnects.
const ErrReconnecting errorString = "ifkit: reconnecting"

// ResumeState is what one end of a resumable connection tells the other
// when it resumes (spec/PROTOCOL.md §4.10.2).
type ResumeState struct {
	// Received counts the reliable frames (MESSAGE, ERROR, END) this end
	// has received from the peer on the connection.
	Received uint64
	// Granted counts the credits this end has granted the peer on the
	// connection, the initial credit included.
	Granted uint64
	// Consumed is the count a CREDIT frame carries: messages received and
	// consumed (PeerConsumed at the peer).
	Consumed uint64
}

// maxRetainedControl bounds the ERROR and END frames an end keeps for a
// peer that does not acknowledge them. A peer acknowledges at least every
// ackEvery of them (with a CREDIT frame), so only one that reads and never
// acknowledges reaches it: it is cut off with limit_exceeded.
const maxRetainedControl = 4096

// ackEvery: a resumable end acknowledges received ERROR and END frames
// (a CREDIT frame of 0 credits) at least every so many. MESSAGE frames are
// acknowledged by every grant.
const ackEvery = 32

// retention holds the reliable frames an end wrote and the peer has not
// acknowledged. Messages are bounded by credit (at most the peer's window
// of them is ever unacknowledged), ERROR and END frames by
// maxRetainedControl.
type retention struct {
	mu      sync.Mutex
	frames  []retained // oldest first
	next    uint64     // reliable frames numbered so far
	acked   uint64     // the peer's latest acknowledgement
	control int        // ERROR and END frames in frames
	bytes   int        // their sizes
}

type retained struct {
	idx uint64
	msg bool
	b   []byte
}

// add keeps a frame as written (b is the caller's; add copies it unless
// owned); false if the peer leaves too many control frames unacknowledged.
func (r *retention) add(msg bool, b []byte, owned bool) bool {
	if !owned {
		b = append([]byte(nil), b...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.frames = append(r.frames, retained{idx: r.next, msg: msg, b: b})
	r.bytes += len(b)
	if !msg {
		r.control++
	}
	return r.control <= maxRetainedControl
}

// ack drops what the peer says it has received: the first n frames.
func (r *retention) ack(n uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n > r.next {
		return fmt.Errorf("the peer acknowledges %d reliable frames; %d were sent", n, r.next)
	}
	if n <= r.acked {
		return nil // an older acknowledgement, overtaken
	}
	r.acked = n
	k := 0
	for k < len(r.frames) && r.frames[k].idx <= n {
		r.bytes -= len(r.frames[k].b)
		if !r.frames[k].msg {
			r.control--
		}
		k++
	}
	rest := copy(r.frames, r.frames[k:])
	clear(r.frames[rest:])
	r.frames = r.frames[:rest]
	return nil
}

// since returns the frames after the first n, to write again.
func (r *retention) since(n uint64) ([][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n > r.next {
		return nil, fmt.Errorf("the peer says it received %d reliable frames; %d were sent", n, r.next)
	}
	if n < r.acked {
		return nil, fmt.Errorf("the peer says it received %d reliable frames, after acknowledging %d", n, r.acked)
	}
	var out [][]byte
	for _, f := range r.frames {
		if f.idx > n {
			out = append(out, f.b)
		}
	}
	return out, nil
}

// held reports the frames and bytes retained.
func (r *retention) held() (frames, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames), r.bytes
}

// Resumable says whether the connection survives a broken transport.
func (c *Conn) Resumable() bool { return c.rt != nil }

// ResumeStats are a resumable connection's counters.
type ResumeStats struct {
	Resumes      uint64 // how often its transport was replaced
	Reconnecting bool   // its transport is down now
	// What it keeps until the peer acknowledges receiving it: frames and
	// their bytes (at most the peer's credit window of messages).
	RetainedFrames, RetainedBytes int
}

// ResumeStats returns the connection's resume counters (zero when it is
// not resumable).
func (c *Conn) ResumeStats() ResumeStats {
	if c.rt == nil {
		return ResumeStats{}
	}
	st := ResumeStats{Resumes: c.resumes.Load(), Reconnecting: errors.Is(c.Err(), ErrReconnecting)}
	st.RetainedFrames, st.RetainedBytes = c.rt.held()
	return st
}

// lost handles a failed read or write of the transport: a resumable
// connection detaches, another ends with e.
func (c *Conn) lost(e *codes.CloseError) {
	if c.rt != nil {
		c.detach(e)
		return
	}
	c.end(e, false)
}

// detaching says whether the connection is detached (its reader and writer
// then stop at once, whatever error they see).
func (c *Conn) detaching() bool {
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	return c.detached
}

// detach lets go of the transport: the reader and writer stop, sends queue
// as the flow policy allows, and once both have stopped OnDetach runs.
func (c *Conn) detach(cause *codes.CloseError) {
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	if c.detached || c.isDone() {
		return
	}
	c.detached = true
	c.detachErr = fmt.Errorf("%w: %v", ErrReconnecting, cause)
	stopped := make(chan struct{})
	c.stopped = stopped
	c.out.detach()
	c.stream.SetDeadline(time.Now()) // wakes the reader and the writer
	c.stream.Close()
	c.goLoop(func() {
		c.epoch.Wait()
		c.out.waitIdle()
		close(stopped)
		if c.onDetach != nil {
			c.onDetach(c, cause)
		}
	})
}

// Detach lets go of a resumable connection's transport as if it had
// broken, and returns once the connection's reader and writer have
// stopped, or ctx is done. A server does so when a client resumes a
// connection whose old transport still looks alive to it.
func (c *Conn) Detach(ctx context.Context, cause *codes.CloseError) error {
	if c.rt == nil {
		return errors.New("ifkit: the connection is not resumable")
	}
	c.detach(cause)
	c.resumeMu.Lock()
	stopped := c.stopped
	c.resumeMu.Unlock()
	if stopped == nil {
		return c.Err() // ended
	}
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ResumeState returns what this end tells the peer when it resumes. The
// connection must be detached, and its reader and writer stopped (after
// OnDetach has been called, or Detach has returned). Grants made from then
// on go to the peer as CREDIT frames after the resume.
func (c *Conn) ResumeState() (ResumeState, error) {
	if err := c.stoppedDetached(); err != nil {
		return ResumeState{}, err
	}
	return ResumeState{
		Received: c.rxFrames.Load(),
		Granted:  c.out.takeGranted(),
		Consumed: c.recvSeqConsumed(),
	}, nil
}

// stoppedDetached checks that the connection is detached with its reader
// and writer stopped.
func (c *Conn) stoppedDetached() error {
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	return c.stoppedDetachedLocked()
}

// stoppedDetachedLocked is stoppedDetached with resumeMu held.
func (c *Conn) stoppedDetachedLocked() error {
	if c.isDone() {
		return c.err
	}
	if c.rt == nil {
		return errors.New("ifkit: the connection is not resumable")
	}
	if !c.detached {
		return errors.New("ifkit: the connection is not detached from its transport")
	}
	select {
	case <-c.stopped:
		return nil
	default:
		return errors.New("ifkit: the connection's reader and writer have not stopped yet")
	}
}

// Resume attaches a detached connection to a new stream, which a resume
// handshake has used through br (nil if it did not), given what the peer
// said when it resumed: the frames the peer did not receive are written
// again first, then the connection goes on. transportErr replaces
// Config.TransportErr (the stream is on a new session). first, if not
// empty, is written before anything else (a server's handshake answer). An
// error means the peer's state does not fit this end's: nothing was
// written, and the caller ends the connection with protocol_error.
func (c *Conn) Resume(stream net.Conn, br *bufio.Reader, peer ResumeState, transportErr func() error, first []byte) error {
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	if err := c.stoppedDetachedLocked(); err != nil {
		return err // ended, not detached, or resumed by someone else meanwhile
	}
	replay, err := c.rt.since(peer.Received)
	if err != nil {
		return err
	}
	// Every message this end numbered used a credit of the peer's, those
	// written again included: what remains is the peer's total less them.
	credits := int64(peer.Granted) - int64(c.w.seq)
	if credits < 0 || credits > int64(c.man.Flow.Credits) {
		return fmt.Errorf("the peer granted %d credits in all, for %d messages sent: it would leave %d credits (flow.credits is %d)", peer.Granted, c.w.seq, credits, c.man.Flow.Credits)
	}
	if len(first) > 0 {
		replay = append([][]byte{first}, replay...)
	}
	c.rt.ack(peer.Received)
	if peer.Consumed > c.peerConsumed.Load() {
		c.peerConsumed.Store(peer.Consumed)
	}
	if br == nil {
		br = bufio.NewReaderSize(stream, 16)
	}
	c.deadlineMu.Lock() // the frame deadline's timer may still fire
	c.stream, c.transportErr = stream, transportErr
	c.readArmed, c.writeArmed, c.lingering = time.Time{}, time.Time{}, false
	c.deadlineMu.Unlock()
	c.w.buf, c.w.replay = c.w.buf[:0], replay
	c.detached, c.detachErr, c.stopped = false, nil, nil
	c.resumes.Add(1)
	c.epoch.Add(1)
	c.goLoop(func() { defer c.epoch.Done(); c.readLoop(br) })
	c.out.resume(credits, c.startWriter)
	return nil
}

// startWriter starts the writer goroutine of the current transport.
func (c *Conn) startWriter() {
	c.epoch.Add(1)
	c.goLoop(func() { defer c.epoch.Done(); c.writeLoop() })
}
