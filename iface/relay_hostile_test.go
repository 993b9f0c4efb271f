package iface_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/testpki"
)

// relayLimits starts a relay with limits and a short handshake timeout.
func relayLimits(t *testing.T, l iface.RelayLimits, opts ...iface.RelayOption) (*iface.Relay, string) {
	t.Helper()
	cfg := iface.DefaultRelayConfig()
	cfg.HandshakeTimeout = 500 * time.Millisecond
	return relay(t, append([]iface.RelayOption{iface.WithRelayLimits(l), iface.WithConfig(cfg)}, opts...)...)
}

// rawHello dials the relay from local (an IP address, "" for any) and
// sends a hello of role and name.
func rawHello(t *testing.T, relayAddr, local string, role byte, name string) net.Conn {
	t.Helper()
	c := rawDial(t, relayAddr, local)
	if _, err := c.Write(append([]byte{'I', 'F', 'K', 'R', 1, role, byte(len(name))}, name...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// rawDial dials the relay from local ("" for any), closing at the end.
func rawDial(t *testing.T, relayAddr, local string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// registered reads the relay's two answers to a hello without a secret,
// 00 00 (no secret, then ok).
func registered(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b != [2]byte{} {
		t.Fatalf("the relay's answers: %v % x, want 00 00", err, b)
	}
	c.SetReadDeadline(time.Time{})
}

// rawServer registers name with the relay by hand and returns the yamux
// session the relay opens streams on: a server that does what the test
// makes it do.
func rawServer(t *testing.T, relayAddr, name string) *yamux.Session {
	t.Helper()
	c := rawHello(t, relayAddr, "", 1, name)
	registered(t, c)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Server(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// readRefusal reads a refusal from c: status, reason.
func readRefusal(t *testing.T, c net.Conn) (byte, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("reading the relay's answer: %v", err)
	}
	reason := make([]byte, b[1])
	if _, err := io.ReadFull(c, reason); err != nil {
		t.Fatalf("reading the refusal's reason: %v", err)
	}
	return b[0], string(reason)
}

// wantRefused checks that err is the relay's refusal with code, its
// reason containing want.
func wantRefused(t *testing.T, err error, code iface.Code, want string) {
	t.Helper()
	var re *iface.RelayError
	if !errors.Is(err, iface.ErrRelay) || !errors.Is(err, iface.ErrConnect) || !errors.As(err, &re) || re.Code != code || iface.CodeOf(err) != code || !strings.Contains(re.Reason, want) {
		t.Fatalf("got %v, want the relay's refusal %s with %q (ErrRelay, ErrConnect)", err, code, want)
	}
}

// streaming opens a connection to sensors.temperature through the relay
// and returns a check that it still delivers messages in order.
func streaming(t *testing.T, addr string) func() {
	t.Helper()
	cl := dial(t, addr)
	conn, err := cl.Connect(ctx(t), "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	return func() {
		t.Helper()
		m, err := conn.Recv(ctx(t))
		if err != nil || m.Seq != next {
			t.Fatalf("the relayed connection: message %v, %v; want seq %d", m, err, next)
		}
		next++
	}
}

// dialEventually dials addr until it answers (a server registering).
func dialEventually(t *testing.T, addr string, opts ...iface.DialOption) *iface.Client {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cl, err := iface.Dial(ctx(t), addr, opts...)
		if err == nil {
			t.Cleanup(func() { cl.Close() })
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRelayLimitsClients: client sessions past MaxStreamsPerServer and
// MaxClients are refused with limit_exceeded and why; the sessions relayed
// already go on, and a freed slot is taken again.
func TestRelayLimitsClients(t *testing.T) {
	l := iface.DefaultRelayLimits()
	l.MaxStreamsPerServer, l.MaxClients = 2, 3
	r, raddr := relayLimits(t, l)
	serveThrough(t, raddr, "a", nil, sensors(t, 100))
	serveThrough(t, raddr, "b", nil, sensors(t, 100))
	waitRegistered(t, r, "a", "b")
	a1 := streaming(t, "relay://"+raddr+"/a")
	a2cl := dial(t, "relay://"+raddr+"/a")
	_, err := iface.Dial(ctx(t), "relay://"+raddr+"/a")
	wantRefused(t, err, iface.CodeLimitExceeded, `maximum of 2 client sessions to "a"`)
	a1()
	dial(t, "relay://"+raddr+"/b")
	// a holds 2, b 1: one more anywhere passes MaxClients (3), the
	// relay's own session included.
	_, err = iface.Dial(ctx(t), "relay://"+raddr+"/")
	wantRefused(t, err, iface.CodeLimitExceeded, "maximum of 3 client sessions")
	a1()
	a2cl.Close()
	dialEventually(t, "relay://"+raddr+"/")
	a1()
}

// TestRelayLimitsServers: a registration past MaxServers is refused with
// limit_exceeded; ServeRelay keeps trying, and registers once a server
// has gone.
func TestRelayLimitsServers(t *testing.T) {
	l := iface.DefaultRelayLimits()
	l.MaxServers = 2
	r, raddr := relayLimits(t, l)
	a := serveThrough(t, raddr, "a", nil, sensors(t, 1))
	serveThrough(t, raddr, "b", nil, sensors(t, 1))
	waitRegistered(t, r, "a", "b")
	states := make(chan iface.RelayState, 100)
	serveThrough(t, raddr, "c", []iface.RelayServeOption{
		iface.WithRelayBackoff(10*time.Millisecond, 50*time.Millisecond),
		iface.WithRelayState(func(s iface.RelayState) { states <- s }),
	}, sensors(t, 1))
	st := <-states
	if st.Registered || st.Retry <= 0 {
		t.Fatalf("the third server: %+v, want refused and retrying", st)
	}
	wantRefused(t, st.Err, iface.CodeLimitExceeded, "maximum of 2 servers")
	a.Close()
	for st = range states {
		if st.Registered {
			break
		}
	}
	waitRegistered(t, r, "b", "c")
}

// TestRelaySlowloris: peers that send nothing, or half a hello, take only
// their host's hello slots, are answered limit_exceeded past them, and are
// cut off after the handshake timeout; a peer from another address, and
// the sessions relayed already, are not affected.
func TestRelaySlowloris(t *testing.T) {
	l := iface.DefaultRelayLimits()
	l.MaxHostHellos = 2
	var mu sync.Mutex
	var events []iface.RelayEvent
	r, raddr := relayLimits(t, l, iface.WithRelayLog(func(e iface.RelayEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	serveThrough(t, raddr, "a", nil, sensors(t, 100))
	waitRegistered(t, r, "a")
	check := streaming(t, "relay://"+raddr+"/a")
	check()

	// Two peers from 127.0.0.2: nothing, and half a hello. The relay
	// accepts connections in order: by the third, it counts both.
	silent := rawDial(t, raddr, "127.0.0.2")
	half := rawDial(t, raddr, "127.0.0.2")
	half.Write([]byte("IFKR\x01"))
	third := rawHello(t, raddr, "127.0.0.2", 2, "a")
	if status, reason := readRefusal(t, third); status != 0x05 || !strings.Contains(reason, "maximum of 2 peers from 127.0.0.2 in their hello") {
		t.Errorf("a third slow peer from 127.0.0.2: status %#x %q, want 05 limit", status, reason)
	}
	// Another address is not affected, nor the relayed connection.
	dial(t, "relay://"+raddr+"/a")
	check()
	// The slow peers are cut off after the handshake timeout.
	for _, c := range []net.Conn{silent, half} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var ne net.Error
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("a slow peer read %d bytes, %v; want it cut off", n, err)
		}
	}
	check()
	mu.Lock()
	defer mu.Unlock()
	timedOut := 0
	for _, e := range events {
		if e.Kind == "refused" && e.Code == iface.CodeLimitExceeded && strings.Contains(e.Reason, "handshake timeout") {
			timedOut++
		}
	}
	if timedOut != 2 {
		t.Errorf("refusals for the handshake timeout: %d, want 2; events %+v", timedOut, events)
	}
}

// TestRelayHostConns: one address's connections past MaxHostConns are
// refused; another address's are not.
func TestRelayHostConns(t *testing.T) {
	l := iface.DefaultRelayLimits()
	l.MaxHostConns = 2
	r, raddr := relayLimits(t, l)
	serveThrough(t, raddr, "a", nil, sensors(t, 1)) // 127.0.0.1: one
	waitRegistered(t, r, "a")
	dial(t, "relay://"+raddr+"/a") // 127.0.0.1: two
	_, err := iface.Dial(ctx(t), "relay://"+raddr+"/a")
	wantRefused(t, err, iface.CodeLimitExceeded, "maximum of 2 connections from 127.0.0.1")
	c := rawHello(t, raddr, "127.0.0.3", 2, "a")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 0 {
		t.Errorf("a peer from 127.0.0.3: %v %#x, want 00", err, b[0])
	}
}

// TestRelayBadHellos: every kind of bad hello is answered protocol_error's
// status with why, or closed without a word when it is not a relay hello;
// a good peer goes on.
func TestRelayBadHellos(t *testing.T) {
	r, raddr := relayLimits(t, iface.DefaultRelayLimits())
	serveThrough(t, raddr, "a", nil, sensors(t, 100))
	waitRegistered(t, r, "a")
	check := streaming(t, "relay://"+raddr+"/a")
	for _, c := range []struct {
		hello  string
		reason string // "" for no answer
	}{
		{"IFKR\x02\x02\x01a", "relay protocol version 2"},
		{"IFKR\x01\x09\x01a", "an unknown role 9"},
		{"IFKR\x01\x02\x00", "no name"},
		{"IFKR\x01\x02\x03a b", "a bad relay name"},
		{"IFKR\x01\x03\x01a", "the relay itself is asked for with no name"},
		{"GET / HTTP/1.1\r\n\r\n", ""},
		{"IFKR\x01\x01\xff" + strings.Repeat("x", 255), "a bad relay name"},
	} {
		conn := rawDial(t, raddr, "")
		conn.Write([]byte(c.hello))
		if c.reason == "" {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var ne net.Error // EOF, or a reset: the relay left bytes unread
			if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%q: read %d, %v; want closed without a word", c.hello, n, err)
			}
			continue
		}
		if status, reason := readRefusal(t, conn); status != 0x04 || !strings.Contains(reason, c.reason) {
			t.Errorf("%q: %#x %q, want 04 with %q", c.hello, status, reason, c.reason)
		}
		check()
	}
}

// TestRelayNameTaken: a name is the first server's while it answers; a
// second server is refused, saying so, and gives up at once. A holder
// that no longer answers (its connection gone without the relay seeing it)
// is taken over by the next server that registers the name.
func TestRelayNameTaken(t *testing.T) {
	var mu sync.Mutex
	var events []string
	r, raddr := relayLimits(t, iface.DefaultRelayLimits(), iface.WithRelayLog(func(e iface.RelayEvent) {
		mu.Lock()
		if e.Kind == "learned" || e.Kind == "forgotten" {
			events = append(events, e.Kind+" "+e.Name)
		}
		mu.Unlock()
	}))
	serveThrough(t, raddr, "live", nil, sensors(t, 1))
	waitRegistered(t, r, "live")
	dup := iface.NewServer()
	err := dup.ServeRelay(ctx(t), "tcp://"+raddr, "live")
	dup.Close()
	wantRefused(t, err, iface.CodeLimitExceeded, `another server is registered as "live", and it answers`)

	// A holder that registered and then went silent: it never answers
	// the relay's yamux pings.
	dead := rawHello(t, raddr, "", 1, "kv")
	registered(t, dead)
	waitRegistered(t, r, "kv", "live")
	serveThrough(t, raddr, "kv", nil, sensors(t, 3))
	cl := dialEventually(t, "relay://"+raddr+"/kv")
	conn, err := cl.Connect(ctx(t), "sensors.temperature")
	if err != nil {
		t.Fatalf("the server that took kv over: %v", err)
	}
	if m, err := conn.Recv(ctx(t)); err != nil || m.Seq != 1 {
		t.Fatalf("through the new kv: %v, %v", m, err)
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(events, ", ")
	if got != "learned live, learned kv, forgotten kv, learned kv" {
		t.Errorf("events %s: want kv learned, forgotten, learned", got)
	}
}

// waitRegistered waits until the relay lists exactly want (sorted).
func waitRegistered(t *testing.T, r *iface.Relay, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Equal(r.Servers(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay lists %v, want %v", r.Servers(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRelayServerOpensStream: a server that opens a stream to the relay
// breaks the protocol and is cut off and forgotten; another server is not
// affected.
func TestRelayServerOpensStream(t *testing.T) {
	r, raddr := relayLimits(t, iface.DefaultRelayLimits())
	serveThrough(t, raddr, "good", nil, sensors(t, 100))
	waitRegistered(t, r, "good")
	check := streaming(t, "relay://"+raddr+"/good")
	sess := rawServer(t, raddr, "evil")
	defer sess.Close()
	// The open may already see the session cut off (the relay is quick).
	if st, err := sess.OpenStream(); err == nil {
		st.Write(make([]byte, 64<<10))
	}
	select {
	case <-sess.CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not cut off a server that opened a stream")
	}
	waitRegistered(t, r, "good")
	check()
}

// TestRelayRefusalLog: a flood of refusals reaches the log at most 10 a
// second, the next one counting those left out.
func TestRelayRefusalLog(t *testing.T) {
	var mu sync.Mutex
	var refused []iface.RelayEvent
	_, raddr := relayLimits(t, iface.DefaultRelayLimits(), iface.WithRelayLog(func(e iface.RelayEvent) {
		if e.Kind == "refused" {
			mu.Lock()
			refused = append(refused, e)
			mu.Unlock()
		}
	}))
	start := time.Now()
	for range 50 {
		c := rawHello(t, raddr, "", 2, "nobody")
		readRefusal(t, c)
		c.Close()
	}
	windows := int(time.Since(start)/time.Second) + 1
	time.Sleep(1100 * time.Millisecond) // a new window: the next refusal sums up
	c := rawHello(t, raddr, "", 2, "nobody")
	readRefusal(t, c)
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refused) > 0 && refused[len(refused)-1].Suppressed > 0
	})
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, e := range refused {
		total += 1 + e.Suppressed
	}
	if len(refused)-1 > 10*windows || total != 51 {
		t.Errorf("%d refusals logged (%d with those summed up) of 51 in %d windows of a second; want at most %d, and 51", len(refused), total, windows, 10*windows)
	}
}

// TestRelayReachableOverTLS: servers and clients reach a relay over TLS,
// checking its certificate, with or without TLS end to end inside; a peer
// without TLS is not served.
func TestRelayReachableOverTLS(t *testing.T) {
	pki := relayPKI(t)
	_, raddr := relayOn(t, "tls://127.0.0.1:0", []iface.ListenOption{iface.WithServerTLS(pki.server)})
	hop := iface.WithRelayHopTLS(pki.client)
	serveThrough(t, raddr, "plain", []iface.RelayServeOption{hop}, sensors(t, 2))
	serveThrough(t, raddr, "secure", []iface.RelayServeOption{hop, iface.WithRelayTLS(pki.server)}, sensors(t, 2))
	for _, addr := range []string{"relay://" + raddr + "/plain", "relay+tls://" + raddr + "/secure"} {
		cl := dialEventually(t, addr, hop, iface.WithTLS(pki.client))
		conn, err := cl.Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		if m, err := conn.Recv(ctx(t)); err != nil || m.Seq != 1 {
			t.Fatalf("%s: %v, %v", addr, m, err)
		}
	}
	if _, err := iface.Dial(ctx(t), "relay://"+raddr+"/plain"); err == nil {
		t.Error("a client without TLS reached a TLS relay")
	}
	other := relayPKI(t) // another CA: the relay's certificate does not check
	if _, err := iface.Dial(ctx(t), "relay://"+raddr+"/plain", iface.WithRelayHopTLS(other.client)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the relay's certificate: %v, want a certificate error", err)
	}
}

// relayPKI is a fresh CA's server configuration (for 127.0.0.1) and a
// client configuration that trusts it.
func relayPKI(t *testing.T) (p struct{ server, client *tls.Config }) {
	t.Helper()
	pki := testpki.New(t)
	var err error
	if p.server, err = iface.ServerTLS(pki.ServerCert, pki.ServerKey, ""); err != nil {
		t.Fatal(err)
	}
	if p.client, err = iface.ClientTLS(pki.CA, "", ""); err != nil {
		t.Fatal(err)
	}
	p.client.ServerName = "127.0.0.1" // the test certificate's name, end to end too
	return p
}

// waitFor waits until ok.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRelayMemoryBound: a server that writes as fast as it can to every
// session the relay opens, and clients that never read, make the relay
// hold at most its bound per session (StreamWindow + 2 × PipeBuffer) —
// nothing grows with what the server sends — and the write timeout then
// ends each of those sessions. IFKIT_RELAY_MEM=N sets the number of
// clients (20 by default; RELIABILITY.md §7 has 500).
func TestRelayMemoryBound(t *testing.T) {
	n := 20
	if v := os.Getenv("IFKIT_RELAY_MEM"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("IFKIT_RELAY_MEM=%q: %v", v, err)
		}
	}
	cfg := iface.DefaultRelayConfig()
	cfg.ConnectionWriteTimeout = time.Second
	cfg.HandshakeTimeout = time.Second // also how long a closed stream waits for the server's FIN
	l := iface.DefaultRelayLimits()
	r, raddr := relay(t, iface.WithConfig(cfg), iface.WithRelayLimits(l))
	sess := rawServer(t, raddr, "flood")
	var written atomic.Int64
	var ended atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sess.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				chunk := make([]byte, 4<<10) // small: the heap measured is the relay's
				for {
					n, err := st.Write(chunk)
					written.Add(int64(n))
					if err != nil {
						ended.Add(1)
						return
					}
				}
			}()
		}
	}()
	waitRegistered(t, r, "flood")
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	for range n {
		registered(t, rawHello(t, raddr, "", 2, "flood"))
	}
	// Until the server's writes stop: every buffer on the way is full.
	for last := int64(-1); written.Load() == 0 || written.Load() != last; {
		last = written.Load()
		time.Sleep(300 * time.Millisecond)
	}
	held := int64(heap()) - int64(before)
	per := int64(cfg.StreamWindow) + 2*int64(l.PipeBuffer)
	t.Logf("%d clients that read nothing: the server wrote %d MiB, the relay's heap grew by %.1f MiB (%.0f KiB a session; the bound is %d KiB)",
		n, written.Load()>>20, float64(held)/(1<<20), float64(held)/float64(n)/1024, per>>10)
	if held > int64(n)*per*3/2+(8<<20) {
		t.Errorf("the relay holds %d bytes for %d sessions; want at most about %d each", held, n, per)
	}
	// The write timeout ends every one of those sessions (the server
	// sees it when the relay resets the stream, a handshake timeout after
	// closing it).
	waitFor(t, func() bool { return ended.Load() == int64(n) })
}

// fdLimitListener fails its first accepts as a process out of file
// descriptors does.
type fdLimitListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *fdLimitListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestRelayOutOfFiles: a relay whose process runs out of file descriptors
// (a flood of connections) waits and accepts again, saying so, instead
// of stopping.
func TestRelayOutOfFiles(t *testing.T) {
	var mu sync.Mutex
	var reasons []string
	r := iface.NewRelay(iface.WithRelayLog(func(e iface.RelayEvent) {
		mu.Lock()
		reasons = append(reasons, e.Reason)
		mu.Unlock()
	}))
	tl, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &fdLimitListener{Listener: tl}
	l.fails.Store(5)
	served := make(chan error, 1)
	go func() { served <- r.Serve(l) }()
	defer func() {
		r.Close()
		if err := <-served; err != iface.ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	}()
	dial(t, "relay://"+tl.Addr().String()+"/")
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != 5 || !strings.Contains(reasons[0], "too many open files") || !strings.Contains(reasons[4], "accepting again in 80ms") {
		t.Errorf("logged %q; want 5 pauses, the last of 80ms", reasons)
	}
}
