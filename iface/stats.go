package iface

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/manifest"
)

// serverStats are the counters Server.Stats reports beyond what each live
// connection counts itself: refusals, connections opened and ended, the
// counters of ended connections, and the handlers' calls per type. Nothing
// here is touched per message except a handler's own typeStats.
type serverStats struct {
	mu       sync.Mutex
	refusals map[Code]uint64
	ifaces   map[string]*ifaceStats
}

// ifaceStats are one interface's counters, kept across re-registrations;
// all under serverStats.mu.
type ifaceStats struct {
	opened uint64
	ended  map[Code]uint64
	totals ConnStats // of the ended connections
	types  map[string]*typeStats
}

// typeStats count the calls of one received type's handler; the handler's
// wrapper updates them without a lock. Only requests (types with a reply)
// are timed: reading the clock twice costs more than a one-way message's
// whole path on some machines (about 0.3-0.7 µs a read on a virtual
// machine's clock), and a request's round trip dwarfs it.
type typeStats struct {
	timed                  bool // a request type: its calls are timed
	handled, errors, nanos atomic.Uint64
	latency                [control.LatencyBuckets]atomic.Uint64
	lastErr                atomic.Pointer[string]
}

// count adds one call that returned err.
func (t *typeStats) count(err error) {
	t.handled.Add(1)
	if err != nil {
		t.errors.Add(1)
		text := err.Error()
		t.lastErr.Store(&text)
	}
}

// call runs h for m, counted in t (and timed, for a request type).
func (t *typeStats) call(h Handler, ctx context.Context, m *Message) error {
	if !t.timed {
		err := h(ctx, m)
		t.count(err)
		return err
	}
	start := time.Now()
	err := h(ctx, m)
	d := time.Since(start)
	t.nanos.Add(uint64(d))
	t.latency[control.LatencyBucket(d)].Add(1)
	t.count(err)
	return err
}

// wrap returns h counted in t.
func (t *typeStats) wrap(h Handler) Handler {
	return func(ctx context.Context, m *Message) error { return t.call(h, ctx, m) }
}

// ifaceLocked returns the counters of the named interface, made on first
// use; st.mu must be held.
func (st *serverStats) ifaceLocked(name string) *ifaceStats {
	if st.ifaces == nil {
		st.ifaces = map[string]*ifaceStats{}
	}
	is := st.ifaces[name]
	if is == nil {
		is = &ifaceStats{ended: map[Code]uint64{}, types: map[string]*typeStats{}}
		st.ifaces[name] = is
	}
	return is
}

// typeLocked returns the counters of a type of is, made on first use;
// timed says whether it is a request type now (a re-registered manifest
// may have made it one, or not).
func (is *ifaceStats) typeLocked(name string, timed bool) *typeStats {
	t := is.types[name]
	if t == nil || t.timed != timed {
		old := t
		t = &typeStats{timed: timed}
		if old != nil { // keep the counts; the new handlers use the new counters
			t.handled.Store(old.handled.Load())
			t.errors.Store(old.errors.Load())
			t.nanos.Store(old.nanos.Load())
			for i := range t.latency {
				t.latency[i].Store(old.latency[i].Load())
			}
			t.lastErr.Store(old.lastErr.Load())
		}
		is.types[name] = t
	}
	return t
}

func (st *serverStats) refusal(code Code) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.refusals == nil {
		st.refusals = map[Code]uint64{}
	}
	st.refusals[code]++
}

func (st *serverStats) opened(iface string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ifaceLocked(iface).opened++
}

// ended adds an ended connection's final counters; called under the
// server's mu with the connection's removal, so Stats counts it exactly
// once, live or ended.
func (st *serverStats) ended(iface string, code Code, c ConnStats) {
	st.mu.Lock()
	defer st.mu.Unlock()
	is := st.ifaceLocked(iface)
	is.ended[code]++
	is.totals.Add(c)
}

// instrument replaces i's handlers with ones counted per type (Stats): the
// named handlers each in its type's counters, the catch-all in the
// counters of the type of each message it gets.
func (s *Server) instrument(i *Interface) {
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	is := st.ifaceLocked(i.Manifest.Name)
	if len(i.Handlers) > 0 {
		handlers := make(map[string]Handler, len(i.Handlers))
		for name, h := range i.Handlers {
			t, _ := i.Manifest.Type(name)
			handlers[name] = is.typeLocked(name, t != nil && t.Reply != nil).wrap(h)
		}
		i.Handlers = handlers
	}
	if i.CatchAll != nil {
		byType := map[string]*typeStats{}
		for _, t := range i.Manifest.Types(manifest.Recv) {
			if _, named := i.Handlers[t.Name]; !named {
				byType[t.Name] = is.typeLocked(t.Name, t.Reply != nil)
			}
		}
		h := i.CatchAll
		i.CatchAll = func(ctx context.Context, m *Message) error {
			if t := byType[m.Type.Name]; t != nil {
				return t.call(h, ctx, m)
			}
			return h(ctx, m)
		}
	}
}

// Stats returns the server's counters since it started: per interface
// (every one ever registered), its connections open and opened, the sums of
// its connections' counters, open and ended alike, its connections' end
// codes, and the calls of its handlers per message type (count, errors,
// time); and the sessions and streams it refused, by code. Messages a
// program takes with Conn.Recv have no handler and are not in the per-type
// counts. Counters never go down, so a metrics collector can read them as
// they are (package metrics does).
func (s *Server) Stats() ServerStats { return s.statsOf("") }

// statsOf is Stats for one interface ("" for all).
func (s *Server) statsOf(iface string) ServerStats {
	// The live connections and the ended ones' totals are read under the
	// server's mu, with which a connection moves from one to the other:
	// each is counted once.
	s.mu.Lock()
	var live []*Conn
	for _, sc := range s.conns {
		if iface == "" || sc.iface.Manifest.Name == iface {
			live = append(live, sc.conn)
		}
	}
	st := &s.stats
	st.mu.Lock()
	out := ServerStats{Refusals: make(map[Code]uint64, len(st.refusals))}
	for code, n := range st.refusals {
		out.Refusals[code] = n
	}
	byName := map[string]*control.InterfaceStats{}
	for name, is := range st.ifaces {
		if iface != "" && name != iface {
			continue
		}
		o := &control.InterfaceStats{Interface: name, Opened: is.opened, Ended: make(map[Code]uint64, len(is.ended)), Totals: is.totals}
		o.Totals.Interface = name
		for code, n := range is.ended {
			o.Ended[code] = n
		}
		for tn, t := range is.types {
			ts := control.TypeStats{
				Type: tn, Handled: t.handled.Load(), Errors: t.errors.Load(),
				Processing: time.Duration(t.nanos.Load()), Latency: make([]uint64, control.LatencyBuckets),
			}
			if e := t.lastErr.Load(); e != nil {
				ts.LastError = *e
			}
			for b := range t.latency {
				ts.Latency[b] = t.latency[b].Load()
			}
			o.Types = append(o.Types, ts)
		}
		sort.Slice(o.Types, func(a, b int) bool { return o.Types[a].Type < o.Types[b].Type })
		byName[name] = o
	}
	st.mu.Unlock()
	s.mu.Unlock()
	for _, c := range live {
		o := byName[c.Manifest().Name]
		if o == nil {
			continue
		}
		o.Open++
		o.Totals.Add(ConnStats(c.Stats()))
	}
	for _, o := range byName {
		out.Interfaces = append(out.Interfaces, *o)
	}
	sort.Slice(out.Interfaces, func(a, b int) bool { return out.Interfaces[a].Interface < out.Interfaces[b].Interface })
	return out
}
