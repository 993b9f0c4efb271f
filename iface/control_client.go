package iface

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/manifest"
)

// Control is a client's control stream: introspection (list, manifest,
// ping) and operations on a connection (stats, pause, resume, reset,
// close), plus the server's notifications. It can be opened alone, before
// or after a data connection, closed and opened again.
type Control struct {
	st     net.Conn
	iface  string
	connID uint64

	nextID atomic.Uint64
	wmu    sync.Mutex
	mu     sync.Mutex
	calls  map[uint64]chan *controlpb.Response
	notes  chan *controlpb.Notification
	lost   atomic.Uint64 // notifications dropped because nobody read them
	done   chan struct{}
	err    error
	wg     sync.WaitGroup
}

// ControlOption configures Client.Control.
type ControlOption interface{ applyControl(*sessionpb.OpenStream) }

type controlOption func(*sessionpb.OpenStream)

func (f controlOption) applyControl(o *sessionpb.OpenStream) { f(o) }

// AttachTo attaches the control stream to a data connection, which stats,
// pause, resume, reset and close then act on.
func AttachTo(c *Conn) ControlOption {
	return controlOption(func(o *sessionpb.OpenStream) { o.ConnectionId = c.ID() })
}

// notificationBuffer bounds the notifications held for a slow reader; the
// oldest are dropped beyond it (and counted).
const notificationBuffer = 64

// Control opens a control stream for the named interface, or for the
// server as a whole when iface is "" (then only List, Manifest with a name,
// and Ping work).
func (c *Client) Control(ctx context.Context, iface string, opts ...ControlOption) (*Control, error) {
	req := &sessionpb.OpenStream{Interface: iface, Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL}
	for _, o := range opts {
		o.applyControl(req)
	}
	st, br, _, err := c.open(ctx, req)
	if err != nil {
		return nil, err
	}
	ctl := &Control{
		st: st, iface: iface, connID: req.ConnectionId,
		calls: map[uint64]chan *controlpb.Response{},
		notes: make(chan *controlpb.Notification, notificationBuffer),
		done:  make(chan struct{}),
	}
	ctl.wg.Add(1)
	go ctl.readLoop(br)
	return ctl, nil
}

func (ctl *Control) readLoop(br *bufio.Reader) {
	defer ctl.wg.Done()
	var err error
	for {
		var f controlpb.ControlFrame
		if err = readMsg(br, &f, maxControlBytes); err != nil {
			break
		}
		if r := f.GetResponse(); r != nil {
			ctl.mu.Lock()
			ch := ctl.calls[r.GetId()]
			delete(ctl.calls, r.GetId())
			ctl.mu.Unlock()
			if ch != nil {
				ch <- r
			}
			continue
		}
		if n := f.GetNotification(); n != nil {
			for {
				select {
				case ctl.notes <- n:
				default:
					select {
					case <-ctl.notes: // drop the oldest
						ctl.lost.Add(1)
					default:
					}
					continue
				}
				break
			}
		}
	}
	ctl.mu.Lock()
	ctl.err = &CloseError{Code: CodeTransportError, Reason: "the control stream ended", Cause: err, Remote: true}
	ctl.mu.Unlock()
	close(ctl.done)
	close(ctl.notes)
}

// Notifications delivers the server's notifications (draining, interfaces
// added or removed, manifest changed, connection closed). It is closed when
// the control stream ends. When nobody reads, the oldest are dropped.
func (ctl *Control) Notifications() <-chan *controlpb.Notification { return ctl.notes }

// Close closes the control stream; a data connection it was attached to
// goes on.
func (ctl *Control) Close() error {
	err := ctl.st.Close()
	ctl.st.SetReadDeadline(time.Now())
	ctl.wg.Wait()
	return err
}

// do sends one request and waits for its response.
func (ctl *Control) do(ctx context.Context, req *controlpb.Request) (*controlpb.Response, error) {
	id := ctl.nextID.Add(1)
	req.Id = id
	ch := make(chan *controlpb.Response, 1)
	ctl.mu.Lock()
	if ctl.err != nil {
		ctl.mu.Unlock()
		return nil, ctl.err
	}
	ctl.calls[id] = ch
	ctl.mu.Unlock()
	ctl.wmu.Lock()
	err := writeMsg(ctl.st, &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: req}})
	ctl.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("ifkit: control request: %w", err)
	}
	select {
	case r := <-ch:
		if code := Code(r.GetCode()); code != CodeOK {
			return nil, &RemoteError{Code: code, Reason: r.GetReason()}
		}
		return r, nil
	case <-ctx.Done():
		ctl.mu.Lock()
		delete(ctl.calls, id)
		ctl.mu.Unlock()
		return nil, ctx.Err()
	case <-ctl.done:
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		return nil, ctl.err
	}
}

// InterfaceInfo describes one hosted interface.
type InterfaceInfo struct {
	Name, Version, Title string
	Direction            manifest.Direction
	ManifestHash         string
}

// List returns the interfaces the server hosts.
func (ctl *Control) List(ctx context.Context) ([]InterfaceInfo, error) {
	r, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_List{List: &controlpb.ListInterfaces{}}})
	if err != nil {
		return nil, err
	}
	var out []InterfaceInfo
	for _, i := range r.GetInterfaces().GetInterfaces() {
		out = append(out, InterfaceInfo{i.GetName(), i.GetVersion(), i.GetTitle(), manifest.Direction(i.GetDirection()), i.GetManifestHash()})
	}
	return out, nil
}

// Manifest fetches an interface's manifest ("" for the stream's own). When
// known is the served manifest, it is returned without transferring it.
func (ctl *Control) Manifest(ctx context.Context, iface string, known *manifest.Manifest) (*manifest.Manifest, error) {
	req := &controlpb.GetManifest{Interface: iface}
	if known != nil {
		req.KnownHash = known.Hash()
	}
	r, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Manifest{Manifest: req}})
	if err != nil {
		return nil, err
	}
	res := r.GetManifest()
	if res.GetNotModified() {
		return known, nil
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

// Ping measures a round trip over the control stream.
func (ctl *Control) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Ping{Ping: &controlpb.Ping{}}})
	return time.Since(start), err
}

// Stats returns the counters of the attached connection, as the server sees them.
func (ctl *Control) Stats(ctx context.Context) (*controlpb.ConnStats, error) {
	r, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Stats{Stats: &controlpb.Stats{}}})
	if err != nil {
		return nil, err
	}
	return r.GetStats(), nil
}

// Pause stops the data flow of the attached connection, both ways, until Resume.
func (ctl *Control) Pause(ctx context.Context) error {
	_, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Pause{Pause: &controlpb.Pause{}}})
	return err
}

// Resume restarts the data flow Pause stopped.
func (ctl *Control) Resume(ctx context.Context) error {
	_, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Resume{Resume: &controlpb.Resume{}}})
	return err
}

// Reset asks the server to reset the attached connection's data location to
// position (interface-defined; "" for the start).
func (ctl *Control) Reset(ctx context.Context, position string) error {
	_, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Reset_{Reset_: &controlpb.Reset{Position: position}}})
	return err
}

// CloseConn asks the server to close the attached connection with reason.
func (ctl *Control) CloseConn(ctx context.Context, reason string) error {
	_, err := ctl.do(ctx, &controlpb.Request{Op: &controlpb.Request_Close{Close: &controlpb.Close{Reason: reason}}})
	return err
}
