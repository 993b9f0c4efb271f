package iface

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
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

// TestStreamBurst opens MaxStreams streams on one session at once, as fast
// as the client can, and checks that the server accepts every one: none is
// reset for want of room in its accept backlog (serverAcceptBacklog, smaller
// than MaxStreams). From ifkit's client, which lets 64 opens await the
// server's acknowledgement, and from a hashicorp/yamux client with yamux's
// default configuration, which lets 256.
func TestStreamBurst(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network+"/ifkit", func(t *testing.T) { testStreamBurstIfkit(t, network) })
		t.Run(network+"/yamux", func(t *testing.T) { testStreamBurstYamux(t, network) })
	}
}

func testStreamBurstIfkit(t *testing.T, network string) {
	cfg := DefaultConfig()
	_, l, _ := badPeerServerOn(t, cfg, network)
	cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conns := make([]*Conn, cfg.MaxStreams)
	errs := make([]error, cfg.MaxStreams)
	// Generous: a loaded machine may take seconds; the test is about resets.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { conns[i], errs[i] = cl.Connect(ctx, "logs.sink") })
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed++; failed <= 3 {
				t.Errorf("connection %d of %d: %v", i+1, len(errs), err)
			}
			continue
		}
		conns[i].Close("")
	}
	if failed > 0 {
		t.Errorf("%d of %d connections opened at once on one session failed", failed, len(errs))
	}
}

func testStreamBurstYamux(t *testing.T, network string) {
	cfg := DefaultConfig()
	_, l, _ := badPeerServerOn(t, cfg, network)
	raw := dialRaw(t, l)
	raw.Write(preface(prefaceOK))
	if _, err := readPreface(raw); err != nil {
		t.Fatal(err)
	}
	yc := yamux.DefaultConfig() // AcceptBacklog 256: as many opens await acknowledgement
	yc.LogOutput = io.Discard
	sess, err := yamux.Client(raw, yc)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	open := &sessionpb.OpenStream{Interface: "logs.sink", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"json"}}
	streams := make([]*yamux.Stream, cfg.MaxStreams)
	for i := range streams {
		st, err := sess.OpenStream()
		if err != nil {
			t.Fatalf("opening stream %d: %v", i+1, err)
		}
		if err := pbio.Write(st, open); err != nil {
			t.Fatalf("stream %d: writing OpenStream: %v", i+1, err)
		}
		streams[i] = st
	}
	deadline := time.Now().Add(time.Minute) // generous, as above
	for i, st := range streams {
		st.SetReadDeadline(deadline)
		var res sessionpb.OpenResult
		if err := pbio.Read(bufio.NewReader(st), &res, maxOpenResultBytes); err != nil {
			t.Fatalf("stream %d of %d opened at once: %v", i+1, len(streams), err) // reset: yamux.ErrConnectionReset
		}
		if code := Code(res.GetCode()); code != CodeOK {
			t.Fatalf("stream %d of %d opened at once: refused %v: %s", i+1, len(streams), code, res.GetReason())
		}
	}
}
