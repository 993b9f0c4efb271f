package iface

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/manifest"
)

// freezable is a socket that can be frozen like a SIGSTOPped peer: reads
// and writes block until it is closed.
type freezable struct {
	net.Conn
	mu     sync.Mutex
	frozen chan struct{} // closed when thawed or closed; nil while running
	closed chan struct{}
	once   sync.Once
}

func (f *freezable) freeze() {
	f.mu.Lock()
	f.frozen = make(chan struct{})
	f.mu.Unlock()
}

func (f *freezable) wait() {
	f.mu.Lock()
	fr := f.frozen
	f.mu.Unlock()
	if fr != nil {
		select {
		case <-fr:
		case <-f.closed:
		}
	}
}

func (f *freezable) Read(p []byte) (int, error) {
	f.wait()
	return f.Conn.Read(p)
}

func (f *freezable) Write(p []byte) (int, error) {
	f.wait()
	select {
	case <-f.closed:
		return 0, net.ErrClosed
	default:
	}
	return f.Conn.Write(p)
}

// Close closes the socket, unless it is frozen: a stopped process cannot
// close its sockets, so the peer must find out by keepalive alone. Frozen,
// only the local side's blocked calls return; kill closes the socket.
func (f *freezable) Close() error {
	f.once.Do(func() { close(f.closed) })
	f.mu.Lock()
	frozen := f.frozen != nil
	f.mu.Unlock()
	if frozen {
		return nil
	}
	return f.Conn.Close()
}

func (f *freezable) kill() { f.Conn.Close() }

func TestFrozenPeerEndsWithKeepaliveTimeout(t *testing.T) {
	m, err := manifest.Load(filepath.Join("..", "testdata", "manifests", "sensors.temperature.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 50 * time.Millisecond
	cfg.ConnectionWriteTimeout = 100 * time.Millisecond
	s := NewServer(WithConfig(cfg))
	serverConns := make(chan *Conn, 1)
	s.Register(Interface{Manifest: m, OnConnect: func(ctx context.Context, c *Conn) { serverConns <- c }})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()

	var sock *freezable
	cl, err := Dial(ctxT(t), l.Addr().String(), WithConfig(cfg), dialOption(func(c *Client) {
		c.dialRaw = func(ctx context.Context, a Addr, tc *tls.Config) (net.Conn, error) {
			raw, err := dialAddr(ctx, a, tc)
			if err == nil {
				sock = &freezable{Conn: raw, closed: make(chan struct{})}
				return sock, nil
			}
			return nil, err
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conn, err := cl.Connect(ctxT(t), "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	srvConn := <-serverConns
	sock.freeze()
	defer sock.kill()
	for _, c := range []*Conn{srvConn, conn} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a connection to a frozen peer did not end")
		}
	}
	if !errors.Is(srvConn.Err(), ErrKeepaliveTimeout) {
		t.Errorf("server side ended with %v, want keepalive_timeout", srvConn.Err())
	}
	if !errors.Is(conn.Err(), ErrKeepaliveTimeout) {
		t.Errorf("client side ended with %v, want keepalive_timeout", conn.Err())
	}
}

// A closed session is freed once its goroutines have exited, although its
// keepalive timer has not fired yet (the timer holds it weakly): a server
// whose clients come and go does not keep their sessions for an interval.
func TestKeepAliveLetsAClosedSessionGo(t *testing.T) {
	a, b := net.Pipe()
	cli, err := yamux.Client(a, withoutKeepAlive(DefaultConfig().clientYamux()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := yamux.Server(b, withoutKeepAlive(DefaultConfig().yamux()))
	if err != nil {
		t.Fatal(err)
	}
	startKeepAlive(cli, time.Hour)
	gone := weak.Make(cli)
	cli.Close()
	srv.Close()
	<-cli.CloseChan()
	cli = nil
	for i := 0; gone.Value() != nil; i++ {
		if i == 100 {
			t.Fatal("a closed session is still reachable (its keepalive timer keeps it)")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
