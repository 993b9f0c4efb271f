package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// noCreditBackoff is how long the mock sender waits after a send the flow
// policy refused (error, drop_newest) when no --rate paces it: iface has no
// way to wait for credit under those policies.
const noCreditBackoff = 10 * time.Millisecond

// impl is what serve runs for one interface.
type impl struct {
	life   *lifecycle
	m      *manifest.Manifest
	opts   *Options
	log    *logger
	sends  []*manifest.MessageType // send types --mock sends on its own (not replies)
	values map[string][]any        // mock values by type name
	echoTo map[string]*manifest.MessageType
}

func newImpl(m *manifest.Manifest, opts *Options, log *logger, life *lifecycle) *impl {
	x := &impl{life: life, m: m, opts: opts, log: log, values: map[string][]any{}, echoTo: map[string]*manifest.MessageType{}}
	replies := map[string]bool{}
	for _, t := range m.Recv {
		if t.Reply != nil {
			replies[t.Reply.Type] = true
		}
	}
	if opts.Mock || opts.Echo {
		for _, t := range m.Send {
			vals, why := cmdutil.SampleValues(m, t)
			if why != "" {
				log.printf("%s: --mock cannot make a %s", m.Name, why)
				continue
			}
			x.values[t.Name] = vals
			if !replies[t.Name] {
				x.sends = append(x.sends, t)
			}
		}
	}
	if opts.Echo && m.Direction == manifest.Duplex {
		for _, r := range m.Recv {
			if r.Reply != nil {
				continue
			}
			if s := echoTarget(m, r, replies); s != nil {
				x.echoTo[r.Name] = s
			} else {
				log.printf("%s: --echo: no send type matches %s; %s messages are not echoed", m.Name, r.Name, r.Name)
			}
		}
	}
	return x
}

// lifecycle tracks the connections serve closes itself when it shuts down:
// it stops their mock and echo loops and closes them with serve's reason
// before calling iface's Shutdown, which then waits for the clients' side.
type lifecycle struct {
	stopping context.Context // done when the server starts shutting down
	mu       sync.Mutex
	stopped  bool
	active   sync.WaitGroup // OnConnect calls under way
}

// enter records an OnConnect call; false once the server is stopping.
func (l *lifecycle) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.active.Add(1)
	return true
}

func (l *lifecycle) leave() { l.active.Done() }

// stop refuses new OnConnect calls and returns a channel closed when those
// under way have returned.
func (l *lifecycle) stop() <-chan struct{} {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.active.Wait(); close(done) }()
	return done
}

// echoTarget is the send type a received r is echoed as: the one with the
// same protobuf message, else the only send type that is not a reply.
func echoTarget(m *manifest.Manifest, r *manifest.MessageType, replies map[string]bool) *manifest.MessageType {
	var spontaneous []*manifest.MessageType
	for _, s := range m.Send {
		if r.Proto != nil && s.Proto != nil && r.Proto.FullName() == s.Proto.FullName() {
			return s
		}
		if !replies[s.Name] {
			spontaneous = append(spontaneous, s)
		}
	}
	if len(spontaneous) == 1 {
		return spontaneous[0]
	}
	return nil
}

func (x *impl) iface() iface.Interface {
	i := iface.Interface{Manifest: x.m, OnConnect: x.onConnect}
	if x.m.Direction.Receives() {
		i.CatchAll = x.onMessage
	}
	if x.m.Params != nil {
		// The server has checked the parameters against the manifest's
		// params; serve logs them with the connection they opened.
		i.Spawn = func(_ context.Context, p iface.Params) (*iface.Spawned, error) {
			params := string(p.JSON())
			return &iface.Spawned{CatchAll: i.CatchAll, OnConnect: func(ctx context.Context, c *iface.Conn) {
				x.log.printf("conn %d %s: params %s", c.ID(), x.m.Name, cmdutil.Untrusted(params))
				x.onConnect(ctx, c)
			}}, nil
		}
	}
	if x.m.Offers(manifest.OpReset) {
		i.OnReset = func(_ context.Context, c *iface.Conn, position string) error {
			x.log.printf("conn %d %s: reset to %q", c.ID(), x.m.Name, position)
			return nil
		}
	}
	return i
}

func (x *impl) onConnect(ctx context.Context, c *iface.Conn) {
	x.log.connf("conn %d %s: opened (codec %s)", c.ID(), x.m.Name, c.Codec().Name())
	if !x.life.enter() {
		c.Close("the server is shutting down")
		return
	}
	defer x.life.leave()
	// The mock sender stops when the connection ends or the server shuts
	// down; then the connection is closed normally, after what was credited.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(x.life.stopping, cancel)()
	if x.opts.Mock && len(x.sends) > 0 {
		x.mockSend(ctx, c)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		if x.life.stopping.Err() != nil {
			c.Close("the server is shutting down")
		}
	}
	<-c.Done()
	var ce *iface.CloseError
	if errors.As(c.Err(), &ce) {
		by := "by the server"
		if ce.Remote {
			by = "by the client"
		}
		// The reason is the peer's when it closed (and may quote the
		// peer when the server did), as may the cause.
		reason := ""
		if ce.Reason != "" {
			reason = ": " + cmdutil.Untrusted(ce.Reason)
		}
		if ce.Cause != nil {
			reason += " (" + cmdutil.Untrusted(ce.Cause.Error()) + ")"
		}
		x.log.connf("conn %d %s: closed %s: %s%s", c.ID(), x.m.Name, by, ce.Code, reason)
		return
	}
	x.log.connf("conn %d %s: closed: %s", c.ID(), x.m.Name, cmdutil.ErrorText(c.Err()))
}

// mockSend sends mock values on c at the --rate until the connection ends.
func (x *impl) mockSend(ctx context.Context, c *iface.Conn) {
	var tick <-chan time.Time
	if d := x.opts.Rate.Interval(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for n := 0; ctx.Err() == nil; n++ {
		t := x.sends[n%len(x.sends)]
		vals := x.values[t.Name]
		err := c.Send(ctx, t.Name, vals[(n/len(x.sends))%len(vals)])
		wait := tick
		switch {
		case err == nil:
		case errors.Is(err, iface.ErrNoCredit), errors.Is(err, iface.ErrDropped):
			if wait == nil {
				timer := time.NewTimer(noCreditBackoff)
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
				timer.Stop()
			}
		case ctx.Err() != nil || c.Err() != nil:
			return
		default:
			x.log.printf("conn %d %s: --mock: sending %s: %s", c.ID(), x.m.Name, t.Name, cmdutil.ErrorText(err))
			return
		}
		if wait != nil {
			select {
			case <-ctx.Done():
				return
			case <-wait:
			}
		}
	}
}

// onMessage handles every received message: requests are answered (with
// --mock or --echo), others echoed (with --echo) or taken.
func (x *impl) onMessage(ctx context.Context, msg *iface.Message) error {
	c := msg.Conn()
	if !x.opts.Quiet {
		x.log.printf("conn %d %s: received %s #%d %s", c.ID(), x.m.Name, msg.Type.Name, msg.Seq, cmdutil.Untrusted(preview(msg)))
	}
	if msg.IsRequest() {
		return x.answer(ctx, msg)
	}
	if s := x.echoTo[msg.Type.Name]; s != nil {
		v, err := echoValue(msg)
		if err == nil {
			err = c.Send(ctx, s.Name, v)
		}
		if err != nil && ctx.Err() == nil {
			x.log.printf("conn %d %s: --echo: %s #%d as %s: %s", c.ID(), x.m.Name, msg.Type.Name, msg.Seq, s.Name, cmdutil.ErrorText(err))
		}
	}
	return nil
}

// answer replies to a request: with its own value under --echo when that is
// a valid reply, else with the reply type's mock values.
func (x *impl) answer(ctx context.Context, msg *iface.Message) error {
	r := msg.Type.Reply
	if !x.opts.Mock && !x.opts.Echo {
		return fmt.Errorf("ifctl serve answers requests only with --mock or --echo")
	}
	if x.opts.Echo {
		if v, err := echoValue(msg); err == nil {
			if err := msg.Reply(ctx, v); err == nil {
				if r.Stream {
					return msg.End(ctx)
				}
				return nil
			}
		}
	}
	vals := x.values[r.Type]
	if len(vals) == 0 {
		return fmt.Errorf("ifctl serve --mock has no valid %s to answer with; add an example to the manifest", r.Type)
	}
	if !r.Stream {
		return msg.Reply(ctx, vals[0])
	}
	for _, v := range vals {
		if err := msg.Reply(ctx, v); err != nil {
			return err
		}
	}
	return msg.End(ctx)
}

// echoValue is a received message's value in the form Send takes.
func echoValue(msg *iface.Message) (any, error) {
	if msg.Conn().Codec().Name() == codec.NameRaw {
		return msg.Data, nil
	}
	v, err := msg.JSON()
	return json.RawMessage(v), err
}

// previewBytes bounds a received message as logged.
const previewBytes = 200

// preview is a received message as logged: its JSON, cut short (at the
// start of a character, so the cut does not make it invalid UTF-8).
func preview(msg *iface.Message) string {
	v, err := msg.JSON()
	if err != nil {
		return fmt.Sprintf("(%d bytes)", len(msg.Data))
	}
	if len(v) > previewBytes {
		n := previewBytes
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		return string(v[:n]) + "…"
	}
	return string(v)
}
