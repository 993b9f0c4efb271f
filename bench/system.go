package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// A system is one messaging stack under test: it starts a server on a
// transport, and opens connections to it whose two ends both live in this
// process.
type system interface {
	// Name is the system's name in results and in -only.
	Name() string
	// Start starts a server on a fresh listener of the transport ("unix" or
	// "tcp"). It returns errNA when the system cannot use the transport.
	Start(transport string) (server, error)
}

// errNA marks a combination a system cannot run (NATS over a Unix socket).
var errNA = errors.New("n/a")

// A server is one running server of a system.
type server interface {
	// Open opens one connection and returns when both ends are established.
	// Nothing else is started: an opened link is idle until used.
	Open(ctx context.Context) (link, error)
	Close() error
}

// A link is one connection, both ends. Its methods are called by one
// goroutine at a time.
type link interface {
	// Stream sends n messages with the payload from the server end to the
	// client end (NATS: from a publisher to a subscriber) and returns when
	// the receiving end has received all n.
	Stream(ctx context.Context, payload []byte, n int) error
	// RoundTrip sends payload as a request from the client end and waits
	// for the server end's reply of the same size.
	RoundTrip(ctx context.Context, payload []byte) error
	Close() error
}

// listen opens a listener on a fresh Unix socket or TCP loopback port.
// cleanup removes the socket's folder.
func listen(transport string) (l net.Listener, cleanup func(), err error) {
	switch transport {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		return l, func() {}, err
	case "unix":
		dir, err := os.MkdirTemp("", "ifkb")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return l, func() { os.RemoveAll(dir) }, nil
	}
	return nil, nil, fmt.Errorf("unknown transport %q", transport)
}

// dialer returns a function that connects to l's address.
func dialer(l net.Listener) func(ctx context.Context) (net.Conn, error) {
	network, addr := l.Addr().Network(), l.Addr().String()
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
