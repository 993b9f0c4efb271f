package iface

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/manifest"
)

// ControlOption configures Client.Control.
type ControlOption interface{ applyControl(*sessionpb.OpenStream) }

type controlOption func(*sessionpb.OpenStream)

func (f controlOption) applyControl(o *sessionpb.OpenStream) { f(o) }

// AttachTo attaches the control stream to a data connection, which stats,
// pause, resume, reset and close then act on.
func AttachTo(c *Conn) ControlOption {
	return controlOption(func(o *sessionpb.OpenStream) { o.ConnectionId = c.ID() })
}

// Control opens a control stream for the named interface, or for the
// server as a whole when iface is "" (then only List, Manifest with a name,
// and Ping work). Close it when done.
func (c *Client) Control(ctx context.Context, iface string, opts ...ControlOption) (*Control, error) {
	req := &sessionpb.OpenStream{Interface: iface, Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL}
	for _, o := range opts {
		o.applyControl(req)
	}
	st, br, _, err := c.open(ctx, req)
	if err != nil {
		return nil, err
	}
	return control.NewClient(st, br, iface, req.ConnectionId), nil
}

// serveControl checks a control stream's handshake and serves it with the
// server's hub, scoped to the stream's session.
func (s *Server) serveControl(sess *yamux.Session, p *peer, st *yamux.Stream, br *bufio.Reader, open *sessionpb.OpenStream, i *Interface) {
	host := sessionHost{s: s, sess: sess, remote: st.RemoteAddr(), iface: open.GetInterface()}
	switch id := open.GetConnectionId(); {
	case open.GetInterface() != "" && i == nil:
		s.refuse(st, open, CodeUnknownInterface, fmt.Sprintf("no interface %q here; this server has %s", open.GetInterface(), s.interfaceNames()))
		return
	case i != nil && len(i.Manifest.Control) == 0:
		s.refuse(st, open, CodeUnimplemented, i.Manifest.Name+" offers no control sub-interface (its manifest has control: [])")
		return
	case id != 0 && host.Conn(id, open.GetInterface(), p.operator) == nil:
		reason := fmt.Sprintf("no open connection %d on %s in this session (a control stream attaches only to its own session's connections)", id, open.GetInterface())
		if p.operator {
			reason = fmt.Sprintf("no open connection %d on %s", id, open.GetInterface())
		}
		s.refuse(st, open, CodeNotFound, reason)
		return
	}
	if p.operator {
		s.logOperator(p.remote, open.GetInterface(), "certificate "+p.tlsName)
	}
	result := &sessionpb.OpenResult{Code: uint32(CodeOK), ConnectionId: open.GetConnectionId()}
	if i != nil {
		result.ManifestHash = i.Manifest.Hash()
	}
	s.hub.Serve(st, br, encodeMsg(result), control.Scope{
		Host: host, Interface: open.GetInterface(), Attach: open.GetConnectionId(),
		Operator: p.operator, AdminSecret: s.adminSecret,
	})
}

// sessionHost is the server as one session's control streams see it: they
// act only on their own session's connections (ids are sequential, and one
// client must not pause, reset, close or read the stats of another's),
// unless they have the operator scope.
type sessionHost struct {
	s      *Server
	sess   *yamux.Session
	remote net.Addr // the stream's peer, for refusals
	iface  string   // the stream's interface
}

func (h sessionHost) Interfaces() []*manifest.Manifest { return h.s.Interfaces() }

func (h sessionHost) Manifest(name string) *manifest.Manifest {
	if i := h.s.iface(name); i != nil {
		return i.Manifest
	}
	return nil
}

func (h sessionHost) Conn(id uint64, iface string, anySession bool) control.Target {
	h.s.mu.Lock()
	sc := h.s.conns[id]
	h.s.mu.Unlock()
	if sc == nil || (sc.sess != h.sess && !anySession) || sc.conn.Manifest().Name != iface {
		return nil
	}
	return target{sc}
}

func (h sessionHost) Connections(iface string) []control.Connection { return h.s.Connections(iface) }

func (h sessionHost) ServerStats(iface string) control.ServerStats { return h.s.statsOf(iface) }

func (h sessionHost) Refused(code Code, reason string) { h.s.refused(h.remote, h.iface, code, reason) }

func (h sessionHost) Operator() { h.s.logOperator(addrText(h.remote), h.iface, "admin secret") }

func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Alive tells the control streams' monitors what lives: a connection of
// any session (monitors only watch, as notifications do), a hosted
// interface, the server until it closes. A connection of an interface with
// control: [] is not announced, so it cannot be monitored either.
func (h sessionHost) Alive(t control.MonitorTarget) (bool, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case t.Server:
		return !s.closed, nil
	case t.Interface != "":
		return s.ifaces[t.Interface] != nil, nil
	}
	sc := s.conns[t.ConnectionID]
	if sc == nil {
		return false, nil
	}
	if len(sc.conn.Manifest().Control) == 0 {
		return false, &RemoteError{Code: CodeUnimplemented, Reason: fmt.Sprintf("connection %d is on %s, which offers no control sub-interface (control: []): its connections are not announced or monitored", t.ConnectionID, sc.conn.Manifest().Name)}
	}
	return true, nil
}

// Servers returns the servers a relay relays to; none for a server that is
// not one.
func (h sessionHost) Servers() []string {
	if h.s.relayNames == nil {
		return nil
	}
	return h.s.relayNames()
}

// Monitor is a monitor a Client holds on a control stream of its own (see
// Client.Monitor); Close ends both.
type Monitor struct {
	*control.Monitor
	ctl *control.Client
}

// Close stops watching: it closes the monitor's control stream. A monitor
// that had not fired then fires with Lost.
func (m *Monitor) Close() error { return m.ctl.Close() }

// MonitorTarget is what a monitor watches; see control.MonitorTarget.
type MonitorTarget = control.MonitorTarget

// Down says why a monitored target went; see control.Down.
type Down = control.Down

// Monitor asks the server to tell, once, when t goes, with the typed
// reason (spec/PROTOCOL.md §10.6): a connection of any client ends, an
// interface is unregistered, the server closes. A target already gone
// fires at once with NoProc (Erlang's noproc); a live one never fires. The
// monitor has a control stream of its own; if that ends first (the session
// broke), the monitor fires with Lost: not a death, the target's fate is
// unknown. To hold many monitors on one stream, use Control and
// control.Client.Monitor. Close the Monitor when done.
func (c *Client) Monitor(ctx context.Context, t MonitorTarget) (*Monitor, error) {
	ctl, err := c.Control(ctx, "")
	if err != nil {
		return nil, err
	}
	m, err := ctl.Monitor(ctx, t)
	if err != nil {
		ctl.Close()
		return nil, err
	}
	return &Monitor{Monitor: m, ctl: ctl}, nil
}

// target is a server's connection as the control operations act on it.
type target struct{ *servedConn }

func (t target) Stats() control.ConnStats { return control.ConnStats(t.conn.Stats()) }
func (t target) Pause(p bool)             { t.conn.Pause(p) }
func (t target) Close(reason string) {
	t.conn.End(&codes.CloseError{Code: codes.NormalClose, Reason: reason})
}

func (t target) Reset(ctx context.Context, position string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.conn.Context(), cancel)
	defer stop()
	return t.iface.OnReset(ctx, t.conn, position)
}

// notifyConn announces a connection's opening or end to every control
// stream, unless its interface offers no control sub-interface
// (control: []): then its connections are not announced either.
func (s *Server) notifyConn(c *Conn, n control.Notification) {
	if len(c.Manifest().Control) > 0 {
		s.hub.Notify(n)
	}
}
