package control

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// MaxMessageBytes bounds one control message (a manifest response included).
const MaxMessageBytes = 32 << 20

// notificationBuffer bounds the notifications a Client holds for a reader
// that has not taken them; beyond it they are dropped and counted, and a
// NotificationsLost says how many.
const notificationBuffer = 64

// Client is the client end of one control stream: introspection (list,
// manifest, ping) and operations on a connection (stats, pause, resume,
// reset, close), plus the server's notifications. A Client is safe for
// concurrent use.
type Client struct {
	st     net.Conn
	iface  string
	connID uint64

	nextID atomic.Uint64
	wmu    sync.Mutex
	mu     sync.Mutex
	calls  map[uint64]chan *controlpb.Response
	// monitors are those waiting to fire, by ref (monitor.go); under mu.
	monitors map[uint64]*Monitor
	notes    chan Notification
	lost     atomic.Uint64 // notifications this client dropped, in all
	done     chan struct{} // closed when the stream has ended
	quit     chan struct{} // closed by Close
	err      error
	wg       sync.WaitGroup
	closed   sync.Once
}

// NewClient runs the client end of a control stream whose handshake is
// done. iface is the interface the stream was opened for ("" for the server
// as a whole), connID the connection it is attached to (0 for none); br
// holds what the handshake read ahead (nil if nothing). Close it when done.
func NewClient(st net.Conn, br *bufio.Reader, iface string, connID uint64) *Client {
	if br == nil {
		br = bufio.NewReader(st)
	}
	c := &Client{
		st: st, iface: iface, connID: connID,
		calls:    map[uint64]chan *controlpb.Response{},
		monitors: map[uint64]*Monitor{},
		notes:    make(chan Notification, notificationBuffer),
		done:     make(chan struct{}),
		quit:     make(chan struct{}),
	}
	c.wg.Add(1)
	go c.readLoop(br)
	return c
}

// ConnectionID returns the connection the stream is attached to, or 0.
func (c *Client) ConnectionID() uint64 { return c.connID }

func (c *Client) readLoop(br *bufio.Reader) {
	defer c.wg.Done()
	var (
		err     error
		pending uint64 // dropped since the last NotificationsLost delivered
	)
	// deliver hands n to the reader without waiting; a full buffer drops
	// it, and nothing is delivered after a drop until the count is.
	deliver := func(n Notification) {
		if pending > 0 {
			select {
			case c.notes <- &NotificationsLost{Count: pending}:
				pending = 0
			default:
			}
		}
		if pending == 0 {
			select {
			case c.notes <- n:
				return
			default:
			}
		}
		pending++
		c.lost.Add(1)
	}
	for {
		var f controlpb.ControlFrame
		if err = pbio.Read(br, &f, MaxMessageBytes); err != nil {
			break
		}
		if r := f.GetResponse(); r != nil {
			c.mu.Lock()
			ch := c.calls[r.GetId()]
			delete(c.calls, r.GetId())
			c.mu.Unlock()
			if ch != nil {
				ch <- r
			}
			continue
		}
		if d := f.GetNotification().GetMonitorDown(); d != nil {
			c.deliverDown(d) // to its monitor, never dropped
			continue
		}
		if n := fromPB(f.GetNotification()); n != nil {
			deliver(n)
		}
	}
	c.mu.Lock()
	c.err = &codes.CloseError{Code: codes.TransportError, Reason: "the control stream ended", Cause: err, Remote: true}
	c.mu.Unlock()
	lost := "the control stream ended before the server reported the target down"
	select {
	case <-c.quit:
		lost = "the control stream was closed by this client"
	default:
	}
	c.loseMonitors(lost)
	close(c.done)
	if pending > 0 {
		// The last word: the reader learns what it missed before the end.
		select {
		case c.notes <- &NotificationsLost{Count: pending}:
		case <-c.quit:
		}
	}
	close(c.notes)
}

// Notifications delivers the server's notifications, in order; it is
// closed when the stream ends. A reader that falls more than 64 behind
// loses the newest, and then receives a *NotificationsLost with their
// count before anything else (the server does the same when this client's
// stream falls behind).
func (c *Client) Notifications() <-chan Notification { return c.notes }

// Lost returns how many notifications this client has dropped so far
// because nobody read them (those the server dropped arrive as
// *NotificationsLost instead).
func (c *Client) Lost() uint64 { return c.lost.Load() }

// Done is closed when the stream has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the control stream; a data connection it was attached to
// goes on. It returns when the stream's reader has exited.
func (c *Client) Close() error {
	var err error
	c.closed.Do(func() {
		close(c.quit)
		err = c.st.Close()
		c.st.SetReadDeadline(time.Now())
	})
	c.wg.Wait()
	return err
}

// do sends one request and waits for its response.
func (c *Client) do(ctx context.Context, req *controlpb.Request) (*controlpb.Response, error) {
	id := c.nextID.Add(1)
	req.Id = id
	ch := make(chan *controlpb.Response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.calls[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	err := pbio.Write(c.st, &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: req}})
	c.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("ifkit: control request: %w", err)
	}
	select {
	case r := <-ch:
		return answer(r)
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return nil, ctx.Err()
	case <-c.done:
		// The response may have arrived just before the end (a server
		// answers a wrong operator proof, then closes the stream).
		select {
		case r := <-ch:
			return answer(r)
		default:
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return nil, c.err
	}
}

// answer is a response as do returns it: a failure as a RemoteError.
func answer(r *controlpb.Response) (*controlpb.Response, error) {
	if code := codes.Code(r.GetCode()); code != codes.OK {
		return nil, &codes.RemoteError{Code: code, Reason: r.GetReason()}
	}
	return r, nil
}

// List returns the interfaces the server hosts, sorted by name.
func (c *Client) List(ctx context.Context) ([]InterfaceInfo, error) {
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_List{List: &controlpb.ListInterfaces{}}})
	if err != nil {
		return nil, err
	}
	var out []InterfaceInfo
	for _, i := range r.GetInterfaces().GetInterfaces() {
		out = append(out, InterfaceInfo{i.GetName(), i.GetVersion(), i.GetTitle(), manifest.Direction(i.GetDirection()), i.GetManifestHash()})
	}
	return out, nil
}

// Manifest fetches an interface's manifest ("" for the stream's own) and
// checks that it hashes to what the server says. When known is the served
// manifest, it is returned without transferring it.
func (c *Client) Manifest(ctx context.Context, iface string, known *manifest.Manifest) (*manifest.Manifest, error) {
	req := &controlpb.GetManifest{Interface: iface}
	if known != nil {
		req.KnownHash = known.Hash()
	}
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Manifest{Manifest: req}})
	if err != nil {
		return nil, err
	}
	res := r.GetManifest()
	if res.GetNotModified() {
		return known, nil
	}
	if iface == "" {
		iface = c.iface
	}
	m, err := manifest.Parse(iface+".canonical.json", res.GetCanonical())
	if err != nil {
		return nil, fmt.Errorf("ifkit: the served manifest does not load: %w", err)
	}
	if m.Hash() != res.GetHash() {
		return nil, fmt.Errorf("ifkit: the served manifest hashes to %s, but the server says %s", m.Hash(), res.GetHash())
	}
	return m, nil
}

// Servers returns the servers a relay relays to, by name (none from a
// server that is not a relay).
func (c *Client) Servers(ctx context.Context) ([]string, error) {
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Servers{Servers: &controlpb.ListServers{}}})
	if err != nil {
		return nil, err
	}
	return r.GetServers().GetNames(), nil
}

// Ping measures a round trip over the control stream.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Ping{Ping: &controlpb.Ping{}}})
	return time.Since(start), err
}

// Stats returns the counters of the attached connection, as the server sees them.
func (c *Client) Stats(ctx context.Context) (ConnStats, error) { return c.Conn(0).Stats(ctx) }

// Pause stops the data flow of the attached connection, both ways, until Resume.
func (c *Client) Pause(ctx context.Context) error { return c.Conn(0).Pause(ctx) }

// Resume restarts the data flow Pause stopped.
func (c *Client) Resume(ctx context.Context) error { return c.Conn(0).Resume(ctx) }

// Reset asks the server to reset the attached connection's data location to
// position (interface-defined; "" for the start).
func (c *Client) Reset(ctx context.Context, position string) error {
	return c.Conn(0).Reset(ctx, position)
}

// CloseConn asks the server to close the attached connection with reason.
func (c *Client) CloseConn(ctx context.Context, reason string) error {
	return c.Conn(0).Close(ctx, reason)
}

// SetFilter replaces the filter of the attached connection: from the
// server's next message on, only those f selects are sent. The zero Filter
// removes it. A filter the server cannot compile fails with invalid_filter
// and its position, and the connection keeps the filter it had.
func (c *Client) SetFilter(ctx context.Context, f Filter) error { return c.Conn(0).SetFilter(ctx, f) }

// Conn returns the connection operations on the connection with that id,
// over this stream (0: the attached one). The server allows only its own
// session's connections, unless the stream has the operator scope
// (Operator).
func (c *Client) Conn(id uint64) ConnRef { return ConnRef{c: c, id: id} }

// ConnRef is one connection as a control stream acts on it; see Client.Conn.
type ConnRef struct {
	c  *Client
	id uint64 // 0: the stream's attached connection
}

// Stats returns the connection's counters, as the server sees them.
func (r ConnRef) Stats(ctx context.Context) (ConnStats, error) {
	resp, err := r.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Stats{Stats: &controlpb.Stats{ConnectionId: r.id}}})
	if err != nil {
		return ConnStats{}, err
	}
	return statsFromPB(resp.GetStats()), nil
}

// Pause stops the connection's data flow, both ways, until Resume.
func (r ConnRef) Pause(ctx context.Context) error {
	_, err := r.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Pause{Pause: &controlpb.Pause{ConnectionId: r.id}}})
	return err
}

// Resume restarts the data flow Pause stopped.
func (r ConnRef) Resume(ctx context.Context) error {
	_, err := r.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Resume{Resume: &controlpb.Resume{ConnectionId: r.id}}})
	return err
}

// Reset asks the server to reset the connection's data location to
// position (interface-defined; "" for the start).
func (r ConnRef) Reset(ctx context.Context, position string) error {
	_, err := r.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Reset_{Reset_: &controlpb.Reset{ConnectionId: r.id, Position: position}}})
	return err
}

// Close asks the server to close the connection with reason (normal_close).
func (r ConnRef) Close(ctx context.Context, reason string) error {
	_, err := r.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Close{Close: &controlpb.Close{ConnectionId: r.id, Reason: reason}}})
	return err
}

// SetFilter replaces the connection's filter; see Client.SetFilter.
func (r ConnRef) SetFilter(ctx context.Context, f Filter) error {
	_, err := r.c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Filter{Filter: &controlpb.SetFilter{ConnectionId: r.id, Type: f.Type, Cel: f.CEL, Structured: f.Structured}}})
	return err
}
