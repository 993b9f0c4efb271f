package data

import (
	"bufio"
	"bytes"
	"context"
	"testing"

	"github.com/ifkit/ifkit/manifest"
)

// The per-message pieces of the hot path, each on its own (BenchmarkStream
// measures them together over a socket). All should report 0 allocs/op.

// BenchmarkFrameEncode appends a 64-byte MESSAGE frame to a reused buffer.
func BenchmarkFrameEncode(b *testing.B) {
	body := make([]byte, 64)
	buf := make([]byte, 0, 256)
	f := frame{kind: FrameMessage, typeID: 1, body: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		f.seq = uint64(i + 1)
		buf = appendFrame(buf[:0], &f)
	}
}

// BenchmarkFrameDecode reads 64-byte MESSAGE frames from a buffered stream.
func BenchmarkFrameDecode(b *testing.B) {
	const batch = 1024
	var stream []byte
	for i := 0; i < batch; i++ {
		stream = appendFrame(stream, &frame{kind: FrameMessage, seq: uint64(i + 1), typeID: 1, body: make([]byte, 64)})
	}
	src := bytes.NewReader(stream)
	fr := newFrameReader(bufio.NewReader(src), 1<<20)
	var f frame
	b.ReportAllocs()
	b.SetBytes(64)
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			src.Reset(stream)
		}
		if err := fr.read(&f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreditAccounting is the receiver's account of one message
// (arrive, consume, grant back) and the sender's (queue under credit, take).
func BenchmarkCreditAccounting(b *testing.B) {
	const window = 256
	l := newLedger(window, window, true)
	o := newOutbox(manifest.Block, window, window)
	ctx := context.Background()
	batch := make([]*outMsg, 0, window)
	m := &outMsg{typeID: 1}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := o.put(ctx, m); err != nil {
			b.Fatal(err)
		}
		items, _, _, err := o.take(ctx, batch[:0], window)
		if err != nil || len(items) != 1 {
			b.Fatalf("take: %d items, %v", len(items), err)
		}
		if !l.arrive() {
			b.Fatal("no credit")
		}
		if g := l.consume(); g > 0 {
			o.grant(g, window)
		}
	}
}
