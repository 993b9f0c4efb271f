package iface

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/yamux"
)

// Config tunes the transport under every connection of a server or client.
// Start from DefaultConfig; Validate says what is wrong with a changed one.
type Config struct {
	// HandshakeTimeout bounds the session preface and each stream's
	// handshake; a peer that does not finish in time is cut off (slowloris).
	HandshakeTimeout time.Duration
	// KeepAliveInterval is how often yamux pings an idle session. A peer
	// that does not answer within ConnectionWriteTimeout of a ping ends every
	// connection of the session with keepalive_timeout.
	KeepAliveInterval time.Duration
	// ConnectionWriteTimeout bounds one write to the socket. yamux's default
	// (10 s) lets a frozen peer hang a writer that long; ours is the same
	// order but named and documented.
	ConnectionWriteTimeout time.Duration
	// StreamWindow is yamux's per-stream receive window. yamux's 256 KiB
	// default halves 64 KiB-message throughput; ifkit's credits already
	// bound memory per connection, so the window only needs to keep the
	// pipe full.
	StreamWindow uint32
	// CloseTimeout bounds how long a connection that sent CLOSE waits for
	// the peer to close its side, which tells it the peer has read every
	// message before the CLOSE (closing the socket earlier can make the
	// kernel discard them).
	CloseTimeout time.Duration
	// FrameTimeout bounds how long a data frame or control request may take
	// to arrive once its first bytes have: a peer that sends part of one
	// and stops is cut off (a quiet connection between frames is not).
	FrameTimeout time.Duration
	// MaxStreams bounds the streams one session may have open (server side).
	MaxStreams int
	// IdleTimeout closes a session (one socket) that has had no open stream
	// for this long, on the server side: a client that connects and never
	// opens a connection, or keeps a socket after closing its connections,
	// does not hold server resources for ever. A connection that is open
	// but quiet is not idle (keepalive watches it). 0 turns it off.
	IdleTimeout time.Duration
	// MaxConnections bounds the connections a server holds at once (0: no bound).
	MaxConnections int
	// ResumeGrace is how long a server keeps a resumable connection
	// (WithResume) after its transport breaks, for the client to resume it
	// (spec/PROTOCOL.md §4.10); meanwhile it holds at most its credit window
	// of messages each way. 0: the server offers no resume.
	ResumeGrace time.Duration
}

// DefaultConfig returns the defaults documented in spec/PROTOCOL.md §5.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout:       10 * time.Second,
		KeepAliveInterval:      15 * time.Second,
		ConnectionWriteTimeout: 10 * time.Second,
		StreamWindow:           1 << 20,
		CloseTimeout:           5 * time.Second,
		FrameTimeout:           10 * time.Second,
		MaxStreams:             1024,
		IdleTimeout:            2 * time.Minute,
		MaxConnections:         0,
		ResumeGrace:            30 * time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.HandshakeTimeout <= 0:
		return errors.New("ifkit: Config.HandshakeTimeout must be > 0")
	case c.KeepAliveInterval <= 0:
		return errors.New("ifkit: Config.KeepAliveInterval must be > 0")
	case c.ConnectionWriteTimeout <= 0:
		return errors.New("ifkit: Config.ConnectionWriteTimeout must be > 0")
	case c.StreamWindow < 256<<10:
		return fmt.Errorf("ifkit: Config.StreamWindow is %d; yamux needs at least 262144", c.StreamWindow)
	case c.CloseTimeout <= 0:
		return errors.New("ifkit: Config.CloseTimeout must be > 0")
	case c.FrameTimeout <= 0:
		return errors.New("ifkit: Config.FrameTimeout must be > 0")
	case c.MaxStreams <= 0:
		return errors.New("ifkit: Config.MaxStreams must be > 0")
	case c.IdleTimeout < 0:
		return errors.New("ifkit: Config.IdleTimeout must be >= 0 (0 turns it off)")
	case c.MaxConnections < 0:
		return errors.New("ifkit: Config.MaxConnections must be >= 0")
	case c.ResumeGrace < 0:
		return errors.New("ifkit: Config.ResumeGrace must be >= 0 (0: no resume)")
	}
	return nil
}

// serverAcceptBacklog bounds the streams a server session holds opened
// by the client but not yet accepted: yamux's accept channel, 8 bytes an
// entry, allocated whole with the session (8 KiB at MaxStreams, 1024). A
// SYN beyond it is answered with RST, but a well-behaved client cannot get
// there: yamux acknowledges a stream as it is accepted, and a client's
// yamux lets only so many of its opens await acknowledgement at once (its
// own accept backlog; more wait, they do not fail). ifkit's clients let 64
// (clientAcceptBacklog), hashicorp/yamux's default 256, the ACK backlog
// the libp2p yamux specification asks every implementation to keep to and
// to buffer. So a burst of MaxStreams opens from any of them waits for
// acknowledgements and none is reset (TestStreamBurst).
const serverAcceptBacklog = 256

func (c Config) yamux() *yamux.Config {
	y := yamux.DefaultConfig()
	y.AcceptBacklog = min(c.MaxStreams, serverAcceptBacklog)
	y.EnableKeepAlive = true
	y.KeepAliveInterval = c.KeepAliveInterval
	y.ConnectionWriteTimeout = c.ConnectionWriteTimeout
	y.MaxStreamWindowSize = c.StreamWindow
	y.StreamOpenTimeout = c.HandshakeTimeout
	y.StreamCloseTimeout = c.HandshakeTimeout
	y.LogOutput = io.Discard // errors reach users through CloseError, not a log
	return y
}

// clientAcceptBacklog is the client's yamux accept backlog. A client never
// accepts streams (servers must not open any), so on its side the backlog
// only bounds the stream opens awaiting the server's acknowledgement (more
// wait, they do not fail) and the streams a misbehaving server could open.
const clientAcceptBacklog = 64

// clientYamux is the yamux configuration of a client's session.
func (c Config) clientYamux() *yamux.Config {
	y := c.yamux()
	y.AcceptBacklog = min(y.AcceptBacklog, clientAcceptBacklog)
	return y
}

// sessionCause returns why a yamux session ended, or nil while it is open:
// a keepalive_timeout *CloseError when the peer stopped answering pings,
// else the session's error. yamux keeps the first fatal error and hands it
// to Accept once closed (hashicorp/yamux#92 is about it being lost
// otherwise).
func sessionCause(s *yamux.Session) func() error {
	return func() error {
		if !s.IsClosed() {
			return nil
		}
		_, err := s.AcceptStream()
		if _, ok := keepAliveFailed.Load(s); ok {
			err = yamux.ErrKeepAliveTimeout // startKeepAlive's ping failed
		}
		if errors.Is(err, yamux.ErrKeepAliveTimeout) {
			return &CloseError{Code: CodeKeepaliveTimeout, Reason: "the peer stopped answering keepalives", Cause: err}
		}
		return err
	}
}
