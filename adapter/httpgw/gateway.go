package httpgw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// Dialer opens a session with the ifkit server behind the gateway: where
// the address, TLS, shared secret and failover list are decided.
type Dialer func(ctx context.Context) (*iface.Client, error)

// Gateway is an http.Handler serving the interfaces of one ifkit server
// (see the package documentation for its routes). Create it with New and
// Close it when done. It is safe for concurrent use.
type Gateway struct {
	dial   Dialer
	o      options
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the follower

	mu     sync.Mutex
	client *iface.Client     // nil while there is no session
	down   error             // why there is no session
	ifaces map[string]*entry // the server's interfaces, by name
	closed bool

	monitor *monitor // the server's connections, for GET /_events
}

var _ http.Handler = (*Gateway)(nil)

// entry is one interface the gateway serves. A new manifest makes a new
// entry; the old one's shared connection is closed.
type entry struct {
	m       *manifest.Manifest
	codecs  []string // the gateway's codecs, in its order of preference
	openapi doc

	mu   sync.Mutex
	idle []*iface.Conn // connections for request/reply calls, none in flight
	gone bool          // the interface was removed or changed
}

// doc is a document built once, on first use.
type doc struct {
	once sync.Once
	data []byte
	err  error
}

func (d *doc) get(build func() ([]byte, error)) ([]byte, error) {
	d.once.Do(func() { d.data, d.err = build() })
	return d.data, d.err
}

// New dials the server, loads its interfaces and starts following its
// notifications. It fails if the first dial or listing fails; later
// session ends are survived by dialling again.
func New(ctx context.Context, dial Dialer, opts ...Option) (*Gateway, error) {
	g := &Gateway{dial: dial, o: defaultOptions(), ifaces: map[string]*entry{}, monitor: newMonitor()}
	for _, opt := range opts {
		opt.apply(&g.o)
	}
	client, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	ctl, err := client.Control(ctx, "")
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("httpgw: opening a control stream: %w", err)
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if err := g.refresh(ctx, ctl); err != nil {
		ctl.Close()
		client.Close()
		g.cancel()
		return nil, fmt.Errorf("httpgw: listing the server's interfaces: %w", err)
	}
	g.client = client
	g.wg.Add(1)
	go g.run(client, ctl)
	return g, nil
}

// Close stops following the server, ends every stream and call in flight
// (their ifkit connections close with the reason "gateway closing") and
// closes the session. It returns when the gateway's goroutines have exited.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
	return nil
}

// run follows the session's notifications, and dials again each time the
// session ends, until Close.
func (g *Gateway) run(client *iface.Client, ctl *control.Client) {
	defer g.wg.Done()
	for {
		err := g.follow(client, ctl)
		g.setDown(client, err)
		if g.ctx.Err() != nil {
			return
		}
		g.o.log.Warn("httpgw: the session with the server ended; dialling again", "err", err)
		client, ctl = g.redial()
		if client == nil {
			return
		}
		g.o.log.Info("httpgw: connected again")
	}
}

// follow keeps the table of interfaces as the notifications on ctl say,
// until the stream or the gateway ends.
func (g *Gateway) follow(client *iface.Client, ctl *control.Client) error {
	defer ctl.Close()
	for {
		select {
		case <-g.ctx.Done():
			return nil
		case <-client.Done():
			return errors.New("the session ended")
		case n, ok := <-ctl.Notifications():
			if !ok {
				return errors.New("the control stream ended")
			}
			ctx, cancel := context.WithTimeout(g.ctx, controlTimeout)
			var err error
			switch n := n.(type) {
			case *control.InterfacesChanged:
				for _, name := range n.Removed {
					g.remove(name)
				}
				for _, name := range n.Added {
					err = errors.Join(err, g.load(ctx, ctl, name))
				}
			case *control.ManifestChanged:
				err = g.load(ctx, ctl, n.Interface)
			case *control.NotificationsLost:
				err = g.refresh(ctx, ctl)
			case *control.Draining:
				g.o.log.Info("httpgw: the server is draining", "deadline", n.Deadline)
			}
			cancel()
			g.monitor.note(n, time.Now()) // after the table follows it
			if err != nil && g.ctx.Err() == nil {
				g.o.log.Warn("httpgw: following the server's interfaces", "err", err)
			}
		}
	}
}

// redial dials until it has a session with a control stream, waiting
// longer each time, or returns nils once the gateway is closed.
func (g *Gateway) redial() (*iface.Client, *control.Client) {
	wait := g.o.redialBackoff
	for {
		t := time.NewTimer(wait)
		select {
		case <-g.ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		wait = min(2*wait, MaxRedialBackoff)
		client, err := g.dial(g.ctx)
		if err != nil {
			g.setDown(nil, err)
			continue
		}
		ctx, cancel := context.WithTimeout(g.ctx, controlTimeout)
		ctl, err := client.Control(ctx, "")
		if err == nil {
			if err = g.refresh(ctx, ctl); err != nil {
				ctl.Close()
			}
		}
		cancel()
		if err != nil {
			client.Close()
			g.setDown(nil, err)
			continue
		}
		g.mu.Lock()
		g.client, g.down = client, nil
		g.mu.Unlock()
		g.monitor.session(true, nil, time.Now())
		return client, ctl
	}
}

// setDown records that the session client (if any) has ended, and why, and
// closes it with every connection of it.
func (g *Gateway) setDown(client *iface.Client, why error) {
	if why == nil {
		why = errors.New("the gateway is closing")
	}
	g.mu.Lock()
	if client != nil && g.client == client {
		g.client = nil
	}
	g.down = why
	g.mu.Unlock()
	if client != nil {
		g.monitor.session(false, why, time.Now())
		client.Close()
	}
}

// refresh loads the whole table again: after a (re)dial, or when
// notifications were lost.
func (g *Gateway) refresh(ctx context.Context, ctl *control.Client) error {
	infos, err := ctl.List(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, info := range infos {
		seen[info.Name] = true
		g.mu.Lock()
		e := g.ifaces[info.Name]
		g.mu.Unlock()
		if e != nil && e.m.Hash() == info.ManifestHash {
			continue
		}
		if err := g.load(ctx, ctl, info.Name); err != nil {
			return err
		}
	}
	g.mu.Lock()
	var gone []string
	for name := range g.ifaces {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	g.mu.Unlock()
	for _, name := range gone {
		g.remove(name)
	}
	return nil
}

// load fetches the manifest of the named interface and serves it, in place
// of the one it had.
func (g *Gateway) load(ctx context.Context, ctl *control.Client, name string) error {
	g.mu.Lock()
	old := g.ifaces[name]
	g.mu.Unlock()
	var known *manifest.Manifest
	if old != nil {
		known = old.m
	}
	m, err := ctl.Manifest(ctx, name, known)
	if codes.Of(err) == codes.UnknownInterface {
		g.remove(name) // gone again before we asked
		return nil
	}
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", name, err)
	}
	if old != nil && m == known {
		return nil
	}
	g.mu.Lock()
	g.ifaces[name] = &entry{m: m, codecs: g.o.codecs}
	g.mu.Unlock()
	if old != nil {
		old.retire("the interface's manifest changed")
	}
	g.o.log.Info("httpgw: serving", "interface", name, "version", m.Version, "hash", m.Hash())
	return nil
}

// remove stops serving the named interface.
func (g *Gateway) remove(name string) {
	g.mu.Lock()
	e := g.ifaces[name]
	delete(g.ifaces, name)
	g.mu.Unlock()
	if e != nil {
		e.retire("the interface was unregistered")
		g.o.log.Info("httpgw: no longer serving", "interface", name)
	}
}

// retire ends the entry's idle call connections; calls in flight finish
// on theirs, which are then ended too.
func (e *entry) retire(why string) {
	e.mu.Lock()
	idle := e.idle
	e.idle, e.gone = nil, true
	e.mu.Unlock()
	for _, conn := range idle {
		// End does not wait for the peer (Close would); the session owns
		// the connection's goroutines.
		conn.End(&codes.CloseError{Code: codes.NormalClose, Reason: "ifkit gateway: " + why})
	}
}

// session returns the session and the entry of the named interface, or the
// error to answer with: no session (502), no such interface (404).
func (g *Gateway) session(name string) (*iface.Client, *entry, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client == nil {
		return nil, nil, errorf(codes.TransportError, "the gateway has no session with the server (%v); it is dialling again", g.down)
	}
	e := g.ifaces[name]
	if e == nil {
		return nil, nil, errorf(codes.UnknownInterface, "the server has no interface %q; GET %s for those it has", name, g.o.base)
	}
	return g.client, e, nil
}

// Manifest returns the manifest the gateway serves for the named
// interface, as the server last announced it, and whether it serves one.
// It is what pages built on the gateway render documentation from.
func (g *Gateway) Manifest(name string) (*manifest.Manifest, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.ifaces[name]; e != nil {
		return e.m, true
	}
	return nil, false
}

// entries returns the interfaces served, sorted by name.
func (g *Gateway) entries() ([]*entry, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client == nil {
		return nil, errorf(codes.TransportError, "the gateway has no session with the server (%v); it is dialling again", g.down)
	}
	out := make([]*entry, 0, len(g.ifaces))
	for _, e := range g.ifaces {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].m.Name < out[j].m.Name })
	return out, nil
}

// callConn returns an idle connection for a request/reply call to e,
// opening one when none is idle. A server runs the handlers of one
// connection one at a time, so calls in flight together each have a
// connection: a slow call holds up no other. Messages the server sends on
// it that answer no call are dropped, so that they never hold its credit.
func (e *entry) callConn(ctx context.Context, client *iface.Client) (*iface.Conn, error) {
	e.mu.Lock()
	for len(e.idle) > 0 {
		conn := e.idle[len(e.idle)-1]
		e.idle = e.idle[:len(e.idle)-1]
		if conn.Err() == nil {
			e.mu.Unlock()
			return conn, nil
		}
	}
	gone := e.gone
	e.mu.Unlock()
	if gone {
		return nil, errorf(codes.UnknownInterface, "%s changed or went away; try again", e.m.Name)
	}
	return e.connect(ctx, client, iface.WithCatchAll(func(context.Context, *iface.Message) error { return nil }))
}

// connect opens a connection to e's interface, asking for the gateway's
// codecs that the interface offers (all of them when it offers none of
// those).
func (e *entry) connect(ctx context.Context, client *iface.Client, opts ...iface.ConnectOption) (*iface.Conn, error) {
	var codecs []string
	for _, c := range e.codecs {
		if slices.Contains(e.m.Codecs, c) {
			codecs = append(codecs, c)
		}
	}
	if len(codecs) > 0 {
		opts = append(opts, iface.WithCodec(codecs...))
	}
	return client.Connect(ctx, e.m.Name, opts...)
}

// codec is the codec a connection to e would use: the first of the
// gateway's codecs the interface offers, or the interface's first.
func (e *entry) codec() string {
	for _, c := range e.codecs {
		if slices.Contains(e.m.Codecs, c) {
			return c
		}
	}
	if len(e.m.Codecs) > 0 {
		return e.m.Codecs[0]
	}
	return codec.NameJSON
}

// release gives back a connection callConn returned: kept for the next
// call if the call ended cleanly and fewer than maxIdle are kept, ended
// otherwise (a call that timed out may still hold the server's handler).
func (e *entry) release(conn *iface.Conn, clean bool) {
	e.mu.Lock()
	if clean && !e.gone && len(e.idle) < maxIdle && conn.Err() == nil {
		e.idle = append(e.idle, conn)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	conn.End(&codes.CloseError{Code: codes.NormalClose, Reason: "ifkit gateway: call connection released"})
}

// ServeHTTP routes a request (see the package documentation).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(g.o.origins) > 0 && g.cors(w, r) {
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	name, rest, _ := strings.Cut(path, "/")
	if name == "" {
		if !method(w, r, http.MethodGet) {
			return
		}
		g.serveIndex(w, r)
		return
	}
	if name == "_events" && rest == "" {
		if method(w, r, http.MethodGet) {
			g.serveEvents(w, r)
		}
		return
	}
	client, e, err := g.session(name)
	if err != nil {
		writeError(w, err)
		return
	}
	switch rest {
	case "", "manifest", "openapi.json", "asyncapi.json":
		if !method(w, r, http.MethodGet) {
			return
		}
		g.serveDoc(w, r, e, rest)
		return
	case "stream":
		if r.Method == http.MethodGet {
			g.serveStream(w, r, client, e)
			return
		}
	}
	t, ok := e.m.Type(rest)
	switch {
	case !ok:
		writeError(w, errorf(codes.UnknownType, "%s has no message type %q; it receives %s", name, rest, typeNames(e.m.Recv)))
	case t.Direction != manifest.Recv:
		writeError(w, errorf(codes.WrongDirection, "%s %s is sent by the server: read it from GET %s", name, rest, g.link(name, "stream")))
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, errorf(codes.WrongDirection, "POST a %s to this route (not %s)", rest, r.Method))
	case r.URL.Query().Has("validate"):
		g.validate(w, r, e, t)
	default:
		g.serveMessage(w, r, client, e, t)
	}
}

// method checks the request's method, answering 405 when it is another.
func method(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want || (want == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", want)
	writeError(w, errorf(codes.WrongDirection, "this route takes %s, not %s", want, r.Method))
	return false
}

// link returns the path of a route of the named interface.
func (g *Gateway) link(name, route string) string {
	p := strings.TrimSuffix(g.o.base, "/") + "/" + name
	if route != "" {
		p += "/" + route
	}
	return p
}

// requestContext returns a context for work on behalf of r that also ends
// when the gateway closes.
func (g *Gateway) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(g.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func typeNames(ts []*manifest.MessageType) string {
	if len(ts) == 0 {
		return "nothing"
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}
