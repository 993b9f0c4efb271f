package httpgw_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

// The gateway against the Go API on the same server, over the same unix
// socket: a request/reply, and a stream of ~1 KiB messages.
//
//	go test -run '^$' -bench . ./adapter/httpgw

func BenchmarkCallGoAPI(b *testing.B) {
	w := newWorld(b)
	c, err := iface.Dial(context.Background(), w.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(context.Background(), "t.api", iface.WithCodec("json"))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close("done")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := conn.Call(context.Background(), "Hello", json.RawMessage(`{"name":"b"}`)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCallGateway(b *testing.B) {
	w := newWorld(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Post(w.url("/t.api/Hello"), "application/json", strings.NewReader(`{"name":"b"}`))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

func BenchmarkStreamGoAPI(b *testing.B) {
	w := newWorld(b)
	c, err := iface.Dial(context.Background(), w.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(context.Background(), "t.feed", iface.WithCodec("json"))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close("done")
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Recv(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamGateway(b *testing.B) {
	w := newWorld(b)
	res, err := http.Get(w.url("/t.feed/stream"))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReaderSize(res.Body, 64<<10)
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := br.ReadSlice('\n'); err != nil {
			b.Fatal(err)
		}
	}
}
