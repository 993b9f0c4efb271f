package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsSystem is NATS core pub/sub through an embedded nats-server (in this
// process) over TCP loopback; NATS clients have no Unix socket transport, so
// unix is n/a. A link is a subscriber connection with one subscription on a
// subject of its own; the publisher connection (streams, requests) is made
// when first used, so an idle link is one client connection with one
// subscription plus the server's state for it. Round trips are nats.go's
// Request answered by Msg.Respond on the subscriber connection.
//
// NATS core has no flow control: the subscriber's pending limits are lifted
// and the server's per-client MaxPending raised to 1 GiB so that a
// subscriber that falls behind is not cut off as a slow consumer mid-run.
type natsSystem struct{}

func (natsSystem) Name() string { return "nats" }

type natsServer struct {
	ns       *natsserver.Server
	url      string
	subjects atomic.Int64
}

func (natsSystem) Start(transport string) (server, error) {
	if transport != "tcp" {
		return nil, errNA
	}
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host:       "127.0.0.1",
		Port:       natsserver.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		MaxPending: 1 << 30,
		MaxConn:    1 << 20,
	})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats: the embedded server did not start")
	}
	return &natsServer{ns: ns, url: ns.ClientURL()}, nil
}

func (s *natsServer) Open(ctx context.Context) (link, error) {
	sub, err := nats.Connect(s.url, nats.NoReconnect())
	if err != nil {
		return nil, err
	}
	l := &natsLink{url: s.url, conn: sub, subject: fmt.Sprintf("bench.%d", s.subjects.Add(1)), arrived: make(chan struct{}, 1)}
	subscription, err := sub.Subscribe(l.subject, func(*nats.Msg) {
		if l.got.Add(1) == l.want.Load() {
			l.arrived <- struct{}{}
		}
	})
	if err == nil {
		err = subscription.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = sub.FlushWithContext(ctx) // the server has the subscription
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return l, nil
}

func (s *natsServer) Close() error {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	return nil
}

type natsLink struct {
	url       string
	subject   string
	conn      *nats.Conn // subscriber, responder
	pub       *nats.Conn // publisher, requester; made when first used
	responder *nats.Subscription
	want, got atomic.Int64
	arrived   chan struct{}
}

func (l *natsLink) publisher() (*nats.Conn, error) {
	if l.pub == nil {
		pub, err := nats.Connect(l.url, nats.NoReconnect())
		if err != nil {
			return nil, err
		}
		l.pub = pub
	}
	return l.pub, nil
}

func (l *natsLink) Stream(ctx context.Context, payload []byte, n int) error {
	pub, err := l.publisher()
	if err != nil {
		return err
	}
	l.got.Store(0)
	l.want.Store(int64(n))
	for range n {
		if err := pub.Publish(l.subject, payload); err != nil {
			return err
		}
	}
	select {
	case <-l.arrived:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nats: %d of %d messages arrived: %w", l.got.Load(), n, ctx.Err())
	}
}

func (l *natsLink) RoundTrip(ctx context.Context, payload []byte) error {
	pub, err := l.publisher()
	if err != nil {
		return err
	}
	if l.responder == nil {
		l.responder, err = l.conn.Subscribe(l.subject+".rpc", func(m *nats.Msg) { m.Respond(m.Data) })
		if err == nil {
			err = l.conn.FlushWithContext(ctx)
		}
		if err != nil {
			return err
		}
	}
	m, err := pub.RequestWithContext(ctx, l.subject+".rpc", payload)
	if err != nil {
		return err
	}
	if len(m.Data) != len(payload) {
		return fmt.Errorf("nats: reply of %d bytes to %d", len(m.Data), len(payload))
	}
	return nil
}

func (l *natsLink) Close() error {
	if l.pub != nil {
		l.pub.Close()
	}
	l.conn.Close()
	return nil
}
