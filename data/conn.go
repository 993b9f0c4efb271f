package data

import (
	"github.com/ifkit/ifkit/codes"

	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/manifest"
)

// Handler handles one received message. A handler of a request type answers
// with msg.Reply. Handlers of one connection run one at a time, in order.
// An error a handler returns is sent to the peer as an ERROR with code
// internal and the error's text: it fails the peer's Call, or reaches its
// refusal hook (Config.OnRefused).
type Handler func(ctx context.Context, msg *Message) error

// Conn is one connection between a client and a server on one interface:
// its data sub-interface. Both ends use the same type. A Conn is safe for
// concurrent use.
type Conn struct {
	id      uint64
	man     *manifest.Manifest
	codec   codec.Codec
	stream  net.Conn
	sends   manifest.Direction // the message list this end sends from
	recvs   manifest.Direction // the message list this end receives from
	maxBody int

	out *outbox
	in  *ledger

	inbox     chan *Message // for Recv
	auth      *messageAuth  // per-message authentication; nil when the interface has none
	rx        rxSlab        // the read loop's: where received messages are allocated
	handled   chan *Message // for the handlers
	handlers  map[string]Handler
	catchAll  Handler
	onRefused func(*Conn, *codes.RemoteError)

	callsMu  sync.Mutex
	calls    map[uint64]*call
	seqCalls map[uint64]uint64 // sequence number of a request in flight → its correlation id
	nextCorr atomic.Uint64

	sentMsgs, recvMsgs, sentBytes, recvBytes, refused, authFailures atomic.Uint64
	peerConsumed                                                    atomic.Uint64
	paused                                                          atomic.Bool
	started                                                         time.Time

	// transportErr reports why the transport under the stream died, if it did.
	transportErr func() error
	// receivesNothing: the peer may send no MESSAGE (see Config).
	receivesNothing bool

	ctx       context.Context // cancelled when the connection ends
	cancel    context.CancelFunc
	closeOnce sync.Once
	done      chan struct{}
	err       *codes.CloseError
	wg        sync.WaitGroup
	onEnd     func(*Conn)
	br        *bufio.Reader
	owner     *sync.WaitGroup

	closeTimeout time.Duration
	writeTimeout time.Duration
	frameTimeout time.Duration
	// deadlineMu orders the reader's frame deadlines with the writer's
	// final one: once lingering, only the writer sets the read deadline.
	deadlineMu sync.Mutex
	lingering  bool
}

// Config is what both ends know once a stream's handshake is done: it turns
// a stream into a connection (New). Package iface fills it from the
// handshake; a program that runs the data plane over a stream of its own
// (a pipe, a socket pair) fills it itself, the same on both ends except for
// Server, the credits and the hooks.
type Config struct {
	// ID is the connection id the server assigned.
	ID uint64
	// Manifest is the interface's manifest; Codec the codec negotiated.
	Manifest *manifest.Manifest
	Codec    codec.Codec
	// Server says this end is the server: it sends the manifest's send
	// types and receives its recv types (a client the reverse).
	Server bool
	// SendCredit is the credit the peer granted this end at the start.
	SendCredit int64
	// Window is the most credit this end grants the peer (at least 1); with
	// AutoGrant it is granted at the start and renewed as messages are
	// consumed, otherwise only Request grants.
	Window    int64
	AutoGrant bool
	// ReceivesNothing: the peer may send no MESSAGE at all (a server on a
	// send interface): no credit is granted, and a MESSAGE is wrong_direction.
	ReceivesNothing bool
	// Handlers handle received messages by type name, CatchAll those of any
	// other type; without either, messages wait for Recv.
	Handlers map[string]Handler
	CatchAll Handler
	// OnRefused hears the peer's ERROR frames about messages that were not
	// requests in flight. It runs on the connection's reader and must
	// return quickly.
	OnRefused func(*Conn, *codes.RemoteError)
	// TransportErr, if set, says why the transport under the stream failed
	// (nil while it works); a *codes.CloseError it returns (a keepalive
	// timeout) is the connection's end as it is, another error becomes the
	// cause of a transport_error.
	TransportErr func() error
	// OnEnd, if set, runs once when the connection ends, before Done closes
	// its goroutines' wait.
	OnEnd func(*Conn)
	// MessageKey, when set, turns on per-message authentication with this
	// key (spec/PROTOCOL.md §12).
	MessageKey []byte
	// CloseTimeout bounds the wait for the peer's side to close after CLOSE.
	CloseTimeout time.Duration
	// WriteTimeout, if set, bounds each write to the stream: a peer that
	// reads nothing for that long ends the connection with transport_error,
	// so a writer is never stuck behind it for good.
	WriteTimeout time.Duration
	// FrameTimeout, if set, bounds how long a frame may take to arrive once
	// its first bytes have: a peer that sends part of a frame and stops ends
	// the connection with transport_error. A quiet stream between frames is
	// not timed.
	FrameTimeout time.Duration
	// Owner, when set, also counts the connection's goroutines, so that a
	// server's Close waits for them without a goroutine per connection.
	Owner *sync.WaitGroup
}

// New makes a connection of stream, which the handshake has used through
// br (nil if it did not): bytes br holds are read first. The connection
// does nothing until Start; one that is never started must be abandoned.
func New(stream net.Conn, br *bufio.Reader, cfg Config) *Conn {
	c := &Conn{
		id:           cfg.ID,
		man:          cfg.Manifest,
		codec:        cfg.Codec,
		stream:       stream,
		sends:        manifest.Recv,
		recvs:        manifest.Send,
		maxBody:      cfg.Manifest.Flow.MaxMessageBytes,
		handlers:     cfg.Handlers,
		catchAll:     cfg.CatchAll,
		onRefused:    cfg.OnRefused,
		calls:        map[uint64]*call{},
		seqCalls:     map[uint64]uint64{},
		started:      time.Now(),
		transportErr: cfg.TransportErr,
		done:         make(chan struct{}),
		onEnd:        cfg.OnEnd,
	}
	if cfg.Server {
		c.sends, c.recvs = manifest.Send, manifest.Recv
	}
	if br == nil {
		br = bufio.NewReaderSize(stream, 16) // holds nothing: the frame reader reads stream
	}
	flow := cfg.Manifest.Flow
	c.out = newOutbox(flow.OnExhausted, flow.Credits, cfg.SendCredit)
	window := max(cfg.Window, 1)
	initial := window
	if !cfg.AutoGrant || cfg.ReceivesNothing {
		initial = 0
	}
	c.receivesNothing = cfg.ReceivesNothing
	c.in = newLedger(window, initial, cfg.AutoGrant)
	c.inbox = make(chan *Message, window)
	if len(cfg.Handlers) > 0 || cfg.CatchAll != nil {
		c.handled = make(chan *Message, window)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.br = br
	c.owner = cfg.Owner
	c.closeTimeout = cfg.CloseTimeout
	c.writeTimeout = cfg.WriteTimeout
	c.frameTimeout = cfg.FrameTimeout
	if cfg.MessageKey != nil {
		c.auth = newMessageAuth(cfg.MessageKey, cfg.Server)
	}
	// A start token: the server registers the connection (where Close may
	// wait on c.wg) before Start runs, and a WaitGroup must not go up from
	// zero while someone waits on it. Start or Abandon releases the token.
	c.wg.Add(1)
	return c
}

// Start starts the connection's goroutines (a server calls it once the
// handshake's answer is written) and returns c.
func (c *Conn) Start() *Conn {
	br := c.br
	c.br = nil // the frame reader lets go of it once it has read its bytes
	c.goLoop(func() { c.readLoop(br) })
	c.goLoop(c.writeLoop)
	if c.handled != nil {
		c.goLoop(c.dispatchLoop)
	}
	c.wg.Done() // the start token
	return c
}

// Abandon releases a connection that is never started (its handshake
// answer could not be written), recording why, without a word to the peer.
func (c *Conn) Abandon(why *codes.CloseError) {
	c.end(why, false)
	c.wg.Done()
}

// Wait returns when the connection's goroutines have exited: after it has
// ended and written its CLOSE (or given up writing it).
func (c *Conn) Wait() { c.wg.Wait() }

// Context returns a context that is cancelled when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// goLoop runs one of the connection's goroutines, counted by c.wg (and the
// owner's group, if any).
func (c *Conn) goLoop(f func()) {
	c.wg.Add(1)
	if c.owner != nil {
		c.owner.Add(1)
	}
	go func() {
		defer func() {
			c.wg.Done()
			if c.owner != nil {
				c.owner.Done()
			}
		}()
		f()
	}()
}

// PeerConsumed returns how many of the messages this end sent the peer's
// application has consumed (taken by Recv or a handler, or refused), as the
// peer's latest credit grant acknowledged. Messages are numbered from 1, so
// after the connection ends, those with Seq > PeerConsumed() may never have
// been processed: resend them if they matter. Grants come in batches (about
// every half credit window), so the count lags the peer by up to that much;
// it never runs ahead of it.
func (c *Conn) PeerConsumed() uint64 { return c.peerConsumed.Load() }

// ID returns the connection id the server assigned; ids are never reused
// within one server's lifetime.
func (c *Conn) ID() uint64 { return c.id }

// Manifest returns the interface's manifest.
func (c *Conn) Manifest() *manifest.Manifest { return c.man }

// Codec returns the codec the connection negotiated.
func (c *Conn) Codec() codec.Codec { return c.codec }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is open, then a *codes.CloseError saying
// why it ended.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send encodes v as a message of the named type and queues it for sending.
// v is what the connection's codec takes (see package codec); JSON text
// ([]byte or json.RawMessage) is accepted with every codec, converted with
// the type's protobuf definition for proto.
// The type must be one this end may send (a client sends the manifest's recv
// types, a server its send types). Without credit, Send follows the
// manifest's flow policy: it waits until credit comes or ctx is done
// (block), returns ErrNoCredit (error) or ErrDropped (drop_newest), or drops
// the oldest queued message (drop_oldest).
func (c *Conn) Send(ctx context.Context, typeName string, v any) error {
	return c.send(ctx, typeName, v, 0, 0)
}

func (c *Conn) send(ctx context.Context, typeName string, v any, corr uint64, flags uint8) error {
	t, err := c.sendable(typeName)
	if err != nil {
		return err
	}
	if raw, ok := jsonText(v); ok && c.codec.Name() == codec.NameProto && t.Proto != nil {
		msg := t.New()
		if err := protojson.Unmarshal(raw, msg); err != nil {
			return fmt.Errorf("ifkit: send %s: the JSON is not a valid %s: %w", typeName, t.Proto.FullName(), err)
		}
		v = msg
	}
	m := getOutMsg()
	// In a buffer that held a large body, the body is encoded after room
	// for its frame's head, so that a large one is written with its head in
	// one write, without a copy (the writer copes without the room).
	room := 0
	if cap(m.buf) >= writeAlone {
		room = msgHeadroom
	}
	full, err := c.codec.Append(m.buf[:room], &t.Type, v)
	if err != nil {
		putOutMsg(m)
		return fmt.Errorf("ifkit: send %s: %w", typeName, err)
	}
	m.buf = full
	body := full[room:]
	if len(body) > c.maxBody {
		putOutMsg(m)
		return fmt.Errorf("ifkit: send %s: the message is %d bytes; the manifest allows at most %d (flow.max_message_bytes)", typeName, len(body), c.maxBody)
	}
	m.typeID, m.corr, m.flags, m.body = t.ID, corr, flags, body
	if err := c.out.put(ctx, m); err != nil {
		return fmt.Errorf("ifkit: send %s: %w", typeName, err)
	}
	return nil
}

// jsonText returns v as JSON text if it is given as such.
func jsonText(v any) ([]byte, bool) {
	switch x := v.(type) {
	case json.RawMessage:
		return x, true
	case []byte:
		return x, true
	}
	return nil, false
}

// sendable returns the named type if this end may send it.
func (c *Conn) sendable(typeName string) (*manifest.MessageType, error) {
	t, ok := c.man.Type(typeName)
	if !ok {
		return nil, fmt.Errorf("ifkit: %s has no message type %q", c.man.Name, typeName)
	}
	if t.Direction != c.sends {
		who := "the server"
		if t.Direction == manifest.Recv {
			who = "the client"
		}
		return nil, fmt.Errorf("%w: %s is sent by %s on %s (messages.%s)", ErrWrongWay, typeName, who, c.man.Name, t.Direction)
	}
	return t, nil
}

// Recv returns the next received message that no handler took, waiting
// until one arrives, ctx is done or the connection ends (then the error is
// the connection's *codes.CloseError).
func (c *Conn) Recv(ctx context.Context) (*Message, error) {
	select {
	case m := <-c.inbox:
		c.consumed()
		return m, nil
	default:
	}
	select {
	case m := <-c.inbox:
		c.consumed()
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		// Messages that arrived before the end are still delivered.
		select {
		case m := <-c.inbox:
			return m, nil
		default:
			return nil, c.err
		}
	}
}

// Request grants the peer n more credits (pull mode, WithPullMode), as far
// as the window allows, and returns how many were granted.
func (c *Conn) Request(n int) int {
	g := c.in.request(int64(n))
	if g > 0 {
		c.grant(g)
	}
	return int(g)
}

// consumed records that the application took a message, granting credit
// back when the ledger says so.
func (c *Conn) consumed() {
	if g := c.in.consume(); g > 0 {
		c.grant(g)
	}
}

func (c *Conn) grant(n int64) { c.out.putCredit(n, c.recvSeqConsumed()) }

// refuse tells the peer with an ERROR frame that message seq was refused,
// unless too many refusals already wait to be written: then the peer is not
// reading its stream, and the connection ends.
func (c *Conn) refuse(code codes.Code, seq uint64, reason string) bool {
	if c.out.putUrgent(appendFrame(nil, &frame{kind: FrameError, code: code, seq: seq, reason: []byte(reason)})) {
		return true
	}
	c.abort(codes.LimitExceeded, "%d refusals wait to be written: the peer sends messages that are refused and does not read its stream", maxUrgent)
	return false
}

// recvSeqConsumed is how many messages the application has consumed (or
// were refused), sent with grants so the peer knows what was taken.
func (c *Conn) recvSeqConsumed() uint64 {
	_, held := c.in.outstanding()
	return c.recvMsgs.Load() - uint64(held)
}

// Close ends the connection normally: messages already credited are sent,
// then a CLOSE with reason. It returns when the connection's goroutines have
// exited. Closing again does nothing.
func (c *Conn) Close(reason string) error {
	c.End(&codes.CloseError{Code: codes.NormalClose, Reason: reason})
	c.wg.Wait()
	return nil
}

// End ends the connection with e, telling the peer with a CLOSE frame
// (after the messages already credited), unless it has already ended. It
// does not wait: Wait does.
func (c *Conn) End(e *codes.CloseError) { c.end(e, true) }

// end records why the connection ended (the first call wins) and stops it.
// tell sends a CLOSE frame with the code to the peer.
func (c *Conn) end(e *codes.CloseError, tell bool) {
	c.closeOnce.Do(func() {
		c.err = e
		var final []byte
		if tell {
			final = appendFrame(nil, &frame{kind: FrameClose, code: e.Code, reason: []byte(e.Reason)})
		}
		c.out.close(e, final)
		close(c.done)
		c.cancel()
		c.callsMu.Lock()
		for _, cl := range c.calls {
			cl.fail(e)
		}
		c.callsMu.Unlock()
		if c.onEnd != nil {
			c.onEnd(c)
		}
	})
}

// abort ends the connection because the peer broke the protocol, telling it why.
func (c *Conn) abort(code codes.Code, format string, args ...any) {
	c.end(&codes.CloseError{Code: code, Reason: fmt.Sprintf(format, args...)}, true)
}

func (c *Conn) writeLoop() {
	sentClose := false
	defer func() {
		c.stream.Close() // half-close: the peer reads to our CLOSE, then EOF
		// After a CLOSE the reader waits (bounded) for the peer to close its
		// side: then the peer has read everything we sent. Otherwise it is
		// woken at once.
		linger := time.Duration(0)
		if sentClose {
			linger = c.closeTimeout
		}
		c.deadlineMu.Lock()
		c.lingering = true
		c.stream.SetReadDeadline(time.Now().Add(linger))
		c.deadlineMu.Unlock()
	}()
	var (
		batch []*outMsg
		buf   []byte
		seq   uint64
	)
	// flush writes what buf holds (and then p, uncopied). Frames are
	// coalesced into writes of up to writeChunk bytes: one write per batch
	// when messages are small, and a buffer that stays small when they are
	// large.
	flush := func(p []byte) bool {
		for _, p := range [][]byte{buf, p} {
			if len(p) == 0 {
				continue
			}
			if c.writeTimeout > 0 {
				c.stream.SetWriteDeadline(time.Now().Add(c.writeTimeout))
			}
			if _, werr := c.stream.Write(p); werr != nil {
				if isTimeout(werr) {
					c.end(&codes.CloseError{Code: codes.TransportError, Reason: fmt.Sprintf("a write did not finish within %v: the peer does not read its stream", c.writeTimeout), Cause: werr}, false)
					return false
				}
				c.end(c.transportError(werr), false)
				return false
			}
		}
		buf = buf[:0]
		return true
	}
	for {
		items, urgent, final, err := c.out.take(c.ctx, batch[:0], 256)
		for _, f := range urgent {
			buf = append(buf, f...)
		}
		for _, m := range items {
			if m.end {
				buf = appendFrame(buf, &frame{kind: FrameEnd, corr: m.corr})
				continue
			}
			seq++
			if m.corr != 0 && m.flags&FlagReply == 0 {
				c.callsMu.Lock()
				c.seqCalls[seq] = m.corr
				c.callsMu.Unlock()
			}
			f := frame{kind: FrameMessage, flags: m.flags, seq: seq, typeID: m.typeID, corr: m.corr, body: m.body}
			if c.auth != nil {
				f.flags |= FlagAuth
				f.tag = c.auth.sign(&f)
			}
			c.sentMsgs.Add(1)
			c.sentBytes.Add(uint64(len(m.body)))
			if len(m.body) >= writeAlone {
				// A large body is written as it is, its head put in the
				// room before it (or written before it, when it has none).
				var p []byte
				if len(m.buf) == msgHeadroom+len(m.body) && cap(m.buf) >= writeAlone {
					head := appendMessageHead(m.buf[:0:0], &f)
					start := msgHeadroom - len(head)
					copy(m.buf[start:], head)
					p = m.buf[start:]
				} else {
					buf = appendMessageHead(buf, &f)
					p = m.body
				}
				if !flush(p) {
					return
				}
				continue
			}
			buf = appendFrame(buf, &f)
			if len(buf) >= writeChunk && !flush(nil) {
				return
			}
		}
		buf = append(buf, final...)
		sentClose = sentClose || len(final) > 0
		ok := flush(nil)
		// Written (or failed for good): the messages go back to the pool.
		for _, m := range items {
			putOutMsg(m)
		}
		batch = items
		clear(batch)
		if !ok {
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *Conn) readLoop(br *bufio.Reader) {
	fr := newFrameReader(br, c.maxBody+frameOverhead)
	fr.readFrom(c.stream)
	if c.frameTimeout > 0 {
		fr.onMidFrame = c.frameDeadline
	}
	fr.shrink()        // the handshake's receive buffer
	defer fr.release() // nothing read is used after the loop
	var (
		f       frame
		lastSeq uint64
	)
	for {
		if err := fr.read(&f); err != nil {
			switch {
			case errors.Is(err, ErrFrameTooLarge):
				c.abort(codes.MessageTooLarge, "%v (flow.max_message_bytes is %d)", err, c.maxBody)
			case errors.Is(err, ErrMalformed):
				c.abort(codes.ProtocolError, "%v", err)
			case isTimeout(err) && fr.waiting:
				c.end(&codes.CloseError{Code: codes.TransportError, Reason: fmt.Sprintf("the peer sent part of a frame and not the rest within %v", c.frameTimeout), Cause: err}, true)
			default:
				c.end(c.transportError(err), false)
			}
			return
		}
		switch f.kind {
		case FrameMessage:
			if c.receivesNothing {
				c.abort(codes.WrongDirection, "message %d: %s may not send on %s, which only sends to it", f.seq, c.peerName(), c.man.Name)
				return
			}
			if f.seq != lastSeq+1 {
				c.abort(codes.ProtocolError, "message sequence number %d after %d: a message is missing or repeated", f.seq, lastSeq)
				return
			}
			lastSeq = f.seq
			if !c.onMessage(&f) {
				return
			}
		case FrameCredit:
			if !c.out.grant(int64(min(f.credits, 1<<40)), int64(c.man.Flow.Credits)) {
				c.abort(codes.ProtocolError, "a grant of %d credits would hold more than flow.credits (%d)", f.credits, c.man.Flow.Credits)
				return
			}
			c.peerConsumed.Store(f.seq)
		case FrameError:
			c.onError(&f)
		case FrameEnd:
			c.callsMu.Lock()
			if cl := c.calls[f.corr]; cl != nil {
				cl.finish()
			}
			c.callsMu.Unlock()
		case FrameClose:
			c.end(&codes.CloseError{Code: f.code, Reason: string(f.reason), Remote: true}, false)
			return
		}
	}
}

// isTimeout says whether err is a deadline passing (os.ErrDeadlineExceeded,
// or a stream's own timeout error, as yamux's).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// frameDeadline bounds the wait for the rest of a frame (on) or lifts the
// bound (off), unless the writer has set the final deadline of the end.
func (c *Conn) frameDeadline(on bool) {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.lingering {
		return
	}
	var d time.Time
	if on {
		d = time.Now().Add(c.frameTimeout)
	}
	c.stream.SetReadDeadline(d)
}

// onMessage checks and delivers one MESSAGE frame; false ends the read loop.
func (c *Conn) onMessage(f *frame) bool {
	if !c.in.arrive() {
		c.abort(codes.CreditViolation, "message %d arrived without credit", f.seq)
		return false
	}
	if len(f.body) > c.maxBody {
		c.abort(codes.MessageTooLarge, "message %d is %d bytes; flow.max_message_bytes is %d", f.seq, len(f.body), c.maxBody)
		return false
	}
	t, ok := c.man.TypeByID(c.recvs, f.typeID)
	if !ok {
		if _, other := c.man.TypeByID(c.sends, f.typeID); other {
			c.abort(codes.WrongDirection, "message %d has type id %d, which %s may not send on %s", f.seq, f.typeID, c.peerName(), c.man.Name)
		} else {
			c.abort(codes.UnknownType, "message %d has type id %d; %s has no such %s type", f.seq, f.typeID, c.man.Name, c.recvs)
		}
		return false
	}
	if c.auth == nil && f.flags&FlagAuth != 0 {
		c.abort(codes.ProtocolError, "message %d carries an authentication tag, but %s does not declare message_auth", f.seq, c.man.Name)
		return false
	}
	c.recvMsgs.Add(1)
	c.recvBytes.Add(uint64(len(f.body)))
	if c.auth != nil && !c.auth.verify(f) {
		// Dropped, counted, reported; its credit is returned.
		c.authFailures.Add(1)
		ok := c.refuse(codes.AuthFailed, f.seq, "the message's authentication tag is missing or wrong (message_auth: hmac-sha256); it was dropped")
		c.consumed()
		return ok
	}
	var (
		m    *Message
		data []byte
	)
	if f.ownBody {
		m, data = c.rx.keep(f.body)
	} else {
		m, data = c.rx.alloc(f.body)
	}
	if err := c.check(t, data); err != nil {
		c.refused.Add(1)
		ok := c.refuse(codes.InvalidMessage, f.seq, err.Error())
		c.consumed()
		return ok
	}
	*m = Message{Type: t, Seq: f.seq, Data: data, conn: c, corr: f.corr, reply: f.flags&FlagReply != 0}
	if m.reply {
		c.callsMu.Lock()
		cl := c.calls[m.corr]
		c.callsMu.Unlock()
		if cl != nil && t.Name != cl.reply {
			c.abort(codes.ProtocolError, "reply %d to a %s request is a %s; %s declares %s as its reply", f.seq, cl.request, t.Name, cl.request, cl.reply)
			return false
		}
		if cl == nil || !cl.deliver(m) {
			c.consumed() // a late reply to a call given up on
		}
		return true
	}
	if c.handlers[t.Name] != nil || c.catchAll != nil {
		c.handled <- m // never blocks: the ledger bounds messages held to the channel's capacity
	} else {
		c.inbox <- m
	}
	return true
}

// check validates a received body against its type in the connection's codec.
func (c *Conn) check(t *manifest.MessageType, data []byte) error {
	switch c.codec.Name() {
	case codec.NameProto:
		if err := codec.CheckProto(data, t.Proto); err != nil {
			return fmt.Errorf("proto: type %s: %w", t.Name, err)
		}
		return nil
	case codec.NameJSON:
		var raw []byte
		return c.codec.Unmarshal(data, &t.Type, &raw)
	}
	return nil
}

func (c *Conn) onError(f *frame) {
	c.callsMu.Lock()
	corr, ok := c.seqCalls[f.seq]
	delete(c.seqCalls, f.seq)
	cl := c.calls[corr]
	c.callsMu.Unlock()
	e := &codes.RemoteError{Code: f.code, Reason: string(f.reason), Seq: f.seq}
	switch {
	case ok && cl != nil:
		cl.fail(e)
	case c.onRefused != nil:
		c.onRefused(c, e)
	}
}

func (c *Conn) peerName() string {
	if c.sends == manifest.Send {
		return "the client"
	}
	return "the server"
}

// transportError classifies a read or write failure of the stream.
func (c *Conn) transportError(err error) *codes.CloseError {
	midFrame := errors.Is(err, io.ErrUnexpectedEOF)
	if c.transportErr != nil {
		if terr := c.transportErr(); terr != nil {
			var ce *codes.CloseError
			if errors.As(terr, &ce) {
				return ce
			}
			err = terr
		}
	}
	if midFrame {
		return &codes.CloseError{Code: codes.TransportError, Reason: "the stream ended in the middle of a frame", Cause: err, Remote: true}
	}
	if errors.Is(err, io.EOF) {
		return &codes.CloseError{Code: codes.TransportError, Reason: "the stream ended without a CLOSE frame", Cause: err, Remote: true}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = net.ErrClosed
	}
	return &codes.CloseError{Code: codes.TransportError, Cause: err}
}

func (c *Conn) dispatchLoop() {
	for {
		select {
		case m := <-c.handled:
			c.handle(m)
		case <-c.done:
			// Messages that arrived before the end are still handled, as
			// Recv still returns them; their replies fail with the end.
			for {
				select {
				case m := <-c.handled:
					c.handle(m)
				default:
					return
				}
			}
		}
	}
}

func (c *Conn) handle(m *Message) {
	h := c.handlers[m.Type.Name]
	if h == nil {
		h = c.catchAll
	}
	if err := h(c.ctx, m); err != nil {
		c.refuse(codes.Internal, m.Seq, err.Error())
	}
	c.consumed()
}

// Pause holds (true) or releases (false) this end's sending, and its grants
// of new credit, so that data stops both ways (the control operations pause
// and resume). Credit is enforced while paused: a peer that sends without
// credit is cut off with credit_violation.
func (c *Conn) Pause(p bool) {
	c.paused.Store(p)
	c.out.pause(p)
	if g := c.in.pause(p); g > 0 {
		c.grant(g)
	}
}

// Stats are a connection's counters, as one end sees them.
type Stats struct {
	ConnectionID     uint64
	Interface        string
	SentMessages     uint64
	ReceivedMessages uint64
	SentBytes        uint64 // message bodies only
	ReceivedBytes    uint64
	Refused          uint64 // received messages refused (failed their type's checks)
	Dropped          uint64 // messages dropped by the flow policy before sending
	CreditsHeld      int64  // credit the peer granted and this end has not used
	CreditsGranted   int64  // credit this end granted and the peer has not used
	Queued           uint64 // messages waiting for credit
	Paused           bool
	Uptime           time.Duration
	AuthFailures     uint64 // received messages whose authentication tag was wrong
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	queued, held, dropped := c.out.snapshot()
	granted, _ := c.in.outstanding()
	return Stats{
		ConnectionID:     c.id,
		Interface:        c.man.Name,
		SentMessages:     c.sentMsgs.Load(),
		ReceivedMessages: c.recvMsgs.Load(),
		SentBytes:        c.sentBytes.Load(),
		ReceivedBytes:    c.recvBytes.Load(),
		Refused:          c.refused.Load(),
		Dropped:          dropped,
		CreditsHeld:      held,
		CreditsGranted:   granted,
		Queued:           uint64(queued),
		Paused:           c.paused.Load(),
		Uptime:           time.Since(c.started),
		AuthFailures:     c.authFailures.Load(),
	}
}
