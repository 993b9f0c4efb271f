package httpgw

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
)

// Bounds of what GET /_events holds.
const (
	// maxTrackedConns bounds the open connections the gateway keeps in its
	// table (a server allows at most its max_connections; beyond this the
	// oldest are forgotten, and the snapshot says so).
	maxTrackedConns = 4096
	// recentClosed is how many ended connections a snapshot lists.
	recentClosed = 64
	// eventBuffer is how many events a subscriber may be behind before it
	// is cut off (an EventSource reconnects, and gets a new snapshot).
	eventBuffer = 256
)

// Event is one event of GET /_events: what the server announced on the
// gateway's control stream (connection_opened, connection_closed,
// interfaces_changed, manifest_changed, draining), what the gateway saw
// (session_ended, session_started), or the snapshot a subscriber gets
// first.
type Event struct {
	Time         time.Time   `json:"time"`
	Event        string      `json:"event"`
	Interfaces   []string    `json:"interfaces,omitempty"` // snapshot: served; interfaces_changed: added
	Removed      []string    `json:"removed,omitempty"`
	Interface    string      `json:"interface,omitempty"`
	Hash         string      `json:"hash,omitempty"`
	ConnectionID uint64      `json:"connection_id,omitempty"`
	Codec        string      `json:"codec,omitempty"`
	Client       string      `json:"client,omitempty"`
	Code         string      `json:"code,omitempty"`
	Reason       string      `json:"reason,omitempty"`
	Deadline     *time.Time  `json:"deadline,omitempty"`
	Open         []ConnEvent `json:"open,omitempty"`   // snapshot: the connections open
	Closed       []ConnEvent `json:"closed,omitempty"` // snapshot: the last ones that ended, newest last
	Forgotten    int         `json:"forgotten,omitempty"`
}

// ConnEvent is one connection in a snapshot: when it opened and, once it
// ended, when and why.
type ConnEvent struct {
	ConnectionID uint64     `json:"connection_id"`
	Interface    string     `json:"interface"`
	Codec        string     `json:"codec,omitempty"`
	Client       string     `json:"client,omitempty"`
	Opened       time.Time  `json:"opened"`
	Closed       *time.Time `json:"closed,omitempty"`
	Code         string     `json:"code,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

// monitor is the table of the server's connections as its notifications
// tell them, since the gateway's session started, and the subscribers of
// GET /_events.
type monitor struct {
	mu        sync.Mutex
	open      map[uint64]*ConnEvent
	order     []uint64 // ids of open, oldest first
	closed    []ConnEvent
	forgotten int
	subs      map[chan Event]struct{}
}

func newMonitor() *monitor {
	return &monitor{open: map[uint64]*ConnEvent{}, subs: map[chan Event]struct{}{}}
}

// note records a notification and passes it to the subscribers.
func (mo *monitor) note(n control.Notification, now time.Time) {
	ev := Event{Time: now}
	mo.mu.Lock()
	defer mo.mu.Unlock()
	switch n := n.(type) {
	case *control.ConnectionOpened:
		ev.Event, ev.ConnectionID, ev.Interface, ev.Codec, ev.Client = "connection_opened", n.ConnectionID, n.Interface, n.Codec, n.Client
		if len(mo.order) >= maxTrackedConns {
			delete(mo.open, mo.order[0])
			mo.order = mo.order[1:]
			mo.forgotten++
		}
		mo.open[n.ConnectionID] = &ConnEvent{ConnectionID: n.ConnectionID, Interface: n.Interface, Codec: n.Codec, Client: n.Client, Opened: now}
		mo.order = append(mo.order, n.ConnectionID)
	case *control.ConnectionClosed:
		ev.Event, ev.ConnectionID, ev.Interface, ev.Code, ev.Reason = "connection_closed", n.ConnectionID, n.Interface, n.Code.String(), n.Reason
		c := mo.open[n.ConnectionID]
		if c == nil {
			c = &ConnEvent{ConnectionID: n.ConnectionID, Interface: n.Interface}
		} else {
			delete(mo.open, n.ConnectionID)
			mo.order = slices.DeleteFunc(mo.order, func(id uint64) bool { return id == n.ConnectionID })
		}
		c.Closed, c.Code, c.Reason = &now, ev.Code, n.Reason
		mo.closed = append(mo.closed, *c)
		if len(mo.closed) > recentClosed {
			mo.closed = slices.Delete(mo.closed, 0, len(mo.closed)-recentClosed)
		}
	case *control.InterfacesChanged:
		ev.Event, ev.Interfaces, ev.Removed = "interfaces_changed", n.Added, n.Removed
	case *control.ManifestChanged:
		ev.Event, ev.Interface, ev.Hash = "manifest_changed", n.Interface, n.Hash
	case *control.Draining:
		ev.Event = "draining"
		if !n.Deadline.IsZero() {
			ev.Deadline = &n.Deadline
		}
	case *control.NotificationsLost:
		// The table may be wrong from here on: say so, and let the
		// subscribers start again from a snapshot.
		ev.Event, ev.Reason = "notifications_lost", fmt.Sprintf("the gateway missed %d of the server's notifications; connections may be missing", n.Count)
	default:
		return
	}
	mo.publish(ev)
}

// session records that the gateway's session started or ended: the table
// starts again empty, since a new session sees no earlier connections.
func (mo *monitor) session(started bool, why error, now time.Time) {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	clear(mo.open)
	mo.order, mo.forgotten = nil, 0
	ev := Event{Time: now, Event: "session_started"}
	if !started {
		ev.Event = "session_ended"
		if why != nil {
			ev.Reason = why.Error()
		}
	}
	mo.publish(ev)
}

// publish passes ev to every subscriber; one whose buffer is full is cut
// off (its channel closed) rather than waited for. mo.mu is held.
func (mo *monitor) publish(ev Event) {
	for ch := range mo.subs {
		select {
		case ch <- ev:
		default:
			delete(mo.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns a channel of events, starting with a snapshot of the
// table, and the function that ends the subscription.
func (mo *monitor) subscribe(interfaces []string, now time.Time) (<-chan Event, func()) {
	ch := make(chan Event, eventBuffer)
	mo.mu.Lock()
	snap := Event{Time: now, Event: "snapshot", Interfaces: interfaces, Forgotten: mo.forgotten,
		Open: []ConnEvent{}, Closed: slices.Clone(mo.closed)}
	for _, id := range mo.order {
		snap.Open = append(snap.Open, *mo.open[id])
	}
	ch <- snap
	mo.subs[ch] = struct{}{}
	mo.mu.Unlock()
	return ch, func() {
		mo.mu.Lock()
		defer mo.mu.Unlock()
		if _, ok := mo.subs[ch]; ok {
			delete(mo.subs, ch)
			close(ch)
		}
	}
}

// serveEvents answers GET /_events: a snapshot of the server's open
// connections (those opened since the gateway's session started) and the
// last that ended with their reasons, then each event as it happens, as
// Server-Sent Events (the event name is Event.Event) or NDJSON. A
// subscriber that falls eventBuffer events behind is cut off.
func (g *Gateway) serveEvents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	var names []string
	if es, err := g.entries(); err == nil {
		for _, e := range es {
			names = append(names, e.m.Name)
		}
	}
	events, stop := g.monitor.subscribe(names, time.Now())
	defer stop()
	out := newStreamWriter(w, r, g.o.writeTimeout).(eventWriter)
	if err := out.start(); err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			if g.ctx.Err() != nil {
				out.end(errorf(codes.Draining, "the gateway is closing"))
			}
			return
		case ev, ok := <-events:
			if !ok {
				out.end(errorf(codes.LimitExceeded, "this reader fell %d events behind; subscribe again for a new snapshot", eventBuffer))
				return
			}
			if err := out.event(ev.Event, ev); err != nil {
				return
			}
		}
	}
}
