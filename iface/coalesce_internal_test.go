package iface

import (
	"bytes"
	"net"
	"syscall"
	"testing"
)

// recordingSock is a socket that records what is written to it.
type recordingSock struct {
	net.Conn
	writes [][]byte
}

func (s *recordingSock) Write(p []byte) (int, error) {
	s.writes = append(s.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (s *recordingSock) SyscallConn() (syscall.RawConn, error) { return nil, nil }

func yamuxHeader(typ byte, length uint32) []byte {
	h := []byte{0, typ, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	h[8], h[9], h[10], h[11] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
	return h
}

// The bytes written are yamux's, in yamux's order; a Data frame's header
// waits for its body, any other frame goes at once.
func TestCoalescingConnKeepsTheBytes(t *testing.T) {
	sock := &recordingSock{}
	c := coalesce(nil, sock)
	if c == nil {
		t.Fatal("a socket with SyscallConn was not wrapped")
	}
	var want []byte
	write := func(p []byte) {
		t.Helper()
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write %d bytes: %d, %v", len(p), n, err)
		}
		want = append(want, p...)
	}
	write(yamuxHeader(0, 5)) // Data, 5 bytes to follow
	if len(sock.writes) != 0 {
		t.Fatalf("a Data header was written before its body: %x", sock.writes)
	}
	write([]byte("hello"))
	write(yamuxHeader(1, 786432)) // Window Update: no body
	if len(sock.writes) == 0 || !bytes.Equal(sock.writes[len(sock.writes)-1], yamuxHeader(1, 786432)) {
		t.Fatalf("a Window Update waited: %x", sock.writes)
	}
	write(yamuxHeader(0, 0)) // Data with no body (a FIN): at once
	write(yamuxHeader(0, 3))
	write([]byte("abc"))
	if got := bytes.Join(sock.writes, nil); !bytes.Equal(got, want) {
		t.Fatalf("wrote %x, want %x", got, want)
	}
	if _, ok := coalesce(nil, struct{ net.Conn }{}).(*coalescingConn); ok {
		t.Error("a connection without a kernel socket (TLS, a pipe) was wrapped")
	}
}
