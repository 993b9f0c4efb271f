package iface

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// RelayServeOption configures Server.ServeRelay.
type RelayServeOption interface{ applyRelayServe(*relayServeOptions) }

type relayServeOptions struct {
	secret  []byte
	tls     *tls.Config
	tlsHop  *tls.Config
	onState func(RelayState)
	backoff time.Duration
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

// WithRelayHopTLS dials the relay itself with TLS (a relay listening on
// tls://): cfg is a client configuration (ClientTLS).
func WithRelayHopTLS(cfg *tls.Config) RelayServeOption {
	return relayServeOption(func(o *relayServeOptions) { o.tlsHop = cfg })
}

// WithRelayState calls f as the registration comes and goes: registered,
// lost (and retrying), refused.
func WithRelayState(f func(RelayState)) RelayServeOption {
	return relayServeOption(func(o *relayServeOptions) { o.onState = f })
}

// WithRelayBackoff sets the first wait before registering again after the
// relay was lost or could not be reached (100 ms by default), doubled after
// each failure up to 30 times it.
func WithRelayBackoff(d time.Duration) RelayServeOption {
	return relayServeOption(func(o *relayServeOptions) { o.backoff = d })
}

// RelayState is one change of a server's registration with its relay.
type RelayState struct {
	Registered bool  // true: registered; false: not (Err says why)
	Err        error // why the registration failed or was lost
}

// ServeRelay serves the server's interfaces through the relay at addr
// (tcp://host:port, or tls://host:port with WithRelayHopTLS) under name:
// it dials out, registers, and serves each client session the relay
// carries to it, as it would an accepted socket. When the relay goes or
// cannot be reached it registers again, with back-off, until ctx ends or
// the server closes; it then returns ctx's error or ErrServerClosed. A
// refusal that retrying cannot mend (a bad secret, the name taken, not a
// relay) is returned at once.
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
	o := relayServeOptions{backoff: 100 * time.Millisecond}
	for _, opt := range opts {
		opt.applyRelayServe(&o)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	wait := o.backoff
	for {
		sess, err := s.registerRelay(ctx, a, name, &o)
		if ctx.Err() != nil {
			if sess != nil {
				sess.Close()
			}
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			return ctx.Err()
		}
		if err != nil {
			o.state(RelayState{Err: err})
			var ce *CloseError
			if errors.As(err, &ce) || errors.Is(err, ErrRelay) || errors.Is(err, ErrNotIfkit) {
				return err
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				continue
			}
			wait = min(wait*2, 30*o.backoff)
			continue
		}
		wait = o.backoff
		o.state(RelayState{Registered: true})
		err = s.serveRelaySession(ctx, sess, &o)
		if ctx.Err() == nil { // not stopping: say so, and register again
			o.state(RelayState{Err: err})
		}
	}
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
		if errors.As(err, &ce) || errors.Is(err, ErrRelay) {
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
