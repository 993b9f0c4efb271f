package iface

import (
	"bufio"
	"context"
	"encoding/binary"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// heapSampler records the largest live heap seen while an attack runs.
type heapSampler struct {
	base, peak uint64
	stop, done chan struct{}
}

func sampleHeap() *heapSampler {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	h := &heapSampler{base: ms.HeapAlloc, peak: ms.HeapAlloc, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			select {
			case <-h.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapAlloc)
		}
	}()
	return h
}

// grown stops sampling and returns the peak growth over the start.
func (h *heapSampler) grown() uint64 {
	close(h.stop)
	<-h.done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return max(h.peak, ms.HeapAlloc) - h.base
}

// A peer that sends messages the server refuses, within its credit, and
// never reads its stream: every refusal is an ERROR frame the server cannot
// write. The ERROR frames waiting are bounded (64), the grants merge into
// one CREDIT frame, and the connection ends with limit_exceeded, while a
// bystander on the same server loses nothing. (Before: +557-809 MiB in
// 15 s for schema-invalid messages, +852-1638 MiB for wrong tags, never cut
// off.)
func TestRefusalFloodIsBounded(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network+"/invalid", func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ConnectionWriteTimeout = time.Second
			s, l, m := badPeerServerOn(t, cfg, network)
			byst := startBystander(t, s, l)
			p := openRaw(t, l.Addr().String(), 0)
			invalid := func(seq uint64) *data.Frame {
				return &data.Frame{Kind: data.FrameMessage, Seq: seq, TypeID: m.Recv[0].ID, Body: []byte(`{"level":"loud","message":"` + strings.Repeat("x", 400) + `"}`)}
			}
			flood(t, s, p, invalid, "refusals wait to be written")
			byst.check(t)
		})
		t.Run(network+"/wrong-tag", func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ConnectionWriteTimeout = time.Second
			s, l := authServer(t, network, testSecret, WithConfig(cfg))
			p, _ := openAuthRaw(t, l, testSecret)
			if p.res.GetCode() != 0 {
				t.Fatalf("refused: %s", p.res.GetReason())
			}
			noteID := authManifest(t).Recv[0].ID
			forged := func(seq uint64) *data.Frame {
				return &data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: seq, TypeID: noteID, Tag: make([]byte, data.AuthTagLen), Body: []byte(`{"text":"` + strings.Repeat("x", 400) + `"}`)}
			}
			flood(t, s, p, forged, "refusals wait to be written")
		})
	}
}

// flood sends the frames make returns from a peer that never reads, until
// the server ends the connection, and checks the end and the memory.
func flood(t *testing.T, s *Server, p *rawPeer, make func(seq uint64) *data.Frame, reason string) {
	t.Helper()
	var c *Conn
	for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c = s.conn(p.res.GetConnectionId())
	}
	heap := sampleHeap()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.st.SetWriteDeadline(time.Now().Add(20 * time.Second))
		batch := []byte{}
		for seq := uint64(1); ; {
			batch = batch[:0]
			for range 64 {
				batch = data.AppendFrame(batch, make(seq))
				seq++
			}
			if _, err := p.st.Write(batch); err != nil {
				return // the server stopped reading: it ended the connection
			}
			select {
			case <-c.Done():
				return
			default:
			}
		}
	}()
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the flooding peer was not cut off (heap +%d MiB)", heap.grown()>>20)
	}
	p.sess.Close()
	wg.Wait()
	grown := heap.grown()
	if codes.Of(c.Err()) != CodeLimitExceeded || !strings.Contains(c.Err().Error(), reason) {
		t.Fatalf("the connection ended with %v, want limit_exceeded: %s", c.Err(), reason)
	}
	// The bound: credits × max message (the messages the server may hold)
	// plus 64 ERROR frames of at most 1 KiB, plus the session's buffers;
	// 64 MiB is far above it and far below what the flood took before.
	if grown > 64<<20 {
		t.Fatalf("the server's heap grew by %d MiB under the flood", grown>>20)
	}
	t.Logf("cut off: %v; heap grew by at most %d KiB", c.Err(), grown>>10)
}

// Streams that send only a length — a MESSAGE header declaring the
// largest message, or a control request's varint declaring 32 MiB — and
// then nothing reserve at most the reader's first chunk each, not the
// declared size, and are cut off after FrameTimeout. (Before: about 24 KB
// sent took the server's virtual size from 1.6 GiB to 131 GiB, and nothing
// timed out.)
func TestDeclaredLengthsReserveLittle(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.FrameTimeout = time.Second
			s := NewServer(WithConfig(cfg))
			m, err := manifest.Load("../testdata/manifests/db.kv.yaml") // max_message_bytes 1 MiB
			if err != nil {
				t.Fatal(err)
			}
			noReset := func(context.Context, *Conn, string) error { return nil }
			if err := s.Register(Interface{Manifest: m, OnReset: noReset}); err != nil {
				t.Fatal(err)
			}
			l := serveOn(t, s, network)
			const streams = 64
			heap := sampleHeap()
			var conns []*Conn
			var controls []*rawPeer
			for range streams {
				p := openRawTo(t, l.Addr().String(), "db.kv", 0)
				var head [8]byte
				head[0] = data.FrameMessage
				binary.BigEndian.PutUint32(head[4:], uint32(m.Flow.MaxMessageBytes))
				p.st.Write(head[:])
				var c *Conn
				for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					c = s.conn(p.res.GetConnectionId())
				}
				conns = append(conns, c)

				ctl := openControlRaw(t, l.Addr().String(), "db.kv")
				ctl.st.Write(binary.AppendUvarint(nil, 32<<20))
				controls = append(controls, ctl)
			}
			time.Sleep(100 * time.Millisecond) // let the readers take the lengths
			grown := heap.grown()
			// Per pair of streams (each on a session of its own, both ends
			// in this process) at most the readers' first chunks (64 KiB
			// each) and the sessions' buffers; a reservation of the
			// declared sizes would be 64 × (1 MiB + 32 MiB).
			if limit := uint64(streams) * 512 << 10; grown > limit {
				t.Fatalf("%d streams that sent only a length grew the heap by %d MiB (at most %d MiB allowed)", streams, grown>>20, limit>>20)
			}
			t.Logf("%d data and %d control streams holding a declared length: heap +%d KiB", streams, streams, grown>>10)
			for i, c := range conns {
				select {
				case <-c.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("stream %d, stalled mid-frame, was not cut off", i)
				}
				if codes.Of(c.Err()) != CodeTransportError || !strings.Contains(c.Err().Error(), "part of a frame") {
					t.Fatalf("stream %d ended with %v", i, c.Err())
				}
			}
			for i, p := range controls {
				p.st.SetReadDeadline(time.Now().Add(10 * time.Second))
				var f [1]byte
				for {
					if _, err := p.br.Read(f[:]); err != nil {
						if isTimeout(err) {
							t.Fatalf("control stream %d, stalled mid-request, was not closed", i)
						}
						break
					}
				}
			}
		})
	}
}

// openControlRaw opens a control stream by hand and reads its answer.
func openControlRaw(t *testing.T, addr, iface string) *rawPeer {
	t.Helper()
	p := openRawTo(t, addr, "", 0) // a throwaway data stream's session
	st, err := p.sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	c := &rawPeer{t: t, sess: p.sess, st: st, br: bufio.NewReader(st)}
	pbio.Write(st, &sessionpb.OpenStream{Interface: iface, Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL})
	if err := pbio.Read(c.br, &c.res, maxOpenResultBytes); err != nil || c.res.GetCode() != 0 {
		t.Fatalf("control handshake: %v %s", err, c.res.GetReason())
	}
	return c
}
