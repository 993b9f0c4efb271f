package main

import (
	"encoding/binary"
	"net"
)

// coalesceWrites (-coalesce-writes) puts a coalescingConn under every yamux
// session of bare yamux and under ifkit's server end: an experiment that
// shows what writing each yamux frame in one system call would give.
var coalesceWrites bool

// coalescingConn is a socket under a yamux v0.1.2 session that writes each
// Data frame's 12-byte header together with its body, in one writev,
// instead of the two writes yamux's send loop makes. It relies on that loop
// writing a header and then, at once, the body whose length the header
// gives; any other write goes straight through. Only the send loop writes,
// so no lock is needed.
type coalescingConn struct {
	net.Conn
	hdr  [yamuxHeaderSize]byte
	held bool
	vec  [2][]byte   // the writev's two parts, kept here so that it does not allocate
	bufs net.Buffers // vec, consumed by the write
}

const yamuxHeaderSize = 12

func (c *coalescingConn) Write(p []byte) (int, error) {
	if c.held {
		c.held = false
		c.vec = [2][]byte{c.hdr[:], p}
		c.bufs = c.vec[:]
		n, err := c.bufs.WriteTo(c.Conn)
		c.vec, c.bufs = [2][]byte{}, nil
		return max(int(n)-yamuxHeaderSize, 0), err
	}
	// version 0, type 0 (Data), a body to follow
	if len(p) == yamuxHeaderSize && p[0] == 0 && p[1] == 0 && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// maybeCoalesce wraps c when -coalesce-writes is on.
func maybeCoalesce(c net.Conn) net.Conn {
	if !coalesceWrites {
		return c
	}
	return &coalescingConn{Conn: c}
}

// coalescingListener wraps each accepted socket in a coalescingConn.
type coalescingListener struct{ net.Listener }

func (l coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return maybeCoalesce(c), nil
}
