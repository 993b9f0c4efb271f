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
// with msg.Reply. Handlers of one connection run one at a time, in order:
// on a goroutine of their own with owned messages, or, with
// Config.InlineHandlers, on the connection's reader with borrowed ones
// (see Message), which costs no copy, no queue and no hand-off.
// An error a handler returns is sent to the peer as an ERROR: with its code
// and reason when it is a *codes.RemoteError (return one to refuse with
// not_found, invalid_message, …), else with code internal and the error's
// text. It fails the peer's Call, or reaches its refusal hook
// (Config.OnRefused).
type Handler func(ctx context.Context, msg *Message) error

// Conn is one connection between a client and a server on one interface:
// its data sub-interface. Both ends use the same type. A Conn is safe for
// concurrent use.
type Conn struct {
	id    uint64
	man   *manifest.Manifest
	codec codec.Codec
	// checks is how received bodies are checked: by codec.CheckProtoType,
	// codec.CheckJSON, or the codec's Unmarshal (looked up once).
	checks  checkKind
	stream  net.Conn
	sends   manifest.Direction // the message list this end sends from
	recvs   manifest.Direction // the message list this end receives from
	maxBody int

	out *outbox
	in  *ledger

	// inbox holds received messages for Recv; made when first needed, so
	// that an idle connection holds no channel.
	inbox     atomic.Pointer[chan *Message]
	auth      *messageAuth  // per-message authentication; nil when the interface has none
	rx        rxSlab        // the read loop's: where received messages are allocated
	handled   chan *Message // for queued handlers; the reader makes it, and starts their goroutine, when first needed
	handlers  map[string]Handler
	catchAll  Handler
	inline    bool // handlers run on the reader (Config.InlineHandlers)
	onRefused func(*Conn, *codes.RemoteError)
	// sink is the running RecvFunc's, if any; lent is the reader's one
	// Message that it lends to inline handlers and RecvFunc functions.
	sink atomic.Pointer[recvSink]
	lent Message
	// run is the reader's account of the messages it delivers and
	// consumes itself (ledger.startRun).
	run readerRun
	// lastSent is the type of the last message sent: a stream of one type
	// looks it up (and checks its direction) once.
	lastSent atomic.Pointer[manifest.MessageType]

	callsMu  sync.Mutex
	calls    map[uint64]*call
	seqCalls map[uint64]uint64 // sequence number of a request in flight → its correlation id
	nextCorr atomic.Uint64

	sentMsgs, recvMsgs, sentBytes, recvBytes, refused, authFailures atomic.Uint64
	peerConsumed                                                    atomic.Uint64
	matched, filteredOut                                            atomic.Uint64 // the filter's counts (filter.go)
	filter                                                          atomic.Pointer[filterBox]
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
	// The deadlines set, the reader's (frame) and the writer's: each is
	// set with a quarter's slack and renewed only when less than its
	// timeout is left, not per frame or per write (yamux allocates for
	// every deadline set). A frame's read deadline is not lifted once the
	// frame is in: a quiet stream that runs into it lifts it and reads on.
	readArmed, writeArmed time.Time
	// frameTimer applies the reader's frame deadline to the stream when it
	// passes, rather than the deadline being set on the stream ahead (yamux
	// makes a timer for every read that waits while a deadline is set:
	// with large frames, more than one allocation per message). Made on
	// first use; deadlineMu guards it.
	frameTimer *time.Timer
	w          writer // the frame writer's state; the outbox's writing token guards it

	// Resumable connections (resume.go): rt retains what was written and
	// not acknowledged (nil: not resumable); the reader counts what it
	// received. resumeMu guards the transport's change: detached, why,
	// stopped (closed once the detached transport's reader and writer have
	// stopped), and stream and transportErr while they change.
	rt        *retention
	rxFrames  atomic.Uint64 // reliable frames received
	rxSeq     uint64        // the reader's: the last MESSAGE's sequence number
	rxControl int           // the reader's: ERROR and END frames received since the last acknowledgement
	resumeMu  sync.Mutex
	detached  bool
	detachErr error
	stopped   chan struct{}
	epoch     sync.WaitGroup // the current transport's reader and writer
	onDetach  func(*Conn, *codes.CloseError)
	resumes   atomic.Uint64
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
	// ManualCredit grants the window at the start, as AutoGrant does, but
	// renews it only when the application calls Request, not as messages
	// are consumed: a receiver whose credit means "stored", which grants
	// once what it took is committed.
	ManualCredit bool
	// ReceivesNothing: the peer may send no MESSAGE at all (a server on a
	// send interface): no credit is granted, and a MESSAGE is wrong_direction.
	ReceivesNothing bool
	// Handlers handle received messages by type name, CatchAll those of any
	// other type; without either, messages wait for Recv (or RecvFunc).
	Handlers map[string]Handler
	CatchAll Handler
	// InlineHandlers runs the handlers on the connection's reader with
	// borrowed messages (see Message): no copy, no queue, no goroutine.
	// While a handler runs no frame is read, so it must not wait for
	// anything the peer sends on this connection; a Reply that would wait
	// for credit fails with ErrNoCredit instead.
	InlineHandlers bool
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
	// Resumable keeps the connection when its transport breaks
	// (spec/PROTOCOL.md §4.10): it retains what it wrote until the peer
	// acknowledges it, and instead of ending with transport_error it
	// detaches: Err says ErrReconnecting, sends queue as the flow policy
	// allows, and OnDetach runs once its reader and writer have stopped.
	// Its owner then calls Resume with a new stream, or ends it.
	Resumable bool
	OnDetach  func(c *Conn, cause *codes.CloseError)
}

// New makes a connection of stream, which the handshake has used through
// br (nil if it did not): bytes br holds are read first. The connection
// does nothing until Start; one that is never started must be abandoned.
func New(stream net.Conn, br *bufio.Reader, cfg Config) *Conn {
	c := &Conn{
		id:           cfg.ID,
		man:          cfg.Manifest,
		codec:        cfg.Codec,
		checks:       checkKindOf(cfg.Codec),
		stream:       stream,
		sends:        manifest.Recv,
		recvs:        manifest.Send,
		maxBody:      cfg.Manifest.Flow.MaxMessageBytes,
		handlers:     cfg.Handlers,
		catchAll:     cfg.CatchAll,
		inline:       cfg.InlineHandlers,
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
	if !(cfg.AutoGrant || cfg.ManualCredit) || cfg.ReceivesNothing {
		initial = 0
	}
	c.receivesNothing = cfg.ReceivesNothing
	c.in = newLedger(window, initial, cfg.AutoGrant && !cfg.ManualCredit)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.br = br
	c.owner = cfg.Owner
	c.closeTimeout = cfg.CloseTimeout
	c.writeTimeout = cfg.WriteTimeout
	c.frameTimeout = cfg.FrameTimeout
	if cfg.MessageKey != nil {
		c.auth = newMessageAuth(cfg.MessageKey, cfg.Server)
	}
	c.out.granted = uint64(initial)
	if cfg.Resumable {
		c.rt = &retention{}
		c.out.acks = &c.rxFrames
		c.onDetach = cfg.OnDetach
	}
	// A start token: the server registers the connection (where Close may
	// wait on c.wg) before Start runs, and a WaitGroup must not go up from
	// zero while someone waits on it. Start or Abandon releases the token.
	c.wg.Add(1)
	return c
}

// Start starts the connection (a server calls it once the handshake's
// answer is written) and returns c. Only its reader starts at once: the
// writer starts when there is first something to write, and the goroutine
// of queued handlers when a message first comes for one, so an idle
// connection costs one goroutine per end.
func (c *Conn) Start() *Conn {
	br := c.br
	c.br = nil // the frame reader lets go of it once it has read its bytes
	c.epoch.Add(1)
	c.goLoop(func() { defer c.epoch.Done(); c.readLoop(br) })
	c.out.startWriter(c.startWriter)
	c.wg.Done() // the start token
	return c
}

// inboxChan returns the inbox, making it on first use.
func (c *Conn) inboxChan() chan *Message {
	if p := c.inbox.Load(); p != nil {
		return *p
	}
	ch := make(chan *Message, c.in.window)
	if c.inbox.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *c.inbox.Load()
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
// why it ended. While a resumable connection's transport is down it returns
// an error that matches ErrReconnecting and says why the transport broke.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	if c.rt == nil {
		return nil
	}
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	return c.detachErr
}

// isDone says whether the connection has ended.
func (c *Conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
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
	return c.send(ctx, typeName, v, 0, 0, false)
}

// send encodes and queues one message; noWait: fail rather than wait for
// credit (a send on the reader).
func (c *Conn) send(ctx context.Context, typeName string, v any, corr uint64, flags uint8, noWait bool) error {
	t, err := c.sendable(typeName)
	if err != nil {
		return err
	}
	if corr == 0 && !c.passes(t, v) {
		return nil // filtered out: never encoded, sent or given credit
	}
	m, err := c.encode(t, v)
	if err != nil {
		return err
	}
	m.corr, m.flags = corr, flags
	if corr != 0 && c.sendDirect(m) {
		return nil
	}
	if err := c.out.enqueue(ctx, m, noWait); err != nil {
		putOutMsg(m)
		return fmt.Errorf("ifkit: send %s: %w", typeName, err)
	}
	return nil
}

// SendBatch sends vs, in order, as messages of the named type, as Send
// sends each (the same checks and flow policy), but with one lock for all
// of them as far as credit allows, so that the writer takes them together
// and writes them in as few writes as they fit in. It returns how many were
// queued; after an error, those from that one on were not sent.
func (c *Conn) SendBatch(ctx context.Context, typeName string, vs []any) (int, error) {
	t, err := c.sendable(typeName)
	if err != nil {
		return 0, err
	}
	if c.filter.Load() != nil {
		return c.sendEach(ctx, typeName, vs) // filter.go
	}
	var chunk [64]*outMsg
	sent := 0
	for sent < len(vs) {
		n := min(len(vs)-sent, len(chunk))
		for i := range n {
			m, err := c.encode(t, vs[sent+i])
			if err != nil {
				// Those before it are sent; it and those after are not.
				k, qerr := c.out.putBatch(ctx, chunk[:i])
				for _, m := range chunk[k:i] {
					putOutMsg(m)
				}
				if qerr != nil {
					return sent + k, fmt.Errorf("ifkit: send %s: %w", typeName, qerr)
				}
				return sent + k, err
			}
			chunk[i] = m
		}
		k, err := c.out.putBatch(ctx, chunk[:n])
		for _, m := range chunk[k:n] {
			putOutMsg(m)
		}
		clear(chunk[:n])
		sent += k
		if err != nil {
			return sent, fmt.Errorf("ifkit: send %s: %w", typeName, err)
		}
	}
	return sent, nil
}

// encode encodes v as a message of type t into a pooled outgoing message.
func (c *Conn) encode(t *manifest.MessageType, v any) (*outMsg, error) {
	typeName := t.Name
	if raw, ok := jsonText(v); ok && c.codec.Name() == codec.NameProto && t.Proto != nil {
		msg := t.New()
		if err := protojson.Unmarshal(raw, msg); err != nil {
			return nil, fmt.Errorf("ifkit: send %s: the JSON is not a valid %s: %w", typeName, t.Proto.FullName(), err)
		}
		v = msg
	}
	m := c.out.newMsg()
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
		return nil, fmt.Errorf("ifkit: send %s: %w", typeName, err)
	}
	m.buf = full
	body := full[room:]
	if len(body) > c.maxBody {
		putOutMsg(m)
		return nil, fmt.Errorf("ifkit: send %s: the message is %d bytes; the manifest allows at most %d (flow.max_message_bytes)", typeName, len(body), c.maxBody)
	}
	m.typeID, m.body = t.ID, body
	return m, nil
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
	if t := c.lastSent.Load(); t != nil && t.Name == typeName {
		return t, nil // checked when it was first sent
	}
	t, err := c.sendableType(typeName)
	if err == nil {
		c.lastSent.Store(t)
	}
	return t, err
}

func (c *Conn) sendableType(typeName string) (*manifest.MessageType, error) {
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
// the connection's *codes.CloseError). The message is owned: the reader
// copied it and queued it for Recv. RecvFunc is the faster way.
func (c *Conn) Recv(ctx context.Context) (*Message, error) {
	inbox := c.inboxChan()
	select {
	case m := <-inbox:
		c.consumed()
		return m, nil
	default:
	}
	select {
	case m := <-inbox:
		c.consumed()
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		// Messages that arrived before the end are still delivered.
		select {
		case m := <-inbox:
			return m, nil
		default:
			return nil, c.err
		}
	}
}

// RecvFunc calls fn for each received message that no handler takes, in
// order, until fn returns an error (RecvFunc returns that error, as it is),
// ctx is done, or the connection ends (then it returns the connection's
// *codes.CloseError, after fn has had the messages that arrived before the
// end). Messages that wait for Recv when it starts go to fn first.
//
// fn runs on the connection's reader, with the message borrowed (see
// Message): no copy, no queue, no hand-off between goroutines and no
// allocation. The message and its Data are valid until fn returns; Decode
// it there, or Clone it to keep it. Its credit goes back to the peer when
// fn returns. While fn runs no frame is read, so fn must not wait for
// anything the peer sends on this connection (a Reply that would wait for
// credit fails with ErrNoCredit instead). Calls to fn never overlap, and
// none is made after RecvFunc returns. One RecvFunc runs at a time per
// connection; messages that arrive while none runs wait for Recv or the
// next RecvFunc.
func (c *Conn) RecvFunc(ctx context.Context, fn func(*Message) error) error {
	s := &recvSink{fn: fn, result: make(chan error, 1)}
	if !c.sink.CompareAndSwap(nil, s) {
		return ErrRecvFuncBusy
	}
	s.mu.Lock()
	s.drainLocked(c, true) // what waited for Recv goes first
	s.mu.Unlock()
	select {
	case err := <-s.result:
		return err
	case <-ctx.Done():
		if err := s.stop(c); err != nil {
			return err
		}
		return ctx.Err()
	case <-c.done:
		if err := s.stop(c); err != nil {
			return err
		}
		// Messages that arrived before the end are still delivered.
		s.mu.Lock()
		s.stopped = false
		ok := s.drainLocked(c, false)
		s.stopped = true
		s.mu.Unlock()
		if !ok {
			return <-s.result
		}
		return c.err
	}
}

// recvSink is a running RecvFunc's: the reader hands it messages.
type recvSink struct {
	mu      sync.Mutex // held while fn runs
	fn      func(*Message) error
	stopped bool       // no more calls of fn
	result  chan error // fn's error: sent once, by whoever stops the sink because of it
}

// deliver lends the reader's message to fn; false if the sink has stopped
// (then the message is queued instead).
// The reader keeps the sink locked for the rest of its run (readerRun).
func (s *recvSink) deliver(c *Conn, t *manifest.MessageType, f *frame) bool {
	if c.run.sink != s {
		if old := c.run.sink; old != nil {
			c.run.sink = nil
			old.mu.Unlock()
		}
		s.mu.Lock()
		if s.stopped || !s.drainLocked(c, true) {
			s.mu.Unlock()
			return false
		}
		c.run.sink = s
	}
	err := s.fn(c.lend(t, f))
	c.rxConsumed()
	if err != nil {
		// Settled first: once RecvFunc returns, what fn consumed counts.
		c.settleCredit()
		s.failLocked(c, err)
	}
	if !c.run.on || err != nil {
		c.settle() // no run (pull mode, paused) holds the lock
	}
	return true
}

// drainLocked gives fn the messages waiting in the inbox, which arrived
// before the ones the reader lends; false if fn failed. consume: their
// credit goes back (not once the connection has ended, as with Recv).
func (s *recvSink) drainLocked(c *Conn, consume bool) bool {
	p := c.inbox.Load()
	if p == nil {
		return !s.stopped
	}
	for !s.stopped {
		select {
		case m := <-*p:
			err := s.fn(m)
			if consume {
				c.consumed()
			}
			if err != nil {
				s.failLocked(c, err)
				return false
			}
		default:
			return true
		}
	}
	return false
}

// failLocked stops the sink because fn returned err, which RecvFunc returns.
func (s *recvSink) failLocked(c *Conn, err error) {
	s.stopped = true
	c.sink.CompareAndSwap(s, nil)
	s.result <- err
}

// stop stops the sink, after the call of fn in progress if any; it returns
// fn's error if fn failed meanwhile.
func (s *recvSink) stop(c *Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return <-s.result
	}
	s.stopped = true
	c.sink.CompareAndSwap(s, nil)
	return nil
}

// Request grants the peer n more credits (pull mode, WithPullMode; a
// server's Config.ManualCredit), as far as the window allows, and returns
// how many were granted.
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
func (c *Conn) recvSeqConsumed() uint64 { return c.in.consumedCount() }

// readerRun is the reader's account of a run (ledger.startRun): messages
// that arrive and are consumed on the reader, one after another, settled
// with the ledger together. The reader settles before it reads from the
// stream (so before it can wait for the peer), when the run's credit is
// used up, when an automatic grant is due, before a message is queued
// rather than consumed, when a RecvFunc's function fails, and when it
// stops. While a RecvFunc runs, the reader also holds its sink's lock from
// its first message in a run until the run settles (one lock for the run,
// not one per message); stopping a RecvFunc waits for that.
type readerRun struct {
	on                bool
	budget, grantAt   int64
	arrived, consumed int64
	sink              *recvSink // locked by the reader, or nil
}

// rxArrive accounts for an arriving message; false: it came without credit.
func (c *Conn) rxArrive() bool {
	r := &c.run
	if r.on && r.arrived == r.budget {
		c.settleCredit() // used up: see whether more came meanwhile
	}
	if !r.on {
		budget, grantAt, ok := c.in.startRun()
		if !ok {
			return c.in.arrive() // pull mode, or paused: one at a time
		}
		if budget == 0 {
			return false
		}
		r.on, r.budget, r.grantAt = true, budget, grantAt
	}
	r.arrived++
	return true
}

// rxConsumed records that the message that just arrived was consumed on
// the reader (lent, or refused).
func (c *Conn) rxConsumed() {
	r := &c.run
	if !r.on {
		c.consumed()
		return
	}
	if r.consumed++; r.consumed >= r.grantAt {
		c.settleCredit()
	}
}

// rxHeld records that the message that just arrived is kept (queued for
// Recv, a handler or a call), to be consumed later with consumed.
func (c *Conn) rxHeld() {
	c.settle()
}

// settle settles the run, if any, and lets go of the sink.
func (c *Conn) settle() {
	c.settleCredit()
	if s := c.run.sink; s != nil {
		c.run.sink = nil
		s.mu.Unlock()
	}
}

// settleCredit settles the run's credit with the ledger, granting what is
// due.
func (c *Conn) settleCredit() {
	r := &c.run
	if !r.on {
		return
	}
	g := c.in.settleRun(r.arrived, r.consumed)
	r.on, r.arrived, r.consumed = false, 0, 0
	if g > 0 {
		c.grant(g)
	}
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
		if tell && e.Code == codes.NormalClose && c.recvMsgs.Load() > 0 {
			// What was consumed since the last grant, which would otherwise
			// not be known: a sender that acknowledges upstream what its
			// peer consumed (a queue adapter) need not deliver it again.
			final = appendFrame(nil, &frame{kind: FrameCredit, seq: c.recvSeqConsumed()})
		}
		if tell {
			final = appendFrame(final, &frame{kind: FrameClose, code: e.Code, reason: []byte(e.Reason)})
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

// writer is the state of whoever writes the connection's frames: the
// writer goroutine, or a sender that writes its request or reply itself
// while the writer is idle (sendDirect). The outbox's writing token says
// who; only its holder touches a writer.
type writer struct {
	buf       []byte
	seq       uint64
	head      [msgHeadroom]byte
	sentClose bool
	replay    [][]byte // frames to write again first, after a resume
	// The messages and body bytes framed since the last write: counted in
	// the connection's stats once per write (an atomic add each, not two
	// per message), before the write, so a peer that has a message sees
	// it counted.
	msgs, bytes uint64
}

func (c *Conn) writeLoop() {
	w := &c.w
	defer func() {
		if c.detaching() {
			return // the transport is gone: nothing to close or linger on
		}
		c.stream.Close() // half-close: the peer reads to our CLOSE, then EOF
		// After a CLOSE the reader waits (bounded) for the peer to close its
		// side: then the peer has read everything we sent. Otherwise it is
		// woken at once.
		linger := time.Duration(0)
		if w.sentClose {
			linger = c.closeTimeout
		}
		c.deadlineMu.Lock()
		c.lingering = true
		c.stream.SetReadDeadline(time.Now().Add(linger))
		c.deadlineMu.Unlock()
	}()
	var batch []*outMsg // what the writer wrote last: take recycles it
	for {
		items, urgent, final, err := c.out.take(c.ctx, batch, 256)
		if err == errDetached {
			return // without the right to write: the transport is gone
		}
		ok := c.writeFrames(items, urgent, final)
		batch = items
		if !ok || err != nil {
			c.out.recycle(batch...)
			return
		}
	}
}

// sendDirect writes m (a request or a reply) on the caller's goroutine,
// with whatever else is ready, when the writer is idle: a round trip then
// costs no hand-off to the writer. false: the writer is busy, or m must
// wait (for credit, or a pause); the caller queues it as usual.
func (c *Conn) sendDirect(m *outMsg) bool {
	var arr [8]*outMsg
	items, urgent, ok := c.out.putDirect(m, arr[:0])
	if !ok {
		return false
	}
	c.writeFrames(items, urgent, nil)
	c.out.doneDirect(items)
	return true
}

// writeFrames writes urgent frames, then items, then final; false if the stream failed (the connection has
// ended, or detached). The caller holds the outbox's writing token. On a
// resumable connection every reliable frame is retained as it is numbered
// (resume.go), and frames the peer did not receive before a break are
// written first; once a write has failed, the items left are still
// numbered and retained, unwritten, to be written after the resume.
func (c *Conn) writeFrames(items []*outMsg, urgent [][]byte, final []byte) bool {
	w := &c.w
	ok := true
	for _, f := range w.replay {
		w.buf = append(w.buf, f...)
		if len(w.buf) >= writeChunk && ok {
			ok = c.flush(nil)
		}
	}
	w.replay = nil
	for _, f := range urgent {
		w.buf = append(w.buf, f...)
		if c.rt != nil && f[0] == FrameError && !c.retain(false, f, true) {
			return false
		}
	}
	for _, m := range items {
		if !ok && c.rt == nil {
			break
		}
		if m.end {
			start := len(w.buf)
			w.buf = appendFrame(w.buf, &frame{kind: FrameEnd, corr: m.corr})
			if c.rt != nil && !c.retain(false, w.buf[start:], false) {
				ok = false
				break
			}
			continue
		}
		w.seq++
		if m.corr != 0 && m.flags&FlagReply == 0 {
			c.callsMu.Lock()
			c.seqCalls[w.seq] = m.corr
			c.callsMu.Unlock()
		}
		f := frame{kind: FrameMessage, flags: m.flags, seq: w.seq, typeID: m.typeID, corr: m.corr, body: m.body}
		if c.auth != nil {
			f.flags |= FlagAuth
			f.tag = c.auth.sign(&f)
		}
		w.msgs++
		w.bytes += uint64(len(m.body))
		if len(m.body) >= writeAlone {
			// A large body is written as it is, its head put in the
			// room before it (or written before it, when it has none).
			var p []byte
			if len(m.buf) == msgHeadroom+len(m.body) && cap(m.buf) >= writeAlone {
				h := appendMessageHead(w.head[:0], &f)
				start := msgHeadroom - len(h)
				copy(m.buf[start:], h)
				p = m.buf[start:]
			} else {
				w.buf = appendMessageHead(w.buf, &f)
				p = m.body
			}
			if c.rt != nil {
				c.retain(true, appendFrame(nil, &f), true)
			}
			if ok {
				ok = c.flush(p)
			} else {
				w.buf = w.buf[:0]
			}
			continue
		}
		// Frames are coalesced into writes of up to writeChunk bytes: one
		// write per batch when messages are small, and a buffer that
		// stays small when they are large.
		start := len(w.buf)
		w.buf = appendFrame(w.buf, &f)
		if c.rt != nil {
			c.retain(true, w.buf[start:], false)
		}
		if len(w.buf) >= writeChunk {
			if ok {
				ok = c.flush(nil)
			} else {
				w.buf = w.buf[:0]
			}
		}
	}
	if ok {
		w.buf = append(w.buf, final...)
		w.sentClose = w.sentClose || len(final) > 0
		ok = c.flush(nil)
	}
	w.buf = w.buf[:0]
	return ok // the caller recycles the items
}

// retain keeps a reliable frame for a resume; false if the peer leaves too
// many ERROR and END frames unacknowledged, which ends the connection.
func (c *Conn) retain(msg bool, b []byte, owned bool) bool {
	if c.rt.add(msg, b, owned) {
		return true
	}
	c.abort(codes.LimitExceeded, "the peer has acknowledged none of the last %d ERROR and END frames it was sent (a resumable connection acknowledges them, spec/PROTOCOL.md §4.10)", maxRetainedControl)
	return false
}

// flush writes what the writer's buffer holds, then p, uncopied; false if
// the stream failed, which ends the connection.
func (c *Conn) flush(p []byte) bool {
	w := &c.w
	if w.msgs > 0 {
		c.sentMsgs.Add(w.msgs)
		c.sentBytes.Add(w.bytes)
		w.msgs, w.bytes = 0, 0
	}
	for _, p := range [][]byte{w.buf, p} {
		if len(p) == 0 {
			continue
		}
		if c.writeTimeout > 0 {
			// Every write has between writeTimeout and 5/4 of it.
			if now := time.Now(); c.writeArmed.Sub(now) < c.writeTimeout {
				c.writeArmed = now.Add(c.writeTimeout + c.writeTimeout/4)
				c.stream.SetWriteDeadline(c.writeArmed)
			}
		}
		if _, werr := c.stream.Write(p); werr != nil {
			w.buf = w.buf[:0]
			if isTimeout(werr) && !c.detaching() {
				c.lost(&codes.CloseError{Code: codes.TransportError, Reason: fmt.Sprintf("a write did not finish within %v: the peer does not read its stream", c.writeTimeout), Cause: werr})
				return false
			}
			c.lost(c.transportError(werr))
			return false
		}
	}
	w.buf = w.buf[:0]
	return true
}

func (c *Conn) readLoop(br *bufio.Reader) {
	fr := newFrameReader(br, c.maxBody+frameOverhead)
	fr.readFrom(c.stream)
	if c.frameTimeout > 0 {
		fr.onMidFrame = c.frameDeadline
	}
	fr.beforeRead = c.settle
	fr.shrink()        // the handshake's receive buffer
	defer fr.release() // nothing read is used after the loop
	defer c.settle()
	defer c.stopFrameTimer()
	var f frame
	for {
		// A frame too large for the read buffer is read into a reused
		// buffer when its message will be lent (not kept), into memory of
		// its own otherwise.
		fr.lend = c.inline || c.sink.Load() != nil
		if err := fr.read(&f); err != nil {
			if c.rt != nil && c.detaching() {
				return // the transport was let go of
			}
			if isTimeout(err) && !fr.waiting && c.quietPastDeadline() {
				continue // between frames, past a frame's deadline: not timed
			}
			switch {
			case errors.Is(err, ErrFrameTooLarge):
				c.abort(codes.MessageTooLarge, "%v (flow.max_message_bytes is %d)", err, c.maxBody)
			case errors.Is(err, ErrMalformed):
				c.abort(codes.ProtocolError, "%v", err)
			case isTimeout(err) && fr.waiting:
				c.end(&codes.CloseError{Code: codes.TransportError, Reason: fmt.Sprintf("the peer sent part of a frame and not the rest within %v", c.frameTimeout), Cause: err}, true)
			default:
				c.lost(c.transportError(err))
			}
			return
		}
		if c.rt != nil && f.kind != FrameCredit && f.kind != FrameClose {
			c.rxFrames.Add(1)
			if f.kind != FrameMessage {
				if c.rxControl++; c.rxControl >= ackEvery {
					c.rxControl = 0
					c.out.putAck()
				}
			}
		}
		switch f.kind {
		case FrameMessage:
			if c.receivesNothing {
				c.abort(codes.WrongDirection, "message %d: %s may not send on %s, which only sends to it", f.seq, c.peerName(), c.man.Name)
				return
			}
			if f.seq != c.rxSeq+1 {
				c.abort(codes.ProtocolError, "message sequence number %d after %d: a message is missing or repeated", f.seq, c.rxSeq)
				return
			}
			c.rxSeq = f.seq
			if !c.onMessage(&f) {
				return
			}
		case FrameCredit:
			// The count first: the grant wakes WaitPeerConsumed.
			c.peerConsumed.Store(f.seq)
			if c.rt != nil && f.hasReceived {
				if err := c.rt.ack(f.received); err != nil {
					c.abort(codes.ProtocolError, "%v", err)
					return
				}
			}
			if !c.out.grant(int64(min(f.credits, 1<<40)), int64(c.man.Flow.Credits)) {
				c.abort(codes.ProtocolError, "a grant of %d credits would hold more than flow.credits (%d)", f.credits, c.man.Flow.Credits)
				return
			}
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

// frameDeadline bounds the wait for the rest of a frame (on), unless the
// writer has set the final deadline of the end. The bound is between
// frameTimeout and 5/4 of it: a deadline already set with at least
// frameTimeout left is kept. It is not lifted when the frame is in (off):
// quietPastDeadline lifts it if the stream goes quiet that long. The
// deadline is kept in readArmed and put on the stream by frameTimer when
// it passes (frameDeadlinePassed): the same bound, with no deadline on the
// stream while frames come in time.
func (c *Conn) frameDeadline(on bool) {
	if !on {
		return
	}
	now := time.Now()
	if c.readArmed.Sub(now) >= c.frameTimeout {
		return
	}
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.lingering {
		return
	}
	d := c.frameTimeout + c.frameTimeout/4
	c.readArmed = now.Add(d)
	if c.frameTimer == nil {
		c.frameTimer = time.AfterFunc(d, c.frameDeadlinePassed)
	} else {
		c.frameTimer.Reset(d)
	}
}

// frameDeadlinePassed puts the frame deadline on the stream once it has
// passed: a read waiting then returns a timeout, which the reader treats
// as the deadline's (mid-frame: the end; between frames: quietPastDeadline
// lifts it).
func (c *Conn) frameDeadlinePassed() {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.lingering || c.readArmed.IsZero() {
		return // lifted, or the end's deadline is set
	}
	if wait := time.Until(c.readArmed); wait > 0 {
		c.frameTimer.Reset(wait) // renewed as this timer fired
		return
	}
	c.stream.SetReadDeadline(c.readArmed)
}

// stopFrameTimer stops the frame deadline's timer when the reader stops
// (so that it does not keep the connection until it fires).
func (c *Conn) stopFrameTimer() {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.frameTimer != nil {
		c.frameTimer.Stop()
	}
}

// quietPastDeadline says whether a read that timed out between frames ran
// into a frame's deadline, not the end's; then it lifts the deadline, and
// the reader reads on (a quiet stream between frames is not timed).
func (c *Conn) quietPastDeadline() bool {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.lingering || c.readArmed.IsZero() {
		return false
	}
	c.readArmed = time.Time{}
	c.stream.SetReadDeadline(time.Time{})
	return true
}

// onMessage checks and delivers one MESSAGE frame; false ends the read loop.
func (c *Conn) onMessage(f *frame) bool {
	if !c.rxArrive() {
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
		c.rxConsumed()
		return ok
	}
	if err := c.check(t, f.body); err != nil {
		c.refused.Add(1)
		ok := c.refuse(codes.InvalidMessage, f.seq, err.Error())
		c.rxConsumed()
		return ok
	}
	if f.flags&FlagReply != 0 {
		c.rxHeld()
		m := c.owned(t, f)
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
	if h := c.handler(t); h != nil {
		if c.inline {
			ok := true
			if err := h(c.ctx, c.lend(t, f)); err != nil {
				ok = c.refuseHandled(f.seq, err)
			}
			c.rxConsumed()
			return ok
		}
		c.rxHeld()
		if c.handled == nil {
			c.handled = make(chan *Message, c.in.window)
			c.goLoop(c.dispatchLoop)
		}
		c.handled <- c.owned(t, f) // never blocks: the ledger bounds messages held to the channel's capacity
		return true
	}
	if s := c.sink.Load(); s != nil && s.deliver(c, t, f) {
		return true
	}
	c.rxHeld()
	c.inboxChan() <- c.owned(t, f) // never blocks, as above
	if s := c.sink.Load(); s != nil {
		// A RecvFunc began while the message was being queued.
		s.mu.Lock()
		s.drainLocked(c, true)
		s.mu.Unlock()
	}
	return true
}

// handler returns the handler for messages of type t, nil if none.
func (c *Conn) handler(t *manifest.MessageType) Handler {
	if h := c.handlers[t.Name]; h != nil {
		return h
	}
	return c.catchAll
}

// lend returns the reader's Message for f, borrowed: valid until the next
// frame is read.
func (c *Conn) lend(t *manifest.MessageType, f *frame) *Message {
	m := &c.lent
	*m = Message{Type: t, Seq: f.seq, Data: f.body[:len(f.body):len(f.body)], conn: c, corr: f.corr, reply: f.flags&FlagReply != 0, borrowed: true}
	return m
}

// owned returns a Message for f that owns its Data.
func (c *Conn) owned(t *manifest.MessageType, f *frame) *Message {
	var (
		m    *Message
		data []byte
	)
	if f.ownBody {
		m, data = c.rx.keep(f.body)
	} else {
		m, data = c.rx.alloc(f.body)
	}
	*m = Message{Type: t, Seq: f.seq, Data: data, conn: c, corr: f.corr, reply: f.flags&FlagReply != 0}
	return m
}

type checkKind uint8

const (
	checkNone      checkKind = iota // raw: nothing to check
	checkProto                      // codec.CheckProto
	checkJSON                       // codec.CheckJSON: the standard json codec's Unmarshal check without its copy
	checkUnmarshal                  // another json codec: its Unmarshal into raw bytes
)

func checkKindOf(c codec.Codec) checkKind {
	switch {
	case c == nil:
		return checkNone
	case c.Name() == codec.NameProto:
		return checkProto
	case c.Name() == codec.NameJSON && c == codec.JSON():
		return checkJSON
	case c.Name() == codec.NameJSON:
		return checkUnmarshal
	}
	return checkNone
}

// check validates a received body against its type in the connection's codec.
func (c *Conn) check(t *manifest.MessageType, data []byte) error {
	switch c.checks {
	case checkProto:
		if err := codec.CheckProtoType(data, &t.Type); err != nil {
			return fmt.Errorf("proto: type %s: %w", t.Name, err)
		}
	case checkJSON:
		return codec.CheckJSON(data, &t.Type)
	case checkUnmarshal:
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
	h := c.handler(m.Type)
	if err := h(c.ctx, m); err != nil {
		c.refuseHandled(m.Seq, err)
	}
	c.consumed()
}

// Refuse tells the peer that m, a message taken with Recv or RecvFunc, was
// refused, as a handler's error does: with err's code and reason when it is
// a *codes.RemoteError, else internal with err's text. It is for an
// application that processes what it took later (a sink whose batch's
// transaction failed refuses every message of the batch).
func (c *Conn) Refuse(m *Message, err error) {
	c.refuseHandled(m.Seq, err)
}

// refuseHandled refuses message seq because its handler failed with err:
// with err's own code and reason when it is a *codes.RemoteError (a handler
// that refuses on purpose: not_found, invalid_message, …), else internal
// with err's text.
func (c *Conn) refuseHandled(seq uint64, err error) bool {
	var re *codes.RemoteError
	if errors.As(err, &re) && re.Code != codes.OK {
		return c.refuse(re.Code, seq, re.Reason)
	}
	return c.refuse(codes.Internal, seq, err.Error())
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
	Matched          uint64 // messages the filter selected and sent (Filter)
	FilteredOut      uint64 // messages the filter did not select, never sent
	CreditStalls     uint64 // sends that found no credit: they waited, failed or were dropped by the flow policy
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	queued, held, dropped, stalls := c.out.snapshot()
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
		Matched:          c.matched.Load(),
		FilteredOut:      c.filteredOut.Load(),
		CreditStalls:     stalls,
	}
}
