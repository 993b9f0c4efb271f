package iface

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// TestControlReachesOnlyItsOwnSession: connection ids are sequential and
// easy to guess, so a control stream must not attach to, read the stats of,
// or close another session's connection.
func TestControlReachesOnlyItsOwnSession(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			_, l, _ := badPeerServerOn(t, DefaultConfig(), network)
			addr := l.Addr().Network() + "://" + l.Addr().String()
			dial := func() *Client {
				cl, err := Dial(ctxT(t), addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cl.Close() })
				return cl
			}
			alice, mallory := dial(), dial()
			victim, err := alice.Connect(ctxT(t), "logs.sink")
			if err != nil {
				t.Fatal(err)
			}

			_, err = mallory.Control(ctxT(t), "logs.sink", AttachTo(victim))
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != CodeNotFound {
				t.Fatalf("attaching to another session's connection: %v, want not_found", err)
			}

			own, err := mallory.Connect(ctxT(t), "logs.sink")
			if err != nil {
				t.Fatal(err)
			}
			ctl, err := mallory.Control(ctxT(t), "logs.sink", AttachTo(own))
			if err != nil {
				t.Fatal(err)
			}
			defer ctl.Close()
			for name, op := range map[string]*controlpb.Request{
				"stats": {Id: 1, Op: &controlpb.Request_Stats{Stats: &controlpb.Stats{ConnectionId: victim.ID()}}},
				"close": {Id: 2, Op: &controlpb.Request_Close{Close: &controlpb.Close{ConnectionId: victim.ID(), Reason: "gotcha"}}},
			} {
				r := rawControlRequest(t, mallory, "logs.sink", op)
				if codes.Code(r.GetCode()) != CodeNotFound || !strings.Contains(r.GetReason(), "in this session") {
					t.Errorf("%s of another session's connection: %s %q, want not_found", name, codes.Code(r.GetCode()), r.GetReason())
				}
			}
			// Its own connection it may act on, and alice's is untouched.
			if _, err := ctl.Stats(ctxT(t)); err != nil {
				t.Fatalf("stats of its own connection: %v", err)
			}
			select {
			case <-victim.Done():
				t.Fatalf("alice's connection ended: %v", victim.Err())
			default:
			}
			actl, err := alice.Control(ctxT(t), "logs.sink", AttachTo(victim))
			if err != nil {
				t.Fatal(err)
			}
			defer actl.Close()
			if _, err := actl.Stats(ctxT(t)); err != nil {
				t.Fatalf("alice's stats of her own connection: %v", err)
			}
		})
	}
}

// rawControlRequest sends one request on a fresh control stream of cl's
// session and returns the response, as a client that names any
// connection id it likes would.
func rawControlRequest(t *testing.T, cl *Client, iface string, req *controlpb.Request) *controlpb.Response {
	t.Helper()
	st, br, _, err := cl.open(ctxT(t), &sessionpb.OpenStream{Interface: iface, Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	pbio.Write(st, &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: req}})
	for {
		var f controlpb.ControlFrame
		if err := pbio.Read(br, &f, 1<<20); err != nil {
			t.Fatalf("no response: %v", err)
		}
		if r := f.GetResponse(); r != nil {
			return r
		}
	}
}

// TestConnectionEventsInOrder: a watcher hears each connection open before
// it hears it end, and hears nothing of an interface with control: [].
func TestConnectionEventsInOrder(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s, l, _ := badPeerServerOn(t, DefaultConfig(), network)
			hidden, err := manifest.Parse("hidden.yaml", []byte(`
ifkit: 1
name: hidden.sink
version: 1.0.0
direction: recv
control: []
messages:
  recv:
    Note: {schema: {type: object}}
`))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Register(Interface{Manifest: hidden}); err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().Network() + "://" + l.Addr().String()
			watcher, err := Dial(ctxT(t), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer watcher.Close()
			ctl, err := watcher.Control(ctxT(t), "")
			if err != nil {
				t.Fatal(err)
			}
			defer ctl.Close()
			cl, err := Dial(ctxT(t), addr, WithClientName("orders"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			const n = 20
			for k := 0; k < n; k++ {
				for _, name := range []string{"hidden.sink", "logs.sink"} {
					c, err := cl.Connect(ctxT(t), name)
					if err != nil {
						t.Fatal(err)
					}
					c.Close(fmt.Sprintf("done %d", k))
				}
			}
			opened := map[uint64]bool{}
			for closed := 0; closed < n; {
				select {
				case note := <-ctl.Notifications():
					switch n := note.(type) {
					case *control.ConnectionOpened:
						if n.Interface != "logs.sink" || n.Client != "orders" || n.Codec != "json" {
							t.Errorf("opened: %+v", n)
						}
						opened[n.ConnectionID] = true
					case *control.ConnectionClosed:
						if n.Interface != "logs.sink" || !opened[n.ConnectionID] {
							t.Errorf("closed %+v before it was announced open, or of the wrong interface", n)
						}
						closed++
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("heard %d of %d connections end", closed, n)
				}
			}
		})
	}
}

// TestStalledWatcherLosesNothingSilently: a control stream that does not
// read its notifications does not slow the server: once its queue is full,
// the server drops what follows and, when the reader catches up, says how
// many it dropped. Every event is either delivered or counted.
func TestStalledWatcherLosesNothingSilently(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			_, l, _ := badPeerServerOn(t, DefaultConfig(), network)
			// A raw watcher with yamux's smallest receive window, which it
			// does not read until the end.
			raw := dialRaw(t, l)
			raw.Write(preface(prefaceOK))
			if _, err := readPreface(raw); err != nil {
				t.Fatal(err)
			}
			ycfg := DefaultConfig().yamux()
			ycfg.MaxStreamWindowSize = 256 << 10
			sess, err := yamux.Client(raw, ycfg)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			st, err := sess.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			pbio.Write(st, &sessionpb.OpenStream{Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL})
			// The handshake's answer first: the server registers the stream
			// for notifications before it answers, so from here on it hears
			// every event. (Without this wait, a loaded server could register
			// it after the first connection opened: 799 of 800 events.)
			br := bufio.NewReader(st)
			var res sessionpb.OpenResult
			st.SetReadDeadline(time.Now().Add(time.Minute))
			if err := pbio.Read(br, &res, 1<<20); err != nil || res.GetCode() != 0 {
				t.Fatalf("control handshake: %v %v", err, res.GetReason())
			}

			cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			reason := strings.Repeat("r", 1000) // each end announced with a 1000-byte reason
			const conns = 400
			deadline := time.Now().Add(30 * time.Second)
			for k := 0; k < conns; k++ {
				c, err := cl.Connect(ctxT(t), "logs.sink")
				if err != nil {
					t.Fatalf("connection %d: %v", k, err)
				}
				c.Close(reason)
				if time.Now().After(deadline) {
					t.Fatalf("only %d connections in 30 s: the stalled watcher slows the server", k)
				}
			}
			// The watcher reads now: every event of the 400 connections
			// (an open and an end each) is there or counted as lost.
			st.SetReadDeadline(time.Now().Add(time.Minute))
			seen, lost := 0, uint64(0)
			for seen+int(lost) < 2*conns {
				var f controlpb.ControlFrame
				if err := pbio.Read(br, &f, 1<<20); err != nil {
					t.Fatalf("after %d events and %d counted lost: %v", seen, lost, err)
				}
				switch e := f.GetNotification().GetEvent().(type) {
				case *controlpb.Notification_NotificationsLost:
					lost += e.NotificationsLost.GetCount()
				case *controlpb.Notification_ConnectionOpened, *controlpb.Notification_ConnectionClosed:
					seen++
				}
			}
			if lost == 0 || seen+int(lost) != 2*conns {
				t.Fatalf("saw %d events and %d counted lost, want %d in all with some lost", seen, lost, 2*conns)
			}
			t.Logf("%d events delivered, %d dropped and counted", seen, lost)
		})
	}
}
