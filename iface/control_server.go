package iface

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/yamux"
	"google.golang.org/protobuf/proto"

	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/manifest"
)

// maxControlBytes bounds one control message (a manifest response included).
const maxControlBytes = 32 << 20

// controlServer serves one control stream: requests in order, and
// notifications pushed by the server at any time.
type controlServer struct {
	s       *Server
	sess    *yamux.Session
	st      *yamux.Stream
	iface   string
	attach  uint64 // the connection the stream is attached to, or 0
	wmu     sync.Mutex
	notes   chan *controlpb.ControlFrame // notifications for pushNotes to write
	done    chan struct{}                // closed by close
	last    chan struct{}                // closed by finish: write what is queued, then close
	once    sync.Once
	lastly  sync.Once
	pushing atomic.Bool // pushNotes runs
}

func (s *Server) serveControl(sess *yamux.Session, st *yamux.Stream, br *bufio.Reader, open *sessionpb.OpenStream, i *Interface) {
	if open.GetInterface() != "" && i == nil {
		s.refuse(st, open, CodeUnknownInterface, fmt.Sprintf("no interface %q here; this server has %s", open.GetInterface(), s.interfaceNames()))
		return
	}
	if i != nil && len(i.Manifest.Control) == 0 {
		s.refuse(st, open, CodeUnimplemented, i.Manifest.Name+" offers no control sub-interface (its manifest has control: [])")
		return
	}
	if id := open.GetConnectionId(); id != 0 && s.sessionConn(sess, id, open.GetInterface()) == nil {
		s.refuse(st, open, CodeNotFound, fmt.Sprintf("no open connection %d on %s in this session (a control stream attaches only to its own session's connections)", id, open.GetInterface()))
		return
	}
	result := &sessionpb.OpenResult{Code: uint32(CodeOK), ConnectionId: open.GetConnectionId()}
	if i != nil {
		result.ManifestHash = i.Manifest.Hash()
	}
	// Registered (for notifications) before the answer, so none is missed
	// by a client that acts as soon as the stream is open.
	cs := &controlServer{
		s: s, sess: sess, st: st, iface: open.GetInterface(), attach: open.GetConnectionId(),
		notes: make(chan *controlpb.ControlFrame, notificationQueue),
		done:  make(chan struct{}),
		last:  make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.Close()
		return
	}
	s.controls[cs] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.controls, cs)
		s.mu.Unlock()
		cs.close()
	}()
	if err := cs.write(result); err != nil {
		return
	}
	cs.st.SetDeadline(time.Time{})
	// Notifications queued since registration follow the answer.
	s.wg.Add(1) // not from zero: this goroutine is counted
	cs.pushing.Store(true)
	go cs.pushNotes()
	for {
		var f controlpb.ControlFrame
		if err := readMsg(br, &f, maxControlBytes); err != nil {
			return
		}
		req := f.GetRequest()
		if req == nil {
			return // only requests travel client → server
		}
		if err := cs.write(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Response{Response: cs.handle(req)}}); err != nil {
			return
		}
	}
}

// write sends a control frame, or the handshake answer when f is nil; the
// handshake goes first because notifications wait on the same lock.
func (cs *controlServer) write(m proto.Message) error {
	return cs.writeBy(m, time.Now().Add(cs.s.cfg.ConnectionWriteTimeout))
}

func (cs *controlServer) writeBy(m proto.Message, deadline time.Time) error {
	cs.wmu.Lock()
	defer cs.wmu.Unlock()
	cs.st.SetWriteDeadline(deadline)
	return writeMsg(cs.st, m)
}

func (cs *controlServer) close() {
	cs.once.Do(func() {
		close(cs.done)
		cs.st.Close()
	})
}

func failure(id uint64, code Code, format string, args ...any) *controlpb.Response {
	return &controlpb.Response{Id: id, Code: uint32(code), Reason: fmt.Sprintf(format, args...)}
}

// handle serves one request.
func (cs *controlServer) handle(req *controlpb.Request) *controlpb.Response {
	id := req.GetId()
	switch op := req.GetOp().(type) {
	case *controlpb.Request_List:
		list := &controlpb.InterfaceList{}
		for _, m := range cs.s.Interfaces() {
			list.Interfaces = append(list.Interfaces, &controlpb.InterfaceInfo{
				Name: m.Name, Version: m.Version, Title: m.Title, Direction: string(m.Direction), ManifestHash: m.Hash(),
			})
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Interfaces{Interfaces: list}}
	case *controlpb.Request_Manifest:
		name := op.Manifest.GetInterface()
		if name == "" {
			name = cs.iface
		}
		cs.s.mu.Lock()
		i := cs.s.ifaces[name]
		cs.s.mu.Unlock()
		if i == nil {
			return failure(id, CodeUnknownInterface, "no interface %q here", name)
		}
		res := &controlpb.ManifestResult{Hash: i.Manifest.Hash()}
		if op.Manifest.GetKnownHash() == res.Hash {
			res.NotModified = true
		} else {
			res.Canonical = i.Manifest.Canonical()
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Manifest{Manifest: res}}
	case *controlpb.Request_Ping:
		if !cs.offers(manifest.OpPing) {
			return failure(id, CodeUnimplemented, "%s does not offer ping", cs.iface)
		}
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Pong{Pong: op.Ping.GetPayload()}}
	}
	return cs.connOp(req)
}

// offers reports whether the stream's interface offers op; a stream opened
// without an interface (to list) offers ping only.
func (cs *controlServer) offers(op string) bool {
	if cs.iface == "" {
		return op == manifest.OpPing
	}
	cs.s.mu.Lock()
	i := cs.s.ifaces[cs.iface]
	cs.s.mu.Unlock()
	return i != nil && i.Manifest.Offers(op)
}

// connOp serves the operations on one connection: stats, pause, resume,
// reset and close.
func (cs *controlServer) connOp(req *controlpb.Request) *controlpb.Response {
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
	default:
		return failure(id, CodeUnimplemented, "unknown control operation")
	}
	if !cs.offers(op) {
		return failure(id, CodeUnimplemented, "%s does not offer %s (see its manifest's control list)", cs.iface, op)
	}
	if target == 0 {
		target = cs.attach
	}
	c := cs.s.sessionConn(cs.sess, target, cs.iface)
	if c == nil {
		return failure(id, CodeNotFound, "no open connection %d on %s in this session; attach the control stream to a connection or name one of this session's", target, cs.iface)
	}
	switch o := req.GetOp().(type) {
	case *controlpb.Request_Stats:
		return &controlpb.Response{Id: id, Result: &controlpb.Response_Stats{Stats: c.stats()}}
	case *controlpb.Request_Pause:
		c.pause(true)
	case *controlpb.Request_Resume:
		c.pause(false)
	case *controlpb.Request_Reset_:
		cs.s.mu.Lock()
		i := cs.s.ifaces[cs.iface]
		cs.s.mu.Unlock()
		ctx, cancel := context.WithTimeout(c.ctx, cs.s.cfg.HandshakeTimeout)
		defer cancel()
		if err := i.OnReset(ctx, c, o.Reset_.GetPosition()); err != nil {
			code := CodeInternal
			if errors.Is(err, context.DeadlineExceeded) {
				code = CodeCanceled
			}
			return failure(id, code, "reset: %v", err)
		}
	case *controlpb.Request_Close:
		c.end(&CloseError{Code: CodeNormalClose, Reason: o.Close.GetReason()}, true)
	}
	return &controlpb.Response{Id: id}
}

// notifyConn announces a connection's opening or end to every control
// stream, unless its interface offers no control sub-interface
// (control: []): then its connections are not announced either.
func (s *Server) notifyConn(c *Conn, n *controlpb.Notification) {
	if len(c.man.Control) > 0 {
		s.notify(n)
	}
}

// notify queues a notification for every control stream. It never waits: a
// control stream whose reader has fallen notificationQueue behind is closed
// (its client sees the stream end), so one watcher that stops reading
// cannot slow the server or other watchers.
func (s *Server) notify(n *controlpb.Notification) {
	s.mu.Lock()
	controls := make([]*controlServer, 0, len(s.controls))
	for cs := range s.controls {
		controls = append(controls, cs)
	}
	s.mu.Unlock()
	f := &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Notification{Notification: n}}
	for _, cs := range controls {
		select {
		case cs.notes <- f:
		default:
			cs.close()
		}
	}
}

// notificationQueue bounds the notifications waiting for one control
// stream's reader.
const notificationQueue = 64

// pushNotes writes queued notifications until the stream closes, or until
// finish: then it writes what is queued (a Draining notice, typically) and
// closes the stream.
func (cs *controlServer) pushNotes() {
	defer cs.s.wg.Done()
	for {
		select {
		case f := <-cs.notes:
			if cs.write(f) != nil {
				cs.close()
				return
			}
		case <-cs.last:
			deadline := time.Now().Add(cs.s.cfg.CloseTimeout)
			for {
				select {
				case f := <-cs.notes:
					if cs.writeBy(f, deadline) == nil {
						continue
					}
				default:
				}
				cs.close()
				return
			}
		case <-cs.done:
			return
		}
	}
}

// finish closes the stream once the notifications queued so far are
// written (within CloseTimeout), or at once if it is not pushing them. Wait
// for cs.done to know it is closed.
func (cs *controlServer) finish() {
	if !cs.pushing.Load() {
		cs.close()
		return
	}
	cs.lastly.Do(func() {
		close(cs.last)
		// A write under way waits no longer than the flush may.
		cs.st.SetWriteDeadline(time.Now().Add(cs.s.cfg.CloseTimeout))
	})
}

func notifyDraining(deadline time.Time) *controlpb.Notification {
	d := &controlpb.Draining{}
	if !deadline.IsZero() {
		d.DeadlineUnixMs = deadline.UnixMilli()
	}
	return &controlpb.Notification{Event: &controlpb.Notification_Draining{Draining: d}}
}

func notifyInterfaces(added, removed []string) *controlpb.Notification {
	return &controlpb.Notification{Event: &controlpb.Notification_InterfacesChanged{InterfacesChanged: &controlpb.InterfacesChanged{Added: added, Removed: removed}}}
}

func notifyManifestChanged(m *manifest.Manifest) *controlpb.Notification {
	return &controlpb.Notification{Event: &controlpb.Notification_ManifestChanged{ManifestChanged: &controlpb.ManifestChanged{Interface: m.Name, Hash: m.Hash()}}}
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

func notifyConnOpened(c *Conn, client string) *controlpb.Notification {
	co := &controlpb.ConnectionOpened{ConnectionId: c.id, Interface: c.man.Name, Codec: c.codec.Name(), Client: clip(client, maxNotifiedClient)}
	return &controlpb.Notification{Event: &controlpb.Notification_ConnectionOpened{ConnectionOpened: co}}
}

func notifyConnClosed(c *Conn) *controlpb.Notification {
	cc := &controlpb.ConnectionClosed{ConnectionId: c.id, Interface: c.man.Name}
	if c.err != nil {
		cc.Code, cc.Reason = uint32(c.err.Code), clip(c.err.Reason, maxNotifiedReason)
	}
	return &controlpb.Notification{Event: &controlpb.Notification_ConnectionClosed{ConnectionClosed: cc}}
}
