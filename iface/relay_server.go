package iface

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// RelayServeOption configures Server.ServeRelay.
type RelayServeOption interface{ applyRelayServe(*relayServeOptions) }

type relayServeOptions struct {
	secret     []byte
	tls        *tls.Config
	tlsHop     *tls.Config
	onState    func(RelayState)
	backoff    time.Duration // the first wait
	backoffMax time.Duration // the longest
}

type relayServeOption func(*relayServeOptions)

func (f relayServeOption) applyRelayServe(o *relayServeOptions) { f(o) }

// WithRelayTLS serves every session that comes through the relay under TLS
// end to end with cfg (a server configuration with a certificate for the
// name clients ask for): clients dial relay+tls://, and the relay sees
// only ciphertext.
func WithRelayTLS(cfg *tls.Config) RelayServeOption {
	return relayServeOption(func(o *relayServeOptions) { o.tls = cfg })
}

// WithRelayState calls f as the registration comes and goes: registered,
// lost or refused (and retrying after RelayState.Retry, or given up). The
// calls come one at a time, from ServeRelay's goroutine.
func WithRelayState(f func(RelayState)) RelayServeOption {
	return relayServeOption(func(o *relayServeOptions) { o.onState = f })
}

// WithRelayBackoff sets the waits before registering again after the
// relay was lost or could not be reached: first, then doubled after each
// failure up to max (defaults: 100 ms and 5 s). Each wait is drawn at
// random from its upper half (jitter), so servers that lost a restarted
// relay at the same moment do not all come back at the same moment.
func WithRelayBackoff(first, max time.Duration) RelayServeOption {
	return relayServeOption(func(o *relayServeOptions) { o.backoff, o.backoffMax = first, max })
}

// The default back-off of ServeRelay.
const (
	relayBackoff    = 100 * time.Millisecond
	relayBackoffMax = 5 * time.Second
)

// RelayState is one change of a server's registration with its relay.
type RelayState struct {
	Registered bool  // true: registered; false: not (Err says why)
	Err        error // why the registration failed or was lost
	// Retry is the wait before the next attempt; 0 when registered, and
	// when ServeRelay gives up (it then returns Err).
	Retry time.Duration
	// Again is true for a registration, or an attempt at one, after the
	// first success: the relay was lost and is being found again.
	Again bool
}

// ServeRelay serves the server's interfaces through the relay at addr
// (tcp://host:port, or tls://host:port to reach it over TLS: see
// WithRelayHopTLS) under name: it dials out, registers, and serves each
// client session the relay carries to it, as it would an accepted socket.
// When the relay goes or cannot be reached it registers again, with
// jittered back-off (WithRelayBackoff), until ctx ends or the server
// closes; it then returns ctx's error or ErrServerClosed. A refusal that
// retrying cannot mend is returned at once: a bad secret, not a relay, a
// bad hello, and the name taken by another server that answers — on the
// first registration only: once registered, the name is this server's,
// and a relay that still holds it for a lost connection lets it go.
func (s *Server) ServeRelay(ctx context.Context, addr, name string, opts ...RelayServeOption) error {
	a, err := ParseAddr(addr)
	if err != nil {
		return err
	}
	if a.Network != "tcp" {
		return fmt.Errorf("relay address %q: a relay is reached over TCP (tcp://host:port or tls://host:port)", addr)
	}
	if err := checkRelayName(name); err != nil {
		return err
	}
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	o := relayServeOptions{backoff: relayBackoff, backoffMax: relayBackoffMax}
	for _, opt := range opts {
		opt.applyRelayServe(&o)
	}
	if o.backoff <= 0 || o.backoffMax < o.backoff {
		return fmt.Errorf("relay back-off %v to %v: want 0 < first <= max", o.backoff, o.backoffMax)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	stopped := func() error {
		if s.ctx.Err() != nil {
			return ErrServerClosed
		}
		return ctx.Err()
	}
	wait := o.backoff
	registered := false // once, ever
	for {
		sess, err := s.registerRelay(ctx, a, name, &o)
		if ctx.Err() != nil {
			if sess != nil {
				sess.Close()
			}
			return stopped()
		}
		if err == nil {
			wait = o.backoff
			o.state(RelayState{Registered: true, Again: registered})
			registered = true
			err = s.serveRelaySession(ctx, sess, &o)
			if ctx.Err() != nil {
				return stopped()
			}
		} else if !retryRelay(err, registered) {
			o.state(RelayState{Err: err, Again: registered})
			return err
		}
		d := jitter(wait)
		o.state(RelayState{Err: err, Retry: d, Again: registered})
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return stopped()
		}
		wait = min(wait*2, o.backoffMax)
	}
}

// retryRelay reports whether registering again may mend err.
func retryRelay(err error, registered bool) bool {
	switch relayStatusOf(err) {
	case 0:
	case relayNameTaken:
		return registered
	case relayLimit, relayUnavailable:
		return true
	default:
		return false
	}
	var ce *CloseError
	return !errors.As(err, &ce) && !errors.Is(err, ErrNotIfkit)
}

// jitter returns a wait drawn at random from [d/2, d].
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func (o *relayServeOptions) state(st RelayState) {
	if o.onState != nil {
		o.onState(st)
	}
}

// registerRelay dials the relay, registers name and returns the yamux
// session on which the relay will open a stream per client.
func (s *Server) registerRelay(ctx context.Context, a Addr, name string, o *relayServeOptions) (*yamux.Session, error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if o.tlsHop != nil {
		a.TLS = true
	}
	raw, err := dialAddr(dctx, a, o.tlsHop)
	if err != nil {
		return nil, fmt.Errorf("%w to the relay %s: %v", ErrConnect, a, err)
	}
	deadline, _ := dctx.Deadline()
	raw.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { raw.SetDeadline(time.Now()) })
	err = relayHello(raw, relayServe, name, o.secret)
	stop()
	if err != nil {
		raw.Close()
		var ce *CloseError
		var re *RelayError
		if errors.As(err, &ce) || errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("%w to the relay %s: %w", ErrConnect, a, err)
	}
	raw.SetDeadline(time.Time{})
	// The relay opens the streams: this end is the yamux server.
	sess, err := yamux.Server(raw, s.cfg.yamux())
	if err != nil {
		raw.Close()
		return nil, err
	}
	return sess, nil
}

// serveRelaySession serves each stream the relay opens as one client's
// session until the relay's session ends or ctx does.
func (s *Server) serveRelaySession(ctx context.Context, sess *yamux.Session, o *relayServeOptions) error {
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sess.Close()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			if cause := sessionCause(sess)(); cause != nil {
				err = cause
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("the relay closed the connection: %w", err)
			}
			return fmt.Errorf("the relay connection ended: %w", err)
		}
		var conn net.Conn = st
		if o.tls != nil {
			conn = tls.Server(st, o.tls)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ServeConn(conn)
		}()
	}
}
