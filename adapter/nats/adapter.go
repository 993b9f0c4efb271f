package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// Adapter serves JetStream streams and subjects as ifkit interfaces, as
// its Config says. Make one with New, Register it on a server, and Close
// it after the server.
type Adapter struct {
	js jetstream.JetStream
	o  options

	consumes  []*consumeIface
	publishes []*publishIface
	topics    []*topicIface

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the topic bridges
	closed atomic.Bool

	st stats
}

type stats struct {
	delivered, acked, nacked, terminated, published, duplicates, refused atomic.Uint64
}

// Stats are the adapter's counters since New.
type Stats struct {
	Delivered  uint64 // messages sent to consuming connections
	Acked      uint64 // acknowledged to JetStream once their client consumed them
	Nacked     uint64 // handed back to JetStream (their connection ended first, or a reset)
	Terminated uint64 // stored messages that failed their type: never sent, terminated
	Published  uint64 // stored by JetStream (PubAck)
	Duplicates uint64 // published with an id JetStream had seen: stored once
	Refused    uint64 // published messages JetStream did not store
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{
		Delivered: a.st.delivered.Load(), Acked: a.st.acked.Load(), Nacked: a.st.nacked.Load(),
		Terminated: a.st.terminated.Load(), Published: a.st.published.Load(),
		Duplicates: a.st.duplicates.Load(), Refused: a.st.refused.Load(),
	}
}

// controlTimeout bounds each JetStream API request the adapter makes at
// start and for a reset.
const controlTimeout = 10 * time.Second

// The waits between tries while JetStream does not answer: the first, and
// the most (each doubles).
const (
	retryBackoff    = 50 * time.Millisecond
	maxRetryBackoff = time.Second
)

// seekWait bounds the wait for the first message at or after a reset's
// time (none within it: the position is after the last message).
const seekWait = time.Second

// New checks cfg's interfaces, makes sure its streams and durable
// consumers exist on the server nc is connected to (creating those that
// do not), and returns the adapter. nc stays the caller's: close it after
// the adapter.
func New(ctx context.Context, nc *natsgo.Conn, cfg *Config, opts ...Option) (*Adapter, error) {
	a := &Adapter{o: defaultOptions()}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			a.cancel()
		}
	}()
	for _, o := range opts {
		o.apply(&a.o)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("adapter/nats: %w", err)
	}
	a.js = js
	for _, s := range cfg.Streams {
		if err := a.ensureStream(ctx, s); err != nil {
			return nil, err
		}
	}
	for _, e := range cfg.Consume {
		m, err := cfg.consumeManifest(e)
		if err != nil {
			return nil, err
		}
		ci := &consumeIface{a: a, e: e, m: m, sessions: map[*iface.Conn]*session{}}
		if err := ci.ensureConsumer(ctx); err != nil {
			return nil, err
		}
		a.consumes = append(a.consumes, ci)
	}
	for _, e := range cfg.Publish {
		m, err := cfg.publishManifest(e)
		if err != nil {
			return nil, err
		}
		a.publishes = append(a.publishes, &publishIface{a: a, e: e, m: m})
	}
	for _, e := range cfg.Topics {
		m, err := cfg.topicManifest(e)
		if err != nil {
			return nil, err
		}
		a.topics = append(a.topics, &topicIface{a: a, e: e, m: m})
	}
	ok = true
	return a, nil
}

func (a *Adapter) ensureStream(ctx context.Context, s Stream) error {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	_, err := a.js.Stream(ctx, s.Name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("adapter/nats: stream %s: %w", s.Name, err)
	}
	sc := jetstream.StreamConfig{
		Name:       s.Name,
		Subjects:   s.Subjects,
		Storage:    jetstream.FileStorage,
		Replicas:   max(s.Replicas, 1),
		Duplicates: s.DuplicateWindow.or(DefaultDuplicateWindow),
	}
	if s.Storage == "memory" {
		sc.Storage = jetstream.MemoryStorage
	}
	if _, err := a.js.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("adapter/nats: creating stream %s: %w", s.Name, err)
	}
	return nil
}

// Manifests returns the manifests of the adapter's interfaces.
func (a *Adapter) Manifests() []*manifest.Manifest {
	var out []*manifest.Manifest
	for _, c := range a.consumes {
		out = append(out, c.m)
	}
	for _, p := range a.publishes {
		out = append(out, p.m)
	}
	for _, t := range a.topics {
		out = append(out, t.m)
	}
	return out
}

// Register registers the adapter's interfaces on s and starts the bridge
// of each topic to its subject: a message stored on it once Register has
// returned reaches the topic's subscribers. Register on one server only.
func (a *Adapter) Register(s *iface.Server) error {
	for _, c := range a.consumes {
		if err := s.Register(c.iface()); err != nil {
			return err
		}
	}
	for _, p := range a.publishes {
		if err := s.Register(p.iface()); err != nil {
			return err
		}
	}
	for _, t := range a.topics {
		if err := s.Register(iface.Interface{Manifest: t.m}); err != nil {
			return err
		}
		if err := t.start(s.Topic(t.m.Name)); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the topic bridges and returns when they have exited. Close
// the server first: its connections' goroutines are the server's.
func (a *Adapter) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	a.cancel()
	a.wg.Wait()
	return nil
}
