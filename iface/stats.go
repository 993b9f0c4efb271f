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
// wrapper updates them without a lock.
type typeStats struct {
	handled, errors, nanos atomic.Uint64
	latency                [control.LatencyBuckets]atomic.Uint64
	lastErr                atomic.Pointer[string]
}

func (t *typeStats) observe(d time.Duration, err error) {
	t.handled.Add(1)
	t.nanos.Add(uint64(d))
	t.latency[control.LatencyBucket(d)].Add(1)
	if err != nil {
		t.errors.Add(1)
		text := err.Error()
		t.lastErr.Store(&text)
	}
}

// wrap returns h counted in t.
func (t *typeStats) wrap(h Handler) Handler {
	return func(ctx context.Context, m *Message) error {
		start := time.Now()
		err := h(ctx, m)
		t.observe(time.Since(start), err)
		return err
	}
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

// typeLocked returns the counters of a type of is, made on first use.
func (is *ifaceStats) typeLocked(name string) *typeStats {
	t := is.types[name]
	if t == nil {
		t = &typeStats{}
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
			handlers[name] = is.typeLocked(name).wrap(h)
		}
		i.Handlers = handlers
	}
	if i.CatchAll != nil {
		byType := map[string]*typeStats{}
		for _, t := range i.Manifest.Types(manifest.Recv) {
			if _, named := i.Handlers[t.Name]; !named {
				byType[t.Name] = is.typeLocked(t.Name)
			}
		}
		h := i.CatchAll
		i.CatchAll = func(ctx context.Context, m *Message) error {
			t := byType[m.Type.Name]
			if t == nil {
				return h(ctx, m)
			}
			start := time.Now()
			err := h(ctx, m)
			t.observe(time.Since(start), err)
			return err
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
