package iface

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// TestThousandsOfStreams opens far more streams than the server allows,
// without ever finishing a handshake; the server must stay bounded and serve
// other clients as before.
func TestThousandsOfStreams(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) { testThousandsOfStreams(t, network) })
	}
}

func testThousandsOfStreams(t *testing.T, network string) {
	cfg := DefaultConfig()
	cfg.MaxStreams = 64
	cfg.HandshakeTimeout = 200 * time.Millisecond
	s, l, _ := badPeerServerOn(t, cfg, network)

	raw := dialRaw(t, l)
	raw.Write(preface(prefaceOK))
	if _, err := readPreface(raw); err != nil {
		t.Fatal(err)
	}
	yc := DefaultConfig().yamux()
	yc.StreamOpenTimeout = 0 // the attacker does not care about acknowledgements
	sess, err := yamux.Client(raw, yc)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	opened := 0
	for i := 0; i < 3000; i++ {
		st, err := sess.OpenStream()
		if err != nil {
			break // the server may end the session: fine
		}
		_ = st
		opened++
	}
	// Another client is served as usual meanwhile.
	cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conn, err := cl.Connect(ctxT(t), "logs.sink")
	if err != nil {
		t.Fatalf("a well-behaved client after %d hostile streams: %v", opened, err)
	}
	if err := conn.Send(ctxT(t), "Record", json.RawMessage(validRecord)); err != nil {
		t.Fatal(err)
	}
	conn.Close("")
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if n > 1 {
		t.Errorf("%d connections registered; hostile streams must not become connections", n)
	}
}
