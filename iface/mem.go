package iface

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// MemNetwork is an in-process transport: Listen and Dial of mem://name
// addresses meet in it, with no socket file and no port, and go through the
// same preface, handshake, credits and codecs as a socket (seeds/001: engines
// in the same trust domain talk directly). Each connection is a net.Pipe.
//
// mem:// addresses use a process-wide network by default; WithMemNetwork
// gives a Listen or Dial one of its own, so that tests do not share names.
type MemNetwork struct {
	mu        sync.Mutex
	listeners map[string]*memListener
}

// NewMemNetwork returns an empty in-process network.
func NewMemNetwork() *MemNetwork { return &MemNetwork{listeners: map[string]*memListener{}} }

// defaultMem is the network of mem:// addresses without WithMemNetwork.
var defaultMem = NewMemNetwork()

// MemOption chooses the in-process network of mem:// addresses; Listen and
// Dial take it.
type MemOption interface {
	ListenOption
	DialOption
}

type memOption struct{ n *MemNetwork }

func (o memOption) applyListen(l *listenOptions) { l.mem = o.n }
func (o memOption) applyDial(c *Client)          { c.mem = o.n }

// WithMemNetwork makes mem:// addresses of a Listen or Dial meet in n
// instead of the process-wide network.
func WithMemNetwork(n *MemNetwork) MemOption { return memOption{n} }

func (n *MemNetwork) listen(name string) (net.Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.listeners[name]; ok {
		return nil, fmt.Errorf("mem://%s: something in this process already listens there", name)
	}
	l := &memListener{n: n, name: name, conns: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[name] = l
	return l, nil
}

func (n *MemNetwork) dial(ctx context.Context, name string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[name]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("mem://%s: nothing in this process listens there", name)
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		err := fmt.Errorf("mem://%s: the listener closed", name)
		client.Close()
		server.Close()
		return nil, err
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

// memListener is a mem:// listener.
type memListener struct {
	n     *MemNetwork
	name  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var _ net.Listener = (*memListener)(nil)

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "mem", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() {
		l.n.mu.Lock()
		delete(l.n.listeners, l.name)
		l.n.mu.Unlock()
		close(l.done)
	})
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr(l.name) }

// memAddr is a mem:// address as a net.Addr.
type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return "mem://" + string(a) }

var errMemTLS = errors.New("TLS is for tls:// addresses; a mem:// connection never leaves the process")
