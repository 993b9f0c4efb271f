package iface

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/muxguard"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// Interface is what a server hosts for one manifest: the handlers of the
// messages it receives and the hooks of its connections.
type Interface struct {
	Manifest *manifest.Manifest
	// Handlers handle received messages by type name; CatchAll those of any
	// other type. Without either, messages wait for Conn.Recv.
	Handlers map[string]Handler
	CatchAll Handler
	// InlineHandlers runs the handlers on each connection's reader with
	// borrowed messages, without a copy, a queue or a goroutine; see
	// data.Config.InlineHandlers for what a handler may then do.
	InlineHandlers bool
	// ManualCredit grants each connection its credit window when it opens
	// and renews it only when the application calls Conn.Request, not as
	// messages are taken (Recv, handlers): for a sink whose credit means
	// "stored", granted once what it took is committed.
	ManualCredit bool
	// OnConnect runs for each new connection, in a goroutine the server owns,
	// with a context cancelled when the connection ends or the server closes.
	// A send interface typically streams from here.
	OnConnect func(ctx context.Context, c *Conn)
	// OnReset serves the control operation reset ("reset the data location
	// on the server side", e.g. seek to position). Needed when the manifest
	// offers reset.
	OnReset func(ctx context.Context, c *Conn, position string) error
	// Spawn, if set, is the per-connection handler factory: it runs for
	// each new connection before the server accepts it, with the
	// parameters the client opened it with (checked against the manifest's
	// params), and returns the connection's handlers and OnConnect, used in
	// place of the fields above. An error refuses the stream with its code
	// (a *RemoteError's; internal otherwise) and text. It runs on the
	// stream's handshake, with a context that ends after HandshakeTimeout.
	Spawn func(ctx context.Context, p Params) (*Spawned, error)
	// OnRefused, if set, is called for each message the client refused,
	// with the client's code, reason and the message's sequence number. It
	// runs on the connection's reader and must return quickly.
	OnRefused func(c *Conn, e *RemoteError)
}

// ServerOption configures NewServer.
type ServerOption interface{ applyServer(*Server) }

type serverOption func(*Server)

func (f serverOption) applyServer(s *Server) { f(s) }

// WithAllowedPeers admits on Unix sockets only peers whose user id is in
// uids or whose group id is in gids, as the kernel reports them (SO_PEERCRED).
// It has no effect on TCP.
func WithAllowedPeers(uids, gids []int) ServerOption {
	return serverOption(func(s *Server) { s.allowUIDs, s.allowGIDs = uids, gids })
}

// WithOnRefusal calls f for every session and stream the server turns away:
// a peer that is not ifkit or speaks another version, a session refused at
// its preface (draining, the connection limit, the peer-credential
// allow-list) or its shared-secret exchange, and a stream refused at its
// handshake. The peer is told the code wherever the protocol can carry it;
// f is for the server's own log. It runs on the refusing goroutine, so it
// should return quickly.
func WithOnRefusal(f func(Refusal)) ServerOption {
	return serverOption(func(s *Server) { s.onRefusal = f })
}

// A Refusal is a session or stream the server turned away.
type Refusal struct {
	Remote    string // the peer's address ("" or "@" for most Unix peers)
	Interface string // the interface a refused stream asked for, if it said
	Code      Code
	Reason    string
}

func (r Refusal) String() string {
	s := "refused " + r.Remote
	if r.Remote == "" || r.Remote == "@" {
		s = "refused a peer"
	}
	if r.Interface != "" {
		s += " (" + r.Interface + ")"
	}
	return s + ": " + r.Code.String() + ": " + r.Reason
}

// Server hosts interfaces on listeners. Create one with NewServer, add
// interfaces with Register, then Serve.
type Server struct {
	common
	allowUIDs []int
	allowGIDs []int
	onRefusal func(Refusal)
	registry  string // WithRegistry's folder (registry.go)
	// relayNames, on a Relay's own server, lists the servers it relays to.
	relayNames func() []string

	adminSecret   []byte       // WithAdminSecret (operator.go)
	operatorNames []string     // WithOperatorCertNames
	stats         serverStats  // stats.go
	log           *slog.Logger // WithLogger (log.go)
	refusalLog    refusalLimit

	hub *control.Hub // the control streams

	mu        sync.Mutex
	ifaces    map[string]*Interface
	listeners map[net.Listener]struct{}
	sessions  map[*yamux.Session]struct{}
	conns     map[uint64]*servedConn
	topics    map[string]*Topic  // by interface name (topic.go)
	ending    map[*Conn]struct{} // ended, but still writing their CLOSE or lingering
	// resumeTokens names the resumable connections (resume.go) by token.
	resumeTokens map[string]uint64
	draining     bool
	closed       bool
	changed      chan struct{} // closed and replaced when a connection has finished ending

	ids    idSource       // connection ids (ids.go)
	wg     sync.WaitGroup // every goroutine the server started
	ctx    context.Context
	cancel context.CancelFunc
}

// NewServer returns a server with no interfaces.
func NewServer(opts ...ServerOption) *Server {
	s := &Server{
		common:    defaultCommon(),
		ifaces:    map[string]*Interface{},
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*yamux.Session]struct{}{},
		conns:     map[uint64]*servedConn{},
		ending:    map[*Conn]struct{}{},
		changed:   make(chan struct{}),

		resumeTokens: map[string]uint64{},
	}
	for _, o := range opts {
		o.applyServer(s)
	}
	s.hub = control.NewHub(control.HubConfig{
		WriteTimeout: s.cfg.ConnectionWriteTimeout,
		CloseTimeout: s.cfg.CloseTimeout,
		ResetTimeout: s.cfg.HandshakeTimeout,
		FrameTimeout: s.cfg.FrameTimeout,
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Register adds an interface. Registering a name twice replaces the first
// (new connections get the new manifest; control streams are told).
func (s *Server) Register(i Interface) error {
	if i.Manifest == nil {
		return errors.New("iface: Register: Interface.Manifest is nil")
	}
	if i.Manifest.Offers(manifest.OpReset) && i.OnReset == nil {
		return fmt.Errorf("iface: Register %s: the manifest offers reset, so OnReset must be set", i.Manifest.Name)
	}
	for name := range i.Handlers {
		t, ok := i.Manifest.Type(name)
		if !ok || t.Direction != manifest.Recv {
			return fmt.Errorf("iface: Register %s: handler for %q, which is not a type the server receives (messages.recv)", i.Manifest.Name, name)
		}
	}
	s.instrument(&i)
	s.mu.Lock()
	old, existed := s.ifaces[i.Manifest.Name]
	s.ifaces[i.Manifest.Name] = &i
	s.mu.Unlock()
	switch {
	case !existed:
		s.hub.Notify(&control.InterfacesChanged{Added: []string{i.Manifest.Name}})
	case old.Manifest.Hash() != i.Manifest.Hash():
		s.hub.Notify(&control.ManifestChanged{Interface: i.Manifest.Name, Hash: i.Manifest.Hash()})
	}
	return nil
}

// Unregister removes the named interface (seeds/001's "forget"): new
// streams for it are refused with unknown_interface, its open connections
// end with unknown_interface and a reason saying it was unregistered, and
// control streams are told (InterfacesChanged.Removed). It reports whether
// the interface was hosted.
func (s *Server) Unregister(name string) bool {
	s.mu.Lock()
	_, ok := s.ifaces[name]
	delete(s.ifaces, name)
	var ending []*Conn
	for _, sc := range s.conns {
		if sc.iface.Manifest.Name == name {
			ending = append(ending, sc.conn)
		}
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	reason := fmt.Sprintf("the server unregistered %s", name)
	for _, c := range ending {
		c.End(localClose(CodeUnknownInterface, reason, nil))
	}
	s.hub.Down(control.MonitorTarget{Interface: name}, CodeUnknownInterface, reason)
	s.hub.Notify(&control.InterfacesChanged{Removed: []string{name}})
	return true
}

// iface returns the hosted interface of that name, or nil.
func (s *Server) iface(name string) *Interface {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ifaces[name]
}

// Interfaces returns the hosted manifests, sorted by name.
func (s *Server) Interfaces() []*manifest.Manifest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*manifest.Manifest, 0, len(s.ifaces))
	for _, i := range s.ifaces {
		out = append(out, i.Manifest)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
const ErrServerClosed errorString = "ifkit: server closed"

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	unregister, err := s.register(l)
	if err != nil {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
		return err
	}
	defer unregister()
	var pause time.Duration // after running out of file descriptors
	for {
		raw, err := l.Accept()
		if err != nil {
			if outOfFiles(err) && s.ctx.Err() == nil {
				// A flood of connections must not stop the server: wait
				// for some to end, and accept again (as the relay does).
				pause = min(max(2*pause, acceptPauseMin), acceptPauseMax)
				s.refused(nil, "", CodeLimitExceeded, fmt.Sprintf("accepting a connection on %s: %v; accepting again in %v (raise the process's open-file limit)", l.Addr(), err, pause))
				t := time.NewTimer(pause)
				select {
				case <-t.C:
					continue
				case <-s.ctx.Done():
					t.Stop()
				}
			}
			s.mu.Lock()
			stopping := s.closed || s.draining
			delete(s.listeners, l)
			s.mu.Unlock()
			l.Close()
			if stopping {
				return ErrServerClosed
			}
			return err
		}
		pause = 0
		s.wg.Add(1)
		go s.serveSession(raw)
	}
}

// ServeConn serves one session on conn, a connection the server has
// already (one it dialed itself, to serve from behind a firewall through a
// relay; a stream another transport carried): the preface, the shared
// secret and yamux run over it as over an accepted socket. It returns when
// the session ends, or ErrServerClosed at once after Shutdown or Close.
// The server owns conn.
func (s *Server) ServeConn(conn net.Conn) error {
	if err := s.cfg.Validate(); err != nil {
		conn.Close()
		return err
	}
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		conn.Close()
		return ErrServerClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.serveSession(conn)
	return nil
}

// ListenAndServe listens on addr (see ParseAddr) and serves.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	l, err := Listen(ctx, addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// serveSession runs the preface and yamux on one accepted socket.
func (s *Server) serveSession(raw net.Conn) {
	defer s.wg.Done()
	raw.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if _, err := readPreface(raw); err != nil {
		code := CodeTransportError // the socket failed: a reset, or TLS refused
		switch {
		case pbio.IsTimeout(err):
			code, err = CodeLimitExceeded, fmt.Errorf("the preface did not arrive within the server's handshake timeout (%v)", s.cfg.HandshakeTimeout)
		case errors.Is(err, ErrNotIfkit):
			code = CodeProtocolError
		case errors.Is(err, errBadVersion):
			code = CodeUnsupportedVersion
			raw.Write(preface(prefaceBadVersion))
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			code = CodeProtocolError // a preface cut short
			raw.Write(preface(prefaceBadVersion))
		}
		raw.Close()
		s.refused(raw.RemoteAddr(), "", code, err.Error())
		return
	}
	status, code, reason := byte(prefaceOK), CodeOK, ""
	s.mu.Lock()
	switch {
	case s.draining || s.closed:
		status, code, reason = prefaceRefused, CodeDraining, "the server is shutting down"
	case s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections:
		status, code, reason = prefaceRefused, CodeLimitExceeded, fmt.Sprintf("the server holds its maximum of %d connections", s.cfg.MaxConnections)
	}
	s.mu.Unlock()
	if status == prefaceOK && !s.peerAllowed(raw) {
		status, code, reason = prefaceNotAllowed, CodeAuthFailed, "the peer's user and group are not on the server's allow-list"
	}
	if status == prefaceOK && s.secret != nil {
		status = prefaceAuthRequired
	}
	if _, err := raw.Write(preface(status)); err != nil || (status != prefaceOK && status != prefaceAuthRequired) {
		raw.Close()
		if code != CodeOK {
			s.refused(raw.RemoteAddr(), "", code, reason)
		}
		return
	}
	var key []byte // the session key, when authenticated
	if status == prefaceAuthRequired {
		var err error
		if key, err = serverAuth(raw, s.secret); err != nil {
			raw.Close()
			reason := "the shared-secret exchange did not finish: " + err.Error()
			if errors.Is(err, errSecret) {
				reason = "the client's proof of the shared secret was wrong: it has another secret"
			}
			s.refused(raw.RemoteAddr(), "", CodeAuthFailed, reason)
			return
		}
	}
	raw.SetDeadline(time.Time{})
	p := s.newPeer(raw, key != nil)
	// yamux answers each Ping from a goroutine of its own: the guard ends a
	// session that floods them (spec/PROTOCOL.md §3.6).
	guard, err := muxguard.New(raw, muxguard.DefaultConfig())
	if err != nil {
		raw.Close()
		return
	}
	sess, err := yamux.Server(coalesce(guard, raw), withoutKeepAlive(s.cfg.yamux()))
	if err != nil {
		raw.Close()
		return
	}
	startKeepAlive(sess, s.cfg.KeepAliveInterval)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		closeSession(sess)
		return
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	var lastOpen atomic.Int64 // unix nanoseconds of the last stream opened
	lastOpen.Store(time.Now().UnixNano())
	stopIdle := closeWhenIdle(sess, s.cfg.IdleTimeout, &lastOpen)
	defer func() {
		stopIdle()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		closeSession(sess)
	}()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			if gerr := guard.Err(); gerr != nil {
				s.refused(raw.RemoteAddr(), "", CodeTransportError, gerr.Error())
			}
			return
		}
		lastOpen.Store(time.Now().UnixNano())
		if sess.NumStreams() > s.cfg.MaxStreams {
			st.Close()
			s.refused(st.RemoteAddr(), "", CodeLimitExceeded, fmt.Sprintf("more than the server's maximum of %d streams open on one session", s.cfg.MaxStreams))
			continue
		}
		s.wg.Add(1)
		go s.serveStream(sess, key, p, st)
	}
}

// closeWhenIdle closes sess once it has had no open stream for d (checked
// every d/4, so it closes between d and 1.25 d). lastOpen is when the last
// stream was opened. It returns a function that stops the watch; d == 0
// watches nothing.
func closeWhenIdle(sess *yamux.Session, d time.Duration, lastOpen *atomic.Int64) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	idleSince := time.Now()
	check := func() {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		now := time.Now()
		if sess.NumStreams() > 0 || time.Unix(0, lastOpen.Load()).After(idleSince) {
			idleSince = now
		} else if now.Sub(idleSince) >= d {
			stopped = true
			mu.Unlock()
			closeSession(sess) // not under mu: a Go Away may wait for the peer
			return
		}
		t.Reset(d / 4)
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(d/4, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// serveStream runs one stream's handshake and hands it to a data connection
// or a control server.
func (s *Server) serveStream(sess *yamux.Session, key []byte, p *peer, st *yamux.Stream) {
	defer s.wg.Done()
	st.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	br := bufio.NewReaderSize(st, streamReadBuffer)
	var open sessionpb.OpenStream
	if err := pbio.Read(br, &open, maxHandshakeBytes); err != nil {
		code, reason := CodeProtocolError, "bad stream handshake: "+err.Error()
		switch {
		case errors.Is(err, pbio.ErrTooLarge):
			code = CodeLimitExceeded
		case pbio.IsTimeout(err):
			code, reason = CodeLimitExceeded, fmt.Sprintf("the stream's handshake did not arrive within the server's handshake timeout (%v)", s.cfg.HandshakeTimeout)
		}
		st.SetWriteDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
		s.refuse(st, nil, code, reason)
		return
	}
	s.mu.Lock()
	iface := s.ifaces[open.GetInterface()]
	draining := s.draining || s.closed
	s.mu.Unlock()
	switch {
	case draining:
		s.refuse(st, &open, CodeDraining, "the server is shutting down")
		return
	case open.GetKind() == sessionpb.StreamKind_STREAM_KIND_CONTROL:
		s.serveControl(sess, p, st, br, &open, iface)
		return
	case open.GetKind() != sessionpb.StreamKind_STREAM_KIND_DATA:
		s.refuse(st, &open, CodeProtocolError, fmt.Sprintf("unknown stream kind %d", open.GetKind()))
		return
	case iface == nil:
		s.refuse(st, &open, CodeUnknownInterface, fmt.Sprintf("no interface %q here; this server has %s", open.GetInterface(), s.interfaceNames()))
		return
	case open.GetResume() != nil:
		s.resumeData(sess, key, p, st, br, &open, iface)
		return
	}
	s.openData(sess, key, p, st, br, &open, iface)
}

func (s *Server) interfaceNames() string {
	var names []string
	for _, m := range s.Interfaces() {
		names = append(names, m.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// refuse answers a stream handshake with a code and closes the stream.
// refuse answers a stream's handshake with code and reason, closes the
// stream and reports the refusal. open is the stream's request, or nil if
// it could not be read.
func (s *Server) refuse(st net.Conn, open *sessionpb.OpenStream, code Code, reason string) {
	pbio.Write(st, &sessionpb.OpenResult{Code: uint32(code), Reason: reason})
	st.Close()
	s.refused(st.RemoteAddr(), open.GetInterface(), code, reason)
}

// refused reports a session or stream turned away to the WithOnRefusal hook.
func (s *Server) refused(remote net.Addr, iface string, code Code, reason string) {
	s.stats.refusal(code)
	if s.onRefusal == nil && s.log == nil {
		return
	}
	r := Refusal{Interface: iface, Code: code, Reason: reason}
	if remote != nil {
		r.Remote = remote.String()
	}
	s.logRefusal(r)
	if s.onRefusal != nil {
		s.onRefusal(r)
	}
}

// negotiate picks the server's most preferred codec the client accepts.
func (s *Server) negotiate(m *manifest.Manifest, accepted []string) (codec.Codec, error) {
	for _, name := range m.Codecs {
		if len(accepted) > 0 && !contains(accepted, name) {
			continue
		}
		if c, ok := s.codecs.Lookup(name); ok {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no codec in common: %s offers %v, the client accepts %v", m.Name, m.Codecs, accepted)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) openData(sess *yamux.Session, key []byte, p *peer, st *yamux.Stream, br *bufio.Reader, open *sessionpb.OpenStream, i *Interface) {
	m := i.Manifest
	c, err := s.negotiate(m, open.GetCodecs())
	if err != nil {
		s.refuse(st, open, CodeUnsupportedCodec, err.Error())
		return
	}
	flt, err := handshakeFilter(m, open, c.Name())
	if err != nil {
		s.refuse(st, open, CodeInvalidFilter, err.Error())
		return
	}
	params, err := checkParams(m, open.GetParams())
	if err != nil {
		s.refuse(st, open, CodeInvalidMessage, err.Error())
		return
	}
	handlers, catchAll, onConnect := i.Handlers, i.CatchAll, i.OnConnect
	if i.Spawn != nil {
		sp, code, err := s.spawn(i, params)
		if err != nil {
			s.refuse(st, open, code, err.Error())
			return
		}
		handlers, catchAll, onConnect = sp.Handlers, sp.CatchAll, sp.OnConnect
	}
	s.mu.Lock()
	if s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections {
		s.mu.Unlock()
		s.refuse(st, open, CodeLimitExceeded, fmt.Sprintf("the server holds its maximum of %d connections", s.cfg.MaxConnections))
		return
	}
	id := s.ids.next()
	s.mu.Unlock()
	var msgKey []byte
	if m.MessageAuth == manifest.MessageAuthHMAC {
		if key == nil {
			s.refuse(st, open, CodeAuthFailed, fmt.Sprintf("%s requires per-message authentication (message_auth: hmac-sha256), which needs a session authenticated with a shared secret", m.Name))
			return
		}
		msgKey = messageKey(key, id)
	}
	window := int64(0)
	if m.Direction.Receives() {
		window = int64(m.Flow.Credits)
	}
	result := &sessionpb.OpenResult{
		Code:         uint32(CodeOK),
		ConnectionId: id,
		Codec:        c.Name(),
		ManifestHash: m.Hash(),
		Credits:      uint64(window),
	}
	if open.GetManifestHash() != m.Hash() {
		result.Manifest = m.Canonical()
	}
	var resume *resumableConn
	if open.GetResumable() && s.cfg.ResumeGrace > 0 {
		token := newResumeToken()
		resume = &resumableConn{token: string(token)}
		result.ResumeToken, result.ResumeGraceMs = token, uint64(s.cfg.ResumeGrace/time.Millisecond)
	}
	conn := data.New(st, br, data.Config{
		ID:              id,
		Manifest:        m,
		Codec:           c,
		Server:          true,
		SendCredit:      int64(min(open.GetCredits(), uint64(m.Flow.Credits))),
		Window:          window,
		ReceivesNothing: !m.Direction.Receives(),
		AutoGrant:       true,
		ManualCredit:    i.ManualCredit,
		Handlers:        handlers,
		CatchAll:        catchAll,
		InlineHandlers:  i.InlineHandlers,
		OnRefused:       i.OnRefused,
		TransportErr:    sessionCause(sess),
		MessageKey:      msgKey,
		OnEnd:           s.forgetConn,
		Owner:           &s.wg,
		CloseTimeout:    s.cfg.CloseTimeout,
		WriteTimeout:    s.cfg.ConnectionWriteTimeout,
		FrameTimeout:    s.cfg.FrameTimeout,
		Resumable:       resume != nil,
		OnDetach:        s.serverDetached,
	})
	if flt != nil {
		conn.SetFilter(flt)
	}
	// Announced before it is registered, so nothing can end it (and
	// announce that) first; registered before the answer, so a control
	// stream the client opens as soon as it has the id finds it.
	s.notifyConn(conn, &control.ConnectionOpened{ConnectionID: id, Interface: m.Name, Codec: c.Name(), Client: open.GetClient()})
	s.mu.Lock()
	s.conns[id] = &servedConn{conn: conn, sess: sess, iface: i, peer: p, client: open.GetClient(), resume: resume}
	if resume != nil {
		s.resumeTokens[resume.token] = id
	}
	s.mu.Unlock()
	s.stats.opened(m.Name)
	s.logOpened(conn, p, open.GetClient())
	if err := pbio.Write(st, result); err != nil {
		conn.Abandon(localClose(CodeTransportError, "writing the handshake answer", err))
		st.Close()
		return
	}
	st.SetDeadline(time.Time{})
	conn.Start()
	s.subscribe(conn)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		conn.End(localClose(CodeDraining, "the server closed", nil))
	}
	if onConnect != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// The connection's own context: Close ends every connection,
			// so it is also cancelled when the server closes. (A context of
			// the server's joined to it would leave each connection's
			// context a map of children and a done channel, ~0.35 KiB.)
			onConnect(conn.Context(), conn)
		}()
	}
}

// servedConn is a connection the server holds, with the session it is on.
type servedConn struct {
	conn   *Conn
	sess   *yamux.Session
	iface  *Interface
	peer   *peer
	client string         // the name the client gave in OpenStream
	resume *resumableConn // a resumable connection's (resume.go); guarded by the server's mu
}

// forgetConn is called when c ends. It stays in s.ending until its
// goroutines have returned, having written its CLOSE frame: Shutdown waits
// for that, so it never closes a session under a CLOSE still being written.
func (s *Server) forgetConn(c *Conn) {
	cc := &control.ConnectionClosed{ConnectionID: c.ID(), Interface: c.Manifest().Name}
	var ce *CloseError
	if errors.As(c.Err(), &ce) {
		cc.Code, cc.Reason = ce.Code, ce.Reason
	}
	s.mu.Lock()
	if sc := s.conns[c.ID()]; sc != nil && sc.resume != nil {
		delete(s.resumeTokens, sc.resume.token)
	}
	delete(s.conns, c.ID())
	s.ending[c] = struct{}{}
	s.stats.ended(cc.Interface, cc.Code, ConnStats(c.Stats())) // under mu: see statsOf
	s.mu.Unlock()
	s.unsubscribe(c)
	s.logClosed(c)
	s.notifyConn(c, cc)
	s.hub.Down(control.MonitorTarget{ConnectionID: c.ID()}, cc.Code, cc.Reason)
	// Not from zero: c's own goroutines, counted in s.wg, cannot exit
	// before its end, which is running now.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.Wait()
		s.mu.Lock()
		delete(s.ending, c)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}()
}

// conn returns the live connection with id, or nil.
func (s *Server) conn(id uint64) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.conns[id]; sc != nil {
		return sc.conn
	}
	return nil
}

// Shutdown stops the server gracefully: it stops accepting, tells control
// streams it is draining, and waits for connections to end until ctx is
// done; it then closes what remains as Close does. It returns ctx's error if
// connections had to be cut off.
func (s *Server) Shutdown(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	s.Drain(deadline)
	var err error
	for err == nil {
		s.mu.Lock()
		n, changed := len(s.conns)+len(s.ending), s.changed
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-changed:
		}
	}
	s.Close()
	return err
}

// Close stops the server at once: listeners close, every connection ends
// with code draining, sessions close. It returns when every goroutine the
// server started has exited.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*Conn, 0, len(s.conns)+len(s.ending))
	for _, sc := range s.conns {
		conns = append(conns, sc.conn)
	}
	for c := range s.ending {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.End(localClose(CodeDraining, "the server closed", nil))
	}
	for _, c := range conns {
		c.Wait() // the CLOSE frames are written before the sessions go
	}
	// Monitors of the interfaces and of the server are told; control
	// streams write what they have queued (those downs, a Draining
	// notice) before the sessions under them close.
	for _, m := range s.Interfaces() {
		s.hub.Down(control.MonitorTarget{Interface: m.Name}, CodeDraining, "the server closed")
	}
	s.hub.Down(control.MonitorTarget{Server: true}, CodeDraining, "the server closed")
	s.hub.Close()
	s.mu.Lock()
	sessions := make([]*yamux.Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	// At once: a Go Away to a peer that does not read waits up to
	// ConnectionWriteTimeout, and one such peer must not hold up the rest.
	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			closeSession(sess)
		}()
	}
	wg.Wait()
	s.wg.Wait()
	return nil
}

// closeSession ends a session as spec/PROTOCOL.md §3.6 says: a yamux Go
// Away, then the socket closed. (yamux's Close alone sends no Go Away.)
func closeSession(sess *yamux.Session) {
	if !sess.IsClosed() {
		sess.GoAway()
	}
	sess.Close()
}
