package control

import (
	"context"
	"fmt"
	"sync"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
)

// MaxMonitors bounds the monitors one control stream may hold at once; a
// Monitor request beyond it fails with limit_exceeded. Each fires once, so
// the downs waiting to be written are bounded by it too.
const MaxMonitors = 1024

// MonitorTarget is what a monitor watches (spec/PROTOCOL.md §10.6): a
// connection, an interface or the server as a whole. Set exactly one of
// ConnectionID, Interface and Server.
type MonitorTarget struct {
	ConnectionID uint64 // a connection of the server, of any session
	Interface    string // an interface, by name
	Server       bool   // the server
}

// String names the target for people: "connection 42", "interface kv", "the server".
func (t MonitorTarget) String() string {
	switch {
	case t.Server:
		return "the server"
	case t.Interface != "":
		return "interface " + t.Interface
	}
	return fmt.Sprintf("connection %d", t.ConnectionID)
}

// valid reports whether exactly one field is set.
func (t MonitorTarget) valid() bool {
	n := 0
	if t.ConnectionID != 0 {
		n++
	}
	if t.Interface != "" {
		n++
	}
	if t.Server {
		n++
	}
	return n == 1
}

// Down says why a monitored target went, or that the monitor cannot tell.
type Down struct {
	Target MonitorTarget
	Code   codes.Code // how it ended: a connection's end code; draining, unknown_interface
	Reason string     // for people (untrusted text)
	// NoProc: the target was gone, or never existed, when the monitor was
	// asked for (Erlang's noproc); Code is then not_found.
	NoProc bool
	// Lost is not a death: the control stream ended before the server
	// reported one, so whether the target is alive is unknown. Code is
	// transport_error. The server never reports a live target down.
	Lost bool
}

func (d Down) String() string {
	switch {
	case d.Lost:
		return fmt.Sprintf("%s: monitor lost (%s), its state is unknown", d.Target, d.Reason)
	case d.NoProc:
		return fmt.Sprintf("%s: noproc: %s", d.Target, d.Reason)
	}
	return fmt.Sprintf("%s: down: %s: %s", d.Target, d.Code, d.Reason)
}

func targetPB(t MonitorTarget) *controlpb.Monitor {
	return &controlpb.Monitor{ConnectionId: t.ConnectionID, Interface: t.Interface, Server: t.Server}
}

func targetFromPB(m *controlpb.Monitor) MonitorTarget {
	return MonitorTarget{ConnectionID: m.GetConnectionId(), Interface: m.GetInterface(), Server: m.GetServer()}
}

func downPB(ref uint64, t MonitorTarget, code codes.Code, reason string, noproc bool) *controlpb.MonitorDown {
	return &controlpb.MonitorDown{
		Ref: ref, Code: uint32(code), Reason: clip(reason, maxNotifiedReason), Noproc: noproc,
		ConnectionId: t.ConnectionID, Interface: t.Interface, Server: t.Server,
	}
}

func downFromPB(d *controlpb.MonitorDown) Down {
	return Down{
		Target: MonitorTarget{ConnectionID: d.GetConnectionId(), Interface: d.GetInterface(), Server: d.GetServer()},
		Code:   codes.Code(d.GetCode()), Reason: d.GetReason(), NoProc: d.GetNoproc(),
	}
}

// monRef is one stream's monitor, as the hub indexes it.
type monRef struct {
	s   *stream
	ref uint64
}

// Down tells every monitor of t that it went, with code and reason, and
// removes them: each monitor is told once. The server calls it after t is
// gone for good (a connection removed from its table, an interface
// unregistered), so a Monitor request that comes later answers noproc.
func (h *Hub) Down(t MonitorTarget, code codes.Code, reason string) {
	h.mu.Lock()
	refs := h.monitors[t]
	delete(h.monitors, t)
	for r := range refs {
		delete(r.s.monitors, r.ref)
	}
	h.mu.Unlock()
	for r := range refs {
		r.s.queueDown(downPB(r.ref, t, code, reason, false))
	}
}

// monitor serves the Monitor request: it registers the monitor, then asks
// the host whether the target lives. Registering first means an end that
// happens meanwhile is reported by Down, and one that happened before is
// seen by the host: either way the monitor is told once.
func (s *stream) monitor(id uint64, op *controlpb.Monitor) *controlpb.Response {
	t := targetFromPB(op)
	if !t.valid() {
		return failure(id, codes.ProtocolError, "monitor: name exactly one target (a connection id, an interface or the server)")
	}
	ref := op.GetRef()
	h := s.h
	h.mu.Lock()
	switch {
	case s.monitors[ref] != nil:
		h.mu.Unlock()
		return failure(id, codes.ProtocolError, "monitor: ref %d is already in use on this stream", ref)
	case len(s.monitors) >= MaxMonitors:
		h.mu.Unlock()
		return failure(id, codes.LimitExceeded, "monitor: this control stream holds its maximum of %d monitors", MaxMonitors)
	}
	if h.monitors == nil {
		h.monitors = map[MonitorTarget]map[monRef]struct{}{}
	}
	if h.monitors[t] == nil {
		h.monitors[t] = map[monRef]struct{}{}
	}
	h.monitors[t][monRef{s, ref}] = struct{}{}
	s.monitors[ref] = &t
	h.mu.Unlock()
	alive, err := s.scope.Host.Alive(t)
	if alive && err == nil {
		return &controlpb.Response{Id: id}
	}
	h.mu.Lock()
	_, mine := s.monitors[ref]
	if mine {
		s.unmonitorLocked(ref)
	}
	h.mu.Unlock()
	switch {
	case err != nil:
		return failure(id, codes.Of(err), "monitor %s: %v", t, err)
	case !mine:
		return &controlpb.Response{Id: id} // Down ran meanwhile: its notification tells
	}
	return &controlpb.Response{Id: id, Result: &controlpb.Response_Down{
		Down: downPB(ref, t, codes.NotFound, fmt.Sprintf("%s is gone, or never existed (noproc)", t), true),
	}}
}

// demonitor serves the Demonitor request. Cancelling a monitor that fired
// already, or never was, succeeds.
func (s *stream) demonitor(id uint64, op *controlpb.Demonitor) *controlpb.Response {
	s.h.mu.Lock()
	s.unmonitorLocked(op.GetRef())
	s.h.mu.Unlock()
	return &controlpb.Response{Id: id}
}

// unmonitorLocked removes one of the stream's monitors; under h.mu.
func (s *stream) unmonitorLocked(ref uint64) {
	t := s.monitors[ref]
	if t == nil {
		return
	}
	delete(s.monitors, ref)
	refs := s.h.monitors[*t]
	delete(refs, monRef{s, ref})
	if len(refs) == 0 {
		delete(s.h.monitors, *t)
	}
}

// dropMonitors removes every monitor of a stream that is ending.
func (s *stream) dropMonitors() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	for ref := range s.monitors {
		s.unmonitorLocked(ref)
	}
}

// queueDown queues a monitor's down for pushNotes. It is never dropped:
// at most MaxMonitors wait, as each monitor fires once.
func (s *stream) queueDown(d *controlpb.MonitorDown) {
	s.qmu.Lock()
	s.downs = append(s.downs, d)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// takeDowns returns the downs waiting to be written.
func (s *stream) takeDowns() []*controlpb.MonitorDown {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	d := s.downs
	s.downs = nil
	return d
}

func downFrame(d *controlpb.MonitorDown) *controlpb.ControlFrame {
	return &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Notification{
		Notification: &controlpb.Notification{Event: &controlpb.Notification_MonitorDown{MonitorDown: d}},
	}}
}

// Monitor is the client end of one monitor: Done is closed once, when the
// target went (or the control stream ended first), and Down says why.
type Monitor struct {
	c      *Client
	ref    uint64
	target MonitorTarget
	once   sync.Once
	done   chan struct{}
	down   Down
}

// Target returns what the monitor watches.
func (m *Monitor) Target() MonitorTarget { return m.target }

// Done is closed when the monitor has fired.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Down returns why the target went; it is the zero Down until Done is closed.
func (m *Monitor) Down() Down {
	select {
	case <-m.done:
		return m.down
	default:
		return Down{}
	}
}

func (m *Monitor) fire(d Down) {
	m.once.Do(func() {
		d.Target = m.target
		m.down = d
		close(m.done)
	})
}

// Cancel stops the monitor (Erlang's demonitor): once it returns nil, the
// monitor fires only if it had already. Done is not closed by Cancel.
func (m *Monitor) Cancel(ctx context.Context) error {
	_, err := m.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Demonitor{Demonitor: &controlpb.Demonitor{Ref: m.ref}}})
	m.c.mu.Lock()
	delete(m.c.monitors, m.ref)
	m.c.mu.Unlock()
	return err
}

// Monitor asks the server to say, once, when t goes: a connection ends
// (with its end code and reason), an interface is unregistered or the
// server closes (draining). When t is already gone, or never existed, the
// monitor fires at once with NoProc. The server never reports a live
// target down; if this control stream ends first, the monitor fires with
// Lost. A connection of an interface with control: [] cannot be monitored
// (unimplemented), as it is not announced either.
func (c *Client) Monitor(ctx context.Context, t MonitorTarget) (*Monitor, error) {
	if !t.valid() {
		return nil, fmt.Errorf("ifkit: monitor: name exactly one target (a connection id, an interface or the server), not %+v", t)
	}
	m := &Monitor{c: c, ref: c.nextID.Add(1), target: t, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.monitors[m.ref] = m
	c.mu.Unlock()
	op := targetPB(t)
	op.Ref = m.ref
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Monitor{Monitor: op}})
	if err != nil {
		c.mu.Lock()
		delete(c.monitors, m.ref)
		c.mu.Unlock()
		return nil, err
	}
	if d := r.GetDown(); d != nil {
		c.deliverDown(d)
	}
	return m, nil
}

// deliverDown fires the monitor a down names; one this client no longer
// holds (cancelled) is ignored.
func (c *Client) deliverDown(d *controlpb.MonitorDown) {
	c.mu.Lock()
	m := c.monitors[d.GetRef()]
	delete(c.monitors, d.GetRef())
	c.mu.Unlock()
	if m != nil {
		m.fire(downFromPB(d))
	}
}

// loseMonitors fires every monitor still waiting with Lost, as the stream
// has ended.
func (c *Client) loseMonitors(reason string) {
	c.mu.Lock()
	ms := c.monitors
	c.monitors = map[uint64]*Monitor{}
	c.mu.Unlock()
	for _, m := range ms {
		m.fire(Down{Code: codes.TransportError, Reason: reason, Lost: true})
	}
}
