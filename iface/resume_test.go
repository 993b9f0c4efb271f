package iface_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	mrand "math/rand/v2"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/testutil"
	"github.com/ifkit/ifkit/manifest"
)

// breaker is a TCP proxy in front of a server whose connections the test
// kills at will, as a network that drops them would.
type breaker struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	kills  int
	refuse bool // new connections are cut at once
	wg     sync.WaitGroup
	// chaos: bytes go through in pieces of 1 to 700 bytes, some delayed by
	// up to 2 ms, and now and then the stream stalls for 50 ms.
	chaos bool
}

func newBreaker(t *testing.T, target string) *breaker { return newProxy(t, target, false) }

// newProxy is newBreaker, with chaos if asked.
func newProxy(t *testing.T, target string, chaos bool) *breaker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &breaker{l: l, target: strings.TrimPrefix(target, "tcp://"), conns: map[net.Conn]struct{}{}, chaos: chaos}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *breaker) addr() string { return "tcp://" + b.l.Addr().String() }

func (b *breaker) accept() {
	defer b.wg.Done()
	for {
		c, err := b.l.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		refuse := b.refuse
		b.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", b.target)
		if err != nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		b.conns[c], b.conns[s] = struct{}{}, struct{}{}
		seed := uint64(b.kills)
		b.mu.Unlock()
		for k, pair := range [][2]net.Conn{{c, s}, {s, c}} {
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				if b.chaos {
					chaosCopy(pair[0], pair[1], mrand.New(mrand.NewPCG(uint64(k), seed)))
				} else {
					io.Copy(pair[0], pair[1])
				}
				pair[0].Close()
				pair[1].Close()
			}()
		}
	}
}

// chaosCopy copies src to dst in random pieces, with random delays and
// stalls, as a bad network delivers a byte stream.
func chaosCopy(dst, src net.Conn, rng *mrand.Rand) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(700))
			switch r := rng.IntN(1000); {
			case r < 2:
				time.Sleep(50 * time.Millisecond)
			case r < 100:
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			}
			if _, werr := dst.Write(p[:k]); werr != nil {
				return
			}
			p = p[k:]
		}
		if err != nil {
			return
		}
	}
}

// kill cuts every connection through the proxy, mid-frame or not.
func (b *breaker) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
		delete(b.conns, c)
	}
	b.kills++
}

// killer breaks a connection's transports: kill cuts them, count says how
// often it did.
type killer interface {
	kill()
	count() int
}

func (b *breaker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kills
}

// setRefuse makes the proxy cut new connections at once (true), or pass
// them on again.
func (b *breaker) setRefuse(r bool) {
	b.mu.Lock()
	b.refuse = r
	b.mu.Unlock()
}

// close stops the proxy for good: its address goes away.
func (b *breaker) close() {
	b.l.Close()
	b.kill()
	b.wg.Wait()
}

func resumeManifest(t testing.TB) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("resume.yaml", []byte(`
ifkit: 1
name: test.resume
version: 1.0.0
direction: duplex
codecs: [proto]
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Out: {proto: google.protobuf.BytesValue}
  recv:
    In: {proto: google.protobuf.BytesValue}
    Ask:
      proto: google.protobuf.BytesValue
      reply: {type: Out}
flow: {credits: 16, max_message_bytes: 65536, on_exhausted: block}
`), manifest.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// resumeSoak is the messages each way of the resume soaks: def, or
// IFKIT_RESUME_SOAK (RELIABILITY.md §8 uses 200000).
func resumeSoak(t *testing.T, def int) int {
	if v := os.Getenv("IFKIT_RESUME_SOAK"); v != "" {
		if _, err := fmt.Sscan(v, &def); err != nil {
			t.Fatalf("IFKIT_RESUME_SOAK=%q: want a number of messages", v)
		}
	}
	return def
}

func numbered(i int) []byte { return fmt.Appendf(nil, "%06d%s", i, bytes.Repeat([]byte{'x'}, i%300)) }

// resumeServer serves test.resume: on each connection it sends n Out
// messages, counts the In messages it gets (which must come in order) and
// answers Ask with its own body.
func resumeServer(t *testing.T, n int, cfg iface.Config) (string, chan error) {
	i, results := resumeIface(t, n)
	_, addr := serveConfig(t, "tcp", cfg, i)
	return addr, results
}

// resumeIface is resumeServer's interface.
func resumeIface(t *testing.T, n int) (iface.Interface, chan error) {
	m := resumeManifest(t)
	results := make(chan error, 4)
	return iface.Interface{
		Manifest: m,
		OnConnect: func(ctx context.Context, c *iface.Conn) {
			for i := 1; i <= n; i++ {
				if err := c.Send(ctx, "Out", wrapperspb.Bytes(numbered(i))); err != nil {
					results <- fmt.Errorf("server send %d: %w", i, err)
					return
				}
			}
			got := 0
			for got < n {
				msg, err := c.Recv(ctx)
				if err != nil {
					results <- fmt.Errorf("server receiving In %d: %w", got+1, err)
					return
				}
				var v wrapperspb.BytesValue
				msg.Decode(&v)
				got++
				if !bytes.Equal(v.Value, numbered(got)) {
					results <- fmt.Errorf("server: In %d is %.6s: lost, repeated or out of order", got, v.Value)
					return
				}
			}
			results <- nil
		},
		Handlers: map[string]iface.Handler{
			"Ask": func(ctx context.Context, msg *iface.Message) error {
				var v wrapperspb.BytesValue
				msg.Decode(&v)
				return msg.Reply(ctx, &v)
			},
		},
	}, results
}

// A resumable connection streams both ways and makes calls while its
// transport is killed again and again: every message arrives once, in
// order, at both ends, and every call is answered.
func TestResumeSurvivesKilledTransports(t *testing.T) {
	n := resumeSoak(t, 5000)
	addr, results := resumeServer(t, n, iface.DefaultConfig())
	b := newBreaker(t, addr)
	streamAcrossKills(t, b, b.addr(), n, results, 20*time.Millisecond)
}

// The same through a network that fragments, delays and stalls the byte
// stream, as well as cutting it.
func TestResumeThroughAChaoticNetwork(t *testing.T) {
	n := resumeSoak(t, 3000)
	addr, results := resumeServer(t, n, iface.DefaultConfig())
	b := newProxy(t, addr, true)
	streamAcrossKills(t, b, b.addr(), n, results, 150*time.Millisecond)
}

// Through a relay (a server that dialed out to it), with the client's
// connections to the relay killed: the relay's streams to the server end,
// the server detaches, and the client resumes through the relay.
func TestResumeThroughARelay(t *testing.T) {
	const n = 3000
	r := iface.NewRelay()
	l, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go r.Serve(l)
	defer r.Close()
	i, results := resumeIface(t, n)
	s := iface.NewServer()
	s.Register(i)
	go s.ServeRelay(context.Background(), "tcp://"+l.Addr().String(), "rs")
	defer s.Close()
	b := newBreaker(t, "tcp://"+l.Addr().String())
	addr := "relay://" + strings.TrimPrefix(b.addr(), "tcp://") + "/rs"
	dialRegistered(t, addr)
	streamAcrossKills(t, b, addr, n, results, 40*time.Millisecond)
}

// streamAcrossKills opens a resumable connection to addr, streams n
// messages each way and makes 100 calls on it while b kills its
// transports every interval, and checks that nothing was lost, repeated
// or reordered at either end (the server's verdict comes on results).
func streamAcrossKills(t *testing.T, b killer, addr string, n int, results chan error, every time.Duration) {
	t.Helper()
	c := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second+time.Duration(n)*time.Millisecond)
	defer cancel()
	conn, err := c.Connect(ctx, "test.resume", iface.WithResume())
	if err != nil {
		t.Fatal(err)
	}
	if !conn.Resumable() {
		t.Fatal("a connection opened WithResume is not resumable")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	// Transports are killed every so often, and also as the client's
	// receiving passes each sixth of the stream (it waits for the kill),
	// so that however fast the machine streams, the test breaks the stream
	// several times.
	progress, killed := make(chan struct{}), make(chan struct{})
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if err := conn.Send(ctx, "In", wrapperspb.Bytes(numbered(i))); err != nil {
				errs <- fmt.Errorf("client send %d: %w", i, err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			msg, err := conn.Recv(ctx)
			if err != nil {
				errs <- fmt.Errorf("client receiving Out %d: %w", i, err)
				return
			}
			var v wrapperspb.BytesValue
			msg.Decode(&v)
			if !bytes.Equal(v.Value, numbered(i)) {
				errs <- fmt.Errorf("client: Out %d is %.6s: lost, repeated or out of order", i, v.Value)
				return
			}
			if i%max(n/6, 1) == 0 && i < n {
				select {
				case progress <- struct{}{}:
					<-killed
				case <-ctx.Done():
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= 100; i++ {
			reply, err := conn.Call(ctx, "Ask", wrapperspb.Bytes(numbered(i)))
			if err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
				return
			}
			var v wrapperspb.BytesValue
			reply.Decode(&v)
			if !bytes.Equal(v.Value, numbered(i)) {
				errs <- fmt.Errorf("call %d answered %.6s", i, v.Value)
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		case <-time.After(every):
			b.kill()
		case <-progress:
			b.kill()
			killed <- struct{}{}
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-results:
		if err != nil {
			t.Error(err)
		}
	case <-ctx.Done():
		t.Error("the server did not receive every message")
	}
	st := conn.ResumeStats()
	kills := b.count()
	t.Logf("%d messages each way, 100 calls, %d transports killed, %d resumes", n, kills, st.Resumes)
	if st.Resumes == 0 || kills < 3 {
		t.Errorf("%d resumes for %d kills: the test broke nothing", st.Resumes, kills)
	}
	if err := conn.Err(); err != nil && !errors.Is(err, iface.ErrReconnecting) {
		t.Errorf("the connection ended: %v", err)
	}
}

// A connection whose address goes away for good, with no other to go to,
// ends on both sides once the grace period has passed, saying why.
func TestResumeGivesUpAfterTheGracePeriod(t *testing.T) {
	cfg := iface.DefaultConfig()
	cfg.ResumeGrace = 300 * time.Millisecond
	var ended = make(chan *iface.Conn, 1)
	m := resumeManifest(t)
	_, addr := serveConfig(t, "tcp", cfg, iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
		<-c.Done()
		ended <- c
	}})
	b := newBreaker(t, addr)
	c := dial(t, b.addr())
	conn, err := c.Connect(ctx(t), "test.resume", iface.WithResume())
	if err != nil {
		t.Fatal(err)
	}
	b.close()
	// Down, and not ended: Err says so until the grace period has passed.
	for !errors.Is(conn.Err(), iface.ErrReconnecting) {
		select {
		case <-conn.Done():
			t.Fatalf("the connection ended without saying it was reconnecting: %v", conn.Err())
		case <-time.After(time.Millisecond):
		}
	}
	if st := conn.ResumeStats(); !st.Reconnecting {
		t.Errorf("ResumeStats while reconnecting: %+v", st)
	}
	select {
	case <-conn.Done():
	case <-ctx(t).Done():
		t.Fatal("the client's connection did not end")
	}
	var ce *iface.CloseError
	if !errors.As(conn.Err(), &ce) || ce.Code != iface.CodeTransportError || !strings.Contains(ce.Reason, "could not be resumed within") {
		t.Errorf("client: %v", conn.Err())
	}
	select {
	case sc := <-ended:
		if !errors.As(sc.Err(), &ce) || ce.Code != iface.CodeTransportError || !strings.Contains(ce.Reason, "did not resume the connection within") {
			t.Errorf("server: %v", sc.Err())
		}
	case <-ctx(t).Done():
		t.Fatal("the server's connection did not end")
	}
}

// A client that resumes on a server that no longer has the connection (it
// restarted while the network was down) hears not_found, and the
// connection ends with it.
func TestResumeOnARestartedServerIsNotFound(t *testing.T) {
	m := resumeManifest(t)
	s1 := iface.NewServer()
	s1.Register(iface.Interface{Manifest: m})
	l1, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l1.Addr().String()
	go s1.Serve(l1)
	b := newBreaker(t, addr)
	c := dial(t, b.addr())
	conn, err := c.Connect(ctx(t), "test.resume", iface.WithResume())
	if err != nil {
		t.Fatal(err)
	}
	b.setRefuse(true)
	b.kill()
	s1.Close() // the connection was detached: nothing reaches the client
	s2 := iface.NewServer()
	s2.Register(iface.Interface{Manifest: m})
	l2, err := iface.Listen(context.Background(), "tcp://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	go s2.Serve(l2)
	defer s2.Close()
	b.setRefuse(false)
	select {
	case <-conn.Done():
	case <-ctx(t).Done():
		t.Fatal("the connection did not end")
	}
	var ce *iface.CloseError
	if !errors.As(conn.Err(), &ce) || ce.Code != iface.CodeNotFound || !strings.Contains(ce.Reason, "could not be resumed") {
		t.Errorf("ended with %v", conn.Err())
	}
}

// Close ends a client's resumable connections with normal_close, which the
// server sees at once (it does not wait out its grace period).
func TestResumableConnectionEndsWithItsClient(t *testing.T) {
	ended := make(chan error, 1)
	m := resumeManifest(t)
	_, addr := serve(t, "tcp", iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
		<-c.Done()
		ended <- c.Err()
	}})
	c, err := iface.Dial(ctx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.Connect(ctx(t), "test.resume", iface.WithResume())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !errors.Is(conn.Err(), iface.CodeNormalClose) {
		t.Errorf("client: %v", conn.Err())
	}
	select {
	case err := <-ended:
		if !errors.Is(err, iface.CodeNormalClose) {
			t.Errorf("server: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server's connection did not end")
	}
}

// NewClient's sessions cannot dial again: WithResume says so.
func TestResumeNeedsDial(t *testing.T) {
	_, addr := serve(t, "tcp", iface.Interface{Manifest: resumeManifest(t)})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iface.NewClient(ctx(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Connect(ctx(t), "test.resume", iface.WithResume()); err == nil || !strings.Contains(err.Error(), "Dial") {
		t.Errorf("got %v", err)
	}
}

// A client given two addresses of one server resumes through the second
// when the first goes away for good, and the stream goes on unbroken.
func TestResumeMovesToAnotherAddress(t *testing.T) {
	const n = 2000
	addr, results := resumeServer(t, n, iface.DefaultConfig())
	first, second := newBreaker(t, addr), newBreaker(t, addr)
	c := dial(t, first.addr()+","+second.addr())
	// Mid-stream, the first address is gone.
	if st := streamWithABreak(t, c, n, results, first.close); st.Resumes != 1 {
		t.Errorf("%d resumes, want 1", st.Resumes)
	}
}

// streamWithABreak streams n messages each way on a resumable connection
// of c, calling breakIt halfway through, and checks that they all arrive,
// once and in order (the server's verdict comes on results).
func streamWithABreak(t *testing.T, c *iface.Client, n int, results chan error, breakIt func()) data.ResumeStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := c.Connect(ctx, "test.resume", iface.WithResume())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 1; i <= n; i++ {
			if conn.Send(ctx, "In", wrapperspb.Bytes(numbered(i))) != nil {
				return
			}
		}
	}()
	for i := 1; i <= n; i++ {
		if i == n/2 {
			breakIt()
		}
		msg, err := conn.Recv(ctx)
		if err != nil {
			t.Fatalf("Out %d: %v", i, err)
		}
		var v wrapperspb.BytesValue
		msg.Decode(&v)
		if !bytes.Equal(v.Value, numbered(i)) {
			t.Fatalf("Out %d is %.6s", i, v.Value)
		}
	}
	if err := <-results; err != nil {
		t.Error(err)
	}
	return conn.ResumeStats()
}

// The relay between a client and a server restarts mid-stream: the server
// registers with the new one by itself, and the client resumes through it.
func TestResumeAcrossARestartedRelay(t *testing.T) {
	const n = 3000
	l, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relayAddr := l.Addr().String()
	r1 := iface.NewRelay()
	go r1.Serve(l)
	i, results := resumeIface(t, n)
	s := iface.NewServer()
	s.Register(i)
	go s.ServeRelay(context.Background(), "tcp://"+relayAddr, "rs")
	defer s.Close()
	c := dialRegistered(t, "relay://"+relayAddr+"/rs")
	var r2 *iface.Relay
	restart := func() {
		r1.Close()
		l2, err := iface.Listen(context.Background(), "tcp://"+relayAddr) // the same port
		if err != nil {
			t.Skipf("cannot listen on the relay's port again: %v", err)
		}
		r2 = iface.NewRelay()
		go r2.Serve(l2)
	}
	st := streamWithABreak(t, c, n, results, restart)
	if r2 != nil {
		r2.Close()
	}
	if st.Resumes < 1 {
		t.Errorf("%d resumes: the relay's restart broke nothing", st.Resumes)
	}
}

// dialRegistered dials addr, a relay:// address, until the server has
// registered with the relay; the client closes at the end of the test.
func dialRegistered(t *testing.T, addr string) *iface.Client {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := iface.Dial(ctx(t), addr)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never registered with the relay: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A draining server ends its detached connections at once: it would refuse
// their resume, so there is nothing to wait for.
func TestDrainEndsDetachedConnections(t *testing.T) {
	ended := make(chan error, 1)
	m := resumeManifest(t)
	s, addr := serve(t, "tcp", iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
		<-c.Done()
		ended <- c.Err()
	}})
	b := newBreaker(t, addr)
	c := dial(t, b.addr())
	if _, err := c.Connect(ctx(t), "test.resume", iface.WithResume()); err != nil {
		t.Fatal(err)
	}
	b.setRefuse(true)
	b.kill()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	time.Sleep(50 * time.Millisecond) // the server notices the break (or ends it as it does)
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown waited for a detached connection (its grace period is 30 s): %v", err)
	}
	if err := <-ended; !errors.Is(err, iface.CodeDraining) {
		t.Errorf("the server's end: %v", err)
	}
}

// A server in a network namespace of its own (a process of its own, on the
// far side of a veth pair), a client on the host: the kernel itself tears
// the TCP connections down (ss -K, at either end, in turn) again and again
// while they stream both ways, and the resumed stream loses, repeats and
// reorders nothing at either end.
func TestResumeAcrossANetworkNamespace(t *testing.T) {
	ns := testutil.NewNetNS(t, "ifkit-resume", 230+os.Getpid()%20)
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss(8) to kill sockets with")
	}
	n := resumeSoak(t, 5000)
	addr := ns.NSIP + ":7480"
	argv := ns.Exec(os.Args[0], "-test.run=^TestResumeNetnsServer$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("IFKIT_RESUME_NETNS_SERVER=%s %d", addr, n))
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(prefix string) string {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the server in the namespace exited before %q: %s", prefix, stderr.String())
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the server in the namespace did not say %q: %s", prefix, stderr.String())
			}
		}
	}
	waitLine("ready")
	results := make(chan error, 1)
	go func() {
		v := strings.TrimPrefix(waitLineOrEOF(lines, "verdict: "), "verdict: ")
		if v == "ok" {
			results <- nil
		} else {
			results <- fmt.Errorf("the server in the namespace: %s", v)
		}
	}()
	k := &socketKiller{ns: ns, port: "7480"}
	streamAcrossKills(t, k, "tcp://"+addr, n, results, 50*time.Millisecond)
	if k.failed != nil {
		t.Errorf("ss -K: %v", k.failed)
	}
}

// waitLineOrEOF returns the first line with prefix, or what ended the lines.
func waitLineOrEOF(lines <-chan string, prefix string) string {
	for l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return prefix + "exited without a verdict"
}

// socketKiller destroys the established TCP sockets of a port, in turn in
// the namespace (the server's end) and on the host (the client's).
type socketKiller struct {
	ns     *testutil.NetNS
	port   string
	kills  int
	failed error
}

func (k *socketKiller) kill() {
	argv := []string{"ss", "-K", "state", "established", "dport", "=", ":" + k.port}
	if k.kills%2 == 0 {
		argv = k.ns.Exec("ss", "-K", "state", "established", "sport", "=", ":"+k.port)
	}
	if err := testutil.Run(argv[0], argv[1:]...); err != nil && k.failed == nil {
		k.failed = err
	}
	k.kills++
}

func (k *socketKiller) count() int { return k.kills }

// TestResumeNetnsServer is the server half of
// TestResumeAcrossANetworkNamespace, which runs this binary in its
// namespace with IFKIT_RESUME_NETNS_SERVER set; elsewhere it skips.
func TestResumeNetnsServer(t *testing.T) {
	spec := os.Getenv("IFKIT_RESUME_NETNS_SERVER")
	if spec == "" {
		t.Skip("the server half of TestResumeAcrossANetworkNamespace: it runs in that test's namespace only")
	}
	var addr string
	var n int
	if _, err := fmt.Sscan(spec, &addr, &n); err != nil {
		t.Fatalf("IFKIT_RESUME_NETNS_SERVER=%q: %v", spec, err)
	}
	i, results := resumeIface(t, n)
	s := iface.NewServer()
	s.Register(i)
	l, err := iface.Listen(context.Background(), "tcp://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	fmt.Println("ready")
	select {
	case err := <-results:
		if err != nil {
			fmt.Println("verdict:", err)
		} else {
			fmt.Println("verdict: ok")
		}
	case <-time.After(10 * time.Minute):
		fmt.Println("verdict: the client never finished")
	}
	time.Sleep(200 * time.Millisecond) // the client closes first
}
