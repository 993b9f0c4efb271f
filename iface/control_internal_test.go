package iface

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
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
				"stats": {Op: &controlpb.Request_Stats{Stats: &controlpb.Stats{ConnectionId: victim.ID()}}},
				"close": {Op: &controlpb.Request_Close{Close: &controlpb.Close{ConnectionId: victim.ID(), Reason: "gotcha"}}},
			} {
				_, err := ctl.do(ctxT(t), op)
				var re *RemoteError
				if !errors.As(err, &re) || re.Code != CodeNotFound || !strings.Contains(err.Error(), "refused the control request: not_found") {
					t.Errorf("%s of another session's connection: %v, want not_found", name, err)
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
					if o := note.GetConnectionOpened(); o != nil {
						if o.GetInterface() != "logs.sink" || o.GetClient() != "orders" || o.GetCodec() != "json" {
							t.Errorf("opened: %v", o)
						}
						opened[o.GetConnectionId()] = true
					}
					if c := note.GetConnectionClosed(); c != nil {
						if c.GetInterface() != "logs.sink" || !opened[c.GetConnectionId()] {
							t.Errorf("closed %v before it was announced open, or of the wrong interface", c)
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

// TestStalledWatcherIsCutOff: a control stream that never reads its
// notifications does not slow the server: once its queue is full it is
// closed, and connections keep opening and closing meanwhile.
func TestStalledWatcherIsCutOff(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ConnectionWriteTimeout = time.Minute // a blocked write would stall the test for a minute per notification
			_, l, _ := badPeerServerOn(t, cfg, network)
			// A raw watcher with yamux's smallest receive window, which it
			// never reads.
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
			writeMsg(st, &sessionpb.OpenStream{Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL})

			cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			reason := strings.Repeat("r", 1000) // each end announced with a 1000-byte reason
			deadline := time.Now().Add(30 * time.Second)
			for k := 0; k < 400; k++ {
				c, err := cl.Connect(ctxT(t), "logs.sink")
				if err != nil {
					t.Fatalf("connection %d: %v", k, err)
				}
				c.Close(reason)
				if time.Now().After(deadline) {
					t.Fatalf("only %d connections in 30 s: the stalled watcher slows the server", k)
				}
			}
			// The server closed the watcher's stream: reading it now finds
			// what was written, then the end.
			st.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, st); err != nil {
				t.Fatalf("the stalled watcher's stream was not closed: %v", err)
			}
		})
	}
}

// TestReplyOfTheWrongType: a reply must have the type its request
// declares; a peer that answers a Get with a Row breaks the protocol.
func TestReplyOfTheWrongType(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer()
			err = s.Register(Interface{Manifest: m, OnReset: func(context.Context, *Conn, string) error { return nil }, Handlers: map[string]Handler{
				"Get": func(ctx context.Context, msg *Message) error {
					return msg.conn.send(ctx, "Row", json.RawMessage(`{"key":"k"}`), msg.corr, flagReply)
				},
			}})
			if err != nil {
				t.Fatal(err)
			}
			l := serveOn(t, s, network)
			cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			conn, err := cl.Connect(ctxT(t), "db.kv", WithCodec("json"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Call(ctxT(t), "Get", json.RawMessage(`{"key":"k"}`)); !errors.Is(err, ErrProtocol) {
				t.Fatalf("Call answered with the wrong type: %v, want protocol_error", err)
			}
			if err := conn.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "declares Value as its reply") {
				t.Fatalf("the connection ended with %v", err)
			}
		})
	}
}
