package iface

import (
	"errors"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/internal/pb/controlpb"
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
