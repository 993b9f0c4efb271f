package iface_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/iface"
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
}

func newBreaker(t *testing.T, target string) *breaker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &breaker{l: l, target: strings.TrimPrefix(target, "tcp://"), conns: map[net.Conn]struct{}{}}
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
		b.mu.Unlock()
		for _, pair := range [][2]net.Conn{{c, s}, {s, c}} {
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				io.Copy(pair[0], pair[1])
				pair[0].Close()
				pair[1].Close()
			}()
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

func numbered(i int) []byte { return fmt.Appendf(nil, "%06d%s", i, bytes.Repeat([]byte{'x'}, i%300)) }

// resumeServer serves test.resume: on each connection it sends n Out
// messages, counts the In messages it gets (which must come in order) and
// answers Ask with its own body.
func resumeServer(t *testing.T, n int, cfg iface.Config) (string, chan error) {
	m := resumeManifest(t)
	results := make(chan error, 4)
	_, addr := serveConfig(t, "tcp", cfg, iface.Interface{
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
	})
	return addr, results
}

// A resumable connection streams both ways and makes calls while its
// transport is killed again and again: every message arrives once, in
// order, at both ends, and every call is answered.
func TestResumeSurvivesKilledTransports(t *testing.T) {
	const n = 5000
	addr, results := resumeServer(t, n, iface.DefaultConfig())
	b := newBreaker(t, addr)
	c := dial(t, b.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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
	sawReconnecting := false
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		case <-time.After(20 * time.Millisecond):
			b.kill()
			for range 50 {
				if errors.Is(conn.Err(), iface.ErrReconnecting) {
					sawReconnecting = true
					break
				}
				time.Sleep(time.Millisecond)
			}
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
	t.Logf("%d messages each way, 100 calls, %d transports killed, %d resumes", n, b.kills, st.Resumes)
	if st.Resumes == 0 || b.kills < 3 {
		t.Errorf("%d resumes for %d kills: the test broke nothing", st.Resumes, b.kills)
	}
	if !sawReconnecting {
		t.Error("Err never said ErrReconnecting while the transport was down")
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
		if i == n/3 {
			first.close() // mid-stream, the first address is gone
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
	if st := conn.ResumeStats(); st.Resumes != 1 {
		t.Errorf("%d resumes, want 1", st.Resumes)
	}
}
