package muxguard_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/internal/testpki"
)

// Frame types and flags of the yamux header, as the tests write them.
const (
	typeData         = 0x00
	typeWindowUpdate = 0x01
	typePing         = 0x02
	typeGoAway       = 0x03
	flagSYN          = 0x0001
	flagACK          = 0x0002
	flagFIN          = 0x0004
)

// frame encodes one yamux frame; body is appended as is (a Data frame's
// length is the caller's to choose, so a test can lie).
func frame(typ byte, flags uint16, stream, length uint32, body []byte) []byte {
	b := make([]byte, 12, 12+len(body))
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:4], flags)
	binary.BigEndian.PutUint32(b[4:8], stream)
	binary.BigEndian.PutUint32(b[8:12], length)
	return append(b, body...)
}

// data is a Data frame carrying body.
func data(flags uint16, stream uint32, body []byte) []byte {
	return frame(typeData, flags, stream, uint32(len(body)), body)
}

// pingReq is a Ping request (SYN) with opaque value id.
func pingReq(id uint32) []byte { return frame(typePing, flagSYN, 0, id, nil) }

// pings is n Ping requests back to back.
func pings(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, pingReq(uint32(i))...)
	}
	return b
}

// chunkConn is a net.Conn whose Read hands out data in chunks of the given
// sizes, in turn (all of it at once when sizes is empty), then io.EOF.
// Only Read is implemented.
type chunkConn struct {
	net.Conn
	data  []byte
	sizes []int
	next  int
	reads int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = min(n, c.sizes[c.next%len(c.sizes)])
		c.next++
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// readAll reads r until an error, with a buffer as large as yamux's
// bufio.Reader, and returns what it read and the error.
func readAll(r io.Reader) ([]byte, error) {
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// clock is a fake clock for Config.Now: it returns t and then moves t on
// by step.
type clock struct {
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), step: step}
}

func (c *clock) Now() time.Time {
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// A transport makes a connected pair of sockets.
type transport struct {
	name string
	pair func(t *testing.T) (server, client net.Conn)
}

// transports are the ones ifkit serves yamux on.
var transports = []transport{
	{"pipe", pipePair},
	{"tcp", tcpPair},
	{"tls", tlsPair},
}

// forEachTransport runs f as a subtest over every transport.
func forEachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

func pipePair(t *testing.T) (net.Conn, net.Conn) {
	s, c := net.Pipe()
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		c.Close()
		t.Fatal(a.err)
	}
	t.Cleanup(func() { a.c.Close(); c.Close() })
	return a.c, c
}

func tlsPair(t *testing.T) (net.Conn, net.Conn) {
	pki := testpki.New(t)
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("testpki's CA does not parse")
	}
	rawS, rawC := tcpPair(t)
	s := tls.Server(rawS, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	c := tls.Client(rawC, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	if err := errors.Join(c.Handshake(), <-errc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

// ifkitYamux is the yamux configuration of an ifkit server session with
// the default iface.Config (iface/config.go), keepalive interval aside.
func ifkitYamux(keepalive time.Duration) *yamux.Config {
	y := yamux.DefaultConfig()
	y.AcceptBacklog = 1024
	y.EnableKeepAlive = true
	y.KeepAliveInterval = keepalive
	y.ConnectionWriteTimeout = 10 * time.Second
	y.MaxStreamWindowSize = 1 << 20
	y.StreamOpenTimeout = 10 * time.Second
	y.StreamCloseTimeout = 10 * time.Second
	y.LogOutput = io.Discard
	return y
}
