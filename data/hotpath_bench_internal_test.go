package data

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
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

// BenchmarkSocketStream streams messages over a Unix socket pair with no
// session under the connection (no yamux), the receiver on the lending
// path (RecvFunc): the data plane's own cost, and the ceiling yamux sits
// under. It should report 0 allocs/op at every size.
// With the json codec the sender encodes protojson's form and the receiver
// checks it against the type (the receiver does not decode in either).
func BenchmarkSocketStream(b *testing.B) {
	for _, name := range []string{codec.NameProto, codec.NameJSON} {
		for _, size := range []int{64, 1 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", name, size), func(b *testing.B) { benchSocketStream(b, name, size) })
		}
	}
}

func benchSocketStream(b *testing.B, codecName string, size int) {
	m, err := manifest.Parse("blob.yaml", []byte(`
ifkit: 1
name: bench.blob
version: 1.0.0
direction: send
codecs: [proto, json]
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Out: {proto: google.protobuf.BytesValue}
flow: {credits: 256, max_message_bytes: 1048576, on_exhausted: block}
`), manifest.WithDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	pc, _ := codec.Standard().Lookup(codecName)
	a, z := socketPair(b)
	srv := New(a, nil, Config{ID: 1, Manifest: m, Codec: pc, Server: true, SendCredit: 256, ReceivesNothing: true, CloseTimeout: time.Second}).Start()
	cli := New(z, nil, Config{ID: 1, Manifest: m, Codec: pc, Window: 256, AutoGrant: true, CloseTimeout: time.Second}).Start()
	defer srv.Close("done")
	defer cli.Close("done")
	msg := wrapperspb.Bytes(make([]byte, size))
	ctx := context.Background()
	sent := make(chan error, 1)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if err := srv.Send(ctx, "Out", msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	n := 0
	errEnough := errors.New("enough")
	if err := cli.RecvFunc(ctx, func(*Message) error {
		if n++; n == b.N {
			return errEnough
		}
		return nil
	}); err != errEnough {
		b.Fatal(err)
	}
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
}

// socketPair returns the two ends of a connected Unix stream socket pair.
func socketPair(b *testing.B) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	var ends [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		ends[i] = c
	}
	return ends[0], ends[1]
}
