package control

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/internal/authmac"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// Host is what a Hub serves a control stream from: a server's interfaces
// and the connections that stream may act on.
type Host interface {
	// Interfaces returns the hosted manifests, sorted by name.
	Interfaces() []*manifest.Manifest
	// Manifest returns the hosted manifest of that name, or nil.
	Manifest(name string) *manifest.Manifest
	// Conn returns the live connection with that id on that interface, if
	// this stream may act on it, or nil: without anySession, only a
	// connection of the stream's own session (package iface's rule); with
	// it (the operator scope), one of any session.
	Conn(id uint64, iface string, anySession bool) Target
	// Connections returns the live connections of every session on iface
	// ("" for all), sorted by id (the operator scope's list).
	Connections(iface string) []Connection
	// ServerStats returns the server's counters for iface ("" for all).
	ServerStats(iface string) ServerStats
	// Refused reports an operator proof the stream failed, for the
	// server's log and counters (never with the secret or the proof).
	Refused(code codes.Code, reason string)
	// Operator reports that the stream proved the admin secret and has
	// the operator scope, for the server's log.
	Operator()
	// Alive reports whether a monitor's target lives (spec/PROTOCOL.md
	// §10.6): a connection of any session, a hosted interface, the server.
	// It is asked after the monitor is registered, so the host must call
	// Hub.Down only once the target is gone for Alive. An error refuses the
	// Monitor request with its code (codes.Of).
	Alive(t MonitorTarget) (bool, error)
	// Servers returns the names of the servers a relay relays to, sorted;
	// nil for a server that is not a relay.
	Servers() []string
}

// Target is a connection the control operations act on.
type Target interface {
	Stats() ConnStats
	Pause(paused bool)
	// Reset runs the interface's reset hook; ctx ends with the connection
	// or after HubConfig.ResetTimeout. An error that carries a code
	// (codes.Of) refuses the request with it, another with internal.
	Reset(ctx context.Context, position string) error
	// Close ends the connection with normal_close and reason.
	Close(reason string)
	// SetFilter replaces the connection's filter (the zero Filter removes
	// it); an error with a code (invalid_filter) refuses the request with it.
	SetFilter(f Filter) error
}

// opFilter is the control operation filter: offered on every interface
// with a control sub-interface, as the manifest's control list does not
// name it (spec/PROTOCOL.md §10.2).
const opFilter = "filter"

// HubConfig bounds a Hub's streams.
type HubConfig struct {
	// WriteTimeout bounds one write to a stream: a reader that stops for
	// longer has its stream closed.
	WriteTimeout time.Duration
	// CloseTimeout bounds the flush of queued notifications at Close.
	CloseTimeout time.Duration
	// ResetTimeout bounds a reset hook.
	ResetTimeout time.Duration
	// FrameTimeout bounds how long a request may take to arrive once its
	// first byte has (a quiet stream between requests is not timed): a
	// client that sends part of one and stops has its stream closed.
	FrameTimeout time.Duration
	// Queue bounds the notifications waiting for one stream (64 if 0);
	// beyond it they are dropped and counted, and the stream is sent one
	// NotificationsLost with the count once its reader catches up.
	Queue int
}

// Hub serves control streams and fans notifications out to all of them.
// Notify never waits for a stream.
type Hub struct {
	cfg HubConfig

	mu      sync.Mutex
	streams map[*stream]struct{}
	// monitors indexes every stream's monitors by target (monitor.go).
	monitors map[MonitorTarget]map[monRef]struct{}
	closed   bool
	wg       sync.WaitGroup // the streams' notification writers
}

// NewHub returns a hub with no streams.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	return &Hub{cfg: cfg, streams: map[*stream]struct{}{}}
}

// Scope is what one control stream was opened for.
type Scope struct {
	Host      Host
	Interface string // "" for the server as a whole
	Attach    uint64 // the connection the stream is attached to, or 0
	// Operator gives the stream the operator scope from the start (its
	// session's client certificate names an operator).
	Operator bool
	// AdminSecret, when set, lets the stream gain the operator scope by
	// proving it (operator_challenge, operator_proof).
	AdminSecret []byte
}

// stream is the server end of one control stream.
type stream struct {
	h       *Hub
	st      net.Conn
	scope   Scope
	wmu     sync.Mutex
	notes   chan Notification // for pushNotes to write
	qmu     sync.Mutex        // orders queue's drops with pushNotes' taking of the count
	lost    uint64            // dropped since the last NotificationsLost; under qmu
	done    chan struct{}     // closed by close
	last    chan struct{}     // closed by finish: write what is queued, then close
	once    sync.Once
	lastly  sync.Once
	pushing atomic.Bool

	// Request state, used only by Serve's loop.
	operator  bool   // the stream has the operator scope
	challenge []byte // the operator challenge not yet answered
	hangUp    bool   // close the stream once the current response is written
	// monitors are this stream's monitors by ref; under h.mu.
	monitors map[uint64]*MonitorTarget
	downs    []*controlpb.MonitorDown // fired, to be written; under qmu
	wake     chan struct{}            // tells pushNotes that downs has some
}

// Serve serves one control stream until it ends: it writes answer (the
// encoded handshake answer, which goes first), then answers requests in
// order and writes notifications between them. The stream is registered
// for notifications before answer is written, so a client that acts as soon
// as it has the answer misses none. br holds what the handshake read ahead.
func (h *Hub) Serve(st net.Conn, br *bufio.Reader, answer []byte, scope Scope) {
	s := &stream{
		h: h, st: st, scope: scope, operator: scope.Operator,
		notes:    make(chan Notification, h.cfg.Queue),
		done:     make(chan struct{}),
		last:     make(chan struct{}),
		monitors: map[uint64]*MonitorTarget{},
		wake:     make(chan struct{}, 1),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		st.Close()
		return
	}
	h.streams[s] = struct{}{}
	h.wg.Add(1) // for pushNotes, or released below
	h.mu.Unlock()
	defer func() {
		s.dropMonitors()
		h.mu.Lock()
		delete(h.streams, s)
		h.mu.Unlock()
		s.close()
	}()
	if err := s.writeBytes(answer, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
		h.wg.Done()
		return
	}
	st.SetDeadline(time.Time{})
	s.pushing.Store(true)
	go s.pushNotes()
	if br == nil {
		br = bufio.NewReader(st)
	}
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		if h.cfg.FrameTimeout > 0 {
			st.SetReadDeadline(time.Now().Add(h.cfg.FrameTimeout))
		}
		var f controlpb.ControlFrame
		if err := pbio.Read(br, &f, MaxMessageBytes); err != nil {
			return
		}
		st.SetReadDeadline(time.Time{})
		req := f.GetRequest()
		if req == nil {
			return // only requests travel client → server
		}
		if err := s.write(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Response{Response: s.handle(req)}}); err != nil || s.hangUp {
			return
		}
	}
}

// Notify queues n for every stream. It never waits: a stream whose queue
// is full loses n (counted, and told later with a NotificationsLost).
func (h *Hub) Notify(n Notification) {
	h.mu.Lock()
	streams := make([]*stream, 0, len(h.streams))
	for s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	for _, s := range streams {
		s.queue(n)
	}
}

// Close stops accepting streams and closes every stream once the
// notifications queued for it (a Draining notice, typically) are written,
// within CloseTimeout. It returns when the streams' writers have exited;
// their Serve calls return as their streams close.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	streams := make([]*stream, 0, len(h.streams))
	for s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	for _, s := range streams {
		s.finish()
	}
	for _, s := range streams {
		<-s.done
	}
	h.wg.Wait()
}

// queue adds n to the stream's queue. Once one notification is dropped,
// every later one is too until pushNotes has written the queue out and a
// NotificationsLost after it: the order the reader sees stays exact.
func (s *stream) queue(n Notification) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.lost == 0 {
		select {
		case s.notes <- n:
			return
		default:
		}
	}
	s.lost++
}

// takeLost returns the count of dropped notifications once the queue is
// written out, and resets it; 0 while the queue still holds some. Under
// qmu with queue: a drop that comes after the queue emptied either finds
// the count taken (and queues its notification, after the report) or is
// in the count taken.
func (s *stream) takeLost() uint64 {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if len(s.notes) > 0 {
		return 0
	}
	lost := s.lost
	s.lost = 0
	return lost
}

func (s *stream) write(m *controlpb.ControlFrame) error {
	return s.writeBy(m, time.Now().Add(s.h.cfg.WriteTimeout))
}

func (s *stream) writeBy(m *controlpb.ControlFrame, deadline time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.st.SetWriteDeadline(deadline)
	return pbio.Write(s.st, m)
}

func (s *stream) writeBytes(b []byte, deadline time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.st.SetWriteDeadline(deadline)
	_, err := s.st.Write(b)
	return err
}

func (s *stream) close() {
	s.once.Do(func() {
		close(s.done)
		s.st.Close()
	})
}

func frameOf(n Notification) *controlpb.ControlFrame {
	return &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Notification{Notification: toPB(n)}}
}

// pushNotes writes queued notifications until the stream closes, or until
// finish: then it writes what is queued and closes the stream. A write
// that does not finish within WriteTimeout closes the stream.
func (s *stream) pushNotes() {
	defer s.h.wg.Done()
	for {
		select {
		case n := <-s.notes:
			if s.write(frameOf(n)) != nil {
				s.close()
				return
			}
			// Drops happen only while the queue is full or after an
			// earlier drop, so the queue holds one to wake this loop
			// until the count is taken; once it is written out, the
			// count follows.
			if lost := s.takeLost(); lost > 0 && s.write(frameOf(&NotificationsLost{Count: lost})) != nil {
				s.close()
				return
			}
		case <-s.wake:
			for _, d := range s.takeDowns() {
				if s.write(downFrame(d)) != nil {
					s.close()
					return
				}
			}
		case <-s.last:
			deadline := time.Now().Add(s.h.cfg.CloseTimeout)
			// Monitors' downs first: they are never dropped.
			for _, d := range s.takeDowns() {
				s.writeBy(downFrame(d), deadline)
			}
			for {
				select {
				case n := <-s.notes:
					if s.writeBy(frameOf(n), deadline) == nil {
						continue
					}
				default:
					if lost := s.takeLost(); lost > 0 {
						s.writeBy(frameOf(&NotificationsLost{Count: lost}), deadline)
					}
				}
				s.close()
				return
			}
		case <-s.done:
			return
		}
	}
}

// finish closes the stream once the notifications queued so far are
// written (within CloseTimeout), or at once if it is not pushing them.
func (s *stream) finish() {
	if !s.pushing.Load() {
		s.close()
		return
	}
	s.lastly.Do(func() {
		close(s.last)
		// A write under way waits no longer than the flush may.
		s.st.SetWriteDeadline(time.Now().Add(s.h.cfg.CloseTimeout))
	})
}

func failure(id uint64, code codes.Code, format string, args ...any) *controlpb.Response {
	return &controlpb.Response{Id: id, Code: uint32(code), Reason: fmt.Sprintf(format, args...)}
}

// handle serves one request.
func (s *stream) handle(req *controlpb.Request) *controlpb.Response {
	id := req.GetId()
	host := s.scope.Host
	switch op := req.GetOp().(type) {
	case *controlpb.Request_List:
		list := &controlpb.InterfaceList{}
		for _, m := range host.Interfaces() {
			list.Interfaces = append(list.Interfaces, &controlpb.InterfaceInfo{
				Name: m.Name, Version: m.Version, Title: m.Title, Direction: string(m.Direction), ManifestHash: m.Hash(),
			})
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Interfaces{Interfaces: list}}
	case *controlpb.Request_Manifest:
		name := op.Manifest.GetInterface()
		if name == "" {
			name = s.scope.Interface
		}
		m := host.Manifest(name)
		if m == nil {
			return failure(id, codes.UnknownInterface, "no interface %q here", name)
		}
		res := &controlpb.ManifestResult{Hash: m.Hash()}
		if op.Manifest.GetKnownHash() == res.Hash {
			res.NotModified = true
		} else {
			res.Canonical = m.Canonical()
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Manifest{Manifest: res}}
	case *controlpb.Request_Ping:
		if !s.offers(manifest.OpPing) {
			return failure(id, codes.Unimplemented, "%s does not offer ping", s.scope.Interface)
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Pong{Pong: op.Ping.GetPayload()}}
	case *controlpb.Request_OperatorChallenge, *controlpb.Request_OperatorProof:
		return s.operatorOp(req)
	case *controlpb.Request_Connections:
		if !s.operator {
			return s.needOperator(id, "listing the connections")
		}
		list := &controlpb.ConnectionList{}
		for _, c := range host.Connections(op.Connections.GetInterface()) {
			list.Connections = append(list.Connections, connectionToPB(c))
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Connections{Connections: list}}
	case *controlpb.Request_ServerStats:
		if !s.operator {
			return s.needOperator(id, "reading the server's counters")
		}
		name := op.ServerStats.GetInterface()
		if name != "" && host.Manifest(name) == nil {
			return failure(id, codes.UnknownInterface, "no interface %q here", name)
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_ServerStats{ServerStats: serverStatsToPB(host.ServerStats(name))}}
	case *controlpb.Request_Servers:
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Servers{Servers: &controlpb.ServerList{Names: host.Servers()}}}
	case *controlpb.Request_Monitor:
		return s.monitor(id, op.Monitor)
	case *controlpb.Request_Demonitor:
		return s.demonitor(id, op.Demonitor)
	}
	return s.connOp(req)
}

// offers reports whether the stream's interface offers op; a stream opened
// without an interface (to list) offers ping only.
func (s *stream) offers(op string) bool {
	if s.scope.Interface == "" {
		return op == manifest.OpPing
	}
	m := s.scope.Host.Manifest(s.scope.Interface)
	return m != nil && m.Offers(op)
}

// connOp serves the operations on one connection: stats, pause, resume,
// reset and close.
func (s *stream) connOp(req *controlpb.Request) *controlpb.Response {
	id := req.GetId()
	var op string
	var target uint64
	switch o := req.GetOp().(type) {
	case *controlpb.Request_Stats:
		op, target = manifest.OpStats, o.Stats.GetConnectionId()
	case *controlpb.Request_Pause:
		op, target = manifest.OpPause, o.Pause.GetConnectionId()
	case *controlpb.Request_Resume:
		op, target = manifest.OpResume, o.Resume.GetConnectionId()
	case *controlpb.Request_Reset_:
		op, target = manifest.OpReset, o.Reset_.GetConnectionId()
	case *controlpb.Request_Close:
		op, target = manifest.OpClose, o.Close.GetConnectionId()
	case *controlpb.Request_Filter:
		op, target = opFilter, o.Filter.GetConnectionId()
	default:
		return failure(id, codes.Unimplemented, "unknown control operation")
	}
	iface := s.scope.Interface
	if op != opFilter && !s.offers(op) || op == opFilter && s.scope.Interface == "" {
		return failure(id, codes.Unimplemented, "%s does not offer %s (see its manifest's control list)", iface, op)
	}
	if target == 0 {
		target = s.scope.Attach
	}
	c := s.scope.Host.Conn(target, iface, s.operator)
	switch {
	case c == nil && s.operator:
		return failure(id, codes.NotFound, "no open connection %d on %s", target, iface)
	case c == nil:
		return failure(id, codes.NotFound, "no open connection %d on %s in this session; attach the control stream to a connection or name one of this session's (an operator, with the server's admin secret, may name any session's)", target, iface)
	}
	switch o := req.GetOp().(type) {
	case *controlpb.Request_Stats:
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Stats{Stats: statsToPB(c.Stats())}}
	case *controlpb.Request_Pause:
		c.Pause(true)
	case *controlpb.Request_Resume:
		c.Pause(false)
	case *controlpb.Request_Reset_:
		ctx, cancel := context.WithTimeout(context.Background(), s.h.cfg.ResetTimeout)
		defer cancel()
		if err := c.Reset(ctx, o.Reset_.GetPosition()); err != nil {
			code, reason := codes.Of(err), err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				code = codes.Canceled
			}
			var re *codes.RemoteError
			if errors.As(err, &re) {
				reason = re.Reason // the hook's refusal: its own words, not the text of an error about a control request
			}
			return failure(id, code, "reset: %s", reason)
		}
	case *controlpb.Request_Close:
		c.Close(o.Close.GetReason())
	case *controlpb.Request_Filter:
		f := o.Filter
		if err := c.SetFilter(Filter{Type: f.GetType(), CEL: f.GetCel(), Structured: f.GetStructured()}); err != nil {
			return failure(id, codes.Of(err), "%v", err)
		}
	}
	return &controlpb.Response{Id: id}
}

// needOperator refuses an operation of the operator scope to a stream
// without it, saying how to get it.
func (s *stream) needOperator(id uint64, what string) *controlpb.Response {
	how := "the session has no operator's client certificate, and the server has no admin secret to prove (ifctl serve --admin-secret-file)"
	if s.scope.AdminSecret != nil {
		how = "prove the server's admin secret first (operator_challenge, then operator_proof; ifctl --admin-secret-file), or connect with an operator's client certificate"
	}
	return failure(id, codes.AuthFailed, "%s needs the operator scope: %s", what, how)
}

// operatorOp serves operator_challenge and operator_proof. A wrong proof
// is answered auth_failed and ends the stream, so each guess of the secret
// costs a new stream and two round trips.
func (s *stream) operatorOp(req *controlpb.Request) *controlpb.Response {
	id := req.GetId()
	if s.scope.AdminSecret == nil {
		return failure(id, codes.Unimplemented, "this server has no admin secret (ifctl serve --admin-secret-file), so no operator proof")
	}
	switch op := req.GetOp().(type) {
	case *controlpb.Request_OperatorChallenge:
		s.challenge = make([]byte, operatorNonceLen)
		if _, err := rand.Read(s.challenge); err != nil {
			s.challenge = nil
			return failure(id, codes.Internal, "no random challenge: %v", err)
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Challenge{Challenge: s.challenge}}
	case *controlpb.Request_OperatorProof:
		challenge := s.challenge
		s.challenge = nil // one proof per challenge
		nonce := op.OperatorProof.GetClientNonce()
		switch {
		case challenge == nil:
			s.hangUp = true
			s.scope.Host.Refused(codes.AuthFailed, "an operator proof without a challenge")
			return failure(id, codes.AuthFailed, "an operator proof needs a challenge first (operator_challenge); closing the stream")
		case len(nonce) != operatorNonceLen || !authmac.Equal(op.OperatorProof.GetMac(), OperatorProof(s.scope.AdminSecret, challenge, nonce)):
			s.hangUp = true
			s.scope.Host.Refused(codes.AuthFailed, "a wrong operator proof: the client has another admin secret")
			return failure(id, codes.AuthFailed, "the operator proof is wrong: that is not the server's admin secret; closing the stream")
		}
		s.operator = true
		s.scope.Host.Operator()
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Operator{Operator: OperatorAnswer(s.scope.AdminSecret, challenge, nonce)}}
	}
	return failure(id, codes.Unimplemented, "unknown control operation")
}

// Bounds on the peer-given texts a notification repeats to every watcher.
const (
	maxNotifiedClient = 256
	maxNotifiedReason = 1024
)

// clip shortens s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
