package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// Timeouts of the adapter's MQTT exchanges.
const (
	// DefaultConnectTimeout bounds a dial and CONNECT to the broker.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultPublishTimeout bounds one publish's wait for its PUBACK.
	DefaultPublishTimeout = 10 * time.Second
	// keepAlive is the MQTT keep-alive the adapter asks for, in seconds.
	keepAlive = 30
)

// Option configures New.
type Option interface{ apply(*Adapter) }

type optionFunc func(*Adapter)

func (f optionFunc) apply(a *Adapter) { f(a) }

// WithLogger logs what the adapter does on its own: sessions the broker
// ends, messages that fail their type and are dropped.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(a *Adapter) {
		if l != nil {
			a.log = l
		}
	})
}

// Adapter serves an MQTT broker's topics as ifkit interfaces.
type Adapter struct {
	broker string // host:port
	cfg    *Config
	log    *slog.Logger
	subs   []*subIface
	pubs   []*pubIface
	ctx    context.Context
	cancel context.CancelFunc
	ids    atomic.Uint64

	mu     sync.Mutex
	pub    *paho.Client // the publishing session, made on first use and again once it ends
	closed bool

	delivered, acked, dropped, published, refused atomic.Uint64
	subscribed                                    atomic.Int64
}

// Stats are the adapter's counters since New.
type Stats struct {
	Delivered uint64 // sent to subscribing connections
	Acked     uint64 // acknowledged to the broker once their client consumed them
	Dropped   uint64 // received messages that failed their type: acknowledged, never sent
	Published uint64 // taken by the broker (PUBACK)
	Refused   uint64 // published messages the broker refused, or that did not reach it
	// Subscribed counts the connections whose subscription the broker has
	// granted, now.
	Subscribed int
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{a.delivered.Load(), a.acked.Load(), a.dropped.Load(), a.published.Load(), a.refused.Load(), int(a.subscribed.Load())}
}

// New checks cfg's interfaces and the broker at addr (host:port, MQTT 5
// over TCP), and returns the adapter.
func New(ctx context.Context, addr string, cfg *Config, opts ...Option) (*Adapter, error) {
	a := &Adapter{broker: addr, cfg: cfg, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o.apply(a)
	}
	for _, e := range cfg.Subscribe {
		m, err := cfg.subscribeManifest(e)
		if err != nil {
			return nil, err
		}
		a.subs = append(a.subs, &subIface{a: a, e: e, m: m})
	}
	for _, e := range cfg.Publish {
		m, err := cfg.publishManifest(e)
		if err != nil {
			return nil, err
		}
		a.pubs = append(a.pubs, &pubIface{a: a, e: e, m: m})
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if _, err := a.publisher(ctx); err != nil {
		a.cancel()
		return nil, err
	}
	return a, nil
}

// Manifests returns the manifests of the adapter's interfaces.
func (a *Adapter) Manifests() []*manifest.Manifest {
	var out []*manifest.Manifest
	for _, s := range a.subs {
		out = append(out, s.m)
	}
	for _, p := range a.pubs {
		out = append(out, p.m)
	}
	return out
}

// Register registers the adapter's interfaces on s.
func (a *Adapter) Register(s *iface.Server) error {
	for _, si := range a.subs {
		if err := s.Register(iface.Interface{Manifest: si.m, OnConnect: si.serve}); err != nil {
			return err
		}
	}
	for _, p := range a.pubs {
		if err := s.Register(iface.Interface{Manifest: p.m, CatchAll: p.publish}); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the publishing session. Close the server first.
func (a *Adapter) Close() error {
	a.mu.Lock()
	pub := a.pub
	a.pub, a.closed = nil, true
	a.mu.Unlock()
	a.cancel()
	if pub != nil {
		hangUp(pub)
	}
	return nil
}

// hangUp disconnects c and waits for its goroutines.
func hangUp(c *paho.Client) {
	c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	<-c.Done()
}

// dial opens an MQTT 5 session with a clean start.
func (a *Adapter) dial(ctx context.Context, receiveMax int, manualAcks bool, onPublish func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", a.broker)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the MQTT broker at %s: %w", a.broker, err)
	}
	id := fmt.Sprintf("ifkit-%d-%d", time.Now().UnixNano()%1e9, a.ids.Add(1))
	cc := paho.ClientConfig{ClientID: id, Conn: conn, EnableManualAcknowledgment: manualAcks, OnClientError: func(error) {}}
	if onPublish != nil {
		cc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onPublish}
	}
	c := paho.NewClient(cc)
	rm := uint16(receiveMax)
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive, Properties: &paho.ConnectProperties{ReceiveMaximum: &rm}})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("MQTT broker at %s: %w", a.broker, err)
	}
	if ack.ReasonCode >= 0x80 {
		hangUp(c)
		return nil, fmt.Errorf("MQTT broker at %s refused the session: reason code 0x%02x", a.broker, ack.ReasonCode)
	}
	return c, nil
}

// publisher returns the publishing session, dialling it if there is none
// or it has ended.
func (a *Adapter) publisher(ctx context.Context) (*paho.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errors.New("the adapter is closed")
	}
	if a.pub != nil {
		select {
		case <-a.pub.Done():
			a.pub = nil
		default:
			return a.pub, nil
		}
	}
	c, err := a.dial(ctx, MaxCredits, false, nil)
	if err != nil {
		return nil, err
	}
	a.pub = c
	return c, nil
}

// pubIface is one publish entry.
type pubIface struct {
	a *Adapter
	e Publish
	m *manifest.Manifest
}

// reasonCodes maps the broker's refusals of a PUBLISH (MQTT 5 §3.4.2.1)
// to ifkit codes; those it does not list are internal.
var reasonCodes = map[byte]codes.Code{
	0x87: codes.AuthFailed,      // not authorized
	0x90: codes.InvalidMessage,  // topic name invalid
	0x95: codes.MessageTooLarge, // packet too large
	0x96: codes.LimitExceeded,   // message rate too high
	0x97: codes.LimitExceeded,   // quota exceeded
}

// publish publishes one checked message with QoS 1 and returns once the
// broker has acknowledged it; the handler returning is what gives the
// client its credit back.
func (p *pubIface) publish(_ context.Context, m *iface.Message) error {
	ctx, cancel := context.WithTimeout(p.a.ctx, DefaultPublishTimeout)
	defer cancel()
	c, err := p.a.publisher(ctx)
	if err != nil {
		p.a.refused.Add(1)
		return &codes.RemoteError{Code: codes.TransportError, Reason: err.Error()}
	}
	res, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: p.e.Topic, Retain: p.e.Retain, Payload: m.Data})
	if err != nil {
		p.a.refused.Add(1)
		return &codes.RemoteError{Code: codes.TransportError, Reason: fmt.Sprintf("the MQTT broker did not acknowledge the message on %s: %v", p.e.Topic, err)}
	}
	if res.ReasonCode >= 0x80 {
		p.a.refused.Add(1)
		code, ok := reasonCodes[res.ReasonCode]
		if !ok {
			code = codes.Internal
		}
		reason := fmt.Sprintf("the MQTT broker refused the message on %s: reason code 0x%02x", p.e.Topic, res.ReasonCode)
		if res.Properties != nil && res.Properties.ReasonString != "" {
			reason += " (" + res.Properties.ReasonString + ")"
		}
		return &codes.RemoteError{Code: code, Reason: reason}
	}
	p.a.published.Add(1)
	return nil
}

// subIface is one subscribe entry.
type subIface struct {
	a *Adapter
	e Subscribe
	m *manifest.Manifest
}

type pending struct {
	seq uint64
	p   *paho.Publish
}

// serve runs one connection with an MQTT session of its own.
func (si *subIface) serve(ctx context.Context, c *iface.Conn) {
	var (
		mu   sync.Mutex
		held []pending
		sent uint64
		cli  *paho.Client
	)
	ready := make(chan struct{}) // cli is set
	onPublish := func(pr paho.PublishReceived) (bool, error) {
		<-ready
		p := pr.Packet
		var err error
		if !json.Valid(p.Payload) {
			err = errors.New("the payload is not JSON")
		}
		var v []byte
		if err == nil {
			v, err = json.Marshal(Delivery{Topic: p.Topic, Retained: p.Retain, Data: p.Payload})
		}
		if err == nil {
			mu.Lock()
			seq := sent + 1
			held = append(held, pending{seq, p})
			mu.Unlock()
			err = c.Send(ctx, si.e.Type, json.RawMessage(v))
			mu.Lock()
			if err == nil {
				sent = seq
			} else {
				held = held[:len(held)-1]
			}
			mu.Unlock()
			if err == nil {
				si.a.delivered.Add(1)
				return true, nil
			}
		}
		var ce *codec.Error
		if errors.As(err, &ce) || c.Err() == nil && ctx.Err() == nil {
			si.a.log.Warn("adapter/mqtt: a message fails its type; dropped", "interface", si.e.Interface, "topic", p.Topic, "err", err)
			cli.Ack(p)
			si.a.dropped.Add(1)
		}
		return true, nil
	}
	credits := si.m.Flow.Credits
	cli, err := si.a.dial(ctx, credits, true, onPublish)
	if err != nil {
		close(ready)
		c.End(&codes.CloseError{Code: codes.TransportError, Reason: err.Error()})
		return
	}
	close(ready)
	filter := si.e.Filter
	if !si.e.Exclusive {
		filter = "$share/ifkit/" + filter
	}
	sa, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err == nil && len(sa.Reasons) > 0 && sa.Reasons[0] >= 0x80 {
		err = fmt.Errorf("reason code 0x%02x", sa.Reasons[0])
	}
	if err != nil {
		hangUp(cli)
		c.End(&codes.CloseError{Code: codes.NotFound, Reason: fmt.Sprintf("the MQTT broker refused the subscription to %s: %v", filter, err)})
		return
	}
	si.a.subscribed.Add(1)
	defer si.a.subscribed.Add(-1)
	ackThrough := func(n uint64) {
		mu.Lock()
		i := 0
		for i < len(held) && held[i].seq <= n {
			i++
		}
		done := append([]pending(nil), held[:i]...)
		held = append(held[:0], held[i:]...)
		mu.Unlock()
		for _, h := range done {
			if cli.Ack(h.p) == nil {
				si.a.acked.Add(1)
			}
		}
	}
	acks := make(chan struct{})
	go func() {
		defer close(acks)
		var seen uint64
		for {
			n, err := c.WaitPeerConsumed(ctx, seen)
			if n > seen {
				seen = n
				ackThrough(n)
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
	case <-cli.Done():
		c.End(&codes.CloseError{Code: codes.TransportError, Reason: "the MQTT broker ended the session of " + si.e.Interface})
	}
	<-acks
	ackThrough(c.PeerConsumed())
	hangUp(cli)
}
