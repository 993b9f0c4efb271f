package iface

import (
	"encoding/binary"
	"net"
	"syscall"
)

// coalescingConn is the socket under a yamux session, as yamux writes it:
// the 12-byte header of each Data frame is held back and written together
// with its body in one writev, instead of the two system calls yamux's
// send loop makes (hashicorp/yamux v0.1.2 writes a frame's header, then at
// once its body). That halves the write calls per message for messages
// that fill their own frames (1 KiB and up); other frames (window updates,
// pings, Go Away) and every read go through as they are. Reads use conn
// (which may be a guard in front of the socket), writes the socket itself,
// so that the kernel sees one writev. Only the session's send loop writes
// after the preface, so it needs no lock.
type coalescingConn struct {
	net.Conn          // reads, deadlines, addresses, Close
	sock     net.Conn // writes: the socket, which writev reaches
	hdr      [yamuxHeaderLen]byte
	held     bool
	vec      [2][]byte
	bufs     net.Buffers
}

const yamuxHeaderLen = 12

// coalesce wraps conn, whose writes go to sock, when sock is a kernel
// socket (TCP or Unix, where net.Buffers is one writev); conn as it is
// otherwise (TLS, pipes, relayed streams: a writev there is two writes).
func coalesce(conn, sock net.Conn) net.Conn {
	if _, ok := sock.(syscall.Conn); !ok {
		return conn
	}
	return &coalescingConn{Conn: conn, sock: sock}
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	if c.held {
		c.held = false
		c.vec = [2][]byte{c.hdr[:], p}
		c.bufs = c.vec[:]
		n, err := c.bufs.WriteTo(c.sock)
		c.vec, c.bufs = [2][]byte{}, nil
		return max(int(n)-yamuxHeaderLen, 0), err
	}
	// version 0, type 0 (Data), with a body to follow
	if len(p) == yamuxHeaderLen && p[0] == 0 && p[1] == 0 && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	return c.sock.Write(p)
}
