package iface

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/internal/pbio"
)

// RelayOption configures NewRelay.
type RelayOption interface{ applyRelay(*Relay) }

type relayOption func(*Relay)

func (f relayOption) applyRelay(r *Relay) { f(r) }

// WithRelayLog calls f for each server that registers or leaves and each
// peer the relay turns away (for the relay's log); it must return quickly.
// Refusals are rate-limited: at most 10 a second reach f, and the next
// one that does counts those left out (RelayEvent.Suppressed).
func WithRelayLog(f func(RelayEvent)) RelayOption {
	return relayOption(func(r *Relay) { r.log = f })
}

// WithRelayLimits sets the relay's limits (DefaultRelayLimits otherwise).
func WithRelayLimits(l RelayLimits) RelayOption {
	return relayOption(func(r *Relay) { r.limits = l })
}

// RelayEvent is one thing a relay did.
type RelayEvent struct {
	Kind   string // "learned", "forgotten", "refused", "connected"
	Name   string // the server's name
	Remote string // the peer's address
	Code   Code   // refused: the refusal's code (limit_exceeded, not_found, …)
	Reason string // refused, forgotten: why
	// Suppressed, on a refusal, counts the refusals before it that were
	// not reported (more than 10 a second).
	Suppressed int
}

// RelayLimits bound what a relay holds for its peers, whatever they send
// (spec/PROTOCOL.md §2.5): a peer past a limit is refused with
// limit_exceeded and a reason, and the peers already relayed are not
// affected. Start from DefaultRelayLimits; Validate says what is wrong
// with a changed one. The relay's Config bounds the rest: its
// HandshakeTimeout the hello and the secret exchange (slow-loris),
// ConnectionWriteTimeout each write to a client (one that reads nothing is
// cut off), KeepAliveInterval the check that a server is still there,
// StreamWindow the bytes buffered per relayed session from its server.
type RelayLimits struct {
	// MaxServers bounds the names registered at once. A server
	// connection registers exactly one name (the hello's); another name
	// takes another connection.
	MaxServers int
	// MaxStreamsPerServer bounds the client sessions relayed to one
	// server at once.
	MaxStreamsPerServer int
	// MaxClients bounds the client sessions relayed at once, to every
	// server and to the relay itself (relay://host:port/).
	MaxClients int
	// MaxHellos bounds the connections that have not finished their hello
	// (and the relay's shared-secret exchange) at once, and, again, the
	// refusals being answered at once; past both, a connection is closed
	// without a word.
	MaxHellos int
	// MaxHostHellos bounds, per IP address, the connections that have not
	// finished their hello: one slow-loris host cannot take every hello
	// slot.
	MaxHostHellos int
	// MaxHostConns bounds the connections from one IP address at once, of
	// every kind: hellos, servers, client sessions.
	MaxHostConns int
	// PipeBuffer is the copy buffer of each direction of a relayed
	// session, in bytes: a session holds at most 2 × PipeBuffer plus the
	// relay's Config.StreamWindow of bytes in transit.
	PipeBuffer int
}

// DefaultRelayLimits returns the defaults documented in
// spec/PROTOCOL.md §2.5.
func DefaultRelayLimits() RelayLimits {
	return RelayLimits{
		MaxServers:          1024,
		MaxStreamsPerServer: 1024,
		MaxClients:          4096,
		MaxHellos:           256,
		MaxHostHellos:       16,
		MaxHostConns:        512,
		PipeBuffer:          32 << 10,
	}
}

// Validate reports the first limit that cannot work.
func (l RelayLimits) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxServers", l.MaxServers}, {"MaxStreamsPerServer", l.MaxStreamsPerServer},
		{"MaxClients", l.MaxClients}, {"MaxHellos", l.MaxHellos},
		{"MaxHostHellos", l.MaxHostHellos}, {"MaxHostConns", l.MaxHostConns},
	} {
		if f.v <= 0 {
			return fmt.Errorf("ifkit: RelayLimits.%s is %d; it must be > 0", f.name, f.v)
		}
	}
	if l.PipeBuffer < 512 || l.PipeBuffer > 16<<20 {
		return fmt.Errorf("ifkit: RelayLimits.PipeBuffer is %d; it must be from 512 to 16777216 bytes", l.PipeBuffer)
	}
	return nil
}

// DefaultRelayConfig returns a relay's default Config: DefaultConfig with
// a StreamWindow of 256 KiB, the least yamux takes, as each relayed session
// may hold that many bytes from its server in transit.
func DefaultRelayConfig() Config {
	c := DefaultConfig()
	c.StreamWindow = 256 << 10
	return c
}

// Relay carries ifkit sessions between clients and servers that dialed out
// to it (spec/PROTOCOL.md §2.5). It relays bytes only: it never reads the
// sessions it carries, which are under TLS end to end when their peers
// ask. With a shared secret (WithSecret) every peer must prove it first.
// Its own session (relay://host:port/, no name) lists its servers and
// announces them as they come and go (control.ServersChanged). What it
// holds for its peers is bounded by its RelayLimits and Config. Create one
// with NewRelay, then Serve (on a TLS listener, for peers that reach it
// with WithRelayHopTLS).
type Relay struct {
	common
	limits     RelayLimits
	log        func(RelayEvent)
	refusalLog refusalLimit
	self       *Server // the relay's own ifkit server: its control streams

	mu        sync.Mutex
	servers   map[string]*relayedServer
	hosts     map[string]*relayHost // by IP address
	hellos    int                   // connections in their hello
	refusing  int                   // connections being answered a refusal
	clients   int                   // client sessions relayed, the relay's own included
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	// tap, in tests, sees every byte the relay carries from clients to servers.
	tap func([]byte)
}

// relayedServer is one registered name.
type relayedServer struct {
	sess    *yamux.Session // nil while it registers
	streams int            // client sessions relayed to it
	probing bool           // a newcomer asked for the name: is this one alive?
}

// relayHost counts one IP address's connections.
type relayHost struct{ conns, hellos int }

// NewRelay returns a relay with no servers. Its Config (WithConfig)
// defaults to DefaultRelayConfig.
func NewRelay(opts ...RelayOption) *Relay {
	r := &Relay{
		common:    defaultCommon(),
		limits:    DefaultRelayLimits(),
		servers:   map[string]*relayedServer{},
		hosts:     map[string]*relayHost{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
		done:      make(chan struct{}),
	}
	r.cfg = DefaultRelayConfig()
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
	for n, rs := range r.servers {
		if rs.sess != nil { // nil: reserved while it registers
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
	if err := r.limits.Validate(); err != nil {
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
	var pause time.Duration // after running out of file descriptors
	for {
		c, err := l.Accept()
		if err != nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if !closed && outOfFiles(err) {
				// A flood of connections must not stop the relay: wait
				// for some to end, and accept again.
				pause = min(max(2*pause, acceptPauseMin), acceptPauseMax)
				r.refused(RelayEvent{Code: CodeLimitExceeded, Reason: fmt.Sprintf("accepting a connection: %v; accepting again in %v (raise the process's open-file limit above the relay's limits)", err, pause)})
				if r.sleep(pause) {
					continue
				}
				closed = true
			}
			r.mu.Lock()
			delete(r.listeners, l)
			r.mu.Unlock()
			l.Close()
			if closed {
				return ErrServerClosed
			}
			return err
		}
		pause = 0
		host := remoteHost(c)
		refusal, ok := r.admit(c, host)
		if !ok {
			c.Close()
			continue
		}
		go r.serveConn(c, host, refusal)
	}
}

// The pauses of Serve's accept loop when the process has no file
// descriptor left, doubling from the first to the last.
const (
	acceptPauseMin = 5 * time.Millisecond
	acceptPauseMax = time.Second
)

// outOfFiles reports whether an Accept failed for want of file
// descriptors, which connections that end give back.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// sleep waits d, or until Close; false when closed.
func (r *Relay) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.done:
		return false
	}
}

// remoteHost is the IP address of c's peer, which the per-host limits count.
func remoteHost(c net.Conn) string {
	a := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// admit counts a new connection from host, which is then the relay's to
// close (serveConn's). A connection past MaxHellos, MaxHostHellos or
// MaxHostConns is admitted to be refused (refusal set), as long as fewer
// than MaxHellos are; past that, and once closed, not at all (false).
func (r *Relay) admit(c net.Conn, host string) (*relayRefusal, bool) {
	refusal, ok := r.admitLocked(c, host)
	if !ok && refusal != nil {
		r.refused(RelayEvent{Remote: c.RemoteAddr().String(), Code: CodeLimitExceeded, Reason: refusal.reason + " (closed without an answer: too many refusals at once)"})
		return nil, false
	}
	return refusal, ok
}

func (r *Relay) admitLocked(c net.Conn, host string) (*relayRefusal, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false
	}
	h := r.hosts[host]
	if h == nil {
		h = &relayHost{}
		r.hosts[host] = h
	}
	var refusal *relayRefusal
	switch l := r.limits; {
	case r.hellos >= l.MaxHellos:
		refusal = &relayRefusal{relayLimit, fmt.Sprintf("the relay has its maximum of %d peers in their hello: try again shortly", l.MaxHellos)}
	case h.hellos >= l.MaxHostHellos:
		refusal = &relayRefusal{relayLimit, fmt.Sprintf("the relay has its maximum of %d peers from %s in their hello", l.MaxHostHellos, host)}
	case h.conns >= l.MaxHostConns:
		refusal = &relayRefusal{relayLimit, fmt.Sprintf("the relay holds its maximum of %d connections from %s", l.MaxHostConns, host)}
	}
	if refusal != nil {
		if r.refusing >= r.limits.MaxHellos {
			if h.conns == 0 {
				delete(r.hosts, host)
			}
			return refusal, false
		}
		r.refusing++
	} else {
		r.hellos++
		h.hellos++
	}
	h.conns++
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	return refusal, true
}

// helloDone moves one of host's connections out of its hello.
func (r *Relay) helloDone(host string) {
	r.mu.Lock()
	r.hellos--
	r.hosts[host].hellos--
	r.mu.Unlock()
}

// release forgets c, which admit counted, and closes it.
func (r *Relay) release(c net.Conn, host string) {
	r.mu.Lock()
	delete(r.conns, c)
	if h := r.hosts[host]; h != nil {
		if h.conns--; h.conns == 0 {
			delete(r.hosts, host)
		}
	}
	r.mu.Unlock()
	c.Close()
	r.wg.Done()
}

// Close stops the relay: listeners, the servers' connections and every
// session it carries close. It returns when its goroutines have exited.
func (r *Relay) Close() error {
	r.mu.Lock()
	if !r.closed {
		close(r.done)
	}
	r.closed = true
	for l := range r.listeners {
		l.Close()
	}
	for c := range r.conns {
		c.Close()
	}
	for _, rs := range r.servers {
		if rs.sess != nil {
			rs.sess.Close()
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

// refused reports a refusal, rate-limited.
func (r *Relay) refused(e RelayEvent) {
	if r.log == nil {
		return
	}
	ok, suppressed := r.refusalLog.allow(time.Now())
	if !ok {
		return
	}
	e.Kind, e.Suppressed = "refused", suppressed
	r.log(e)
}

// serveConn reads one peer's hello and hands the connection on, or
// answers it refusal (a limit admit found reached).
func (r *Relay) serveConn(c net.Conn, host string, refusal *relayRefusal) {
	defer r.release(c, host)
	remote := c.RemoteAddr().String()
	c.SetDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	role, name, bad, err := readRelayHello(c)
	if refusal != nil {
		// Answered after the hello, so that closing does not reset
		// the connection with the hello unread (the peer would see a
		// reset, not the reason).
		defer func() {
			r.mu.Lock()
			r.refusing--
			r.mu.Unlock()
		}()
		if err == nil || bad != nil {
			c.Write(refusal.encode())
		}
		r.refused(RelayEvent{Remote: remote, Name: name, Code: CodeLimitExceeded, Reason: refusal.reason})
		return
	}
	inHello := true
	defer func() {
		if inHello {
			r.helloDone(host)
		}
	}()
	if err != nil {
		code := CodeProtocolError
		if bad != nil {
			c.Write(bad.encode())
		} else if pbio.IsTimeout(err) {
			code, err = CodeLimitExceeded, fmt.Errorf("the hello did not arrive within the relay's handshake timeout (%v)", r.cfg.HandshakeTimeout)
		}
		r.refused(RelayEvent{Remote: remote, Code: code, Reason: err.Error()})
		return
	}
	if r.secret != nil {
		if _, err := c.Write([]byte{relayAuthRequired}); err != nil {
			return
		}
		if _, err := serverAuth(c, r.secret); err != nil {
			reason := "the shared-secret exchange did not finish: " + err.Error()
			if errors.Is(err, errSecret) {
				reason = "the peer's proof of the relay's shared secret was wrong: it has another secret"
			}
			r.refused(RelayEvent{Remote: remote, Name: name, Code: CodeAuthFailed, Reason: reason})
			return
		}
	} else if _, err := c.Write([]byte{relayOK}); err != nil {
		return
	}
	inHello = false
	r.helloDone(host)
	switch role {
	case relayServe:
		r.register(c, name)
	case relayConnect:
		r.connect(c, name)
	case relaySelf:
		if !r.takeClientOf(c, nil, "") {
			return
		}
		defer r.dropClient(nil)
		if _, err := c.Write([]byte{relayOK}); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		r.self.ServeConn(c) // the server closes c; release's Close is a no-op
	}
}

// readRelayHello reads a peer's hello: its role and name. On error, bad is
// the refusal to answer (relayBadHello), or nil to close without a word
// (not a relay hello at all, or cut short).
func readRelayHello(rd io.Reader) (role byte, name string, bad *relayRefusal, err error) {
	var head [7]byte
	if _, err := io.ReadFull(rd, head[:]); err != nil {
		return 0, "", nil, fmt.Errorf("the hello did not arrive: %w", err)
	}
	if [4]byte(head[:4]) != relayMagic {
		return 0, "", nil, fmt.Errorf("not an ifkit relay hello (it sent % x)", head[:])
	}
	role, n := head[5], int(head[6]) // n ≤ 255: bounded before allocation
	b := make([]byte, n)
	if _, err := io.ReadFull(rd, b); err != nil {
		return 0, "", nil, fmt.Errorf("the hello was cut short: %w", err)
	}
	var reason string
	switch {
	case head[4] != relayVersion:
		reason = fmt.Sprintf("relay protocol version %d; this relay speaks %d", head[4], relayVersion)
	case role < relayServe || role > relaySelf:
		reason = fmt.Sprintf("an unknown role %d (1 serve, 2 connect, 3 the relay itself)", role)
	case role == relaySelf && n == 0:
	case role == relaySelf:
		reason = "the relay itself is asked for with no name"
	default:
		if err := checkRelayName(string(b)); err != nil {
			reason = "a bad " + err.Error()
			if n == 0 {
				reason = "no name"
			}
		}
	}
	if reason != "" {
		return 0, "", &relayRefusal{relayBadHello, reason}, fmt.Errorf("a bad hello: %s", peerText([]byte(reason)))
	}
	return role, string(b), nil, nil
}

// refuse answers c a refusal, and reports it.
func (r *Relay) refuse(c net.Conn, name string, f relayRefusal) {
	c.SetWriteDeadline(time.Now().Add(r.cfg.ConnectionWriteTimeout))
	c.Write(f.encode())
	r.refused(RelayEvent{Name: name, Remote: c.RemoteAddr().String(), Code: relayRefusalCodes[f.status], Reason: f.reason})
}

// register holds a server's connection under name until it goes. The name
// is first come, first served: a newcomer takes it over only from a
// holder that does not answer a ping within half the relay's handshake
// timeout (its connection is gone, and the relay has not noticed yet).
func (r *Relay) register(c net.Conn, name string) {
	remote := c.RemoteAddr().String()
	r.mu.Lock()
	old := r.servers[name]
	switch {
	case r.closed:
		r.mu.Unlock()
		return
	case old != nil && (old.sess == nil || old.probing):
		r.mu.Unlock()
		r.refuse(c, name, relayRefusal{relayNameTaken, fmt.Sprintf("another server is registering as %q", name)})
		return
	case old == nil && len(r.servers) >= r.limits.MaxServers:
		r.mu.Unlock()
		r.refuse(c, name, relayRefusal{relayLimit, fmt.Sprintf("the relay holds its maximum of %d servers", r.limits.MaxServers)})
		return
	case old != nil:
		old.probing = true
		r.mu.Unlock()
		alive := r.alive(old.sess)
		r.mu.Lock()
		old.probing = false
		if r.servers[name] == old {
			if alive {
				r.mu.Unlock()
				r.refuse(c, name, relayRefusal{relayNameTaken, fmt.Sprintf("another server is registered as %q, and it answers: stop it, or choose another name", name)})
				return
			}
			// The holder is gone: the newcomer takes the name over.
			delete(r.servers, name)
			r.mu.Unlock()
			old.sess.Close()
			r.forgotten(name, remote, "its connection stopped answering, and another server registered the name")
			r.mu.Lock()
		}
		if r.servers[name] != nil || r.closed {
			r.mu.Unlock()
			r.refuse(c, name, relayRefusal{relayNameTaken, fmt.Sprintf("another server is registering as %q", name)})
			return
		}
	}
	rs := &relayedServer{} // reserved, not written to under mu
	r.servers[name] = rs
	r.mu.Unlock()
	var sess *yamux.Session
	c.SetWriteDeadline(time.Now().Add(r.cfg.ConnectionWriteTimeout))
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
	rs.sess = sess
	r.mu.Unlock()
	r.event(RelayEvent{Kind: "learned", Name: name, Remote: remote})
	r.self.hub.Notify(&control.ServersChanged{Learned: []string{name}})
	// A server never opens streams: the relay opens them. One that does
	// breaks the protocol and is cut off.
	why := "its connection ended"
	if st, err := sess.AcceptStream(); err == nil {
		st.Close()
		why = "it opened a stream (servers accept the relay's streams, they do not open any)"
		r.refused(RelayEvent{Name: name, Remote: remote, Code: CodeProtocolError, Reason: why})
	} else if cause := sessionCause(sess)(); cause != nil && !errors.Is(cause, io.EOF) && !errors.Is(cause, yamux.ErrSessionShutdown) {
		why += ": " + cause.Error()
	}
	sess.Close()
	r.mu.Lock()
	mine := r.servers[name] == rs
	if mine {
		delete(r.servers, name)
	}
	if r.closed {
		why = "the relay is closing"
	}
	r.mu.Unlock()
	if mine { // else taken over, and reported as forgotten then
		r.forgotten(name, remote, why)
	}
}

// forgotten reports that name's server has gone.
func (r *Relay) forgotten(name, remote, why string) {
	r.event(RelayEvent{Kind: "forgotten", Name: name, Remote: remote, Reason: why})
	r.self.hub.Notify(&control.ServersChanged{Forgotten: []string{name}})
}

// alive reports whether sess answers a ping within half the relay's
// handshake timeout.
func (r *Relay) alive(sess *yamux.Session) bool {
	pong := make(chan error, 1)
	r.wg.Add(1)
	go func() { // bounded by the session's ConnectionWriteTimeout
		defer r.wg.Done()
		_, err := sess.Ping()
		pong <- err
	}()
	t := time.NewTimer(r.cfg.HandshakeTimeout / 2)
	defer t.Stop()
	select {
	case err := <-pong:
		return err == nil
	case <-t.C:
		return false
	}
}

// connect pipes a client to a new stream of the named server's connection.
func (r *Relay) connect(c net.Conn, name string) {
	r.mu.Lock()
	rs := r.servers[name]
	if rs == nil || rs.sess == nil {
		r.mu.Unlock()
		r.refuse(c, name, relayRefusal{relayUnknownName, fmt.Sprintf("no server named %q is registered with the relay", name)})
		return
	}
	r.mu.Unlock()
	if !r.takeClientOf(c, rs, name) {
		return
	}
	defer r.dropClient(rs)
	st, err := rs.sess.OpenStream()
	if err != nil {
		r.refuse(c, name, relayRefusal{relayUnavailable, fmt.Sprintf("the relay's connection to %q failed: %v", name, err)})
		return
	}
	defer st.Close()
	c.SetWriteDeadline(time.Now().Add(r.cfg.ConnectionWriteTimeout))
	if _, err := c.Write([]byte{relayOK}); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	r.event(RelayEvent{Kind: "connected", Name: name, Remote: c.RemoteAddr().String()})
	pipe(c, st, r.limits.PipeBuffer, r.cfg.ConnectionWriteTimeout, r.tap)
}

// takeClientOf counts one client session, to the server rs (nil: the relay
// itself), or refuses c when MaxClients or rs's MaxStreamsPerServer is
// reached.
func (r *Relay) takeClientOf(c net.Conn, rs *relayedServer, name string) bool {
	r.mu.Lock()
	var reason string
	switch {
	case r.clients >= r.limits.MaxClients:
		reason = fmt.Sprintf("the relay relays its maximum of %d client sessions", r.limits.MaxClients)
	case rs != nil && rs.streams >= r.limits.MaxStreamsPerServer:
		reason = fmt.Sprintf("the relay relays its maximum of %d client sessions to %q", r.limits.MaxStreamsPerServer, name)
	}
	if reason != "" {
		r.mu.Unlock()
		r.refuse(c, name, relayRefusal{relayLimit, reason})
		return false
	}
	r.clients++
	if rs != nil {
		rs.streams++
	}
	r.mu.Unlock()
	return true
}

// dropClient releases what takeClientOf counted.
func (r *Relay) dropClient(rs *relayedServer) {
	r.mu.Lock()
	r.clients--
	if rs != nil {
		rs.streams--
	}
	r.mu.Unlock()
}

// pipe copies bytes both ways until either side ends, then closes both.
// Each direction holds one buffer of bufSize bytes, and nothing more: a
// write to the client that does not finish within writeTimeout (a client
// that reads nothing) ends the pipe.
func pipe(client, server net.Conn, bufSize int, writeTimeout time.Duration, tap func([]byte)) {
	done := make(chan struct{}, 2)
	var toServer io.Writer = server
	if tap != nil {
		toServer = io.MultiWriter(server, tapWriter(tap))
	}
	copyBuf := func(dst io.Writer, src io.Reader) {
		// Plain Reader and Writer: io.CopyBuffer would otherwise hand over
		// to a ReaderFrom or WriterTo with buffers of its own.
		io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, bufSize))
		done <- struct{}{}
	}
	go copyBuf(toServer, client)
	go copyBuf(deadlineWriter{client, writeTimeout}, server)
	<-done
	client.Close()
	server.Close()
	<-done
}

// deadlineWriter bounds each write to a connection.
type deadlineWriter struct {
	c       net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(b []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.c.Write(b)
}

type tapWriter func([]byte)

func (f tapWriter) Write(b []byte) (int, error) { f(append([]byte(nil), b...)); return len(b), nil }

// WithRelayTap calls f with every byte the relay carries from clients to
// servers, as it carries them: for tests that check what a relay can see.
func WithRelayTap(f func([]byte)) RelayOption {
	return relayOption(func(r *Relay) { r.tap = f })
}
