package iface

import (
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/control"
)

// RelayOption configures NewRelay.
type RelayOption interface{ applyRelay(*Relay) }

type relayOption func(*Relay)

func (f relayOption) applyRelay(r *Relay) { f(r) }

// WithRelayLog calls f for each server that registers or leaves and each
// peer the relay turns away (for the relay's log); it must return quickly.
func WithRelayLog(f func(RelayEvent)) RelayOption {
	return relayOption(func(r *Relay) { r.log = f })
}

// RelayEvent is one thing a relay did.
type RelayEvent struct {
	Kind   string // "learned", "forgotten", "refused", "connected"
	Name   string // the server's name
	Remote string // the peer's address
	Reason string // refused: why
}

// Relay carries ifkit sessions between clients and servers that dialed out
// to it (spec/PROTOCOL.md §2.5). It relays bytes only: it never reads the
// sessions it carries, which are under TLS end to end when their peers
// ask. With a shared secret (WithSecret) every peer must prove it first.
// Its own session (relay://host:port/, no name) lists its servers and
// announces them as they come and go (control.ServersChanged). Create one
// with NewRelay, then Serve.
type Relay struct {
	common
	log  func(RelayEvent)
	self *Server // the relay's own ifkit server: its control streams

	mu        sync.Mutex
	servers   map[string]*yamux.Session
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
	// tap, in tests, sees every byte the relay carries from clients to servers.
	tap func([]byte)
}

// NewRelay returns a relay with no servers.
func NewRelay(opts ...RelayOption) *Relay {
	r := &Relay{
		common:    defaultCommon(),
		servers:   map[string]*yamux.Session{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
	for _, o := range opts {
		o.applyRelay(r)
	}
	r.self = NewServer(WithConfig(r.cfg))
	r.self.relayNames = r.Servers
	return r
}

// Servers returns the names of the registered servers, sorted.
func (r *Relay) Servers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.servers))
	for n, sess := range r.servers {
		if sess != nil { // nil: reserved while it registers
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Serve accepts peers on l until Close, and then returns ErrServerClosed.
func (r *Relay) Serve(l net.Listener) error {
	if err := r.cfg.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	r.listeners[l] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			r.mu.Lock()
			closed := r.closed
			delete(r.listeners, l)
			r.mu.Unlock()
			l.Close()
			if closed {
				return ErrServerClosed
			}
			return err
		}
		if !r.track(c) {
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.serveConn(c)
	}
}

// track records c, so Close can close it; false once closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// Close stops the relay: listeners, the servers' connections and every
// session it carries close. It returns when its goroutines have exited.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for l := range r.listeners {
		l.Close()
	}
	for c := range r.conns {
		c.Close()
	}
	for _, sess := range r.servers {
		if sess != nil {
			sess.Close()
		}
	}
	r.mu.Unlock()
	r.self.Close()
	r.wg.Wait()
	return nil
}

func (r *Relay) event(e RelayEvent) {
	if r.log != nil {
		r.log(e)
	}
}

// serveConn reads one peer's hello and hands the connection on.
func (r *Relay) serveConn(c net.Conn) {
	defer r.wg.Done()
	defer r.untrack(c)
	remote := c.RemoteAddr().String()
	refuse := func(status byte, reason string) {
		if status != 0 {
			c.Write([]byte{status})
		}
		r.event(RelayEvent{Kind: "refused", Remote: remote, Reason: reason})
	}
	c.SetDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	role, name, status, err := readRelayHello(c)
	if err != nil {
		refuse(status, err.Error())
		return
	}
	if r.secret != nil {
		if _, err := c.Write([]byte{relayAuthRequired}); err != nil {
			return
		}
		if _, err := serverAuth(c, r.secret); err != nil {
			refuse(0, "the shared-secret exchange failed: "+err.Error())
			return
		}
	} else if _, err := c.Write([]byte{relayOK}); err != nil {
		return
	}
	switch role {
	case relayServe:
		r.register(c, name)
	case relayConnect:
		r.connect(c, name)
	case relaySelf:
		if _, err := c.Write([]byte{relayOK}); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		r.self.ServeConn(c) // not through untrack's Close: the server owns c
	}
}

// readRelayHello reads a peer's hello: its role and name. On error, status
// is what to answer (relayBadHello), or 0 to close without a word (not a
// relay hello at all, or cut short).
func readRelayHello(rd io.Reader) (role byte, name string, status byte, err error) {
	var head [7]byte
	if _, err := io.ReadFull(rd, head[:]); err != nil {
		return 0, "", 0, fmt.Errorf("the hello did not arrive: %w", err)
	}
	if [4]byte(head[:4]) != relayMagic {
		return 0, "", 0, fmt.Errorf("not an ifkit relay hello")
	}
	role, n := head[5], int(head[6]) // n ≤ 255: bounded before allocation
	b := make([]byte, n)
	if _, err := io.ReadFull(rd, b); err != nil {
		return 0, "", 0, fmt.Errorf("the hello was cut short: %w", err)
	}
	nameOK := checkRelayName(string(b)) == nil || role == relaySelf && n == 0
	if head[4] != relayVersion || role < relayServe || role > relaySelf || !nameOK {
		return 0, "", relayBadHello, fmt.Errorf("a bad hello: version %d, role %d, name %q", head[4], role, b)
	}
	return role, string(b), 0, nil
}

// register holds a server's connection under name until it goes.
func (r *Relay) register(c net.Conn, name string) {
	r.mu.Lock()
	if _, taken := r.servers[name]; taken {
		r.mu.Unlock()
		c.Write([]byte{relayNameTaken})
		r.event(RelayEvent{Kind: "refused", Name: name, Remote: c.RemoteAddr().String(), Reason: "the name is taken"})
		return
	}
	r.servers[name] = nil // reserved, not written to under mu
	r.mu.Unlock()
	var sess *yamux.Session
	if _, err := c.Write([]byte{relayOK}); err == nil {
		c.SetDeadline(time.Time{})
		// The relay opens a stream per client: it is the yamux client.
		sess, _ = yamux.Client(c, r.cfg.clientYamux())
	}
	r.mu.Lock()
	if sess == nil || r.closed {
		delete(r.servers, name)
		r.mu.Unlock()
		if sess != nil {
			sess.Close()
		}
		return
	}
	r.servers[name] = sess
	r.mu.Unlock()
	r.event(RelayEvent{Kind: "learned", Name: name, Remote: c.RemoteAddr().String()})
	r.self.hub.Notify(&control.ServersChanged{Learned: []string{name}})
	<-sess.CloseChan()
	r.mu.Lock()
	if r.servers[name] == sess {
		delete(r.servers, name)
	}
	r.mu.Unlock()
	r.event(RelayEvent{Kind: "forgotten", Name: name, Remote: c.RemoteAddr().String()})
	r.self.hub.Notify(&control.ServersChanged{Forgotten: []string{name}})
}

// connect pipes a client to a new stream of the named server's connection.
func (r *Relay) connect(c net.Conn, name string) {
	r.mu.Lock()
	sess := r.servers[name]
	r.mu.Unlock()
	var st net.Conn
	if sess != nil {
		var err error
		if st, err = sess.OpenStream(); err != nil {
			st = nil
		}
	}
	if st == nil {
		c.Write([]byte{relayUnknownName})
		r.event(RelayEvent{Kind: "refused", Name: name, Remote: c.RemoteAddr().String(), Reason: "no server of that name"})
		return
	}
	defer st.Close()
	if _, err := c.Write([]byte{relayOK}); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	r.event(RelayEvent{Kind: "connected", Name: name, Remote: c.RemoteAddr().String()})
	pipe(c, st, r.tap)
}

// pipe copies bytes both ways until either side ends, then closes both.
// Each direction holds one 32 KiB buffer.
func pipe(client, server net.Conn, tap func([]byte)) {
	done := make(chan struct{}, 2)
	var toServer io.Writer = server
	if tap != nil {
		toServer = io.MultiWriter(server, tapWriter(tap))
	}
	go func() {
		io.Copy(toServer, client)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, server)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	server.Close()
	<-done
}

type tapWriter func([]byte)

func (f tapWriter) Write(b []byte) (int, error) { f(append([]byte(nil), b...)); return len(b), nil }

// WithRelayTap calls f with every byte the relay carries from clients to
// servers, as it carries them: for tests that check what a relay can see.
func WithRelayTap(f func([]byte)) RelayOption {
	return relayOption(func(r *Relay) { r.tap = f })
}
