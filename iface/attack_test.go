package iface_test

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// rawSocket opens a bare socket to a server started by serve and exchanges
// prefaces (ifkit protocol version 1, status ok).
func rawSocket(t *testing.T, addr string) net.Conn {
	t.Helper()
	a, err := iface.ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial(a.Network, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.Write([]byte{'I', 'F', 'K', 'T', 1, 0, 0, 0})
	var answer [8]byte
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(raw, answer[:]); err != nil || answer[5] != 0 {
		t.Fatalf("preface answer % x, %v", answer, err)
	}
	raw.SetReadDeadline(time.Time{})
	return raw
}

// A peer that floods yamux Pings and never reads is cut off within its
// first burst beyond the limit (yamux v0.1.2 would start a goroutine per
// Ping); the server says why to its refusal hook, and a bystander
// connection goes on.
func TestPingFloodIsCutOff(t *testing.T) {
	forEachSocket(t, func(t *testing.T, transport string) {
		refusals := make(chan iface.Refusal, 16)
		_, addr := serveOptions(t, transport, []iface.ServerOption{iface.WithOnRefusal(func(r iface.Refusal) {
			select {
			case refusals <- r:
			default:
			}
		})}, iface.Interface{Manifest: load(t, "logs.sink.yaml")})
		bystander, err := dial(t, addr).Connect(ctx(t), "logs.sink")
		if err != nil {
			t.Fatal(err)
		}
		raw := rawSocket(t, addr)
		ping := make([]byte, 0, 12*1024)
		for i := range 1024 {
			ping = append(ping, 0, 2, 0, 1, 0, 0, 0, 0)
			ping = binary.BigEndian.AppendUint32(ping, uint32(i))
		}
		written := 0
		raw.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for {
			n, err := raw.Write(ping)
			written += n
			if err != nil {
				break // the server closed the socket
			}
			if written > 64<<20 {
				t.Fatal("the server took 64 MiB of Pings without ending the session")
			}
		}
		select {
		case r := <-refusals:
			if r.Code != iface.CodeTransportError || !strings.Contains(r.Reason, "Ping") {
				t.Fatalf("refusal %v, want the ping limit", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the refusal hook never heard of the ping flood")
		}
		if err := bystander.Send(ctx(t), "Record", json.RawMessage(`{"level":"info","message":"still here","time":"2026-12-01T10:00:00Z"}`)); err != nil || bystander.Err() != nil {
			t.Fatalf("the bystander suffered: %v %v", err, bystander.Err())
		}
	})
}
