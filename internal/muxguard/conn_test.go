package muxguard_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/internal/muxguard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newGuard wraps conn with cfg, failing the test if cfg is refused.
func newGuard(t testing.TB, conn net.Conn, cfg muxguard.Config) *muxguard.Conn {
	t.Helper()
	g, err := muxguard.New(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// frozen is DefaultConfig on a clock that never moves.
func frozen() muxguard.Config {
	cfg := muxguard.DefaultConfig()
	cfg.Now = newClock(0).Now
	return cfg
}

// mixed is a frame stream with every frame type, Data bodies made of bytes
// that look like Ping requests, and three real Ping requests.
func mixed() (stream []byte, pingCount uint64) {
	var b []byte
	b = append(b, data(flagSYN, 1, append(pingReq(1), pingReq(2)...))...)
	b = append(b, frame(typeWindowUpdate, 0, 1, 786432, nil)...)
	b = append(b, pingReq(7)...)
	b = append(b, data(0, 1, nil)...)
	b = append(b, frame(typePing, flagACK, 0, 9, nil)...) // an answer: not counted
	b = append(b, data(flagSYN, 3, append(pingReq(3), 0x02))...)
	b = append(b, frame(typePing, flagSYN|flagACK, 0, 8, nil)...) // yamux answers it: counted
	b = append(b, frame(typeGoAway, 0, 0, 0, nil)...)
	b = append(b, data(flagFIN, 3, []byte{0, 2, 0, 1})...)
	b = append(b, pingReq(10)...)
	return b, 3
}

// TestSplitsAnywhere cuts the mixed stream into two and three reads at
// every pair of places, and into single bytes: the guard passes every byte
// through and counts exactly the three Ping requests.
func TestSplitsAnywhere(t *testing.T) {
	stream, want := mixed()
	check := func(t *testing.T, sizes []int) {
		t.Helper()
		g := newGuard(t, &chunkConn{data: bytes.Clone(stream), sizes: sizes}, frozen())
		got, err := readAll(g)
		if err != io.EOF {
			t.Fatalf("reads %v: the read ended with %v; want io.EOF", sizes, err)
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("reads %v: the bytes read differ from those sent", sizes)
		}
		if g.Pings() != want || g.Err() != nil {
			t.Fatalf("reads %v: Pings() = %d, Err() = %v; want %d, nil", sizes, g.Pings(), g.Err(), want)
		}
	}
	check(t, []int{1})
	for a := 1; a < len(stream); a++ {
		check(t, []int{a, len(stream)})
		for b := 1; a+b < len(stream); b++ {
			check(t, []int{a, b, len(stream)})
		}
	}
}

// TestBurstThenCutOff sends 17 Ping requests at one instant after a Data
// frame: the 17th breaks the default limit, and Read delivers everything
// before its header with the error.
func TestBurstThenCutOff(t *testing.T) {
	head := append(data(flagSYN, 1, []byte("hello")), pings(16)...)
	stream := append(bytes.Clone(head), pings(1)...)
	stream = append(stream, data(0, 1, []byte("never delivered"))...)
	conn := &chunkConn{data: stream}
	g := newGuard(t, conn, frozen())

	got, err := readAll(g)
	var gerr *muxguard.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("the read ended with %v; want a *muxguard.Error", err)
	}
	const reason = "the peer sent 17 yamux Ping requests within less than 1ms; at most 16 at once and 4 per second are allowed"
	if gerr.Reason != reason {
		t.Errorf("Reason = %q\nwant     %q", gerr.Reason, reason)
	}
	if err.Error() != "muxguard: "+reason {
		t.Errorf("Error() = %q", err.Error())
	}
	if !bytes.Equal(got, head) {
		t.Errorf("delivered %d bytes; want the %d before the 17th Ping's header", len(got), len(head))
	}
	if g.Err() != err || g.Pings() != 17 {
		t.Errorf("Err() = %v, Pings() = %d; want the read's error and 17", g.Err(), g.Pings())
	}
	reads := conn.reads
	if n, err2 := g.Read(make([]byte, 64)); n != 0 || err2 != err || conn.reads != reads {
		t.Errorf("a Read after the error returned %d, %v and read the socket %d more times; want 0, the same error, 0",
			n, err2, conn.reads-reads)
	}
}

// TestCutOffMidHeader splits the offending header across two reads: the
// read that completes it delivers nothing.
func TestCutOffMidHeader(t *testing.T) {
	stream := pings(17)
	before := 16*12 + 5
	g := newGuard(t, &chunkConn{data: stream, sizes: []int{before, 100}}, frozen())
	buf := make([]byte, 4096)
	if n, err := g.Read(buf); n != before || err != nil {
		t.Fatalf("first read: %d, %v; want %d, nil", n, err, before)
	}
	n, err := g.Read(buf)
	if n != 0 || g.Err() == nil || err != g.Err() {
		t.Fatalf("second read: %d, %v; want 0 and the guard's error", n, err)
	}
}

// TestRefill: the allowance comes back at PingsPerSecond, and the error
// counts from the last time the bucket was full.
func TestRefill(t *testing.T) {
	c := newClock(0)
	cfg := muxguard.DefaultConfig()
	cfg.Now = c.Now
	conn := &chunkConn{data: pings(16)}
	g := newGuard(t, conn, cfg)
	if _, err := readAll(g); err != io.EOF {
		t.Fatalf("16 pings: %v", err)
	}
	c.t = c.t.Add(time.Second)
	conn.data = pings(4)
	if _, err := readAll(g); err != io.EOF {
		t.Fatalf("4 more pings a second later: %v", err)
	}
	conn.data = pings(1)
	_, err := readAll(g)
	const want = "muxguard: the peer sent 21 yamux Ping requests within 1s; at most 16 at once and 4 per second are allowed"
	if err == nil || err.Error() != want {
		t.Fatalf("a 5th ping in that second: %v; want %q", err, want)
	}
}

// TestCadences: keepalives and RTT probes at the rates peers use never
// break the default limit; a peer that keeps pinging faster than
// PingsPerSecond eventually does.
func TestCadences(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		trips bool
	}{
		{30 * time.Second, false}, // yamux's default keepalive
		{15 * time.Second, false}, // ifkit's KeepAliveInterval
		{time.Second, false},      // an RTT probe every second
		{250 * time.Millisecond, false},
		{200 * time.Millisecond, true},
		{0, true},
	} {
		cfg := muxguard.DefaultConfig()
		cfg.Now = newClock(tc.every).Now
		g := newGuard(t, &chunkConn{data: pings(10000), sizes: []int{1000}}, cfg)
		_, err := readAll(g)
		if tripped := err != io.EOF; tripped != tc.trips {
			t.Errorf("a ping every %v: the read ended with %v; tripped %v, want %v", tc.every, err, tripped, tc.trips)
		}
	}
}

// TestPassesSocketResults: the socket's count and error come back as they
// were when the limit holds.
func TestPassesSocketResults(t *testing.T) {
	g := newGuard(t, eofConn{pingReq(1)}, frozen())
	buf := make([]byte, 64)
	if n, err := g.Read(buf); n != 12 || err != io.EOF {
		t.Fatalf("Read = %d, %v; want 12, io.EOF", n, err)
	}
	if g.Pings() != 1 || g.Err() != nil {
		t.Fatalf("Pings() = %d, Err() = %v", g.Pings(), g.Err())
	}
}

// eofConn returns its bytes and io.EOF from one Read.
type eofConn struct{ b []byte }

func (eofConn) Close() error                       { return nil }
func (eofConn) LocalAddr() net.Addr                { return nil }
func (eofConn) RemoteAddr() net.Addr               { return nil }
func (eofConn) SetDeadline(time.Time) error        { return nil }
func (eofConn) SetReadDeadline(time.Time) error    { return nil }
func (eofConn) SetWriteDeadline(time.Time) error   { return nil }
func (eofConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c eofConn) Read(p []byte) (n int, err error) { return copy(p, c.b), io.EOF }

func TestConfigValidate(t *testing.T) {
	if err := muxguard.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		cfg  muxguard.Config
		want string
	}{
		{muxguard.Config{PingBurst: 0, PingsPerSecond: 1}, "PingBurst"},
		{muxguard.Config{PingBurst: 1, PingsPerSecond: 0}, "PingsPerSecond"},
		{muxguard.Config{PingBurst: 1, PingsPerSecond: -1}, "PingsPerSecond"},
		{muxguard.Config{PingBurst: 1, PingsPerSecond: math.NaN()}, "PingsPerSecond"},
		{muxguard.Config{PingBurst: 1, PingsPerSecond: math.Inf(1)}, "PingsPerSecond"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v; want an error naming %s", tc.cfg, err, tc.want)
		}
		if g, err := muxguard.New(nil, tc.cfg); g != nil || err == nil {
			t.Errorf("%+v: New accepted it", tc.cfg)
		}
	}
}

// TestReadDoesNotAllocate: reading Data frames, with a Ping request now
// and then, allocates nothing.
func TestReadDoesNotAllocate(t *testing.T) {
	var stream []byte
	for range 64 {
		stream = append(stream, data(0, 1, make([]byte, 1000))...)
		stream = append(stream, pingReq(1)...)
	}
	cfg := muxguard.DefaultConfig()
	cfg.Now = newClock(time.Second).Now
	conn := &loopConn{stream: stream}
	g := newGuard(t, conn, cfg)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := g.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Read; want 0", allocs)
	}
	if g.Pings() == 0 {
		t.Error("no Ping was counted")
	}
}

// loopConn reads stream over and over, a whole number of frames at a
// time, so the frame stream it delivers never ends. Only Read is
// implemented.
type loopConn struct {
	net.Conn
	stream []byte
	off    int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.stream[c.off:])
	c.off = (c.off + n) % len(c.stream)
	return n, nil
}
