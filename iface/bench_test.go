package iface_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// benchManifest is a duplex interface of bytes messages whose receiver
// never falls behind far enough to drop: the sender blocks on credit.
func benchManifest(b *testing.B, codecs string) *manifest.Manifest {
	b.Helper()
	m, err := manifest.Parse("bench.yaml", []byte(`
ifkit: 1
name: bench.blob
version: 1.0.0
direction: duplex
codecs: [`+codecs+`]
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Out: {proto: google.protobuf.BytesValue}
  recv:
    In: {proto: google.protobuf.BytesValue}
flow: {credits: 1024, max_message_bytes: 1048576, on_exhausted: block}
`), manifest.WithDir(b.TempDir())) // the well-known types need no file
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkStream measures one message streamed from server to client:
// encode, credit, frame, write, read, check, deliver to Recv. allocs/op is
// the per-message allocation count of the whole path, both ends.
func BenchmarkStream(b *testing.B) {
	for _, codec := range []string{"proto", "json"} {
		for _, size := range []int{64, 1 << 10, 64 << 10} {
			for _, tr := range transports {
				b.Run(fmt.Sprintf("%s/%s/%dB", codec, tr, size), func(b *testing.B) {
					benchStream(b, tr, codec, size)
				})
			}
		}
	}
}

// BenchmarkRecvFunc is BenchmarkStream with the receiver on the lending
// path: Conn.RecvFunc, each message borrowed on the connection's reader
// (no copy, no queue, no hand-off). It should report 0 allocs/op and 0 B/op
// at every size.
func BenchmarkRecvFunc(b *testing.B) {
	for _, codec := range []string{"proto", "json"} {
		for _, size := range []int{64, 1 << 10, 64 << 10} {
			for _, tr := range transports {
				b.Run(fmt.Sprintf("%s/%s/%dB", codec, tr, size), func(b *testing.B) {
					benchStreamWith(b, tr, codec, size, true)
				})
			}
		}
	}
}

func benchStream(b *testing.B, transport, codec string, size int) {
	benchStreamWith(b, transport, codec, size, false)
}

// errEnough ends a benchmark's RecvFunc.
var errEnough = errors.New("enough")

func benchStreamWith(b *testing.B, transport, codec string, size int, lent bool) {
	m := benchManifest(b, codec)
	conns := make(chan *iface.Conn, 1)
	_, addr := serve(b, transport, iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
		conns <- c
		<-ctx.Done()
	}})
	client := dial(b, addr)
	conn, err := client.Connect(ctx(b), "bench.blob")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close("done")
	sc := <-conns
	msg := wrapperspb.Bytes(make([]byte, size))
	sent := make(chan error, 1)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			if err := sc.Send(context.Background(), "Out", msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	if lent {
		n := 0
		err := conn.RecvFunc(context.Background(), func(*iface.Message) error {
			if n++; n == b.N {
				return errEnough
			}
			return nil
		})
		if err != errEnough {
			b.Fatal(err)
		}
	} else {
		for i := 0; i < b.N; i++ {
			if _, err := conn.Recv(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
}
